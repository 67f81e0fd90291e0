"""connect / disconnect / has_listeners / the @receiver decorator."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .helpers import Handler, Model, OtherModel, answers, connected, returning


# -- connect and disconnect -------------------------------------------------


def test_connect_then_send_reaches_the_receiver(impl: ModuleType) -> None:
    sig = impl.Signal()

    on_event = returning("got it")

    sig.connect(on_event)
    assert len(sig.receivers) == 1
    assert sig.send(None) == [(on_event, "got it")]


def test_disconnect_returns_true_then_false(impl: ModuleType) -> None:
    sig = impl.Signal()

    on_event = returning(None)

    sig.connect(on_event)
    assert sig.disconnect(on_event) is True
    assert sig.disconnect(on_event) is False
    assert sig.receivers == []
    assert sig.send(None) == []


def test_disconnect_of_never_connected_receiver_returns_false(impl: ModuleType) -> None:
    sig = impl.Signal()

    connected = returning("connected")
    stranger = returning(None)

    sig.connect(connected)
    assert sig.disconnect(stranger) is False
    assert sig.send(None) == [(connected, "connected")]


def test_disconnect_with_wrong_sender_keeps_receiver(impl: ModuleType) -> None:
    sig = impl.Signal()

    on_a = returning("a")

    sig.connect(on_a, sender=Model)
    assert sig.disconnect(on_a) is False  # connected for Model, not for any sender
    assert sig.disconnect(on_a, sender=OtherModel) is False
    assert sig.send(Model) == [(on_a, "a")]
    assert sig.disconnect(on_a, sender=Model) is True
    assert sig.send(Model) == []


def test_disconnect_one_of_several_keeps_the_others_in_order(impl: ModuleType) -> None:
    sig = impl.Signal()

    first, second, third = connected(sig, 1, 2, 3)
    assert sig.disconnect(second) is True
    assert sig.send(None) == [(first, 1), (third, 3)]
    assert len(sig.receivers) == 2


def test_reconnect_after_disconnect_goes_to_the_end(impl: ModuleType) -> None:
    sig = impl.Signal()

    a, b, c = connected(sig, "a", "b", "c")
    sig.disconnect(a)
    sig.connect(a)
    assert answers(sig.send(None)) == ["b", "c", "a"]


def test_same_receiver_for_two_senders_is_two_receivers(impl: ModuleType) -> None:
    sig = impl.Signal()

    def on_event(sender: object, **kwargs: Any) -> object:
        return sender

    sig.connect(on_event, sender=Model)
    sig.connect(on_event, sender=OtherModel)
    assert len(sig.receivers) == 2
    assert sig.send(Model) == [(on_event, Model)]
    assert sig.send(OtherModel) == [(on_event, OtherModel)]
    assert sig.disconnect(on_event, sender=Model) is True
    assert sig.send(Model) == []
    assert sig.send(OtherModel) == [(on_event, OtherModel)]


# -- duplicates ---------------------------------------------------------------


def test_connecting_the_same_function_twice_is_one_receiver(impl: ModuleType) -> None:
    sig = impl.Signal()
    calls: list[int] = []

    def on_event(**kwargs: Any) -> None:
        calls.append(1)

    for _ in range(5):
        sig.connect(on_event)
    assert len(sig.receivers) == 1
    assert len(sig.send(None)) == 1
    assert calls == [1]


def test_connecting_the_same_bound_method_twice_is_one_receiver(impl: ModuleType) -> None:
    sig = impl.Signal()
    handler = Handler()
    # Each attribute access builds a new bound-method object.
    sig.connect(handler.method)
    sig.connect(handler.method)
    assert len(sig.receivers) == 1
    assert sig.send(None) == [(handler.method, "method")]
    assert sig.disconnect(handler.method) is True
    assert sig.receivers == []


def test_bound_methods_of_two_instances_are_two_receivers(impl: ModuleType) -> None:
    sig = impl.Signal()
    one, two = Handler(), Handler()
    sig.connect(one.method)
    sig.connect(two.method)
    assert len(sig.receivers) == 2
    assert sig.send(None) == [(one.method, "method"), (two.method, "method")]


def test_same_callable_instance_twice_is_one_receiver(impl: ModuleType) -> None:
    class Callable:
        def __call__(self, **kwargs: Any) -> str:
            return "called"

    sig = impl.Signal()
    c = Callable()
    for _ in range(6):
        sig.connect(c)
    assert len(sig.receivers) == 1
    assert sig.send(None) == [(c, "called")]


def test_same_dispatch_uid_with_different_functions_keeps_the_first(impl: ModuleType) -> None:
    sig = impl.Signal()

    first = returning("first")
    second = returning("second")

    sig.connect(first, dispatch_uid="uid")
    sig.connect(second, dispatch_uid="uid")
    assert len(sig.receivers) == 1
    assert sig.send(None) == [(first, "first")]


def test_disconnect_by_dispatch_uid(impl: ModuleType) -> None:
    sig = impl.Signal()

    on_event = returning(None)

    sig.connect(on_event, dispatch_uid="uid")
    # The key is the uid, not the function.
    assert sig.disconnect(on_event) is False
    assert len(sig.receivers) == 1
    assert sig.disconnect(dispatch_uid="uid") is True
    assert sig.disconnect(dispatch_uid="uid") is False
    assert sig.receivers == []
    assert sig.send(None) == []


def test_dispatch_uid_is_per_sender(impl: ModuleType) -> None:
    sig = impl.Signal()

    on_a = returning("a")
    on_b = returning("b")

    sig.connect(on_a, sender=Model, dispatch_uid="uid")
    sig.connect(on_b, sender=OtherModel, dispatch_uid="uid")
    assert len(sig.receivers) == 2
    assert sig.disconnect(dispatch_uid="uid") is False  # no sender-less one
    assert sig.disconnect(dispatch_uid="uid", sender=Model) is True
    assert sig.send(Model) == []
    assert sig.send(OtherModel) == [(on_b, "b")]


def test_dispatch_uid_may_be_any_hashable(impl: ModuleType) -> None:
    sig = impl.Signal()

    on_event = returning("x")

    sig.connect(on_event, dispatch_uid=("app", 7))
    sig.connect(on_event, dispatch_uid=("app", 7))
    assert len(sig.receivers) == 1
    assert sig.disconnect(dispatch_uid=("app", 7)) is True
    assert sig.receivers == []


def test_falsy_dispatch_uid_is_ignored(impl: ModuleType) -> None:
    sig = impl.Signal()

    first = returning("first")
    second = returning("second")

    # Django uses `if dispatch_uid:`, so "" and 0 mean "no uid": the key is the
    # receiver itself, and two functions with uid "" are two receivers.
    sig.connect(first, dispatch_uid="")
    sig.connect(second, dispatch_uid="")
    sig.connect(first, dispatch_uid=0)
    sig.connect(first)
    assert len(sig.receivers) == 2
    assert answers(sig.send(None)) == ["first", "second"]
    assert sig.disconnect(dispatch_uid="") is False
    assert sig.disconnect(first, dispatch_uid=0) is True
    assert sig.disconnect(second, dispatch_uid="") is True
    assert sig.receivers == []


# -- has_listeners ------------------------------------------------------------


def test_has_listeners_without_and_with_receivers(impl: ModuleType) -> None:
    sig = impl.Signal()

    on_event = returning(None)

    assert sig.has_listeners() is False
    assert sig.has_listeners(sender=object()) is False
    sig.connect(on_event)
    assert sig.has_listeners() is True
    assert sig.has_listeners(sender=object()) is True
    sig.disconnect(on_event)
    assert sig.has_listeners() is False
    assert sig.has_listeners(sender=object()) is False


def test_has_listeners_for_a_sender_specific_receiver(impl: ModuleType) -> None:
    sig = impl.Signal()

    on_a = returning(None)

    sig.connect(on_a, sender=Model)
    assert sig.has_listeners(Model) is True
    assert sig.has_listeners(OtherModel) is False
    # has_listeners() asks about sender=None, which only sender-less receivers get.
    assert sig.has_listeners() is False


# -- the @receiver decorator --------------------------------------------------


def test_receiver_decorator_with_one_signal(impl: ModuleType) -> None:
    sig = impl.Signal()

    def on_event(val: object, **kwargs: Any) -> object:
        return val

    decorated = impl.receiver(sig)(on_event)
    assert decorated is on_event
    assert sig.send(None, val="v") == [(on_event, "v")]


def test_receiver_decorator_with_a_list_of_signals(impl: ModuleType) -> None:
    a, b, c = impl.Signal(), impl.Signal(), impl.Signal()
    seen: list[str] = []

    @impl.receiver([a, b, c])
    def on_event(val: str, **kwargs: Any) -> None:
        seen.append(val)

    a.send(None, val="a")
    c.send(None, val="c")
    b.send(None, val="b")
    assert seen == ["a", "c", "b"]


def test_receiver_decorator_with_a_tuple_of_signals(impl: ModuleType) -> None:
    a, b = impl.Signal(), impl.Signal()

    @impl.receiver((a, b))
    def on_event(**kwargs: Any) -> str:
        return "x"

    assert a.send(None) == [(on_event, "x")]
    assert b.send(None) == [(on_event, "x")]


def test_receiver_decorator_passes_sender_and_dispatch_uid(impl: ModuleType) -> None:
    sig = impl.Signal()

    @impl.receiver(sig, sender=Model, dispatch_uid="on-a")
    def on_a(**kwargs: Any) -> str:
        return "a"

    @impl.receiver(sig, sender=Model, dispatch_uid="on-a")
    def duplicate(**kwargs: Any) -> str:
        return "duplicate"

    assert sig.send(None) == []
    assert sig.send(Model) == [(on_a, "a")]
    assert sig.disconnect(sender=Model, dispatch_uid="on-a") is True
    assert sig.receivers == []


def test_receiver_decorator_with_list_passes_kwargs_to_each(impl: ModuleType) -> None:
    a, b = impl.Signal(), impl.Signal()

    @impl.receiver([a, b], sender=Model)
    def on_a(**kwargs: Any) -> str:
        return "a"

    for sig in (a, b):
        assert sig.send(None) == []
        assert sig.send(Model) == [(on_a, "a")]
