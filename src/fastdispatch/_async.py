"""Async receivers: the asgiref bridges and concurrent runs Django 6.1 uses.

Shared by both implementations; only the sync send loop differs between them.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async

Receiver = Callable[..., Any]
Responses = list[tuple[Receiver, Any]]


def _restore_context(context: contextvars.Context) -> None:
    """Copy context variables changed by the receivers back to the caller."""
    for var, value in context.items():
        try:
            if var.get() is value:
                continue
        except LookupError:
            pass
        var.set(value)


if sys.version_info >= (3, 11):

    async def run_parallel(awaitables: Sequence[Awaitable[Any]]) -> list[Any]:
        """Await all concurrently in one shared copy of the current context.

        Like Django 6.1: a TaskGroup (a failure cancels the others; a single
        failure is re-raised as itself) and context changes copied back.
        """
        if not awaitables:
            return []
        context = contextvars.copy_context()
        results: list[Any] = [None] * len(awaitables)

        async def run(index: int, awaitable: Awaitable[Any]) -> None:
            results[index] = await awaitable

        try:
            async with asyncio.TaskGroup() as group:
                for index, awaitable in enumerate(awaitables):
                    group.create_task(run(index, awaitable), context=context)
        except BaseExceptionGroup as failures:  # noqa: F821 (a builtin from 3.11, this branch)
            if len(failures.exceptions) == 1:
                raise failures.exceptions[0]  # noqa: B904 (re-raised as itself, as Django does)
            raise
        finally:
            _restore_context(context)
        return results

else:  # pragma: no cover (Python 3.10: no TaskGroup, and create_task() takes no context)

    @types.coroutine
    def _in_context(
        context: contextvars.Context, awaitable: Awaitable[Any]
    ) -> Generator[Any, Any, Any]:
        """Drive ``awaitable`` one step at a time inside ``context``."""
        steps = awaitable.__await__()
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                if error is not None:
                    yielded = context.run(steps.throw, error)
                else:
                    yielded = context.run(steps.send, value)
            except StopIteration as done:
                return done.value
            try:
                value, error = (yield yielded), None
            except BaseException as raised:  # thrown in by the event loop
                value, error = None, raised

    async def run_parallel(awaitables: Sequence[Awaitable[Any]]) -> list[Any]:
        if not awaitables:
            return []
        context = contextvars.copy_context()
        tasks = [asyncio.ensure_future(_in_context(context, a)) for a in awaitables]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        finally:
            _restore_context(context)


async def _call_robust(
    signal: Any, receiver: Receiver, sender: object, named: dict[str, Any]
) -> Any:
    try:
        return await receiver(signal=signal, sender=sender, **named)
    except Exception as err:
        signal._log_robust_failure(receiver, err)
        return err


async def _call_async_receivers(
    signal: Any,
    receivers: list[Receiver],
    sender: object,
    named: dict[str, Any],
    robust: bool,
) -> Responses:
    # The coroutines are created here, inside the event loop's context, as
    # Django does, so receivers see the same context variables.
    if robust:
        awaitables: list[Coroutine[Any, Any, Any]] = [
            _call_robust(signal, r, sender, named) for r in receivers
        ]
    else:
        awaitables = [r(signal=signal, sender=sender, **named) for r in receivers]
    return list(zip(receivers, await run_parallel(awaitables)))


def send_async_receivers(
    signal: Any,
    receivers: list[Receiver],
    sender: object,
    named: dict[str, Any],
    robust: bool,
) -> Responses:
    """From sync code: run the async receivers concurrently in one async_to_sync."""

    async def call_all() -> Responses:
        return await _call_async_receivers(signal, receivers, sender, named, robust)

    return async_to_sync(call_all)()


async def asend(
    signal: Any,
    sync_receivers: list[Receiver],
    async_receivers: list[Receiver],
    sender: object,
    named: dict[str, Any],
    robust: bool,
) -> Responses:
    """The body of ``asend``/``asend_robust``: sync receivers in one
    sync_to_async call, then the async ones concurrently."""
    if sync_receivers:
        responses: Responses = await sync_to_async(signal._call_receivers)(
            sync_receivers, sender, named, robust
        )
    else:
        responses = []
    responses.extend(
        await _call_async_receivers(signal, async_receivers, sender, named, robust)
    )
    return responses
