"""Differential, model-based fuzzing against django.dispatch.

A hypothesis ``RuleBasedStateMachine`` applies random sequences of operations
to a fastdispatch signal (the implementation under test, with ``use_caching``
drawn at the start and switched on and off during the run) and to an
*uncached* ``django.dispatch.Signal``, the oracle, side by side, on the same
receiver and sender objects. After every operation the two agree: the same
responses in the same order, the same receivers called with the same
arguments, the same return values of ``disconnect`` and ``has_listeners``,
the same exceptions, the same ``send_robust`` log records and the same live
receiver records.

Operations: connect (weak/strong; function, bound method, callable object,
async function, callable without weak references; with and without sender;
with and without ``dispatch_uid``, falsy ones included), disconnect (by
receiver, by ``dispatch_uid``, of things never connected), deleting receivers
and senders and collecting garbage, send and send_robust (with receivers that
raise, with up to 18 extra keyword arguments, which is past the compiled
send's on-stack argument vector, and the sender passed by position or by
keyword anywhere among the keyword arguments), has_listeners, switching use_caching, and
muting a signal the way factory_boy's ``mute_signals`` does (save
``receivers``, assign ``[]``, send, assign the saved list back).

Determinism. Garbage collection is switched off while the machine runs, so an
object dies either at once (reference counting) or at an explicit
``gc.collect()`` of a rule, never between the fastdispatch half and the Django
half of an operation. Every operation is applied to the fastdispatch signal
first. When a sender dies, both signals are made to drop its records before
the next comparison (``delete_sender``). Because the two signals share every
receiver, an extra invariant checks that a receiver the model dropped is kept
alive only if the oracle holds it strongly too (fastdispatch holding on to
one would otherwise be invisible).

Excluded from the comparison, because the oracle defines them differently
(each is tested on its own at the end of this module):

- Django 5.2 (the oracle on Python < 3.12) keys senders by ``id()`` only and
  keeps receivers connected to a sender that died, so a new object that
  reuses the id inherits them; Django 6.1 (ticket 35801) and fastdispatch
  drop them. When the oracle is Django < 6.0, the rule that deletes a sender
  removes that sender's records from the oracle, which is what Django 6.1
  does (see ``_drop_dead_sender_from_oracle``).
- Senders that are unhashable or whose ``__hash__`` raises: Django's
  ``send`` hashes the sender even without caching (``{}.get(sender)``) and
  raises; fastdispatch never hashes a sender.
- ``use_caching=True`` with ``None``, unhashable or non-weakrefable senders:
  Django's ``WeakKeyDictionary`` cache raises, fastdispatch does not cache
  them. This is why the oracle is uncached: caching must be invisible.
- Unhashable ``dispatch_uid``: fastdispatch raises ``TypeError``, Django
  accepts it (and then compares keys by equality on every connect).
- ``weak=True`` with a receiver that has no weak references: both raise
  ``TypeError``, with different messages (the receiver kind "slots" is only
  ever connected with ``weak=False`` here).
- Async receivers never raise here: Django 5.2 runs them with
  ``asyncio.gather`` and Django 6.1 (and fastdispatch) with a ``TaskGroup``,
  which report several failures differently.
- Callable objects without ``__qualname__`` never raise here: Django's
  ``send_robust`` then fails to log (AttributeError), fastdispatch logs the
  class name (tested in tests/test_robust.py).

Size: 200 examples of up to 50 steps per implementation (about 8,000 steps
each). Its ``soak`` run (``--run-soak``): 8 runs of 500 examples of up to 100
steps (about 400,000 steps each).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import weakref
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, ClassVar

import pytest

from .helpers import (
    FREE_THREADED,
    IMMORTAL_CLASSES,
    Model,
    RaisingEq,
    RaisingHash,
    Unhashable,
    django_signal_class,
    quick_and_soak,
    returning,
)

DjangoSignal = django_signal_class("the differential tests need django.dispatch as the oracle")
hypothesis = pytest.importorskip("hypothesis")

import django  # noqa: E402
from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)


@dataclasses.dataclass(frozen=True)
class Size:
    # The soak size runs several independent hypothesis runs: one engine's
    # memory grows with the examples it has seen (about 1 GB for 4,000 long ones).
    rounds: int
    max_examples: int
    step_count: int


SIZES = quick_and_soak(
    # Free-threaded builds collect garbage (every rule's gc.collect()) without
    # generations, about ten times slower here: fewer examples, same steps.
    Size(rounds=1, max_examples=40 if FREE_THREADED else 200, step_count=50),
    Size(8, 500, 100),
)

# Django 6.0 holds senders weakly (ticket 35801); before it, the oracle needs help.
ORACLE_KEEPS_DEAD_SENDERS = django.VERSION < (6, 0)

MAX_RECEIVERS = 8
MAX_SENDERS = 6
# Falsy dispatch_uids ("" and 0) mean "no dispatch_uid" in both.
UIDS = [None, None, None, "uid-a", "uid-b", 7, ("uid", 1), "", 0]
RECEIVER_KINDS = ["function", "method", "callable", "async", "slots"]
SENDER_KINDS = ["class", "instance", "slots", "raising-eq", "str"]
if IMMORTAL_CLASSES:  # a class sender would never die (see helpers)
    SENDER_KINDS.remove("class")

# Statistics for the closing report (read with -s, see test_differential).
STATS: dict[str, int] = {"examples": 0, "steps": 0, "compared": 0}


class ReceiverError(Exception):
    """Raised by receivers made to fail."""


# -- receivers ----------------------------------------------------------------------
#
# Every receiver appends (label, signal, sender, n) to a shared log and returns
# (label, n, sorted keyword names); the failing ones raise ReceiverError(label, n).
# Receivers reference the log, never the machine, so they die when dropped.

Log = list[tuple[str, Any, Any, Any]]


def answer(label: str, log: Log, raises: bool, signal: Any, sender: Any, kwargs: dict[str, Any]) -> Any:
    """What every receiver does when called."""
    log.append((label, signal, sender, kwargs.get("n")))
    if raises:
        raise ReceiverError(label, kwargs.get("n"))
    return (label, kwargs.get("n"), tuple(sorted(kwargs)))


def make_function(label: str, log: Log, raises: bool) -> Callable[..., Any]:
    def receiver(signal: Any, sender: Any, **kwargs: Any) -> Any:
        return answer(label, log, raises, signal, sender, kwargs)

    receiver.__qualname__ = f"function_{label}"
    return receiver


def make_async_function(label: str, log: Log) -> Callable[..., Any]:
    async def receiver(signal: Any, sender: Any, **kwargs: Any) -> Any:
        return answer(label, log, False, signal, sender, kwargs)

    receiver.__qualname__ = f"async_function_{label}"
    return receiver


class MethodReceiver:
    def __init__(self, label: str, log: Log, raises: bool) -> None:
        self.label, self.log, self.raises = label, log, raises

    def on_signal(self, signal: Any, sender: Any, **kwargs: Any) -> Any:
        return answer(self.label, self.log, self.raises, signal, sender, kwargs)


class CallableReceiver:
    def __init__(self, label: str, log: Log, raises: bool) -> None:
        self.label, self.log, self.raises = label, log, raises
        # Django's send_robust logs receiver.__qualname__.
        self.__qualname__ = f"CallableReceiver_{label}"

    def __call__(self, signal: Any, sender: Any, **kwargs: Any) -> Any:
        return answer(self.label, self.log, self.raises, signal, sender, kwargs)


class SlotsReceiver:
    """Callable without weak references: connected with weak=False only."""

    __slots__ = ("label", "log")

    def __init__(self, label: str, log: Log) -> None:
        self.label, self.log = label, log

    def __call__(self, signal: Any, sender: Any, **kwargs: Any) -> Any:
        return answer(self.label, self.log, False, signal, sender, kwargs)


class ReceiverSlot:
    """The model's handle on one receiver: a strong reference until deleted."""

    def __init__(self, label: str, kind: str, log: Log, raises: bool) -> None:
        self.label, self.kind = label, kind
        self.raises = raises and kind in ("function", "method", "callable")
        obj: Any
        if kind == "function":
            obj = make_function(label, log, self.raises)
        elif kind == "async":
            obj = make_async_function(label, log)
        elif kind == "method":
            obj = MethodReceiver(label, log, self.raises)
        elif kind == "callable":
            obj = CallableReceiver(label, log, self.raises)
        else:
            obj = SlotsReceiver(label, log)
        self.obj: Any = obj
        # After deletion, a strongly connected receiver can still be reached.
        self.ref = None if kind == "slots" else weakref.ref(obj)

    def target(self) -> Any:
        obj = self.obj
        if obj is None and self.ref is not None:
            obj = self.ref()
        return obj

    def receiver(self) -> Any:
        """What is passed to connect/disconnect, or None if out of reach."""
        obj = self.target()
        if obj is None:
            return None
        return obj.on_signal if self.kind == "method" else obj


# -- senders -------------------------------------------------------------------------


class PlainSender:
    pass


class SlotsSender:
    """No weak references (like ``object()``)."""

    __slots__ = ()


class SenderSlot:
    def __init__(self, label: str, kind: str) -> None:
        self.label, self.kind = label, kind
        obj: Any
        if kind == "none":
            obj = None
        elif kind == "class":
            obj = type(f"Model{label}", (), {})
        elif kind == "instance":
            obj = PlainSender()
        elif kind == "slots":
            obj = SlotsSender()
        elif kind == "raising-eq":
            obj = RaisingEq()
        else:
            obj = f"sender-{label}"
        self.obj: Any = obj
        self.deletable = kind in ("class", "instance", "raising-eq")


# -- comparing the two signals ------------------------------------------------------------


class LogCapture(logging.Handler):
    """Keeps what send_robust logged, without the records (whose exc_info
    would keep receivers' frames, and so receivers, alive)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.entries: list[tuple[str, int, str, tuple[Any, ...]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        self.entries.append(
            (record.getMessage(), record.levelno, type(exc).__name__, getattr(exc, "args", ()))
        )
        record.exc_info = None

    def take(self) -> list[tuple[str, int, str, tuple[Any, ...]]]:
        entries, self.entries = self.entries, []
        return entries


@pytest.fixture
def robust_log() -> Iterator[LogCapture]:
    """Capture the ``django.dispatch`` logger (where both log inside Django),
    without letting pytest's log capture keep the records."""
    handler = LogCapture()
    loggers = [logging.getLogger("django.dispatch"), logging.getLogger("fastdispatch")]
    saved = [(lg.propagate, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.propagate = False
        lg.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for lg, (propagate, level) in zip(loggers, saved):
            lg.removeHandler(handler)
            lg.propagate = propagate
            lg.setLevel(level)


@pytest.fixture
def no_automatic_gc() -> Iterator[None]:
    """No automatic collections, and cheap explicit ones: everything that
    exists before the test (pytest, hypothesis, Django) is frozen out of the
    collector's sight."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()
        gc.collect()


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", value) or ("raise", (type, args)): comparable across signals."""
    try:
        return ("ok", call())
    except Exception as error:
        error.__traceback__ = None
        return ("raise", (type(error), error.args))


def normalize_responses(result: tuple[str, Any]) -> tuple[str, Any]:
    """Exceptions returned by send_robust compare by type and arguments."""
    status, value = result
    if status != "ok":
        return result
    normalized = []
    for receiver, response in value:
        if isinstance(response, BaseException):
            assert response.__traceback__ is not None, "send_robust lost the traceback"
            # Break the frame cycle now: it would keep receivers alive.
            response.__traceback__ = None
            response = ("exception", type(response), response.args)
        normalized.append((receiver, response))
    return ("ok", normalized)


def live_records(sig: Any) -> list[tuple[Any, bool, bool]]:
    """(lookup_key, weak, is_async) of the records whose receiver and sender are
    alive, in order. Django 5.2 records have 3 fields, 6.1 and fastdispatch 4."""
    out = []
    for record in list(sig.receivers):
        key, ref, is_async = record[0], record[1], record[-1]
        sender_ref = record[2] if len(record) == 4 else None
        weak = isinstance(ref, weakref.ReferenceType)
        if weak and ref() is None:
            continue
        if sender_ref is not None and sender_ref() is None:
            continue
        out.append((key, weak, bool(is_async)))
    return out


# The arguments of the send and send_robust rules: which sender (preferring
# one that something is connected for), how many extra keyword arguments, and
# where the sender goes among them (None: by position). See _send.
SEND_ARGUMENTS = {
    "s": st.integers(0, MAX_SENDERS - 1),
    "extra": st.sampled_from([0, 0, 0, 1, 3, 18]),
    "connected_sender": st.booleans(),
    "sender_at": st.sampled_from([None, None, 0, 1, 19]),
}


class DifferentialMachine(RuleBasedStateMachine):
    """fastdispatch (``impl``) against an uncached django.dispatch.Signal."""

    impl: ClassVar[ModuleType]
    log_capture: ClassVar[LogCapture]

    def __init__(self) -> None:
        super().__init__()
        STATS["examples"] += 1
        self.fast: Any = None
        self.oracle = DjangoSignal()
        self.log: Log = []
        self.receivers: list[ReceiverSlot] = []
        self.senders: list[SenderSlot] = [SenderSlot("none", "none")]
        # (receiver, sender, dispatch_uid) of every connect, so that
        # disconnects and sends often hit what is connected.
        self.connections: list[tuple[ReceiverSlot, SenderSlot, Any]] = []
        self.counter = 0
        self.log_capture.take()

    def teardown(self) -> None:
        # Django may still hold receivers strongly; let the next example start clean.
        self.receivers.clear()
        self.senders.clear()
        self.fast = self.oracle = None
        if STATS["examples"] % 50 == 0:
            # What was frozen and has become garbage since (hypothesis's
            # state of earlier examples) is only freed once unfrozen.
            gc.unfreeze()
        gc.collect()
        # Keep collections cheap: hide what exists now (hypothesis's growing
        # state included) from the collector (see ``no_automatic_gc``).
        gc.freeze()

    def _label(self) -> str:
        self.counter += 1
        return str(self.counter)

    def _receiver(self, index: int) -> ReceiverSlot:
        return self.receivers[index % len(self.receivers)]

    def _sender(self, index: int) -> SenderSlot:
        return self.senders[index % len(self.senders)]

    def _both(self, call: Callable[[Any], Any]) -> tuple[tuple[str, Any], tuple[str, Any]]:
        """Apply ``call`` to fastdispatch, then to the oracle. Each half's log
        of receiver calls must name its own signal."""
        STATS["compared"] += 1
        results = []
        for sig in (self.fast, self.oracle):
            self.log.clear()
            result = outcome(lambda: call(sig))
            for _, called_signal, _, _ in self.log:
                assert called_signal is sig, "a receiver got the other signal"
            results.append((result, [(lab, snd, n) for lab, _, snd, n in self.log]))
        (fast_result, fast_calls), (oracle_result, oracle_calls) = results
        assert len(fast_calls) == len(oracle_calls), (fast_calls, oracle_calls)
        for (fl, fs, fn), (ol, os_, on) in zip(fast_calls, oracle_calls):
            assert (fl, fn) == (ol, on), (fast_calls, oracle_calls)
            assert fs is os_, "a receiver got another sender"
        self.log.clear()
        return fast_result, oracle_result

    # -- setup and population ---------------------------------------------------------

    @initialize(
        use_caching=st.booleans(),
        receivers=st.lists(
            st.tuples(st.sampled_from(RECEIVER_KINDS), st.booleans()), min_size=2, max_size=5
        ),
        senders=st.lists(st.sampled_from(SENDER_KINDS), min_size=1, max_size=3),
    )
    def make_signal(
        self, use_caching: bool, receivers: list[tuple[str, bool]], senders: list[str]
    ) -> None:
        self.fast = self.impl.Signal(use_caching=use_caching)
        for kind, raises in receivers:
            self.receivers.append(ReceiverSlot(self._label(), kind, self.log, raises))
        for kind in senders:
            self.senders.append(SenderSlot(self._label(), kind))

    @precondition(lambda self: len(self.receivers) < MAX_RECEIVERS)
    @rule(kind=st.sampled_from(RECEIVER_KINDS), raises=st.booleans())
    def new_receiver(self, kind: str, raises: bool) -> None:
        self.receivers.append(ReceiverSlot(self._label(), kind, self.log, raises))

    @precondition(lambda self: len(self.senders) < MAX_SENDERS)
    @rule(kind=st.sampled_from(SENDER_KINDS))
    def new_sender(self, kind: str) -> None:
        self.senders.append(SenderSlot(self._label(), kind))

    # -- connect and disconnect ---------------------------------------------------------

    @precondition(lambda self: bool(self.receivers))
    @rule(
        r=st.integers(0, MAX_RECEIVERS - 1),
        s=st.integers(0, MAX_SENDERS - 1),
        weak=st.booleans(),
        uid=st.sampled_from(UIDS),
    )
    def connect(self, r: int, s: int, weak: bool, uid: Any) -> None:
        slot = self._receiver(r)
        receiver = slot.receiver()
        if receiver is None:
            return
        if slot.kind == "slots":
            weak = False
        sender_slot = self._sender(s)
        sender = sender_slot.obj
        fast, oracle = self._both(
            lambda sig: sig.connect(receiver, sender=sender, weak=weak, dispatch_uid=uid)
        )
        assert fast == oracle == ("ok", None), (fast, oracle)
        self.connections.append((slot, sender_slot, uid))

    @precondition(lambda self: bool(self.receivers))
    @rule(
        r=st.integers(0, MAX_RECEIVERS - 1),
        s=st.integers(0, MAX_SENDERS - 1),
        weak=st.booleans(),
    )
    def connect_without_uid(self, r: int, s: int, weak: bool) -> None:
        """The common case (and a second connect rule, so that connects are
        drawn about as often as sends)."""
        self.connect(r, s, weak, None)

    @precondition(lambda self: bool(self.connections))
    @rule(c=st.integers(0, 31), by_uid_only=st.booleans())
    def disconnect_connected(self, c: int, by_uid_only: bool) -> None:
        """Disconnect something connected before (it may have died since, or
        been disconnected already)."""
        slot, sender_slot, uid = self.connections[c % len(self.connections)]
        if sender_slot not in self.senders:
            return  # the sender was deleted
        receiver = None if (by_uid_only and uid) else slot.receiver()
        sender = sender_slot.obj
        fast, oracle = self._both(
            lambda sig: sig.disconnect(receiver, sender=sender, dispatch_uid=uid)
        )
        assert fast == oracle, (fast, oracle)

    @rule(
        r=st.integers(-1, MAX_RECEIVERS - 1),
        s=st.integers(0, MAX_SENDERS - 1),
        uid=st.sampled_from(UIDS),
    )
    def disconnect(self, r: int, s: int, uid: Any) -> None:
        receiver = None
        if r >= 0 and self.receivers:
            receiver = self._receiver(r).receiver()
        sender = self._sender(s).obj
        fast, oracle = self._both(
            lambda sig: sig.disconnect(receiver, sender=sender, dispatch_uid=uid)
        )
        assert fast == oracle, (fast, oracle)

    # -- deaths -----------------------------------------------------------------------------

    @precondition(lambda self: bool(self.receivers))
    @rule(r=st.integers(0, MAX_RECEIVERS - 1))
    def delete_receiver(self, r: int) -> None:
        """Drop the model's reference (a strongly connected one lives on)."""
        slot = self._receiver(r)
        slot.obj = None
        gc.collect()

    @precondition(lambda self: any(slot.deletable for slot in self.senders))
    @rule(s=st.integers(0, MAX_SENDERS - 1))
    def delete_sender(self, s: int) -> None:
        deletable = [slot for slot in self.senders if slot.deletable]
        slot = deletable[s % len(deletable)]
        self.senders.remove(slot)
        sender_id = id(slot.obj)
        ref = weakref.ref(slot.obj)
        slot.obj = None
        gc.collect()
        assert ref() is None, "a signal keeps a sender alive"
        if ORACLE_KEEPS_DEAD_SENDERS:
            self._drop_dead_sender_from_oracle(sender_id)
        # Let both signals drop the dead sender's records now. They do it
        # lazily, at their next call, and a record may hold a receiver
        # strongly that is otherwise only connected weakly: whichever signal
        # dropped its record last would decide when that receiver dies, for
        # both (they share it), and the two halves of the next comparison
        # would see different worlds. The answers are compared right after.
        self.fast.has_listeners()
        self.oracle.has_listeners()
        gc.collect()

    def _drop_dead_sender_from_oracle(self, sender_id: int) -> None:
        """Django < 6.0 keeps a dead sender's receivers under its id; Django 6.1
        drops them (ticket 35801), as fastdispatch does. Do that to the oracle,
        before any new object can reuse the id, so it models Django 6.1."""
        oracle = self.oracle
        with oracle.lock:
            oracle.receivers = [r for r in oracle.receivers if r[0][1] != sender_id]
            oracle.sender_receivers_cache.clear()

    @rule()
    def collect_garbage(self) -> None:
        gc.collect()

    # -- sending -----------------------------------------------------------------------

    @rule(**SEND_ARGUMENTS)
    def send(self, s: int, extra: int, connected_sender: bool, sender_at: int | None) -> None:
        self._send(s, False, extra, connected_sender, sender_at)

    @rule(**SEND_ARGUMENTS)
    def send_robust(self, s: int, extra: int, connected_sender: bool, sender_at: int | None) -> None:
        self._send(s, True, extra, connected_sender, sender_at)

    def _send(
        self, s: int, robust: bool, extra: int, connected_sender: bool, sender_at: int | None
    ) -> None:
        """``sender_at``: None passes the sender by position, a number passes
        it by keyword at that place among the keyword arguments."""
        senders = self.senders
        if connected_sender:
            # Prefer a sender something was connected for.
            senders = [c[1] for c in self.connections if c[1] in self.senders] or senders
        sender = senders[s % len(senders)].obj
        self.counter += 1
        named = {f"k{i}": i for i in range(extra)}
        named["n"] = self.counter
        method = "send_robust" if robust else "send"
        self.log_capture.take()
        items = list(named.items())
        items.insert(sender_at or 0, ("sender", sender))
        keywords = dict(items)

        def call(sig: Any) -> Any:
            if sender_at is None:
                return getattr(sig, method)(sender, **named)
            return getattr(sig, method)(**keywords)

        results = []
        for result in self._both(call):
            results.append(normalize_responses(result))
        fast, oracle = results
        assert fast == oracle, (method, fast, oracle)
        entries = self.log_capture.take()
        # Both halves logged the same failures, in the same order.
        half = len(entries) // 2
        assert len(entries) % 2 == 0 and entries[:half] == entries[half:], entries
        if robust and fast[0] == "ok":
            failures = sum(1 for _, resp in fast[1] if isinstance(resp, tuple) and resp[:1] == ("exception",))
            assert half == failures, entries

    @rule(s=st.integers(0, MAX_SENDERS - 1))
    def has_listeners(self, s: int) -> None:
        sender = self._sender(s).obj
        fast, oracle = self._both(lambda sig: sig.has_listeners(sender))
        assert fast == oracle, (fast, oracle)

    @rule(s=st.integers(0, MAX_SENDERS - 1))
    def mute_send_restore(self, s: int) -> None:
        """factory_boy's ``mute_signals``: save, assign [], send, restore."""
        sender = self._sender(s).obj
        saved = [self.fast.receivers, self.oracle.receivers]
        for sig in (self.fast, self.oracle):
            sig.receivers = []
        fast, oracle = self._both(lambda sig: (sig.send(sender), sig.has_listeners(sender)))
        assert fast == oracle == ("ok", ([], False)), (fast, oracle)
        for sig, records in zip((self.fast, self.oracle), saved):
            sig.receivers = records
            with sig.lock:
                sig.sender_receivers_cache.clear()

    @rule(on=st.booleans())
    def switch_caching(self, on: bool) -> None:
        """Caching must be invisible, whenever it is switched on or off."""
        self.fast.use_caching = on

    # -- after every step ---------------------------------------------------------------

    @invariant()
    def nothing_kept_alive_by_fastdispatch_alone(self) -> None:
        """A receiver the model dropped may live on only if the oracle holds
        it strongly too (both were asked to; the two share the object)."""
        if self.oracle is None:
            return
        suspects = [slot for slot in self.receivers if slot.obj is None and slot.ref is not None]
        if not suspects or all(slot.ref() is None for slot in suspects):
            return
        gc.collect()  # a cycle may still hold one
        strong = [
            record[1]
            for record in self.oracle.receivers
            if not isinstance(record[1], weakref.ReferenceType)
        ]
        for slot in suspects:
            obj = slot.ref()
            if obj is not None:
                assert any(r is obj or getattr(r, "__self__", None) is obj for r in strong), (
                    f"receiver {slot.label} ({slot.kind}) is kept alive, and not by the oracle"
                )

    @invariant()
    def signals_agree(self) -> None:
        STATS["steps"] += 1
        if self.fast is None:
            return
        for slot in list(self.senders):
            sender = slot.obj
            fast, oracle = self._both(lambda sig: sig.has_listeners(sender))
            assert fast == oracle, (slot.kind, fast, oracle)
        assert live_records(self.fast) == live_records(self.oracle)
        records = self.fast.receivers
        assert len({r[0] for r in records}) == len(records), "duplicate receiver records"


def machine_settings(size: Size) -> hypothesis_settings:
    return hypothesis_settings(
        max_examples=size.max_examples,
        stateful_step_count=size.step_count,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        print_blob=True,
    )


@pytest.mark.parametrize("size", SIZES)
def test_differential_against_django(
    impl: ModuleType, size: Size, robust_log: LogCapture, no_automatic_gc: None
) -> None:
    machine = type(
        f"DifferentialMachine_{impl.__name__.rsplit('.', 1)[-1]}",
        (DifferentialMachine,),
        {"impl": impl, "log_capture": robust_log},
    )
    before = dict(STATS)
    for _ in range(size.rounds):
        run_state_machine_as_test(machine, settings=machine_settings(size))
    examples = STATS["examples"] - before["examples"]
    steps = STATS["steps"] - before["steps"]
    compared = STATS["compared"] - before["compared"]
    print(f"\n{impl.__name__}: {examples} examples, {steps} steps, {compared} compared calls")
    assert examples > 0


# -- regression tests: shrunk failures and the excluded cases --------------------------------


def raising_hash() -> RaisingHash:
    return RaisingHash(RuntimeError, "hash")


def echo(sender: Any, **kwargs: Any) -> Any:
    return sender


@pytest.mark.parametrize(
    "make_sender",
    [
        pytest.param(lambda: None, id="None"),
        pytest.param(object, id="object"),
        pytest.param(SlotsSender, id="slots"),
        pytest.param(Unhashable, id="unhashable"),
        pytest.param(raising_hash, id="raising-hash"),
    ],
)
def test_cached_signal_accepts_senders_djangos_cache_rejects(impl: ModuleType, make_sender: Any) -> None:
    """Django's cached signal raises for these senders (its cache is a
    WeakKeyDictionary); fastdispatch's answers as an uncached signal does."""
    sender = make_sender()
    fast = impl.Signal(use_caching=True)
    django_cached = DjangoSignal(use_caching=True)
    fast.connect(echo)
    django_cached.connect(echo)
    with pytest.raises((TypeError, RuntimeError)):
        django_cached.send(sender)
    for _ in range(2):  # the second send would be served by a cache
        assert fast.send(sender) == [(echo, sender)]
        assert fast.send_robust(sender) == [(echo, sender)]
        assert fast.has_listeners(sender) is True
    fast.connect(echo, sender=Model)
    assert fast.send(sender) == [(echo, sender)]


@pytest.mark.parametrize("use_caching", [False, True])
@pytest.mark.parametrize(
    "make_sender",
    [pytest.param(Unhashable, id="unhashable"), pytest.param(raising_hash, id="raising-hash")],
)
def test_senders_that_cannot_be_hashed_work_where_django_raises(
    impl: ModuleType, use_caching: bool, make_sender: Any
) -> None:
    """Django's send hashes the sender even uncached (``{}.get(sender)``);
    fastdispatch never hashes a sender, so these work, connected to or not."""
    sender = make_sender()
    oracle = DjangoSignal()
    oracle.connect(echo)
    with pytest.raises((TypeError, RuntimeError)):
        oracle.send(sender)
    fast = impl.Signal(use_caching=use_caching)
    fast.connect(echo)

    def specific(sender: Any, **kwargs: Any) -> str:
        return "specific"

    fast.connect(specific, sender=sender)
    assert fast.send(sender) == [(echo, sender), (specific, "specific")]
    assert fast.send_robust(sender) == [(echo, sender), (specific, "specific")]
    assert fast.has_listeners(sender) is True
    assert fast.disconnect(specific, sender=sender) is True
    assert fast.send(sender) == [(echo, sender)]


def test_unhashable_dispatch_uid_is_rejected_where_django_accepts_it(impl: ModuleType) -> None:
    oracle = DjangoSignal()
    oracle.connect(echo, dispatch_uid=["a"])  # Django accepts it
    assert oracle.disconnect(dispatch_uid=["a"]) is True
    fast = impl.Signal()
    with pytest.raises(TypeError, match="dispatch_uid must be hashable"):
        fast.connect(echo, dispatch_uid=["a"])
    assert fast.receivers == []


def test_dead_senders_receivers_are_dropped_unlike_django_5_2(impl: ModuleType) -> None:
    """The difference the machine's ``_drop_dead_sender_from_oracle`` models:
    once a sender dies, its receivers are gone (Django 6.1, ticket 35801)."""
    fast = impl.Signal()
    oracle = DjangoSignal()
    sender = Model()
    fast.connect(echo, sender=sender)
    oracle.connect(echo, sender=sender)
    del sender
    gc.collect()
    assert fast.has_listeners() is False
    assert fast.receivers == []
    oracle.has_listeners()
    assert len(oracle.receivers) == (1 if ORACLE_KEEPS_DEAD_SENDERS else 0)


@pytest.mark.parametrize("use_caching", [False, True])
def test_falsy_dispatch_uids_mean_no_dispatch_uid(impl: ModuleType, use_caching: bool) -> None:
    """As in Django (``if dispatch_uid:``): "" and 0 key by the receiver."""
    fast = impl.Signal(use_caching=use_caching)
    oracle = DjangoSignal()

    other = returning("other")

    for sig in (fast, oracle):
        sig.connect(echo, dispatch_uid="")
        sig.connect(other, dispatch_uid=0)
        sig.connect(echo, dispatch_uid=0)
    assert fast.send(None) == oracle.send(None) == [(echo, None), (other, "other")]
    assert fast.disconnect(other, dispatch_uid="") is oracle.disconnect(other, dispatch_uid="") is True
    assert fast.send(None) == oracle.send(None) == [(echo, None)]
