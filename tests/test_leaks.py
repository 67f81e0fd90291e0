"""Leaks: memory returns to its baseline, and what is dropped is collectable.

Workloads, each with weak and strong receivers (functions, bound methods,
callable objects), for both implementations:

- connect/disconnect cycles: a new receiver (and every other cycle a new
  sender) per cycle, connected, sent to, disconnected and dropped; on a
  cached and an uncached signal;
- sends and send_robust to a signal with long-lived receivers (one of which
  raises, for send_robust), from long-lived senders and from cached senders
  created and dropped (a cache entry made and evicted each time);
- weak receivers that are dropped while connected (never disconnected).

Memory is measured three ways around each workload, after a warm-up run of
the same workload (freelists, caches, interned strings):

- ``sys.getallocatedblocks()`` (every live block of Python's allocators,
  cheap, so it is taken around the full count);
- ``tracemalloc`` traced memory around a tenth of the count (tracing
  makes the workload about ten times slower);
- resident set size (``/proc/self/statm``, Linux only), around the full count.

Every receiver and sender the workload dropped must be dead afterwards (its
weak reference cleared).

Counts: 10,000 connect/disconnect cycles and 100,000 sends per workload;
the ``soak`` runs (``--run-soak``) of the same tests: 100,000 cycles and
1,000,000 sends. Bounds (both sizes): 1,000 blocks, 64 KiB traced, 4 MiB resident.
A leak of one 16-byte block per operation overshoots each of them.
"""

from __future__ import annotations

import gc
import os
import sys
import tracemalloc
import weakref
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from .helpers import (
    Boom,
    CallableHandler,
    Handler,
    Model,
    quick_and_soak,
    quiet_robust_log,
    returning,
    skip_if_classes_are_immortal,
)

CYCLES = quick_and_soak(10_000, 100_000)
SENDS = quick_and_soak(100_000, 1_000_000)
pytestmark = pytest.mark.usefixtures("cheap_gc_for_module")  # many gc.collect() calls

MAX_BLOCKS = 1_000
MAX_TRACED = 64 * 1024
MAX_RSS = 4 * 1024 * 1024


class FailingSender:
    """The sender whose receivers include one that raises."""


class Tracker:
    """Weak references to dropped objects; each removes itself when its
    object dies, so the set holds only the survivors (and stays small)."""

    def __init__(self) -> None:
        self.alive: set[weakref.ref[Any]] = set()
        self.tracked = 0

    def track(self, obj: Any) -> None:
        self.alive.add(weakref.ref(obj, self.alive.discard))
        self.tracked += 1

    def assert_all_dead(self) -> None:
        gc.collect()
        assert not self.alive, f"{len(self.alive)} of {self.tracked} dropped objects are alive"


def make_receiver(kind: int) -> tuple[Any, Any]:
    """(the object that owns the receiver, the receiver)."""
    if kind == 0:

        function = returning(0)

        return function, function
    if kind == 1:
        handler = Handler(1)
        return handler, handler.method
    obj = CallableHandler(2)
    return obj, obj


def rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@pytest.fixture(autouse=True)
def no_robust_log_records() -> Iterator[None]:
    """send_robust logs every failure: make no records at all (a captured
    record keeps its exception, traceback and frames alive)."""
    with quiet_robust_log(make_records=False):
        yield


def settle() -> None:
    for _ in range(3):
        gc.collect()


def measure(label: str, workload: Callable[[int], None], count: int) -> dict[str, int | None]:
    """Run ``workload(count)`` after a warm-up; return and check the growth."""
    workload(max(count // 10, 1))  # warm-up
    settle()
    blocks_before, rss_before = sys.getallocatedblocks(), rss_bytes()
    workload(count)
    settle()
    blocks_after, rss_after = sys.getallocatedblocks(), rss_bytes()

    traced_count = max(count // 10, 1)
    tracemalloc.start()
    try:
        settle()
        traced_before = tracemalloc.get_traced_memory()[0]
        snapshot_before = tracemalloc.take_snapshot()
        workload(traced_count)
        settle()
        traced_after = tracemalloc.get_traced_memory()[0]
        growth = traced_after - traced_before
        top = ""
        if growth > MAX_TRACED:
            stats = tracemalloc.take_snapshot().compare_to(snapshot_before, "lineno")
            top = "\n".join(str(stat) for stat in stats[:10])
    finally:
        tracemalloc.stop()
    result = {
        "blocks_before": blocks_before,
        "blocks_after": blocks_after,
        "traced_before": traced_before,
        "traced_after": traced_after,
        "rss_before": rss_before,
        "rss_after": rss_after,
    }
    print(f"\n{label}: {count:,} ops; blocks {blocks_before:,} -> {blocks_after:,}; "
          f"traced ({traced_count:,} ops) {traced_before:,} -> {traced_after:,} B; "
          f"rss {rss_before} -> {rss_after} B")
    assert blocks_after - blocks_before <= MAX_BLOCKS, result
    assert growth <= MAX_TRACED, f"{result}\n{top}"
    if rss_before is not None and rss_after is not None:
        assert rss_after - rss_before <= MAX_RSS, result
    return result


# -- connect/disconnect cycles ---------------------------------------------------------


@pytest.mark.parametrize("cycles", CYCLES)
@pytest.mark.parametrize("use_caching", [False, True], ids=["uncached", "cached"])
@pytest.mark.parametrize("weak", [True, False], ids=["weak", "strong"])
def test_connect_disconnect_cycles(impl: ModuleType, weak: bool, use_caching: bool, cycles: int) -> None:
    sig = impl.Signal(use_caching=use_caching)
    handler = Handler(1)
    sig.connect(handler.method)  # one long-lived receiver
    tracker = Tracker()

    def workload(count: int) -> None:
        for i in range(count):
            owner, receiver = make_receiver(i % 3)
            sender: Any = Model() if i % 2 else None
            sig.connect(receiver, sender=sender, weak=weak, dispatch_uid=("uid", i) if i % 5 == 0 else None)
            responses = sig.send(sender if sender is not None else Model)
            assert len(responses) == 2
            assert sig.disconnect(receiver, sender=sender, dispatch_uid=("uid", i) if i % 5 == 0 else None)
            if i % 97 == 0:
                tracker.track(owner)
                if sender is not None:
                    tracker.track(sender)
            del owner, receiver, sender, responses

    measure(f"{impl.__name__} connect/disconnect weak={weak} caching={use_caching}", workload, cycles)
    tracker.assert_all_dead()
    assert len(sig.receivers) == 1
    assert sig.send(Model) == [(handler.method, 1)]


@pytest.mark.parametrize("cycles", CYCLES)
def test_dropped_weak_receivers_never_disconnected(impl: ModuleType, cycles: int) -> None:
    """Weak receivers that die while connected: their records go, their memory too."""
    sig = impl.Signal(use_caching=True)
    tracker = Tracker()

    def workload(count: int) -> None:
        for i in range(count):
            owner, receiver = make_receiver(i % 3)
            sig.connect(receiver, sender=Model if i % 2 else None)
            if i % 97 == 0:
                tracker.track(owner)
            del owner, receiver
            if i % 10 == 0:
                assert sig.send(Model) == []

    measure(f"{impl.__name__} dropped weak receivers", workload, cycles)
    tracker.assert_all_dead()
    assert sig.has_listeners(Model) is False
    assert sig.receivers == []


# -- sends ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sends", SENDS)
@pytest.mark.parametrize("weak", [True, False], ids=["weak", "strong"])
def test_sends_with_long_lived_and_dropped_senders(impl: ModuleType, weak: bool, sends: int) -> None:
    """Sends and send_robust; cached senders created and dropped."""
    sig = impl.Signal(use_caching=True)
    owners = [make_receiver(kind) for kind in range(3)]
    for pair in owners:
        sig.connect(pair[1], weak=weak)
    del pair

    def failing(**kwargs: Any) -> None:
        raise Boom("boom")

    sig.connect(failing, sender=FailingSender, weak=weak)
    long_lived = [Model, Model(), None, object(), "text"]
    tracker = Tracker()

    def workload(count: int) -> None:
        send, send_robust = sig.send, sig.send_robust
        for i in range(count):
            if i % 4 == 0:
                # A cached sender created and dropped: the entry is evicted.
                sender: Any = Model()
                if i % 1000 == 0:
                    tracker.track(sender)
                assert len(send(sender, value=i)) == 3
                del sender
            elif i % 16 == 1:
                responses = send_robust(FailingSender, value=i)
                assert len(responses) == 4 and isinstance(responses[-1][1], Boom)
                del responses
            else:
                sender = long_lived[i % len(long_lived)]
                assert len(send(sender, value=i)) == 3

    measure(f"{impl.__name__} sends weak={weak}", workload, sends)
    tracker.assert_all_dead()
    # No entry of a dead sender is left in the cache.
    for entry in sig.sender_receivers_cache.values():
        sender_ref = entry[0] if isinstance(entry, tuple) else None
        if isinstance(sender_ref, weakref.ReferenceType):
            assert sender_ref() is not None, "a dead sender's cache entry was kept"
    assert len(sig.sender_receivers_cache) <= len(long_lived)
    del owners
    settle()
    assert len(sig.send(Model)) == (0 if weak else 3)


def test_dropped_receivers_and_senders_are_collectable_after_sends(impl: ModuleType) -> None:
    """Every receiver and sender a signal ever saw dies once dropped, however
    it was connected (weak or strong then disconnected, for any or one sender,
    cached or not)."""
    tracker = Tracker()
    for use_caching in (False, True):
        sig = impl.Signal(use_caching=use_caching)
        for i in range(300):
            owner, receiver = make_receiver(i % 3)
            sender = Model()
            weak = bool(i % 2)
            sig.connect(receiver, weak=weak)
            sig.connect(receiver, sender=sender, weak=weak, dispatch_uid="u" if i % 3 == 0 else None)
            sig.send(sender)
            sig.send_robust(sender)
            sig.has_listeners(sender)
            if not weak:
                sig.disconnect(receiver)
                sig.disconnect(receiver, sender=sender, dispatch_uid="u" if i % 3 == 0 else None)
            tracker.track(owner)
            tracker.track(sender)
            del owner, receiver, sender
        tracker.assert_all_dead()
        assert sig.has_listeners() is False
        assert sig.receivers == []
        assert len(sig.sender_receivers_cache) == 0


@skip_if_classes_are_immortal
def test_signals_in_garbage_cycles_with_their_senders_and_receivers(impl: ModuleType) -> None:
    """A signal kept by its own sender class and by its receiver's instance,
    with cached entries and weak references to all of them: the whole cycle
    is collected, and no weak-reference callback fails on a half-collected
    signal (pytest turns such an ignored exception into an error)."""
    tracker = Tracker()
    for i in range(200):
        sender_class = type("Sender", (), {})
        sig = impl.Signal(use_caching=bool(i % 2))
        sender_class.signal = sig  # type: ignore[attr-defined]
        handler = Handler(1)
        handler.sig = sig  # type: ignore[attr-defined]
        instance = sender_class()
        instance.sig = sig
        sig.connect(handler.method, sender=sender_class)
        sig.connect(handler.method)
        sig.connect(handler.method, sender=instance)
        sig.connect(lambda sender_class=sender_class, **kwargs: 3, weak=False)
        assert len(sig.send(sender_class)) == 3
        assert len(sig.send(instance)) == 3
        assert sig.has_listeners(instance)
        for obj in (sig, sender_class, instance, handler):
            tracker.track(obj)
        del sig, sender_class, instance, handler, obj
    tracker.assert_all_dead()
