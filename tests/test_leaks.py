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

Counts: normal mode 10,000 connect/disconnect cycles and 100,000 sends per
workload; ``FASTDISPATCH_SOAK=1``: the full 100,000 cycles and 1,000,000
sends. Bounds (both modes): 1,000 blocks, 64 KiB traced, 4 MiB resident.
A leak of one 16-byte block per operation overshoots each of them.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import tracemalloc
import weakref
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

SOAK = os.environ.get("FASTDISPATCH_SOAK", "") not in ("", "0")
CYCLES = 100_000 if SOAK else 10_000
SENDS = 1_000_000 if SOAK else 100_000
MAX_BLOCKS = 1_000
MAX_TRACED = 64 * 1024
MAX_RSS = 4 * 1024 * 1024


class Model:
    pass


class FailingSender:
    """The sender whose receivers include one that raises."""


class Boom(Exception):
    pass


class Handler:
    def method(self, **kwargs: Any) -> int:
        return 1


class CallableReceiver:
    def __call__(self, **kwargs: Any) -> int:
        return 2


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

        def function(**kwargs: Any) -> int:
            return 0

        return function, function
    if kind == 1:
        handler = Handler()
        return handler, handler.method
    obj = CallableReceiver()
    return obj, obj


def rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@pytest.fixture(autouse=True)
def quiet_robust_log() -> Iterator[None]:
    """send_robust logs every failure: drop the records at once (a captured
    record keeps its exception, traceback and frames alive)."""
    loggers = [logging.getLogger("django.dispatch"), logging.getLogger("fastdispatch")]
    saved = [(lg.propagate, lg.disabled) for lg in loggers]
    for lg in loggers:
        lg.propagate = False
        lg.disabled = True
    try:
        yield
    finally:
        for lg, (propagate, disabled) in zip(loggers, saved):
            lg.propagate = propagate
            lg.disabled = disabled


@pytest.fixture(autouse=True, scope="module")
def cheap_gc() -> Iterator[None]:
    """Hide what exists before these tests from the collector, so that the
    many gc.collect() calls here stay cheap."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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


@pytest.mark.parametrize("use_caching", [False, True], ids=["uncached", "cached"])
@pytest.mark.parametrize("weak", [True, False], ids=["weak", "strong"])
def test_connect_disconnect_cycles(impl: ModuleType, weak: bool, use_caching: bool) -> None:
    sig = impl.Signal(use_caching=use_caching)
    handler = Handler()
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

    measure(f"{impl.__name__} connect/disconnect weak={weak} caching={use_caching}", workload, CYCLES)
    tracker.assert_all_dead()
    assert len(sig.receivers) == 1
    assert sig.send(Model) == [(handler.method, 1)]


def test_dropped_weak_receivers_never_disconnected(impl: ModuleType) -> None:
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

    measure(f"{impl.__name__} dropped weak receivers", workload, CYCLES)
    tracker.assert_all_dead()
    assert sig.has_listeners(Model) is False
    assert sig.receivers == []


# -- sends ------------------------------------------------------------------------------------


@pytest.mark.parametrize("weak", [True, False], ids=["weak", "strong"])
def test_sends_with_long_lived_and_dropped_senders(impl: ModuleType, weak: bool) -> None:
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

    measure(f"{impl.__name__} sends weak={weak}", workload, SENDS)
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
        handler = Handler()
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
