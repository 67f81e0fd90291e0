"""Weakly held receivers and weakly held senders."""

from __future__ import annotations

import gc
import weakref
from types import ModuleType
from typing import Any

import pytest

from fastdispatch import _signal

from .helpers import CallableHandler, Handler, Model, connected, returning, skip_if_classes_are_immortal


def assert_clean(sig: Any) -> None:
    """Like Django's assertTestIsClean: use the API once, then nothing is left."""
    assert sig.has_listeners() is False
    assert sig.receivers == []


# -- weak receivers -------------------------------------------------------------


def test_dead_function_receiver_is_not_called(impl: ModuleType) -> None:
    sig = impl.Signal()
    calls: list[int] = []

    def on_event(**kwargs: Any) -> None:
        calls.append(1)

    ref = weakref.ref(on_event)
    sig.connect(on_event)
    del on_event
    gc.collect()
    assert ref() is None
    assert sig.send(None) == []
    assert calls == []
    assert_clean(sig)


def test_dead_receiver_disappears_from_has_listeners_and_receivers(impl: ModuleType) -> None:
    sig = impl.Signal()

    on_event = returning(None)

    sig.connect(on_event)
    assert sig.has_listeners() is True
    del on_event
    gc.collect()
    assert_clean(sig)


def test_dead_receiver_between_live_ones(impl: ModuleType) -> None:
    sig = impl.Signal()

    first, doomed, last = connected(sig, 1, 2, 3)
    del doomed
    gc.collect()
    assert sig.send(None) == [(first, 1), (last, 3)]
    assert sig.send_robust(None) == [(first, 1), (last, 3)]
    assert len(sig.receivers) == 2


def test_bound_method_lives_as_long_as_its_instance(impl: ModuleType) -> None:
    sig = impl.Signal()
    handler = Handler()
    sig.connect(handler.method)  # the bound-method object dies right away
    gc.collect()
    assert sig.has_listeners() is True
    assert sig.send(None) == [(handler.method, "method")]
    assert handler.calls == 1


def test_bound_method_dies_with_its_instance(impl: ModuleType) -> None:
    sig = impl.Signal()
    handler = Handler()
    ref = weakref.ref(handler)
    sig.connect(handler.method)
    del handler
    gc.collect()
    assert ref() is None  # the signal does not keep the instance alive
    assert sig.send(None) == []
    assert_clean(sig)


def test_callable_instance_receiver_dies_with_the_instance(impl: ModuleType) -> None:
    sig = impl.Signal()
    instance = CallableHandler()
    sig.connect(instance)
    assert sig.send(None) == [(instance, "instance")]
    del instance
    gc.collect()
    assert sig.send(None) == []
    assert_clean(sig)


def test_weak_false_keeps_a_function_alive(impl: ModuleType) -> None:
    sig = impl.Signal()

    on_event = returning("alive")
    ref = weakref.ref(on_event)
    sig.connect(on_event, weak=False)
    del on_event
    gc.collect()
    assert ref() is not None
    assert sig.send(None) == [(ref(), "alive")]
    assert sig.disconnect(ref()) is True
    gc.collect()
    assert ref() is None  # disconnecting drops the strong reference


def test_weak_false_keeps_a_bound_method_and_its_instance_alive(impl: ModuleType) -> None:
    sig = impl.Signal()
    handler = Handler()
    ref = weakref.ref(handler)
    sig.connect(handler.method, weak=False)
    del handler
    gc.collect()
    assert ref() is not None
    result = sig.send(None)
    assert result == [(ref().method, "method")]  # type: ignore[union-attr]
    del result
    assert sig.disconnect(ref().method) is True  # type: ignore[union-attr]
    gc.collect()
    assert ref() is None


def test_weak_false_keeps_a_lambda_alive(impl: ModuleType) -> None:
    sig = impl.Signal()
    sig.connect(lambda **kwargs: "lambda", weak=False)
    gc.collect()
    [(receiver, response)] = sig.send(None)
    assert response == "lambda"
    assert sig.disconnect(receiver) is True


def test_weak_lambda_dies_immediately(impl: ModuleType) -> None:
    sig = impl.Signal()
    sig.connect(lambda **kwargs: "lambda")
    gc.collect()
    assert sig.send(None) == []
    assert_clean(sig)


def test_second_connect_with_weak_false_is_a_no_op(impl: ModuleType) -> None:
    # The first connect wins (same key), so the receiver stays weakly held.
    sig = impl.Signal()

    on_event = returning(None)

    sig.connect(on_event)
    sig.connect(on_event, weak=False)
    assert len(sig.receivers) == 1
    del on_event
    gc.collect()
    assert_clean(sig)


def test_disconnect_after_receiver_died_returns_false(impl: ModuleType) -> None:
    sig = impl.Signal()
    first, second, third = CallableHandler(), CallableHandler(), CallableHandler()
    sig.connect(first)
    sig.connect(second)
    sig.connect(third)
    assert sig.disconnect(first) is True
    del second
    gc.collect()
    assert sig.disconnect(third) is True
    assert_clean(sig)


# -- weakly held senders -----------------------------------------------------------


def test_receivers_for_a_sender_are_dropped_when_it_dies(impl: ModuleType) -> None:
    sig = impl.Signal()

    class Sender:
        pass

    on_event = returning("hit")

    sender = Sender()
    sig.connect(on_event, sender=sender)
    assert sig.send(sender) == [(on_event, "hit")]
    del sender
    gc.collect()
    assert sig.has_listeners() is False
    assert sig.receivers == []


@skip_if_classes_are_immortal
def test_class_sender_dies_and_takes_its_receivers(impl: ModuleType) -> None:
    sig = impl.Signal()

    on_event = returning("hit")

    Model = type("Model", (), {})
    ref = weakref.ref(Model)
    sig.connect(on_event, sender=Model)
    sig.connect(on_event)
    assert len(sig.send(Model)) == 2
    del Model
    gc.collect()
    assert ref() is None  # the signal does not keep the sender alive
    assert sig.has_listeners() is True
    assert len(sig.receivers) == 1  # only the sender-less one is left


@pytest.mark.parametrize("use_caching", [False, True])
def test_id_reuse_never_delivers_to_a_dead_senders_receivers(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch, use_caching: bool
) -> None:
    # Like Django's test_garbage_collected_sender: every Sender gets id 0, so
    # the second sender looks like the first one to the lookup keys.
    sig = impl.Signal(use_caching=use_caching)
    real_make_id = _signal._make_id

    class Sender:
        pass

    faked: list[int] = []

    def fake_make_id(target: object) -> object:
        if isinstance(target, Sender):
            faked.append(1)  # not the sender: that would keep it alive
            return 0
        return real_make_id(target)

    def first_receiver(attempt: str, **kwargs: Any) -> str:
        return attempt

    def second_receiver(attempt: str, **kwargs: Any) -> str:
        return attempt

    # Both implementations call fastdispatch._signal's _make_id.
    monkeypatch.setattr(_signal, "_make_id", fake_make_id)
    sender = Sender()
    sig.connect(first_receiver, sender)
    assert sig.send(sender, attempt="first") == [(first_receiver, "first")]
    del sender
    gc.collect()

    sender = Sender()
    assert sig.send(sender, attempt="early") == []
    sig.connect(second_receiver, sender)
    assert sig.send(sender, attempt="second") == [(second_receiver, "second")]
    assert len(sig.receivers) == 1
    assert faked, "the patched _make_id was never called"


NOT_WEAKREFABLE_SENDERS = [
    pytest.param(lambda: object(), id="object()"),
    pytest.param(lambda: 42, id="int"),
    pytest.param(lambda: "sender", id="str"),
    pytest.param(lambda: ("a", "b"), id="tuple"),
    pytest.param(lambda: ["unhashable"], id="list"),
]


@pytest.mark.parametrize("use_caching", [False, True])
@pytest.mark.parametrize("make_sender", NOT_WEAKREFABLE_SENDERS)
def test_senders_without_weak_references_still_work(
    impl: ModuleType, use_caching: bool, make_sender: Any
) -> None:
    sig = impl.Signal(use_caching=use_caching)
    sender = make_sender()
    with pytest.raises(TypeError):
        weakref.ref(sender)

    for_sender = returning("specific")
    for_all = returning("all")

    sig.connect(for_sender, sender=sender)
    sig.connect(for_all)
    for _ in range(2):  # the second time may come from a cache
        assert sig.send(sender) == [(for_sender, "specific"), (for_all, "all")]
        assert sig.send_robust(sender) == [(for_sender, "specific"), (for_all, "all")]
        assert sig.send(object()) == [(for_all, "all")]
        assert sig.send(None) == [(for_all, "all")]
    assert sig.has_listeners(sender) is True
    assert sig.disconnect(for_sender, sender=sender) is True
    assert sig.send(sender) == [(for_all, "all")]


@pytest.mark.parametrize("use_caching", [False, True])
def test_none_sender_reaches_only_senderless_receivers(impl: ModuleType, use_caching: bool) -> None:
    sig = impl.Signal(use_caching=use_caching)

    for_a = returning("a")
    for_all = returning("all")

    sig.connect(for_a, sender=Model)
    sig.connect(for_all, sender=None)
    for _ in range(2):
        assert sig.send(None) == [(for_all, "all")]
        assert sig.send(sender=None) == [(for_all, "all")]
    assert sig.has_listeners(None) is True
