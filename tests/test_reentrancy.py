"""Re-entrancy: receivers that change the signal, send it, kill things or
raise while a send is running; senders that cannot be compared or hashed.

Each scenario runs on a fastdispatch signal and on a ``django.dispatch.Signal``
built the same way (both uncached and cached, with a class as the sender,
which Django's cache accepts) and the two traces must be equal: where Django
defines the behaviour, fastdispatch matches it. Where Django fails (senders
that cannot be hashed or compared), fastdispatch's behaviour is asserted on
its own and the Django failure is asserted next to it, so the difference stays
documented.

What Django defines, and these tests pin down:

- The receivers of a send are fixed when it starts: Django builds the list of
  live receivers (strong references) before calling the first one. A receiver
  connected during the send is not called by it; one disconnected during the
  send, or whose last outside reference is dropped (and garbage collected)
  during the send, is still called by it. The next send sees the change.
- A nested send of the same signal is an ordinary send.
- ``send`` stops at the first exception (later receivers are not called, the
  signal is unchanged); ``send_robust`` catches ``Exception`` but not
  ``BaseException``.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from .helpers import (
    Boom,
    Model,
    RaisingEq,
    RaisingHash,
    Stop,
    Unhashable,
    answers,
    django_signal_class,
    quiet_robust_log,
    recording,
    returning,
    skip_if_classes_are_immortal,
    threads_joined,
)

DjangoSignal = django_signal_class("the re-entrancy tests compare with django.dispatch")
pytestmark = pytest.mark.usefixtures("cheap_gc_for_module")  # many gc.collect() calls

Trace = list[Any]
Scenario = Callable[[Callable[[], Any]], Trace]


@pytest.fixture(autouse=True)
def robust_log_out_of_capture() -> Iterator[None]:
    """send_robust logs with exc_info; keep the records (and the frames they
    hold) out of pytest's log capture."""
    with quiet_robust_log(make_records=True):
        yield


def run_both(impl: ModuleType, scenario: Scenario, use_caching: bool) -> Trace:
    """The scenario's trace with fastdispatch, checked against Django's."""
    fast = scenario(lambda: impl.Signal(use_caching=use_caching))
    gc.collect()
    oracle = scenario(lambda: DjangoSignal(use_caching=use_caching))
    gc.collect()
    assert fast == oracle, f"fastdispatch: {fast!r}\ndjango.dispatch: {oracle!r}"
    return fast


caching = pytest.mark.parametrize("use_caching", [False, True], ids=["uncached", "cached"])


# -- connect, disconnect and send during dispatch ------------------------------------


@caching
def test_receiver_connects_another_during_send(impl: ModuleType, use_caching: bool) -> None:
    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()
        calls: list[str] = []

        late = recording(calls, "late")
        late_for_model = recording(calls, "late_for_model")

        def connector(**kwargs: Any) -> str:
            calls.append("connector")
            sig.connect(late)
            sig.connect(late_for_model, sender=Model)
            return "connector"

        after = recording(calls, "after")

        sig.connect(connector)
        sig.connect(after)
        first = answers(sig.send(Model))
        second = answers(sig.send(Model))
        return [first, second, calls, len(sig.receivers)]

    trace = run_both(impl, scenario, use_caching)
    assert trace[0] == ["connector", "after"]
    assert trace[1] == ["connector", "after", "late", "late_for_model"]


@caching
def test_receiver_disconnects_itself_during_send(impl: ModuleType, use_caching: bool) -> None:
    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()

        def once(**kwargs: Any) -> str:
            return f"once:{sig.disconnect(once)}"

        after = returning("after")

        sig.connect(once)
        sig.connect(after)
        return [answers(sig.send(Model)), answers(sig.send(Model)), sig.has_listeners(Model)]

    trace = run_both(impl, scenario, use_caching)
    assert trace == [["once:True", "after"], ["after"], True]


@caching
@pytest.mark.parametrize("weak", [True, False])
def test_receiver_disconnects_a_later_receiver_during_send(
    impl: ModuleType, use_caching: bool, weak: bool
) -> None:
    """The send already has the later receiver: it is still called, once."""

    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()

        def first(**kwargs: Any) -> str:
            return f"first:{sig.disconnect(later)}"

        later = returning("later")

        sig.connect(first, weak=weak)
        sig.connect(later, weak=weak)
        return [answers(sig.send(Model)), answers(sig.send(Model))]

    trace = run_both(impl, scenario, use_caching)
    assert trace == [["first:True", "later"], ["first:False"]]


@caching
def test_receiver_disconnects_an_earlier_receiver_during_send(
    impl: ModuleType, use_caching: bool
) -> None:
    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()

        earlier = returning("earlier")

        def second(**kwargs: Any) -> str:
            return f"second:{sig.disconnect(earlier)}"

        sig.connect(earlier)
        sig.connect(second)
        return [answers(sig.send(Model)), answers(sig.send(Model))]

    assert run_both(impl, scenario, use_caching) == [
        ["earlier", "second:True"],
        ["second:False"],
    ]


@caching
def test_receiver_mutes_the_signal_during_send(impl: ModuleType, use_caching: bool) -> None:
    """factory_boy's mute_signals entered inside a receiver."""

    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()
        saved: list[Any] = []

        def muter(**kwargs: Any) -> str:
            saved.append(sig.receivers)
            sig.receivers = []
            with sig.lock:
                sig.sender_receivers_cache.clear()
            return "muter"

        after = returning("after")

        sig.connect(muter)
        sig.connect(after)
        trace = [answers(sig.send(Model)), answers(sig.send(Model)), sig.has_listeners(Model)]
        sig.receivers = saved[0]
        with sig.lock:
            sig.sender_receivers_cache.clear()
        trace.append(answers(sig.send(Model)))
        return trace

    assert run_both(impl, scenario, use_caching) == [
        ["muter", "after"],
        [],
        False,
        ["muter", "after"],
    ]


@caching
@pytest.mark.parametrize("robust", [False, True], ids=["send", "send_robust"])
def test_receiver_sends_the_same_signal(impl: ModuleType, use_caching: bool, robust: bool) -> None:
    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()
        send = sig.send_robust if robust else sig.send

        def recurse(depth: int, **kwargs: Any) -> Any:
            if depth == 0:
                return "bottom"
            return [answers(send(Model, depth=depth - 1)), has(sig)]

        def tail(depth: int, **kwargs: Any) -> str:
            return f"tail{depth}"

        def has(s: Any) -> bool:
            return bool(s.has_listeners(Model))

        sig.connect(recurse)
        sig.connect(tail)
        return answers(send(Model, depth=3))

    expected: Any = ["bottom", "tail0"]
    for depth in (1, 2, 3):
        expected = [[expected, True], f"tail{depth}"]
    assert run_both(impl, scenario, use_caching) == expected


@caching
def test_nested_send_sees_a_receiver_connected_by_the_outer_one(
    impl: ModuleType, use_caching: bool
) -> None:
    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()

        def added(nested: bool, **kwargs: Any) -> str:
            return "added"

        def outer(nested: bool, **kwargs: Any) -> Any:
            if nested:
                return "inner-outer"
            sig.connect(added)
            return answers(sig.send(Model, nested=True))

        sig.connect(outer)
        return [answers(sig.send(Model, nested=False)), answers(sig.send(Model, nested=True))]

    assert run_both(impl, scenario, use_caching) == [
        [["inner-outer", "added"]],
        ["inner-outer", "added"],
    ]


# -- objects dying during dispatch ----------------------------------------------------------


@caching
@pytest.mark.parametrize("robust", [False, True], ids=["send", "send_robust"])
@pytest.mark.parametrize("kind", ["function", "bound-method", "callable-instance"])
def test_receiver_kills_a_later_receiver_and_collects_during_send(
    impl: ModuleType, use_caching: bool, kind: str, robust: bool
) -> None:
    """Django's send holds strong references to all its receivers from the
    start, so a receiver whose last outside reference is dropped mid-send is
    still called by that send, and gone from the next one. Never called
    after it died (it cannot be: it is alive while it is called)."""

    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()
        holder: dict[str, Any] = {}

        class Victim:
            def method(self, **kwargs: Any) -> str:
                return "victim"

            def __call__(self, **kwargs: Any) -> str:
                return "victim"

        victim_function = returning("victim")

        if kind == "function":
            holder["victim"] = victim_function
            connected: Any = victim_function
        elif kind == "bound-method":
            holder["victim"] = Victim()
            connected = holder["victim"].method
        else:
            holder["victim"] = Victim()
            connected = holder["victim"]
        ref = weakref.ref(holder["victim"])
        del victim_function

        def killer(**kwargs: Any) -> str:
            holder.clear()
            gc.collect()
            return "killer"

        send = sig.send_robust if robust else sig.send
        sig.connect(killer)
        sig.connect(connected)
        del connected
        first = answers(send(Model))
        gc.collect()
        dead = ref() is None
        second = answers(send(Model))
        return [first, dead, second, sig.has_listeners(Model), len(sig.receivers)]

    trace = run_both(impl, scenario, use_caching)
    assert trace == [["killer", "victim"], True, ["killer"], True, 1]


@caching
def test_receiver_kills_an_async_receiver_during_send(impl: ModuleType, use_caching: bool) -> None:
    """Async receivers run after the sync ones; one whose last outside
    reference a sync receiver drops is still run by that send."""

    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()
        holder: dict[str, Any] = {}

        async def victim(**kwargs: Any) -> str:
            return "async-victim"

        def killer(**kwargs: Any) -> str:
            holder.clear()
            gc.collect()
            return "killer"

        holder["victim"] = victim
        sig.connect(victim)
        sig.connect(killer)
        del victim
        with threads_joined():  # asgiref's loop thread holds the victim until it ends
            first = answers(sig.send(Model))
        gc.collect()
        return [first, answers(sig.send(Model)), len(sig.receivers)]

    assert run_both(impl, scenario, use_caching) == [["killer", "async-victim"], ["killer"], 1]


@caching
def test_receiver_kills_an_earlier_receiver_during_send(impl: ModuleType, use_caching: bool) -> None:
    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()
        holder: dict[str, Any] = {}

        earlier = returning("earlier")

        def killer(**kwargs: Any) -> str:
            holder.clear()
            gc.collect()
            return "killer"

        holder["earlier"] = earlier
        sig.connect(earlier)
        sig.connect(killer)
        del earlier
        return [answers(sig.send(Model)), answers(sig.send(Model)), len(sig.receivers)]

    assert run_both(impl, scenario, use_caching) == [["earlier", "killer"], ["killer"], 1]


@caching
def test_receiver_kills_a_later_receiver_then_connects_during_send(
    impl: ModuleType, use_caching: bool
) -> None:
    """The connect clears dead receivers while the send is still running."""

    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()
        holder: dict[str, Any] = {}

        victim = returning("victim")
        newcomer = returning("newcomer")

        def killer(**kwargs: Any) -> str:
            holder.clear()
            gc.collect()
            sig.connect(newcomer)
            return "killer"

        holder["victim"] = victim
        sig.connect(killer)
        sig.connect(victim)
        del victim
        with threads_joined():  # asgiref's loop thread holds the victim until it ends
            first = answers(sig.send(Model))
        gc.collect()
        return [first, answers(sig.send(Model)), len(sig.receivers)]

    assert run_both(impl, scenario, use_caching) == [
        ["killer", "victim"],
        ["killer", "newcomer"],
        2,
    ]


@skip_if_classes_are_immortal
@caching
def test_receiver_drops_the_last_reference_to_the_sender_during_send(
    impl: ModuleType, use_caching: bool
) -> None:
    """The send holds the sender, so this send delivers to every receiver of
    it; afterwards the sender dies and (Django 6.1, fastdispatch) takes its
    receivers with it, and the cache does not keep it alive."""
    senders: dict[str, Any] = {}

    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()
        senders["it"] = type("Sender", (), {})
        ref = weakref.ref(senders["it"])

        def dropper(sender: Any, **kwargs: Any) -> str:
            senders.clear()
            gc.collect()
            return "dropper"

        def specific(sender: Any, **kwargs: Any) -> str:
            return "specific"

        sig.connect(dropper)
        sig.connect(specific, sender=senders["it"])
        responses = answers(sig.send(senders["it"]))
        gc.collect()
        alive = ref() is not None
        return [responses, alive, sig.has_listeners(Model)]

    assert run_both(impl, scenario, use_caching) == [["dropper", "specific"], False, True]
    # What only Django 6.1 (not 5.2) also does: the dead sender's receiver is gone.
    sig = impl.Signal(use_caching=use_caching)
    sender = type("Sender", (), {})

    specific = returning("specific")

    sig.connect(specific, sender=sender)
    sig.send(sender)
    del sender
    gc.collect()
    assert sig.has_listeners() is False
    assert sig.receivers == []
    assert sig.sender_receivers_cache == {} or not use_caching


# -- receivers that raise ------------------------------------------------------------------------


@caching
def test_receiver_raises_in_send_after_changing_the_signal(impl: ModuleType, use_caching: bool) -> None:
    """What the receiver did before raising stays done; nothing after it runs."""

    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()
        calls: list[str] = []

        added = recording(calls, "added")

        def failing(**kwargs: Any) -> None:
            calls.append("failing")
            sig.connect(added)
            raise Boom("failing")

        after = recording(calls, "after")

        sig.connect(failing)
        sig.connect(after)
        trace: Trace = []
        for _ in range(2):
            try:
                sig.send(Model)
            except Boom as error:
                trace.append(("raised", error.args))
        robust = [
            (type(r).__name__, r.args) if isinstance(r, Exception) else r
            for r in answers(sig.send_robust(Model))
        ]
        return [trace, calls, robust, len(sig.receivers)]

    assert run_both(impl, scenario, use_caching) == [
        [("raised", ("failing",)), ("raised", ("failing",))],
        ["failing", "failing", "failing", "after", "added"],
        [("Boom", ("failing",)), "after", "added"],
        3,
    ]


@caching
def test_nested_send_raising_through_an_outer_send_robust(impl: ModuleType, use_caching: bool) -> None:
    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()

        def outer(level: str, **kwargs: Any) -> Any:
            if level == "outer":
                return answers(sig.send(Model, level="inner"))
            return "outer-inner"

        def failing(level: str, **kwargs: Any) -> None:
            raise Boom(level)

        sig.connect(outer)
        sig.connect(failing)
        responses = sig.send_robust(Model, level="outer")
        return [(type(r).__name__, r.args) if isinstance(r, Exception) else r for r in answers(responses)]

    # The inner send raised through outer, which send_robust caught.
    assert run_both(impl, scenario, use_caching) == [("Boom", ("inner",)), ("Boom", ("outer",))]


@caching
def test_base_exception_escapes_send_robust(impl: ModuleType, use_caching: bool) -> None:
    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()
        calls: list[str] = []

        def stopping(**kwargs: Any) -> None:
            calls.append("stopping")
            raise Stop("stop")

        after = recording(calls, "after")  # never called: its answer is never seen
        sig.connect(stopping)
        sig.connect(after)
        with pytest.raises(Stop):
            sig.send_robust(Model)
        return [calls, len(sig.receivers)]

    assert run_both(impl, scenario, use_caching) == [["stopping"], 2]


# -- senders that cannot be compared or hashed ----------------------------------------------------


SENDER_KINDS = [
    pytest.param(RaisingEq, id="eq-raises"),
    pytest.param(RaisingHash, id="hash-raises"),
    pytest.param(Unhashable, id="unhashable"),
]


def sender_scenario(make: Callable[[], Any], sender: Any) -> Trace:
    sig = make()

    def general(sender: Any, **kwargs: Any) -> str:
        return "general"

    def specific(sender: Any, **kwargs: Any) -> str:
        return "specific"

    sig.connect(general)
    sig.connect(specific, sender=sender)
    trace: Trace = []
    for _ in range(2):  # the second round is served by the cache, if any
        trace.append(answers(sig.send(sender)))
        trace.append(answers(sig.send_robust(sender)))
        trace.append(sig.has_listeners(sender))
        trace.append(answers(sig.send(Model)))
    trace.append(sig.disconnect(specific, sender=sender))
    trace.append(answers(sig.send(sender)))
    trace.append(sig.has_listeners(sender))
    return trace


EXPECTED_SENDER_TRACE = [
    ["general", "specific"],
    ["general", "specific"],
    True,
    ["general"],
] * 2 + [True, ["general"], True]


@caching
@pytest.mark.parametrize("sender_class", SENDER_KINDS)
def test_senders_that_cannot_be_compared_or_hashed(
    impl: ModuleType, use_caching: bool, sender_class: type
) -> None:
    """fastdispatch identifies senders by id() and never hashes or compares
    them. Django hashes the sender in every send (``{}.get(sender)`` even
    without caching) and its cache compares it: it raises where this works.
    Documented as a difference where fastdispatch does better."""
    sender = sender_class()
    assert sender_scenario(lambda: impl.Signal(use_caching=use_caching), sender) == (
        EXPECTED_SENDER_TRACE
    )
    django_fails = sender_class is not RaisingEq or use_caching
    if django_fails:
        with pytest.raises((AssertionError, TypeError)):
            sender_scenario(lambda: DjangoSignal(use_caching=use_caching), sender)
    else:
        assert sender_scenario(DjangoSignal, sender) == EXPECTED_SENDER_TRACE


class UnhashableCallable:
    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        raise AssertionError("a receiver was compared by equality")

    def __call__(self, **kwargs: Any) -> str:
        return "unhashable"


@caching
@pytest.mark.parametrize("weak", [True, False])
def test_unhashable_receiver_with_raising_eq(impl: ModuleType, use_caching: bool, weak: bool) -> None:
    """Receivers are keyed by id() in both: never hashed or compared."""

    def scenario(make: Callable[[], Any]) -> Trace:
        sig = make()
        receiver = UnhashableCallable()
        sig.connect(receiver, weak=weak)
        sig.connect(receiver, weak=weak)
        trace: Trace = [len(sig.receivers), answers(sig.send(Model)), answers(sig.send_robust(Model))]
        trace.append(sig.disconnect(receiver))
        trace.append(answers(sig.send(Model)))
        return trace

    assert run_both(impl, scenario, use_caching) == [1, ["unhashable"], ["unhashable"], True, []]

