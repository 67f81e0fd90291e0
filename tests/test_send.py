"""send: call convention, responses, connection order, sender filtering."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .helpers import Model, OtherModel, keeping_kwargs, returning


def test_send_with_no_receivers_returns_empty_list(impl: ModuleType) -> None:
    sig = impl.Signal()
    assert sig.send(None) == []
    assert sig.send(object(), val="x") == []
    assert sig.send_robust(None) == []


def test_receiver_is_called_with_signal_sender_and_named_arguments(impl: ModuleType) -> None:
    sig = impl.Signal()
    calls: list[dict[str, Any]] = []
    on_event = keeping_kwargs(calls, "ok")
    sig.connect(on_event)
    sender = object()
    assert sig.send(sender, val=1, other="x") == [(on_event, "ok")]
    assert len(calls) == 1
    assert calls[0].keys() == {"signal", "sender", "val", "other"}
    assert calls[0]["signal"] is sig
    assert calls[0]["sender"] is sender
    assert calls[0]["val"] == 1
    assert calls[0]["other"] == "x"


def test_sender_may_be_passed_by_keyword(impl: ModuleType) -> None:
    sig = impl.Signal()

    def on_event(sender: object, **kwargs: Any) -> object:
        return sender

    sig.connect(on_event)
    assert sig.send(sender="me") == [(on_event, "me")]
    assert sig.send_robust(sender="me") == [(on_event, "me")]


def test_named_parameters_are_bound_by_name(impl: ModuleType) -> None:
    sig = impl.Signal()

    def on_event(sender: object, instance: object, created: bool, **kwargs: Any) -> tuple[object, object, bool]:
        return (sender, instance, created)

    sig.connect(on_event)
    assert sig.send("s", created=True, instance="i") == [(on_event, ("s", "i", True))]


def test_responses_are_in_connection_order(impl: ModuleType) -> None:
    sig = impl.Signal()

    class Obj:
        def method(self, **kwargs: Any) -> str:
            return "method"

    class Callable:
        def __call__(self, **kwargs: Any) -> str:
            return "instance"

    function = returning("function")
    returns_none = returning(None)

    obj, instance = Obj(), Callable()
    strong = lambda **kwargs: "strong"  # noqa: E731
    sig.connect(obj.method)
    sig.connect(function)
    sig.connect(strong, weak=False)
    sig.connect(instance)
    sig.connect(returns_none)
    assert sig.send(None) == [
        (obj.method, "method"),
        (function, "function"),
        (strong, "strong"),
        (instance, "instance"),
        (returns_none, None),
    ]


def test_every_send_calls_every_receiver_again(impl: ModuleType) -> None:
    sig = impl.Signal()
    count = [0]

    def on_event(**kwargs: Any) -> int:
        count[0] += 1
        return count[0]

    sig.connect(on_event)
    assert sig.send(None) == [(on_event, 1)]
    assert sig.send(None) == [(on_event, 2)]
    assert sig.send_robust(None) == [(on_event, 3)]


def test_sender_filtering(impl: ModuleType) -> None:
    sig = impl.Signal()

    for_a = returning("a")
    for_all = returning("all")
    for_b = returning("b")

    sig.connect(for_a, sender=Model)
    sig.connect(for_all)
    sig.connect(for_b, sender=OtherModel)
    assert sig.send(Model) == [(for_a, "a"), (for_all, "all")]
    assert sig.send(OtherModel) == [(for_all, "all"), (for_b, "b")]
    assert sig.send(object()) == [(for_all, "all")]
    # A receiver for a specific sender never gets sender=None.
    assert sig.send(None) == [(for_all, "all")]


def test_sender_is_matched_by_identity_not_equality(impl: ModuleType) -> None:
    sig = impl.Signal()

    class Key:
        def __eq__(self, other: object) -> bool:
            return isinstance(other, Key)

        def __hash__(self) -> int:
            return 1

    on_event = returning("hit")

    first, second = Key(), Key()
    assert first == second
    sig.connect(on_event, sender=first)
    assert sig.send(first) == [(on_event, "hit")]
    assert sig.send(second) == []


def test_instance_sender_does_not_match_its_class(impl: ModuleType) -> None:
    sig = impl.Signal()

    on_class = returning("class")

    sig.connect(on_class, sender=Model)
    assert sig.send(Model()) == []
    assert sig.send(Model) == [(on_class, "class")]


def test_two_signals_are_independent(impl: ModuleType) -> None:
    one, two = impl.Signal(), impl.Signal()

    on_one = returning("one")

    one.connect(on_one)
    assert two.send(None) == []
    assert two.has_listeners() is False
    assert two.disconnect(on_one) is False
    assert one.send(None) == [(on_one, "one")]


def test_send_robust_without_failures_equals_send(impl: ModuleType) -> None:
    sig = impl.Signal()

    def for_a(val: int, **kwargs: Any) -> int:
        return val + 1

    def for_all(val: int, **kwargs: Any) -> int:
        return val * 2

    sig.connect(for_a, sender=Model)
    sig.connect(for_all)
    for sender in (Model, None, object()):
        assert sig.send_robust(sender, val=5) == sig.send(sender, val=5)
    assert sig.send_robust(Model, val=5) == [(for_a, 6), (for_all, 10)]
