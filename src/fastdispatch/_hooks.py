"""The hooked send: tracers and muting, both off unless asked for.

Off, they cost a send one flag check. Each core registers a setter for its
flag here (``register_core``); the flag is raised while any tracer is
installed or any ``muted()`` block is active in any thread. A send then asks
``applies(signal)`` and, if a tracer or a block of its thread or task is for
its signal, comes here instead of running its own loop. This module runs the receivers
the way the core does (sync first, in order; async ones concurrently in one
call), and on the way drops muted receivers and tells the tracers.

A send that reaches no receiver (none connected, all muted, or a cached
sender nobody listens to) is not traced.

Modes: ``"send"`` (a receiver's exception propagates), ``"robust"`` (it is
logged and returned as the response) and ``"collect"`` (every receiver runs,
then one ``ExceptionGroup`` of the failures is raised: ``send_then_raise``).
"""

from __future__ import annotations

import sys
from _thread import allocate_lock
from contextvars import ContextVar
from time import perf_counter_ns
from types import FunctionType
from weakref import WeakKeyDictionary, WeakSet

from . import _signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Generator
    from typing import Any

    from ._signal import Receiver, Record, Responses
    from .tracing import Tracer

    Pair = tuple[Receiver, "Record | None"]


def _exception_group_type() -> type[Exception]:
    """The builtin ExceptionGroup, or on Python 3.10 the backport, imported
    only when a group is built (it imports typing and inspect)."""
    if sys.version_info >= (3, 11):
        return ExceptionGroup  # noqa: F821 (a builtin since 3.11)
    else:  # pragma: no cover (Python 3.10)
        from exceptiongroup import ExceptionGroup as backport

        return backport


# -- state -----------------------------------------------------------------------

_lock = allocate_lock()
_cores: list[Callable[[bool], None]] = []
_global_tracer: Tracer | None = None
_traced_signals: WeakSet[Any] = WeakSet()
_mute_blocks = 0
active = False
"""Whether any hook is on: what each core's flag mirrors."""

class MuteBlock:
    """One active ``muted()`` block; ``active`` turns False when it ends, so a
    task or thread that inherited its entries (a copy of the context) is no
    longer muted by it either."""

    __slots__ = ("active",)

    def __init__(self) -> None:
        self.active = True


# The muted() blocks in effect in this thread or task: (block, signal,
# receiver ids or None for the whole signal), innermost last.
MUTED: ContextVar[tuple[tuple[MuteBlock, Any, frozenset[Any] | None], ...]] = ContextVar(
    "fastdispatch_muted", default=()
)


def register_core(set_active: Callable[[bool], None]) -> None:
    """Called by each core as it is imported, with its flag's setter."""
    with _lock:
        _cores.append(set_active)
        set_active(active)


def _update() -> None:
    # The caller holds _lock.
    global active
    active = bool(_global_tracer is not None or _traced_signals or _mute_blocks)
    for set_active in _cores:
        set_active(active)


def set_global_tracer(tracer: Tracer | None) -> Tracer | None:
    global _global_tracer
    with _lock:
        previous, _global_tracer = _global_tracer, tracer
        _update()
    return previous


def set_signal_tracer(signal: Any, tracer: Tracer | None) -> Tracer | None:
    with _lock:
        previous = signal.__dict__.get("_tracer")
        signal._tracer = tracer
        if tracer is None:
            _traced_signals.discard(signal)
        else:
            _traced_signals.add(signal)
        _update()
    return previous  # type: ignore[no-any-return]


def global_tracer() -> Tracer | None:
    return _global_tracer


def mute_block_entered() -> None:
    global _mute_blocks
    with _lock:
        _mute_blocks += 1
        _update()


def mute_block_exited() -> None:
    global _mute_blocks
    with _lock:
        _mute_blocks -= 1
        _update()


def tracer_of(signal: Any) -> Tracer | None:
    """The tracer a send of ``signal`` reports to: the global one, the
    signal's own, or both (global first)."""
    own = getattr(signal, "__dict__", {}).get("_tracer")
    if own is None:
        return _global_tracer
    if _global_tracer is None:
        return own  # type: ignore[no-any-return]
    from .tracing import Tracers

    return Tracers(_global_tracer, own)


def applies(signal: Any) -> bool:
    """Whether a send of ``signal`` here needs the hooks: a tracer for it
    (global or its own), or a muted() block of this thread or task on it.
    The cores ask only while some hook is on somewhere; when none applies to
    this send, they take their own send path, so a tracer or a block on one
    signal does not slow the others down."""
    if _global_tracer is not None or getattr(signal, "__dict__", {}).get("_tracer") is not None:
        return True
    for block, muted_signal, _ in MUTED.get():  # noqa: SIM110 (no generator made per send)
        if muted_signal is signal and block.active:
            return True
    return False


# -- finding the receivers -------------------------------------------------------


def _muted_ids(signal: Any) -> frozenset[Any] | bool | None:
    """True if ``signal`` is muted here, the ids of its muted receivers, or None."""
    ids: frozenset[Any] | None = None
    for block, muted_signal, muted in MUTED.get():
        if muted_signal is signal and block.active:
            if muted is None:
                return True
            ids = muted if ids is None else ids | muted
    return ids


def _is_muted(pair: Pair, ids: frozenset[Any]) -> bool:
    receiver, record = pair
    if record is not None:
        return record[0][0] in ids
    # From an overridden _live_receivers (sentry-sdk wraps receivers with
    # functools.wraps): know the receiver by itself or what it wraps.
    if _signal._make_id(receiver) in ids:
        return True
    wrapped = getattr(receiver, "__wrapped__", None)
    return wrapped is not None and _signal._make_id(wrapped) in ids


def live_pairs(signal: Any, sender: object) -> tuple[list[Pair], list[Pair]]:
    """The live, unmuted receivers of a send, sync and async, each with its
    record (None when an overridden ``_live_receivers`` gave them)."""
    if signal._nobody_listens(sender):
        return [], []
    ids = _muted_ids(signal)
    if ids is True:
        return [], []
    pairs = signal._live_records(sender)
    if pairs is None:  # _live_receivers is overridden or patched: use it
        sync_receivers, async_receivers = signal._live_receivers(sender)
        pairs = ([(r, None) for r in sync_receivers], [(r, None) for r in async_receivers])
    sync_pairs, async_pairs = pairs
    if ids:
        sync_pairs = [p for p in sync_pairs if not _is_muted(p, ids)]
        async_pairs = [p for p in async_pairs if not _is_muted(p, ids)]
    return sync_pairs, async_pairs


def has_listeners(signal: Any, sender: object) -> bool:
    sync_pairs, async_pairs = live_pairs(signal, sender)
    return bool(sync_pairs) or bool(async_pairs)


# -- calling them ------------------------------------------------------------------


class _Failure:
    """An exception a receiver raised, in "collect" mode."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _report(hook: Callable[..., Any], *args: Any) -> Any:
    """Call a tracer hook; a failing tracer never breaks a send."""
    try:
        return hook(*args)
    except Exception:
        import logging

        logging.getLogger("fastdispatch.tracing").exception(
            "Tracer hook %s failed", getattr(hook, "__qualname__", hook)
        )
        return None


def _call(
    signal: Any,
    receiver: Receiver,
    record: Record | None,
    sender: object,
    named: dict[str, Any],
    mode: str,
    trace: Any,
) -> Any:
    """Call one sync receiver; in "robust" and "collect" modes an ``Exception``
    becomes its response (a ``_Failure`` when collecting)."""
    if trace is None:
        try:
            return receiver(signal=signal, sender=sender, **named)
        except Exception as error:
            return _failed(signal, receiver, error, mode)
    tracer, send = trace
    call = send.receiver_call(receiver, _info_of(signal, receiver, record))
    _report(tracer.receiver_started, call)
    context = _report(tracer.receiver_context, call)
    started = perf_counter_ns()
    try:
        if context is None:
            result = receiver(signal=signal, sender=sender, **named)
        else:
            with context:
                result = receiver(signal=signal, sender=sender, **named)
    except BaseException as error:
        call.elapsed_ns = perf_counter_ns() - started
        call.error = error
        _report(tracer.receiver_ended, call)
        if not isinstance(error, Exception):
            raise
        return _failed(signal, receiver, error, mode)
    call.elapsed_ns = perf_counter_ns() - started
    call.result = result
    _report(tracer.receiver_ended, call)
    return result


def _failed(signal: Any, receiver: Receiver, error: Exception, mode: str) -> Any:
    if mode == "send":
        raise error
    if mode == "robust":
        signal._log_robust_failure(receiver, error)
        return error
    return _Failure(error)


async def _acall(
    signal: Any,
    receiver: Receiver,
    record: Record | None,
    sender: object,
    named: dict[str, Any],
    mode: str,
    trace: Any,
) -> Any:
    """Await one async receiver; modes as in ``_call``."""
    if trace is None:
        try:
            return await receiver(signal=signal, sender=sender, **named)
        except Exception as error:
            return _failed(signal, receiver, error, mode)
    tracer, send = trace
    call = send.receiver_call(receiver, _info_of(signal, receiver, record))
    _report(tracer.receiver_started, call)
    started = perf_counter_ns()
    try:
        awaitable = receiver(signal=signal, sender=sender, **named)
        if _has_receiver_context(tracer):
            awaitable = _in_receiver_context(awaitable, tracer, call)
        result = await awaitable
    except BaseException as error:
        call.elapsed_ns = perf_counter_ns() - started
        call.error = error
        _report(tracer.receiver_ended, call)
        if not isinstance(error, Exception):
            raise
        return _failed(signal, receiver, error, mode)
    call.elapsed_ns = perf_counter_ns() - started
    call.result = result
    _report(tracer.receiver_ended, call)
    return result


def _has_receiver_context(tracer: Tracer) -> bool:
    """Whether ``tracer`` overrides ``receiver_context`` (else an async
    receiver is awaited as it is, not one step at a time)."""
    from .tracing import Tracer

    return type(tracer).receiver_context is not Tracer.receiver_context


def _in_receiver_context(awaitable: Awaitable[Any], tracer: Tracer, call: Any) -> Any:
    """Run ``awaitable`` one step at a time inside the tracer's receiver
    context (a fresh one per step): concurrent receivers share one
    ``contextvars`` context (as Django runs them), so a span made current for
    the whole run would leak into the others."""
    import types

    @types.coroutine
    def stepped() -> Generator[Any, Any, Any]:
        steps = awaitable.__await__()
        value: Any = None
        error: BaseException | None = None
        while True:
            context = _report(tracer.receiver_context, call)
            try:
                if context is None:
                    yielded = steps.throw(error) if error is not None else steps.send(value)
                else:
                    with context:
                        yielded = (
                            steps.throw(error) if error is not None else steps.send(value)
                        )
            except StopIteration as done:
                return done.value
            try:
                value, error = (yield yielded), None
            except BaseException as raised:  # thrown in by the event loop
                value, error = None, raised

    return stepped()


def _info_of(signal: Any, receiver: Receiver, record: Record | None) -> Any:
    if record is not None:
        info = signal._info.get(record[0])
        if info is not None:
            return info
    if record is None:
        cached = _described.get(receiver) if type(receiver) is FunctionType else None
        if cached is not None:
            return cached
    from ._info import receiver_info

    # A record assigned to signal.receivers from elsewhere, a receiver an
    # overridden _live_receivers made, or a deferred receiver run in a
    # worker: described now (a function once).
    is_async = record[3] if record is not None else False
    weak = record is not None and isinstance(record[1], _signal._ReferenceType)
    info = receiver_info(receiver, None, None, is_async, weak)
    if record is None and type(receiver) is FunctionType:
        _described[receiver] = info
    return info


# ReceiverInfo of functions called without a record (deferred receivers in a
# worker), computed once each.
_described: WeakKeyDictionary[Any, Any] = WeakKeyDictionary()


def _start(signal: Any, sender: object, named: dict[str, Any], kind: str) -> Any:
    tracer = tracer_of(signal)
    if tracer is None:
        return None
    from .tracing import SendTrace

    send = SendTrace(signal, sender, kind, named)
    _report(tracer.send_started, send)
    send.started_ns = perf_counter_ns()
    return tracer, send


def _end(trace: Any, responses: Any, error: BaseException | None) -> None:
    if trace is None:
        return
    tracer, send = trace
    send.elapsed_ns = perf_counter_ns() - send.started_ns
    send.responses = responses
    send.error = error
    _report(tracer.send_ended, send)


def _failures(sender: object, responses: Responses, mode: str) -> BaseException | None:
    """In "collect" mode, the ``ExceptionGroup`` of the receivers' failures
    (each with a note naming its receiver), or None if none failed."""
    if mode != "collect":
        return None
    failures = [(r, outcome.error) for r, outcome in responses if type(outcome) is _Failure]
    if not failures:
        return None
    from ._info import describe_receiver, describe_sender

    errors = []
    described = describe_sender(sender)
    for receiver, error in failures:
        note = f"raised by receiver {describe_receiver(receiver)[0]}"
        if described is not None:
            note += f" (sender {described})"
        _add_note(error, note)
        errors.append(error)
    return _exception_group_type()(f"{len(errors)} of {len(responses)} receivers raised", errors)


def _finish(trace: Any, sender: object, responses: Responses, mode: str) -> Responses:
    """Tell the tracer how the send ended; raise the failures' group if any."""
    group = _failures(sender, responses, mode)
    _end(trace, responses, group)
    if group is not None:
        raise group
    return responses


def _add_note(error: BaseException, note: str) -> None:
    if sys.version_info >= (3, 11):
        error.add_note(note)
    else:  # pragma: no cover (Python 3.10: the backport prints __notes__)
        error.__notes__ = [*getattr(error, "__notes__", ()), note]


_KINDS = {"send": "send", "robust": "send_robust", "collect": "send_then_raise"}


def run_deferred(
    signal: Any, sender: object, named: dict[str, Any], receiver: Receiver
) -> Any:
    """Call a deferred receiver (fastdispatch.deferred: after the commit, or
    in a worker), traced as a one-receiver send of kind ``"deferred"`` when a
    tracer is installed for the signal. Exceptions propagate (the engine
    retries or records them)."""
    trace = _start(signal, sender, named, "deferred") if active else None
    if trace is None:
        return receiver(signal=signal, sender=sender, **named)
    try:
        result = _call(signal, receiver, None, sender, named, "send", trace)
    except BaseException as error:
        _end(trace, None, error)
        raise
    _end(trace, [(receiver, result)], None)
    return result


def send(signal: Any, sender: object, named: dict[str, Any], mode: str) -> Responses:
    """``send``/``send_robust``/``send_then_raise`` with the hooks on."""
    sync_pairs, async_pairs = live_pairs(signal, sender)
    if not sync_pairs and not async_pairs:
        return []
    trace = _start(signal, sender, named, _KINDS[mode])
    try:
        responses = [
            (r, _call(signal, r, record, sender, named, mode, trace))
            for r, record in sync_pairs
        ]
        if async_pairs:
            from asgiref.sync import async_to_sync

            responses.extend(
                async_to_sync(_run_async)(signal, async_pairs, sender, named, mode, trace)
            )
    except BaseException as error:
        _end(trace, None, error)
        raise
    return _finish(trace, sender, responses, mode)


async def asend(
    signal: Any, sender: object, named: dict[str, Any], mode: str
) -> Responses:
    """``asend``/``asend_robust``/``asend_then_raise`` with the hooks on."""
    sync_pairs, async_pairs = live_pairs(signal, sender)
    if not sync_pairs and not async_pairs:
        return []
    trace = _start(signal, sender, named, "a" + _KINDS[mode])
    try:
        responses: Responses = []
        if sync_pairs:
            from asgiref.sync import sync_to_async

            def call_sync() -> Responses:
                return [
                    (r, _call(signal, r, record, sender, named, mode, trace))
                    for r, record in sync_pairs
                ]

            responses = await sync_to_async(call_sync)()
        responses.extend(await _run_async(signal, async_pairs, sender, named, mode, trace))
    except BaseException as error:
        _end(trace, None, error)
        raise
    return _finish(trace, sender, responses, mode)


async def _run_async(
    signal: Any,
    pairs: list[Pair],
    sender: object,
    named: dict[str, Any],
    mode: str,
    trace: Any,
) -> Responses:
    # The coroutines are created inside the event loop's context, as the
    # cores do, so receivers see the same context variables.
    from ._async import run_parallel

    awaitables = [_acall(signal, r, record, sender, named, mode, trace) for r, record in pairs]
    return list(zip([r for r, _ in pairs], await run_parallel(awaitables)))
