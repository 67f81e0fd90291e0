"""Thread stress: 8 threads connect, disconnect and send on shared signals.

Two shared signals (one uncached, one with ``use_caching=True``) carry a set
of *stable* receivers that stay connected for the whole run: a weak function,
a weak bound method, a strongly held callable object, a receiver with a
``dispatch_uid`` and one connected for a single sender (a model class). Eight
threads then, for a bounded time, each in a random order:

- connect and disconnect their own *transient* receivers (functions, bound
  methods, callable objects; weak and strong; for any sender, for the model
  class, for a sender of their own), and drop some of them so that they die;
- send and send_robust, from the model class, from ``None``, from an object
  without weak references and from a fresh object that dies right after (on
  the cached signal: a cache entry made and evicted on every such send);
- call has_listeners and, now and then, collect garbage.

Checked during the run, for each send: every stable receiver the sender
should reach answers exactly once; every transient receiver of the sending
thread that is connected (its connect returned before the send started)
answers exactly once, and one that is disconnected does not answer at all.
Every disconnect of a connected transient receiver returns True.

Checked after the run: no thread raised; each stable receiver received every
send meant for it exactly once (by the send's unique token); the signal's
records are unique, all alive, and are exactly the stable receivers plus
what the threads left connected; once those are disconnected the signal is
back to the stable receivers.

Duration: 1.5 s per implementation (on an idle 2-core machine about 70,000
operations with the pure-Python implementation, 130,000 compiled; the test
prints the count), then 0.375 s per signal of the muting test. Their ``soak``
runs (``--run-soak``): 60 s and 15 s. On a free-threaded build (3.13t), 16
threads for 6 s.
"""

from __future__ import annotations

import collections
import gc
import random
import threading
import time
import weakref
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from .helpers import FREE_THREADED, Model, quick_and_soak, switch_interval

# On a free-threaded build the threads really run at once: more of them,
# for longer (in CI with the GIL off).
DURATION = quick_and_soak(6.0 if FREE_THREADED else 1.5, 60.0)  # seconds
THREADS = 16 if FREE_THREADED else 8
# The share of operations that collect garbage. A free-threaded build stops
# every thread for a collection of the whole heap (it has no generations):
# fewer there, or the run measures the collector.
GC_SHARE = 0.001 if FREE_THREADED else 0.01
TRANSIENTS_PER_THREAD = 6


class Plain:
    pass


class Tokens:
    """A stable receiver's record of the sends it received."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tokens: list[tuple[int, int]] = []

    def method(self, token: tuple[int, int], **kwargs: Any) -> str:
        self.tokens.append(token)  # list.append is atomic
        return self.name

    def __call__(self, token: tuple[int, int], **kwargs: Any) -> str:
        self.tokens.append(token)
        return self.name


class Stable:
    """The receivers connected for the whole run, on one signal."""

    def __init__(self, sig: Any) -> None:
        self.sig = sig
        any_function = Tokens("function")
        self.any_function_tokens = any_function

        def function(token: tuple[int, int], **kwargs: Any) -> str:
            return any_function(token=token)

        self.function = function
        self.method_owner = Tokens("method")
        self.strong = Tokens("strong")
        self.uid = Tokens("uid")
        self.for_model = Tokens("for_model")

        def for_model(token: tuple[int, int], **kwargs: Any) -> str:
            return self.for_model(token=token)

        self.for_model_function = for_model
        sig.connect(function)
        sig.connect(self.method_owner.method)
        # Strongly held, with no other reference: lives through the signal only.
        sig.connect(Tokens("strong-anonymous"), weak=False)
        sig.connect(self.strong, weak=False)
        sig.connect(self.uid, dispatch_uid="stable-uid")
        sig.connect(for_model, sender=Model)
        self.keys = {record[0] for record in sig.receivers}
        assert len(self.keys) == 6

    def expected_names(self, sender: Any) -> collections.Counter[str]:
        names = ["function", "method", "strong-anonymous", "strong", "uid"]
        if sender is Model:
            names.append("for_model")
        return collections.Counter(names)

    def recorders_for(self, to_model: bool) -> list[Tokens]:
        recorders = [self.any_function_tokens, self.method_owner, self.strong, self.uid]
        return [*recorders, self.for_model] if to_model else recorders


class Transient:
    """A thread's own receiver: the answer names the thread and the slot."""

    def __init__(self, name: str) -> None:
        self.name = name

    def method(self, **kwargs: Any) -> str:
        return self.name

    def __call__(self, **kwargs: Any) -> str:
        return self.name


def make_transient(name: str, kind: str) -> tuple[Any, Any]:
    """(the object the thread keeps, the receiver to connect)."""
    if kind == "function":

        def function(**kwargs: Any) -> str:
            return name

        return function, function
    obj = Transient(name)
    return obj, (obj.method if kind == "method" else obj)


@pytest.fixture
def fast_switching() -> Iterator[None]:
    with switch_interval(1e-5):
        yield


class Worker:
    def __init__(self, index: int, signals: list[Any], stables: list[Stable], deadline: float, seed: int):
        self.index = index
        self.signals = signals
        self.stables = stables
        self.deadline = deadline
        self.rng = random.Random(seed)
        self.counter = 0
        self.ops: collections.Counter[str] = collections.Counter()
        # Tokens of this thread's sends, per signal: (token, reaches the model receiver).
        self.sent: list[list[tuple[tuple[int, int], bool]]] = [[] for _ in signals]
        self.own_sender = Plain()
        self.unweakrefable = object()
        # slot -> (kept object, receiver, weak, name); slot -> (signal index, sender) when connected
        self.slots: dict[int, tuple[Any, Any, bool, str]] = {}
        self.connected: dict[int, tuple[int, Any]] = {}
        # Names of weak receivers dropped while connected: another thread's
        # send may still hold one (alive, so it may still answer).
        self.dropped: set[str] = set()
        self.generation = 0
        for slot in range(TRANSIENTS_PER_THREAD):
            self.renew(slot)

    def renew(self, slot: int) -> None:
        self.generation += 1
        kind = self.rng.choice(["function", "method", "callable"])
        weak = self.rng.random() < 0.7
        name = f"t{self.index}.{slot}.{self.generation}"
        kept, receiver = make_transient(name, kind)
        self.slots[slot] = (kept, receiver, weak, name)

    def run(self) -> None:
        rng = self.rng
        while time.monotonic() < self.deadline:
            for _ in range(20):
                roll = rng.random()
                if roll < 0.25:
                    self.connect()
                elif roll < 0.45:
                    self.disconnect()
                elif roll < 0.85:
                    self.send(robust=roll >= 0.75)
                elif roll < 0.93:
                    self.has_listeners()
                elif roll < 1 - GC_SHARE:
                    self.drop()
                else:
                    gc.collect(0)
                    self.ops["gc"] += 1

    def connect(self) -> None:
        slot = self.rng.randrange(TRANSIENTS_PER_THREAD)
        if slot in self.connected:
            return
        _, receiver, weak, _ = self.slots[slot]
        signal_index = self.rng.randrange(len(self.signals))
        sender = self.rng.choice([None, Model, self.own_sender])
        self.signals[signal_index].connect(receiver, sender=sender, weak=weak)
        self.connected[slot] = (signal_index, sender)
        self.ops["connect"] += 1

    def disconnect(self) -> None:
        if not self.connected or self.rng.random() < 0.1:
            # Something never connected (on this signal, for this sender).
            receiver = self.slots[self.rng.randrange(TRANSIENTS_PER_THREAD)][1]
            assert self.signals[0].disconnect(receiver, sender=self.unweakrefable) is False
            self.ops["disconnect-unknown"] += 1
            return
        slot = self.rng.choice(list(self.connected))
        signal_index, sender = self.connected.pop(slot)
        receiver = self.slots[slot][1]
        assert self.signals[signal_index].disconnect(receiver, sender=sender) is True
        self.ops["disconnect"] += 1

    def drop(self) -> None:
        """Let a transient receiver die (a strong one is disconnected first)."""
        slot = self.rng.randrange(TRANSIENTS_PER_THREAD)
        _, receiver, weak, name = self.slots[slot]
        if slot in self.connected and not weak:
            signal_index, sender = self.connected.pop(slot)
            assert self.signals[signal_index].disconnect(receiver, sender=sender) is True
        if self.connected.pop(slot, None) is not None:
            self.dropped.add(name)
        del receiver
        self.renew(slot)
        self.ops["drop"] += 1

    def send(self, robust: bool) -> None:
        signal_index = self.rng.randrange(len(self.signals))
        sig = self.signals[signal_index]
        choice = self.rng.randrange(5)
        sender: Any = [None, Model, self.own_sender, self.unweakrefable, None][choice]
        if choice == 4:
            sender = Plain()  # dies after the send; cached and evicted
        self.counter += 1
        token = (self.index, self.counter)
        responses = (sig.send_robust if robust else sig.send)(sender, token=token)
        self.sent[signal_index].append((token, sender is Model))
        names = collections.Counter(response for _, response in responses)
        for response in names:
            assert not isinstance(response, BaseException), response
        stable = self.stables[signal_index]
        for name, count in stable.expected_names(sender).items():
            assert names[name] == count, (name, names)
        own_prefix = f"t{self.index}."
        expected_own = set()
        for slot, (where, target) in self.connected.items():
            if where == signal_index and (target is None or target is sender):
                expected_own.add(self.slots[slot][3])
        own = {name for name in names if name.startswith(own_prefix)}
        assert expected_own <= own, ("lost", expected_own - own)
        assert own - expected_own <= self.dropped, ("disconnected but called", own - expected_own)
        assert all(names[name] == 1 for name in own), names
        self.ops["send_robust" if robust else "send"] += 1

    def has_listeners(self) -> None:
        sig = self.signals[self.rng.randrange(len(self.signals))]
        assert sig.has_listeners(Model) is True
        assert sig.has_listeners(None) is True
        self.ops["has_listeners"] += 1


def run_workers(workers: list[Worker], duration: float) -> list[BaseException]:
    errors: list[BaseException] = []

    def target(worker: Worker) -> None:
        try:
            worker.run()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=target, args=(w,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + 120)
        assert not thread.is_alive(), "a thread is stuck (deadlock?)"
    return errors


@pytest.mark.parametrize("duration", DURATION)
def test_eight_threads_connect_disconnect_and_send(
    impl: ModuleType, duration: float, fast_switching: None, cheap_gc: None
) -> None:
    signals = [impl.Signal(), impl.Signal(use_caching=True)]
    stables = [Stable(sig) for sig in signals]
    seed = random.randrange(2**32)
    deadline = time.monotonic() + duration
    workers = [Worker(i, signals, stables, deadline, seed + i) for i in range(THREADS)]
    errors = run_workers(workers, duration)
    assert errors == [], f"seed {seed}: {errors[0]!r}"

    ops = sum((w.ops for w in workers), collections.Counter())
    print(f"\n{impl.__name__}: {sum(ops.values())} operations in {duration} s: {dict(ops)}")
    assert ops["send"] + ops["send_robust"] > 0 and ops["connect"] > 0

    # Every stable receiver got every send meant for it, exactly once.
    for index, stable in enumerate(stables):
        every = collections.Counter(t for w in workers for t, _ in w.sent[index])
        to_model = collections.Counter(t for w in workers for t, m in w.sent[index] if m)
        for recorder in stable.recorders_for(to_model=False):
            assert collections.Counter(recorder.tokens) == every, recorder.name
        assert collections.Counter(stable.for_model.tokens) == to_model

    # The records: unique, alive, and exactly the stable ones plus what the
    # threads left connected.
    gc.collect()
    for index, (sig, stable) in enumerate(zip(signals, stables)):
        sig.has_listeners()  # lets the signal drop the records of dead receivers
        records = sig.receivers
        keys = [record[0] for record in records]
        assert len(set(keys)) == len(keys), "duplicate records"
        for record in records:
            ref = record[1]
            if isinstance(ref, weakref.ReferenceType):
                assert ref() is not None, "a dead receiver's record was kept"
        left = {
            (w.index, slot): (w.slots[slot][1], sender)
            for w in workers
            for slot, (where, sender) in w.connected.items()
            if where == index
        }
        assert stable.keys <= set(keys), "a stable receiver was lost"
        assert len(keys) == len(stable.keys) + len(left), "missing or extra records"
        for receiver, sender in left.values():
            assert sig.disconnect(receiver, sender=sender) is True
        assert {record[0] for record in sig.receivers} == stable.keys
        names = sorted(response for _, response in sig.send(Model, token=(-1, 0)))
        assert names == sorted(stable.expected_names(Model).elements())


@pytest.mark.parametrize("duration", DURATION)
def test_threads_sending_while_one_thread_mutes_and_restores(
    impl: ModuleType, duration: float, fast_switching: None
) -> None:
    """factory_boy's mute_signals (assign ``[]``, clear the cache, later
    assign the saved list back) from one thread while 7 others send: every
    send sees all receivers or none, and once the muting thread's assignment
    has returned, its own sends reach nobody.

    The muting thread holds ``signal.lock`` while it assigns. Without it (as
    factory_boy does it), an assignment can be lost to a concurrent clean-up
    of dead receivers, which rebuilds the list from the one it read before
    the assignment: the same race exists in django.dispatch (both run
    ``_clear_dead_receivers`` under the lock, and the assignment is not), so
    it is not tested here."""
    for use_caching in (False, True):
        sig = impl.Signal(use_caching=use_caching)
        # Re-entrant, so that holding it around the assignment stays possible
        # should the receivers setter ever take the lock itself.
        sig.lock = threading.RLock()
        receivers = [Transient(f"r{i}") for i in range(5)]
        for r in receivers:
            sig.connect(r)
        deadline = time.monotonic() + duration / 4
        errors: list[BaseException] = []
        stale: list[int] = []
        sizes: collections.Counter[int] = collections.Counter()

        def mute() -> None:
            try:
                while time.monotonic() < deadline:
                    with sig.lock:
                        saved = sig.receivers
                        sig.receivers = []
                        sig.sender_receivers_cache.clear()
                    muted = len(sig.send(Model, token=(-2, 0)))
                    if muted or sig.has_listeners(Model):
                        stale.append(muted)
                    with sig.lock:
                        sig.receivers = saved
                        sig.sender_receivers_cache.clear()
                    assert len(sig.send(Model, token=(-3, 0))) == 5
            except BaseException as error:
                errors.append(error)

        def send(index: int) -> None:
            try:
                counter = 0
                while time.monotonic() < deadline:
                    counter += 1
                    size = len(sig.send(Model, token=(index, counter)))
                    assert size in (0, 5), size
                    sizes[size] += 1
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=mute, daemon=True)]
        threads += [threading.Thread(target=send, args=(i,), daemon=True) for i in range(THREADS - 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(duration + 120)
            assert not thread.is_alive()
        assert errors == []
        assert stale == [], (
            f"use_caching={use_caching}: {len(stale)} sends by the muting thread still "
            "reached the receivers it had just removed (a stale snapshot)"
        )
        assert sig.send(Model, token=(-1, 0)) == [(r, r.name) for r in receivers]
        assert sizes[5] > 0
