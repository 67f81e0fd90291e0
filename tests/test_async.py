"""Async receivers: send/send_robust/asend/asend_robust, order, context variables."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import sys
from types import ModuleType
from typing import Any

import pytest
from asgiref.sync import markcoroutinefunction

from .helpers import Boom, Model, Stop, keeping_kwargs, returning


class SyncHandler:
    """Django's SyncHandler: a sync callable instance counting its calls."""

    def __init__(self) -> None:
        self.param = 0

    def __call__(self, **kwargs: Any) -> int:
        self.param += 1
        return self.param


class AsyncHandler:
    """Django's AsyncHandler: a callable instance marked as a coroutine function."""

    def __init__(self) -> None:
        self.param = 0
        markcoroutinefunction(self)

    async def __call__(self, **kwargs: Any) -> int:
        self.param += 1
        return self.param


class AsyncMethodHandler:
    """An async receiver connected as a (weakly held) bound coroutine method."""

    def __init__(self) -> None:
        self.param = 0

    async def handle(self, **kwargs: Any) -> int:
        self.param += 1
        return self.param


def connect_failing_async_first(
    sig: Any, error: Exception
) -> tuple[Any, SyncHandler, AsyncHandler]:
    """Django's send_robust failure setup: an async function that raises
    ``error``, an AsyncHandler and a SyncHandler, connected in that order."""

    async def failing_async_handler(**kwargs: Any) -> None:
        raise error

    sync_handler, async_handler = SyncHandler(), AsyncHandler()
    for receiver in (failing_async_handler, async_handler, sync_handler):
        sig.connect(receiver)
    return failing_async_handler, sync_handler, async_handler


# -- what counts as an async receiver ---------------------------------------------


def test_async_def_function_is_an_async_receiver(impl: ModuleType) -> None:
    sig = impl.Signal()

    async def on_event(**kwargs: Any) -> str:
        return "async"

    on_sync = returning("sync")

    sig.connect(on_event)
    sig.connect(on_sync)
    assert sig._live_receivers(None) == ([on_sync], [on_event])
    # The response is the awaited result, not a coroutine.
    assert sig.send(None) == [(on_sync, "sync"), (on_event, "async")]


def test_marked_callable_instance_is_an_async_receiver(impl: ModuleType) -> None:
    sig = impl.Signal()
    handler = AsyncHandler()
    sig.connect(handler)
    assert sig._live_receivers(None) == ([], [handler])
    assert sig.send(None) == [(handler, 1)]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="inspect.markcoroutinefunction is new in 3.12")
def test_inspect_marked_callable_instance_is_an_async_receiver(impl: ModuleType) -> None:
    class Marked:
        def __init__(self) -> None:
            inspect.markcoroutinefunction(self)  # type: ignore[attr-defined]

        async def __call__(self, **kwargs: Any) -> str:
            return "marked"

    sig = impl.Signal()
    handler = Marked()
    sig.connect(handler)
    assert sig.send(None) == [(handler, "marked")]


def test_bound_coroutine_method_is_an_async_receiver(impl: ModuleType) -> None:
    sig = impl.Signal()
    handler = AsyncMethodHandler()
    sig.connect(handler.handle)
    assert sig._live_receivers(None) == ([], [handler.handle])
    assert sig.send(None) == [(handler.handle, 1)]


def test_async_only_signal_has_listeners(impl: ModuleType) -> None:
    sig = impl.Signal()

    async def on_event(**kwargs: Any) -> None:
        pass

    sig.connect(on_event)
    assert sig.has_listeners() is True
    assert sig.disconnect(on_event) is True
    assert sig.has_listeners() is False


# -- send from sync code --------------------------------------------------------------


def test_send_calls_sync_receivers_first_then_async(impl: ModuleType) -> None:
    sig = impl.Signal()
    sync_handler = SyncHandler()

    async def first_async(**kwargs: Any) -> str:
        return "first"

    async def second_async(**kwargs: Any) -> str:
        return "second"

    sig.connect(first_async)
    sig.connect(sync_handler)
    sig.connect(second_async)
    assert sig.send(None) == [
        (sync_handler, 1),
        (first_async, "first"),
        (second_async, "second"),
    ]


def test_send_mixed_like_django(impl: ModuleType) -> None:
    sync_handler = SyncHandler()
    async_handler = AsyncHandler()
    sig = impl.Signal()
    sig.connect(sync_handler)
    sig.connect(async_handler)
    assert sig.send(SyncHandler) == [(sync_handler, 1), (async_handler, 1)]


def test_async_receiver_gets_signal_sender_and_named(impl: ModuleType) -> None:
    sig = impl.Signal()
    seen: list[dict[str, Any]] = []

    async def on_event(**kwargs: Any) -> None:
        seen.append(kwargs)

    sig.connect(on_event)
    sig.send("sender", val=3)
    assert seen == [{"signal": sig, "sender": "sender", "val": 3}]


def test_async_receivers_respect_sender_filtering(impl: ModuleType) -> None:
    sig = impl.Signal()

    async def for_a(**kwargs: Any) -> str:
        return "a"

    async def for_all(**kwargs: Any) -> str:
        return "all"

    sig.connect(for_a, sender=Model)
    sig.connect(for_all)
    assert sig.send(Model) == [(for_a, "a"), (for_all, "all")]
    assert sig.send(object()) == [(for_all, "all")]
    assert sig.has_listeners(Model) is True


def test_send_runs_async_receivers_concurrently(impl: ModuleType) -> None:
    sig = impl.Signal()
    state: dict[str, asyncio.Event] = {}

    async def waits(**kwargs: Any) -> str:
        # Created inside the running loop; the other receiver sets it.
        event = state.setdefault("event", asyncio.Event())
        await asyncio.wait_for(event.wait(), timeout=5)
        return "waited"

    async def sets(**kwargs: Any) -> str:
        state.setdefault("event", asyncio.Event()).set()
        return "set"

    sig.connect(waits)
    sig.connect(sets)
    assert sig.send(None) == [(waits, "waited"), (sets, "set")]


def test_send_propagates_an_async_receivers_exception_as_itself(impl: ModuleType) -> None:
    sig = impl.Signal()
    error = Boom("async failure")

    async def fails(**kwargs: Any) -> None:
        raise error

    async def fine(**kwargs: Any) -> None:
        pass

    sig.connect(fails)
    sig.connect(fine)
    with pytest.raises(Boom) as info:
        sig.send(None)
    assert info.value is error


def test_send_robust_with_failing_async_receiver_like_django(
    impl: ModuleType, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "django", raising=False)
    receiver_exception = Boom("async")
    sig = impl.Signal()
    failing_async_handler, sync_handler, async_handler = connect_failing_async_first(
        sig, receiver_exception
    )
    result = sig.send_robust(SyncHandler)
    # Sync receivers first, then async ones in connection order.
    assert result == [
        (sync_handler, 1),
        (failing_async_handler, receiver_exception),
        (async_handler, 1),
    ]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.name == "fastdispatch"
    assert record.getMessage() == (
        f"Error calling {failing_async_handler.__qualname__} "
        "in Signal.send_robust() (async)"
    )
    assert record.exc_info is not None and record.exc_info[1] is receiver_exception


def test_send_robust_with_async_function_receivers(impl: ModuleType) -> None:
    sig = impl.Signal()
    error = Boom("x")

    async def fails(**kwargs: Any) -> None:
        raise error

    async def fine(**kwargs: Any) -> str:
        return "fine"

    sync = returning("sync")

    sig.connect(fails)
    sig.connect(fine)
    sig.connect(sync)
    assert sig.send_robust(None) == [(sync, "sync"), (fails, error), (fine, "fine")]


# -- asend / asend_robust ------------------------------------------------------------


@pytest.mark.asyncio
async def test_asend_like_django(impl: ModuleType) -> None:
    sync_handler = SyncHandler()
    async_handler = AsyncHandler()
    sig = impl.Signal()
    sig.connect(sync_handler)
    sig.connect(async_handler)
    assert await sig.asend(SyncHandler) == [(sync_handler, 1), (async_handler, 1)]


@pytest.mark.asyncio
async def test_asend_sync_first_then_async(impl: ModuleType) -> None:
    sig = impl.Signal()

    async def first_async(**kwargs: Any) -> str:
        return "first"

    sync = returning("sync")

    async def second_async(**kwargs: Any) -> str:
        return "second"

    sig.connect(first_async)
    sig.connect(sync)
    sig.connect(second_async)
    assert await sig.asend(None) == [
        (sync, "sync"),
        (first_async, "first"),
        (second_async, "second"),
    ]


@pytest.mark.asyncio
async def test_asend_with_no_receivers(impl: ModuleType) -> None:
    sig = impl.Signal()
    assert await sig.asend(None) == []
    assert await sig.asend_robust(None) == []


@pytest.mark.asyncio
async def test_asend_only_sync_receivers(impl: ModuleType) -> None:
    sig = impl.Signal()
    calls: list[dict[str, Any]] = []
    sync = keeping_kwargs(calls, "sync")
    sig.connect(sync)
    assert await sig.asend("s", val=1) == [(sync, "sync")]
    assert calls == [{"signal": sig, "sender": "s", "val": 1}]


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["asend", "asend_robust"])
async def test_asend_only_async_receivers(impl: ModuleType, method: str) -> None:
    async_handler = AsyncHandler()
    sig = impl.Signal()
    sig.connect(async_handler)
    assert await getattr(sig, method)(AsyncHandler) == [(async_handler, 1)]


@pytest.mark.asyncio
async def test_asend_only_async_function_receivers(impl: ModuleType) -> None:
    sig = impl.Signal()

    async def on_event(val: int, **kwargs: Any) -> int:
        return val

    sig.connect(on_event)
    assert await sig.asend(None, val=4) == [(on_event, 4)]


@pytest.mark.asyncio
async def test_asend_robust_with_failing_async_receiver_like_django(
    impl: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    receiver_exception = Boom()
    sig = impl.Signal()
    failing_async_handler, sync_handler, async_handler = connect_failing_async_first(
        sig, receiver_exception
    )
    result = await sig.asend_robust(SyncHandler)
    assert result == [
        (sync_handler, 1),
        (failing_async_handler, receiver_exception),
        (async_handler, 1),
    ]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        f"Error calling {failing_async_handler.__qualname__} in Signal.send_robust() ()"
    ]


@pytest.mark.asyncio
async def test_asend_robust_with_failing_sync_and_async_receivers(
    impl: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    sig = impl.Signal()
    sync_error, async_error = Boom("sync"), Boom("async")

    async def async_fails(**kwargs: Any) -> None:
        raise async_error

    def sync_fails(**kwargs: Any) -> None:
        raise sync_error

    sync_fine = returning("fine")

    sig.connect(async_fails)
    sig.connect(sync_fails)
    sig.connect(sync_fine)
    assert await sig.asend_robust(None) == [
        (sync_fails, sync_error),
        (sync_fine, "fine"),
        (async_fails, async_error),
    ]
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 2


@pytest.mark.asyncio
async def test_asend_propagates_sync_receiver_exception(impl: ModuleType) -> None:
    sig = impl.Signal()
    called: list[str] = []

    def fails(**kwargs: Any) -> None:
        raise Boom("sync")

    async def never(**kwargs: Any) -> None:
        called.append("async")

    sig.connect(fails)
    sig.connect(never)
    with pytest.raises(Boom, match="sync"):
        await sig.asend(None)
    assert called == []


@pytest.mark.asyncio
async def test_asend_propagates_async_receiver_exception_as_itself(impl: ModuleType) -> None:
    sig = impl.Signal()
    error = Boom("async")

    async def fails(**kwargs: Any) -> None:
        raise error

    sig.connect(fails)
    with pytest.raises(Boom) as info:
        await sig.asend(None)
    assert info.value is error


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is new in 3.11")
@pytest.mark.asyncio
async def test_asend_with_several_failing_async_receivers_raises_a_group(impl: ModuleType) -> None:
    # Like Django 6.1's TaskGroup: one failure is re-raised as itself, several
    # as an exception group.
    sig = impl.Signal()
    first_error, second_error = Boom("first"), KeyError("second")

    async def first(**kwargs: Any) -> None:
        raise first_error

    async def second(**kwargs: Any) -> None:
        raise second_error

    sig.connect(first)
    sig.connect(second)
    with pytest.raises(BaseExceptionGroup) as info:  # noqa: F821 - 3.11+
        await sig.asend(None)
    assert set(info.value.exceptions) == {first_error, second_error}


@pytest.mark.asyncio
async def test_asend_robust_does_not_catch_base_exceptions(impl: ModuleType) -> None:
    sig = impl.Signal()

    def stops(**kwargs: Any) -> None:
        raise Stop()

    sig.connect(stops)
    with pytest.raises(Stop):
        await sig.asend_robust(None)


@pytest.mark.asyncio
async def test_asend_runs_async_receivers_concurrently(impl: ModuleType) -> None:
    sig = impl.Signal()
    event = asyncio.Event()

    async def waits(**kwargs: Any) -> str:
        await event.wait()
        return "waited"

    async def sets(**kwargs: Any) -> str:
        event.set()
        return "set"

    sig.connect(waits)
    sig.connect(sets)
    result = await asyncio.wait_for(sig.asend(None), timeout=5)
    assert result == [(waits, "waited"), (sets, "set")]


@pytest.mark.asyncio
async def test_asend_respects_sender_filtering(impl: ModuleType) -> None:
    sig = impl.Signal()

    sync_for_a = returning("sync a")

    async def async_for_a(**kwargs: Any) -> str:
        return "async a"

    async def async_for_all(**kwargs: Any) -> str:
        return "async all"

    sig.connect(async_for_a, sender=Model)
    sig.connect(sync_for_a, sender=Model)
    sig.connect(async_for_all)
    assert await sig.asend(Model) == [
        (sync_for_a, "sync a"),
        (async_for_a, "async a"),
        (async_for_all, "async all"),
    ]
    assert await sig.asend(object()) == [(async_for_all, "async all")]
    assert await sig.asend_robust(object()) == [(async_for_all, "async all")]


# -- context variables (Django's TestReceiversContextVarsSharing) -----------------------


class CtxHandler:
    """Increments a context variable and records what it saw."""

    def __init__(self, var: contextvars.ContextVar[int]) -> None:
        self.var = var
        self.values: list[int] = []

    def _bump(self) -> int:
        self.var.set(self.var.get() + 1)
        self.values.append(self.var.get())
        return self.var.get()

    def sync(self, **kwargs: Any) -> int:
        return self._bump()

    async def async_(self, **kwargs: Any) -> int:
        return self._bump()


KINDS = {
    "sync": ("sync", "sync"),
    "async": ("async_", "async_"),
    "mix": ("sync", "async_"),
}


def connect_ctx_handlers(
    sig: Any, kind: str
) -> tuple[contextvars.ContextVar[int], CtxHandler, CtxHandler]:
    var: contextvars.ContextVar[int] = contextvars.ContextVar("test_var", default=0)
    handler1, handler2 = CtxHandler(var), CtxHandler(var)
    first, second = KINDS[kind]
    sig.connect(getattr(handler1, first))
    sig.connect(getattr(handler2, second))
    return var, handler1, handler2


def assert_shared(var: contextvars.ContextVar[int], handler1: CtxHandler, handler2: CtxHandler) -> None:
    assert len(handler1.values) == 1
    assert len(handler2.values) == 1
    assert sorted([*handler1.values, *handler2.values]) == [2, 3]
    assert var.get() == 3


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("method", ["send", "send_robust"])
def test_send_shares_context_variables(impl: ModuleType, method: str, kind: str) -> None:
    sig = impl.Signal()
    var, handler1, handler2 = connect_ctx_handlers(sig, kind)
    var.set(1)
    getattr(sig, method)(SyncHandler)
    assert_shared(var, handler1, handler2)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("method", ["asend", "asend_robust"])
async def test_asend_shares_context_variables(impl: ModuleType, method: str, kind: str) -> None:
    sig = impl.Signal()
    var, handler1, handler2 = connect_ctx_handlers(sig, kind)
    var.set(1)
    await getattr(sig, method)(SyncHandler)
    assert_shared(var, handler1, handler2)


@pytest.mark.parametrize("method", ["send", "send_robust"])
def test_send_shares_context_with_marked_callable_instances(impl: ModuleType, method: str) -> None:
    # Exactly Django's handler shape: callable instances, the async one marked.
    var: contextvars.ContextVar[int] = contextvars.ContextVar("test_var", default=0)

    class CtxAsyncHandler:
        def __init__(self) -> None:
            self.values: list[int] = []
            markcoroutinefunction(self)

        async def __call__(self, **kwargs: Any) -> int:
            var.set(var.get() + 1)
            self.values.append(var.get())
            return var.get()

    handler1, handler2 = CtxAsyncHandler(), CtxAsyncHandler()
    sig = impl.Signal()
    sig.connect(handler1)
    sig.connect(handler2)
    var.set(1)
    getattr(sig, method)(SyncHandler)
    assert sorted([*handler1.values, *handler2.values]) == [2, 3]
    assert var.get() == 3
