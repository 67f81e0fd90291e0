"""Attributes and protocols that Django's tests and popular packages rely on."""

from __future__ import annotations

import functools
import gc
import threading
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from .helpers import Handler, Model, OtherModel, connected, returning


def run_with_deadline(func: Callable[[], None], seconds: float = 5.0) -> None:
    """Run ``func`` in a thread; fail (instead of hanging the suite) on a deadlock."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            func()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "deadlock: the call did not finish"
    if errors:
        raise errors[0]


# -- module-level names -------------------------------------------------------------


def test_make_id_and_none_id(impl: ModuleType) -> None:
    handler = Handler()
    assert impl._make_id(None) == impl.NONE_ID
    assert impl._make_id(Model) == id(Model)
    assert impl._make_id(handler.method) == (id(handler), id(Handler.method))
    assert impl._make_id(handler.method) == impl._make_id(handler.method)
    assert impl.NO_RECEIVERS is not None


# -- signal.receivers ---------------------------------------------------------------------


def test_receivers_is_a_list(impl: ModuleType) -> None:
    sig = impl.Signal()
    assert isinstance(sig.receivers, list)
    assert sig.receivers == []

    on_event = returning(None)

    sig.connect(on_event)
    assert isinstance(sig.receivers, list)
    assert len(sig.receivers) == 1


def test_receiver_records_have_djangos_shape(impl: ModuleType) -> None:
    # django-debug-toolbar's signals panel reads record[1] and dereferences
    # it if it is a weak reference.
    sig = impl.Signal()
    handler = Handler()
    sender = Model()

    weak_function = returning(None)
    strong_function = returning(None)

    async def async_function(**kwargs: Any) -> None:
        pass

    sig.connect(weak_function)
    sig.connect(handler.method, sender=sender)
    sig.connect(strong_function, weak=False, dispatch_uid="uid")
    sig.connect(async_function, sender=Model)

    weak_rec, method_rec, strong_rec, async_rec = sig.receivers
    assert weak_rec[0] == (impl._make_id(weak_function), impl.NONE_ID)
    assert isinstance(weak_rec[1], weakref.ReferenceType)
    assert weak_rec[1]() is weak_function
    assert weak_rec[2] is None
    assert weak_rec[3] is False

    assert method_rec[0] == (impl._make_id(handler.method), impl._make_id(sender))
    assert isinstance(method_rec[1], weakref.ReferenceType)
    assert method_rec[1]() == handler.method
    assert method_rec[2]() is sender
    assert method_rec[3] is False

    assert strong_rec[0] == ("uid", impl.NONE_ID)
    assert strong_rec[1] is strong_function
    assert strong_rec[2] is None
    assert strong_rec[3] is False

    assert async_rec[0] == (impl._make_id(async_function), impl._make_id(Model))
    assert async_rec[1]() is async_function
    assert async_rec[2]() is Model
    assert async_rec[3] is True


def test_len_receivers_counts_sender_specific_receivers(impl: ModuleType) -> None:
    sig = impl.Signal()

    on_event = returning(None)

    sig.connect(on_event, sender=Model)
    sig.connect(on_event, sender=OtherModel)
    sig.connect(on_event)
    assert len(sig.receivers) == 3


@pytest.mark.parametrize("use_caching", [False, True])
def test_factory_boy_mute_signals_protocol(impl: ModuleType, use_caching: bool) -> None:
    sig = impl.Signal(use_caching=use_caching)
    handler = Handler()

    first = returning("first")
    for_model = returning("model")

    sig.connect(first)
    sig.connect(handler.method)
    sig.connect(for_model, sender=Model)
    expected = [(first, "first"), (handler.method, "method"), (for_model, "model")]
    assert sig.send(Model) == expected  # fills the cache, if any

    # mute_signals.__enter__
    saved = sig.receivers
    sig.receivers = []
    assert sig.send(Model) == []
    assert sig.send_robust(Model) == []
    assert sig.has_listeners() is False
    assert sig.has_listeners(Model) is False
    assert sig.receivers == []

    # mute_signals.__exit__
    sig.receivers = saved
    with sig.lock:
        sig.sender_receivers_cache.clear()
    assert sig.send(Model) == expected
    assert sig.send(None) == expected[:2]
    assert sig.has_listeners(Model) is True
    assert len(sig.receivers) == 3
    # Everything behaves normally afterwards.
    assert sig.disconnect(handler.method) is True
    assert sig.send(Model) == [(first, "first"), (for_model, "model")]


@pytest.mark.parametrize("use_caching", [False, True])
def test_factory_boy_restore_with_augmented_assignment(impl: ModuleType, use_caching: bool) -> None:
    # factory_boy's __exit__ does `signal.receivers += paused_receivers`.
    sig = impl.Signal(use_caching=use_caching)

    old = returning("old")
    new = returning("new")

    sig.connect(old)
    sig.send(Model)
    saved = sig.receivers
    sig.receivers = []
    sig.connect(new)  # connected while muted
    assert sig.send(Model) == [(new, "new")]
    sig.receivers += saved
    with sig.lock:
        sig.sender_receivers_cache.clear()
    assert sig.send(Model) == [(new, "new"), (old, "old")]
    assert sig.disconnect(old) is True
    assert sig.disconnect(new) is True
    assert sig.receivers == []


@pytest.mark.parametrize("use_caching", [False, True])
def test_restored_receivers_that_died_while_muted_are_dropped(impl: ModuleType, use_caching: bool) -> None:
    sig = impl.Signal(use_caching=use_caching)

    keeper, doomed = connected(sig, "kept", "doomed")
    saved = sig.receivers
    sig.receivers = []
    del doomed
    gc.collect()
    sig.receivers = saved
    del saved
    assert sig.send(Model) == [(keeper, "kept")]
    assert sig.has_listeners() is True
    assert len(sig.receivers) == 1


def test_reading_receivers_does_not_change_the_signal(impl: ModuleType) -> None:
    sig = impl.Signal()

    on_event = returning("x")

    sig.connect(on_event)
    snapshot = sig.receivers
    snapshot.clear()  # mutating a copy read earlier
    assert sig.send(None) == [(on_event, "x")]


# -- lock, _clear_dead_receivers, sender_receivers_cache, _live_receivers -----------------


def test_clear_dead_receivers_under_the_lock(impl: ModuleType) -> None:
    sig = impl.Signal()

    keeper = returning(None)
    doomed = returning(None)

    sig.connect(keeper)
    sig.connect(doomed)
    del doomed
    gc.collect()

    def clear() -> None:
        with sig.lock:
            sig._clear_dead_receivers()

    run_with_deadline(clear)
    # Django's BaseSignalSetup counts receivers right after this call.
    assert len(sig.receivers) == 1
    assert sig.receivers[0][1]() is keeper


def test_lock_is_a_context_manager_and_is_released(impl: ModuleType) -> None:
    sig = impl.Signal()

    on_event = returning("x")

    with sig.lock:
        pass

    def connect_and_send() -> None:
        sig.connect(on_event)
        assert sig.send(None) == [(on_event, "x")]

    run_with_deadline(connect_and_send)


def test_sender_receivers_cache_exists_on_both_kinds_of_signal(impl: ModuleType) -> None:
    for sig in (impl.Signal(), impl.Signal(use_caching=True)):
        with sig.lock:
            sig.sender_receivers_cache.clear()
        assert len(sig.sender_receivers_cache) == 0


@pytest.mark.parametrize("use_caching", [False, True])
def test_live_receivers_returns_sync_and_async_lists(impl: ModuleType, use_caching: bool) -> None:
    sig = impl.Signal(use_caching=use_caching)
    handler = Handler()

    sync = returning(None)

    async def async_(**kwargs: Any) -> None:
        pass

    for_other = returning(None)

    sig.connect(async_)
    sig.connect(sync, sender=Model)
    sig.connect(handler.method)
    sig.connect(for_other, sender=OtherModel)
    sync_receivers, async_receivers = sig._live_receivers(Model)
    assert isinstance(sync_receivers, list)
    assert isinstance(async_receivers, list)
    assert sync_receivers == [sync, handler.method]
    assert async_receivers == [async_]
    assert sig._live_receivers(None) == ([handler.method], [async_])
    del handler, sync_receivers  # the list holds the bound method
    gc.collect()
    assert sig._live_receivers(Model) == ([sync], [async_])


# -- signals as objects ---------------------------------------------------------------------


def test_signals_are_hashable_by_identity(impl: ModuleType) -> None:
    one, two = impl.Signal(), impl.Signal()
    assert one != two
    assert one == one
    table = {one: "one", two: "two"}
    assert table[one] == "one"
    assert table[two] == "two"
    assert len({one, two, one}) == 2
    assert hash(one) == hash(one)


def test_signals_can_be_weakly_referenced(impl: ModuleType) -> None:
    sig = impl.Signal()
    ref = weakref.ref(sig)
    assert ref() is sig
    del sig
    gc.collect()
    assert ref() is None


def test_signal_with_receivers_is_garbage_collected(impl: ModuleType) -> None:
    sig = impl.Signal(use_caching=True)
    handler = Handler()

    on_event = returning(None)

    sig.connect(on_event)
    sig.connect(handler.method, sender=Model)
    sig.connect(lambda **kwargs: None, weak=False)
    sig.send(Model)
    ref = weakref.ref(sig)
    del sig
    gc.collect()
    assert ref() is None


def test_model_signal_like_subclass(impl: ModuleType) -> None:
    registry = {"app.Model": Model}

    class ModelSignal(impl.Signal):  # type: ignore[misc,name-defined]
        """Like Django's ModelSignal: senders may be given as "app_label.Model"."""

        def _resolve(self, method: Callable[..., Any], receiver: Any, sender: Any, **kwargs: Any) -> Any:
            if isinstance(sender, str):
                sender = registry[sender]
            return functools.partial(method, receiver, **kwargs)(sender)

        def connect(  # type: ignore[override]
            self,
            receiver: Any,
            sender: Any = None,
            weak: bool = True,
            dispatch_uid: Any = None,
            apps: Any = None,
        ) -> None:
            self._resolve(super().connect, receiver, sender, weak=weak, dispatch_uid=dispatch_uid)

        def disconnect(  # type: ignore[override]
            self, receiver: Any = None, sender: Any = None, dispatch_uid: Any = None, apps: Any = None
        ) -> bool:
            return self._resolve(super().disconnect, receiver, sender, dispatch_uid=dispatch_uid)

    post_save = ModelSignal(use_caching=True)
    post_save.extra = "subclass instances take attributes"

    def on_save(sender: Any, **kwargs: Any) -> Any:
        return sender

    post_save.connect(on_save, sender="app.Model")
    assert isinstance(post_save, impl.Signal)
    assert post_save.send(Model) == [(on_save, Model)]
    assert post_save.send(OtherModel) == []
    assert post_save.has_listeners(Model) is True
    assert post_save.disconnect(on_save, sender="app.Model") is True
    assert post_save.send(Model) == []

    @impl.receiver(post_save, sender="app.Model")
    def decorated(**kwargs: Any) -> str:
        return "decorated"

    assert post_save.send(Model) == [(decorated, "decorated")]


def test_subclass_with_own_init_and_send(impl: ModuleType) -> None:
    class NamedSignal(impl.Signal):  # type: ignore[misc,name-defined]
        def __init__(self, name: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.name = name
            self.sent: list[object] = []

        def send(self, sender: Any, **named: Any) -> list[tuple[Any, Any]]:
            self.sent.append(sender)
            return super().send(sender, **named)

    sig = NamedSignal("named", use_caching=True)

    def on_event(**kwargs: Any) -> object:
        return kwargs["signal"]

    sig.connect(on_event)
    assert sig.name == "named"
    assert sig.use_caching is True
    assert sig.send(Model) == [(on_event, sig)]
    assert sig.sent == [Model]


class Wrapper:
    """What sentry-sdk does: wrap every receiver to instrument it."""

    def __init__(self, receiver: Any, log: list[str]) -> None:
        self.receiver = receiver
        self.log = log

    def __call__(self, **kwargs: Any) -> Any:
        self.log.append(getattr(self.receiver, "__name__", "?"))
        return self.receiver(**kwargs)


@pytest.mark.parametrize("use_caching", [False, True])
def test_subclass_overriding_live_receivers_sees_every_send(impl: ModuleType, use_caching: bool) -> None:
    log: list[str] = []

    class InstrumentedSignal(impl.Signal):  # type: ignore[misc,name-defined]
        def _live_receivers(self, sender: Any) -> tuple[list[Any], list[Any]]:
            sync_receivers, async_receivers = super()._live_receivers(sender)
            return [Wrapper(r, log) for r in sync_receivers], async_receivers

    sig = InstrumentedSignal(use_caching=use_caching)

    def on_event(**kwargs: Any) -> str:
        return "x"

    sig.connect(on_event)
    for _ in range(2):
        [(receiver, response)] = sig.send(Model)
        assert isinstance(receiver, Wrapper) and receiver.receiver is on_event
        assert response == "x"
        [(receiver, response)] = sig.send_robust(Model)
        assert isinstance(receiver, Wrapper) and response == "x"
    assert log == ["on_event"] * 4


@pytest.mark.parametrize("use_caching", [False, True])
def test_patching_live_receivers_on_the_class_is_honoured(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch, use_caching: bool
) -> None:
    log: list[str] = []
    original = impl.Signal._live_receivers

    def patched(self: Any, sender: Any) -> tuple[list[Any], list[Any]]:
        sync_receivers, async_receivers = original(self, sender)
        log.append("patched")
        return [Wrapper(r, log) for r in sync_receivers], async_receivers

    monkeypatch.setattr(impl.Signal, "_live_receivers", patched)
    sig = impl.Signal(use_caching=use_caching)

    def on_event(**kwargs: Any) -> str:
        return "x"

    sig.connect(on_event)
    [(receiver, response)] = sig.send(Model)
    assert isinstance(receiver, Wrapper) and response == "x"
    [(receiver, response)] = sig.send_robust(Model)
    assert isinstance(receiver, Wrapper) and response == "x"
    assert sig.has_listeners(Model) is True
    assert log == ["patched", "on_event", "patched", "on_event", "patched"]


@pytest.mark.asyncio
async def test_patched_live_receivers_is_honoured_by_asend(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    original = impl.Signal._live_receivers

    def patched(self: Any, sender: Any) -> tuple[list[Any], list[Any]]:
        calls.append(sender)
        return original(self, sender)

    monkeypatch.setattr(impl.Signal, "_live_receivers", patched)
    sig = impl.Signal()

    on_event = returning("x")

    sig.connect(on_event)
    assert await sig.asend(Model) == [(on_event, "x")]
    assert await sig.asend_robust(OtherModel) == [(on_event, "x")]
    assert calls == [Model, OtherModel]


def test_patched_live_receivers_returning_nothing_silences_the_signal(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(impl.Signal, "_live_receivers", lambda self, sender: ([], []))
    sig = impl.Signal()

    on_event = returning("x")

    sig.connect(on_event)
    assert sig.send(None) == []
    assert sig.send_robust(None) == []
    assert sig.has_listeners() is False


# -- providing_args (removed in Django 4.0, still accepted with a warning) -------------------


def test_providing_args_is_deprecated_but_works(impl: ModuleType) -> None:
    with pytest.warns(DeprecationWarning, match="providing_args"):
        sig = impl.Signal(providing_args=["toppings", "size"])
    assert set(sig.providing_args) == {"toppings", "size"}

    def on_event(toppings: list[str], **kwargs: Any) -> list[str]:
        return toppings

    sig.connect(on_event)
    assert sig.send(None, toppings=["cheese"], size=3) == [(on_event, ["cheese"])]


def test_providing_args_with_use_caching(impl: ModuleType) -> None:
    with pytest.warns(DeprecationWarning, match="providing_args argument is deprecated"):
        sig = impl.Signal(use_caching=True, providing_args=["instance"])
    assert sig.use_caching is True
    assert set(sig.providing_args) == {"instance"}


def test_no_warning_without_providing_args(impl: ModuleType) -> None:
    # filterwarnings=error turns any warning into a failure here.
    sig = impl.Signal()
    assert sig.use_caching is False
