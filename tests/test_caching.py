"""Signal(use_caching=True): same results, invalidation, no sender kept alive."""

from __future__ import annotations

import gc
import weakref
from types import ModuleType
from typing import Any

import pytest

from .helpers import Handler, Model, OtherModel, Unhashable, returning, skip_if_classes_are_immortal


def test_use_caching_attribute(impl: ModuleType) -> None:
    assert impl.Signal().use_caching is False
    assert impl.Signal(use_caching=True).use_caching is True
    assert impl.Signal(True).use_caching is True


def test_cached_results_equal_uncached_results(impl: ModuleType) -> None:
    cached, plain = impl.Signal(use_caching=True), impl.Signal()
    handler = Handler()

    def for_model(sender: object, **kwargs: Any) -> tuple[str, object]:
        return ("model", sender)

    def for_all(sender: object, **kwargs: Any) -> tuple[str, object]:
        return ("all", sender)

    def for_other(sender: object, **kwargs: Any) -> tuple[str, object]:
        return ("other", sender)

    strong = lambda sender, **kwargs: ("strong", sender)  # noqa: E731
    for sig in (cached, plain):
        sig.connect(for_model, sender=Model)
        sig.connect(handler.method)
        sig.connect(for_all)
        sig.connect(for_other, sender=OtherModel)
        sig.connect(strong, sender=Model, weak=False)

    instance, anything = Model(), object()
    for _ in range(3):
        for sender in (Model, OtherModel, instance, anything, None, "text", 7):
            expected = plain.send(sender, x=1)
            assert cached.send(sender, x=1) == expected
            assert cached.send_robust(sender, x=1) == expected
            assert cached.has_listeners(sender) is plain.has_listeners(sender)
    assert cached.send(Model) == [
        (for_model, ("model", Model)),
        (handler.method, "method"),
        (for_all, ("all", Model)),
        (strong, ("strong", Model)),
    ]


def test_connect_invalidates_the_cache(impl: ModuleType) -> None:
    sig = impl.Signal(use_caching=True)

    first = returning(1)
    second = returning(2)
    third = returning(3)

    sig.connect(first)
    assert sig.send(Model) == [(first, 1)]
    assert sig.send(Model) == [(first, 1)]
    sig.connect(second)
    assert sig.send(Model) == [(first, 1), (second, 2)]
    sig.connect(third, sender=Model)
    assert sig.send(Model) == [(first, 1), (second, 2), (third, 3)]
    assert sig.send(OtherModel) == [(first, 1), (second, 2)]


def test_disconnect_invalidates_the_cache(impl: ModuleType) -> None:
    sig = impl.Signal(use_caching=True)

    first = returning(1)
    second = returning(2)

    sig.connect(first)
    sig.connect(second, sender=Model)
    assert sig.send(Model) == [(first, 1), (second, 2)]
    assert sig.disconnect(second, sender=Model) is True
    assert sig.send(Model) == [(first, 1)]
    assert sig.disconnect(first) is True
    assert sig.send(Model) == []
    assert sig.has_listeners(Model) is False


def test_sender_nobody_listens_to_returns_empty_until_someone_connects(impl: ModuleType) -> None:
    sig = impl.Signal(use_caching=True)

    for_model = returning("model")
    for_other = returning("other")

    sig.connect(for_model, sender=Model)
    for _ in range(2):
        assert sig.send(OtherModel) == []
        assert sig.send_robust(OtherModel) == []
        assert sig.has_listeners(OtherModel) is False
    sig.connect(for_other, sender=OtherModel)
    assert sig.send(OtherModel) == [(for_other, "other")]
    assert sig.has_listeners(OtherModel) is True


def test_dead_receiver_is_not_served_from_the_cache(impl: ModuleType) -> None:
    sig = impl.Signal(use_caching=True)
    calls: list[int] = []

    def on_event(**kwargs: Any) -> None:
        calls.append(1)

    sig.connect(on_event)
    sig.send(Model)
    assert calls == [1]
    del on_event
    gc.collect()
    assert sig.send(Model) == []
    assert calls == [1]
    assert sig.has_listeners(Model) is False
    assert sig.receivers == []


@skip_if_classes_are_immortal
def test_cache_does_not_keep_a_class_sender_alive(impl: ModuleType) -> None:
    sig = impl.Signal(use_caching=True)

    on_event = returning("x")

    sender = type("Sender", (), {})
    ref = weakref.ref(sender)
    sig.connect(on_event)
    assert sig.send(sender) == [(on_event, "x")]
    del sender
    gc.collect()
    assert ref() is None


def test_cache_does_not_keep_an_instance_sender_alive(impl: ModuleType) -> None:
    sig = impl.Signal(use_caching=True)

    on_event = returning("x")
    for_sender = returning("specific")

    sig.connect(on_event)
    sender = Model()
    ref = weakref.ref(sender)
    sig.connect(for_sender, sender=sender)
    sig.send(sender)
    sig.send_robust(sender)
    sig.has_listeners(sender)
    del sender
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("with_receiver", [True, False], ids=["listened", "unlistened"])
def test_cache_entry_disappears_when_the_sender_dies(impl: ModuleType, with_receiver: bool) -> None:
    sig = impl.Signal(use_caching=True)

    for_other = returning(None)
    for_sender = returning(None)

    sig.connect(for_other, sender=OtherModel)  # so that the signal is not empty
    sender = Model()
    if with_receiver:
        sig.connect(for_sender, sender=sender)
    sig.send(sender)
    assert len(sig.sender_receivers_cache) == 1
    del sender
    gc.collect()
    assert len(sig.sender_receivers_cache) == 0


def test_cached_entry_is_not_reused_by_a_new_object_with_the_same_id(impl: ModuleType) -> None:
    sig = impl.Signal(use_caching=True)

    for_first = returning("first")
    for_all = returning("all")

    sig.connect(for_all)
    first = Model()
    old_id = id(first)
    sig.connect(for_first, sender=first)
    assert sig.send(first) == [(for_all, "all"), (for_first, "first")]
    del first
    gc.collect()
    keep = []
    for _ in range(100):
        candidate = Model()
        if id(candidate) == old_id:
            break
        keep.append(candidate)
    else:
        pytest.skip("the interpreter did not reuse the id")
    assert sig.send(candidate) == [(for_all, "all")]


def test_clearing_the_cache_by_hand_is_harmless(impl: ModuleType) -> None:
    sig = impl.Signal(use_caching=True)

    on_event = returning("x")

    sig.connect(on_event)
    sig.send(Model)
    with sig.lock:
        sig.sender_receivers_cache.clear()
    assert sig.send(Model) == [(on_event, "x")]
    assert sig.send(Model) == [(on_event, "x")]


ODD_SENDERS = [
    pytest.param(lambda: None, id="None"),
    pytest.param(lambda: Unhashable(), id="unhashable-instance"),
    pytest.param(lambda: ["a", "list"], id="list"),
    pytest.param(lambda: {"a": "dict"}, id="dict"),
    pytest.param(lambda: object(), id="object()"),
    pytest.param(lambda: 1, id="int"),
    pytest.param(lambda: "x", id="str"),
]


@pytest.mark.parametrize("make_sender", ODD_SENDERS)
def test_cached_signal_accepts_any_sender(impl: ModuleType, make_sender: Any) -> None:
    # Django 6.1's WeakKeyDictionary cache raises TypeError for these.
    sig = impl.Signal(use_caching=True)
    sender = make_sender()

    def on_event(sender: object, **kwargs: Any) -> object:
        return sender

    assert sig.send(sender) == []
    assert sig.has_listeners(sender) is False
    sig.connect(on_event)
    for _ in range(2):
        assert sig.send(sender) == [(on_event, sender)]
        assert sig.send_robust(sender) == [(on_event, sender)]
        assert sig.has_listeners() is True
        assert sig.has_listeners(sender) is True
    assert sig.send(sender)[0][1] is sender


@pytest.mark.parametrize("make_sender", ODD_SENDERS[1:])
def test_cached_signal_with_receivers_for_odd_senders(impl: ModuleType, make_sender: Any) -> None:
    sig = impl.Signal(use_caching=True)
    sender = make_sender()

    for_sender = returning("specific")

    sig.connect(for_sender, sender=sender)
    for _ in range(2):
        assert sig.send(sender) == [(for_sender, "specific")]
        assert sig.send_robust(sender) == [(for_sender, "specific")]
        assert sig.has_listeners(sender) is True
        assert sig.has_listeners() is False
        assert sig.send(None) == []
    assert sig.disconnect(for_sender, sender=sender) is True
    assert sig.send(sender) == []
    assert sig.has_listeners(sender) is False


@pytest.mark.asyncio
@pytest.mark.parametrize("make_sender", ODD_SENDERS)
async def test_cached_signal_asend_accepts_any_sender(impl: ModuleType, make_sender: Any) -> None:
    sig = impl.Signal(use_caching=True)
    sender = make_sender()

    sync_receiver = returning("sync")

    async def async_receiver(**kwargs: Any) -> str:
        return "async"

    assert await sig.asend(sender) == []
    sig.connect(async_receiver)
    sig.connect(sync_receiver)
    expected = [(sync_receiver, "sync"), (async_receiver, "async")]
    for _ in range(2):
        assert await sig.asend(sender) == expected
        assert await sig.asend_robust(sender) == expected
