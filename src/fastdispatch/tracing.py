"""Tracing hooks: be told what every send and every receiver call costs.

Subclass ``Tracer``, override the hooks you need, and install it for every
signal or for one::

    from fastdispatch import tracing

    class Timings(tracing.Tracer):
        def receiver_ended(self, call):
            print(call.info.name, call.elapsed_ns, call.error)

    tracing.set_tracer(Timings())                # every signal
    tracing.set_tracer(Timings(), signal=post_save)  # this one only

With no tracer installed a send costs what it costs without this module (one
flag check); with one, a send it traces runs through a Python loop that
times each receiver (sends of other signals keep their own path). Tracers
see ``send``, ``send_robust``, ``send_then_raise``, the async sends and async
receivers, and the later runs of deferred receivers
(kind ``"deferred"``). A send that reaches no receiver is not
traced. A hook that raises is logged on the ``fastdispatch.tracing`` logger
and the send goes on.

``fastdispatch.otel`` has an OpenTelemetry tracer; ``SlowReceiverLog`` logs
receivers slower than a threshold.
"""

from __future__ import annotations

import logging

from . import _hooks
from ._info import ReceiverInfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from contextlib import AbstractContextManager
    from typing import Any

__all__ = [
    "ReceiverCall",
    "ReceiverInfo",
    "SendTrace",
    "SlowReceiverLog",
    "Tracer",
    "Tracers",
    "get_tracer",
    "set_tracer",
]

_HOOKS = ("send_started", "send_ended", "receiver_started", "receiver_ended", "receiver_context")


class SendTrace:
    """One traced send, from ``send_started`` to ``send_ended``.

    - ``signal``, ``sender``, ``named`` (the keyword arguments);
    - ``kind``: ``"send"``, ``"send_robust"``, ``"send_then_raise"``,
      ``"asend"``, ``"asend_robust"``, ``"asend_then_raise"``, or
      ``"deferred"``: the later run of one deferred receiver
      (``fastdispatch.deferred``, after the commit or in a worker), traced
      as a send with that one receiver;
    - ``elapsed_ns``, ``responses`` and ``error`` (the exception that ended
      the send, if one did), set before ``send_ended``;
    - ``data``: free for the tracer (a span, say).
    """

    __slots__ = (
        "signal",
        "sender",
        "kind",
        "named",
        "started_ns",
        "elapsed_ns",
        "responses",
        "error",
        "data",
    )

    def __init__(self, signal: Any, sender: object, kind: str, named: dict[str, Any]) -> None:
        self.signal = signal
        self.sender = sender
        self.kind = kind
        self.named = named
        self.started_ns = 0
        self.elapsed_ns: int | None = None
        self.responses: list[tuple[Any, Any]] | None = None
        self.error: BaseException | None = None
        self.data: Any = None

    def receiver_call(self, receiver: Any, info: ReceiverInfo) -> ReceiverCall:
        return ReceiverCall(self, receiver, info)

    def __repr__(self) -> str:
        return f"<SendTrace {self.kind} of {self.signal!r} by {self.sender!r}>"


class ReceiverCall:
    """One receiver called by a traced send.

    - ``send``: the ``SendTrace``; ``receiver``: what is called;
    - ``info``: the ``ReceiverInfo`` computed when it connected (name,
      module, dispatch_uid, sender, is_async, weak);
    - ``elapsed_ns``, and ``result`` or ``error``, set before
      ``receiver_ended``;
    - ``data``: free for the tracer.
    """

    __slots__ = ("send", "receiver", "info", "elapsed_ns", "result", "error", "data")

    def __init__(self, send: SendTrace, receiver: Any, info: ReceiverInfo) -> None:
        self.send = send
        self.receiver = receiver
        self.info = info
        self.elapsed_ns: int | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.data: Any = None

    def __repr__(self) -> str:
        return f"<ReceiverCall {self.info.name}>"


class Tracer:
    """Base class of tracers: every hook does nothing until overridden."""

    def send_started(self, send: SendTrace) -> None:
        """A send that reaches at least one receiver starts."""

    def send_ended(self, send: SendTrace) -> None:
        """It ended: ``send.elapsed_ns``, ``send.responses`` or ``send.error``."""

    def receiver_started(self, call: ReceiverCall) -> None:
        """A receiver is about to be called (an async one: awaited)."""

    def receiver_ended(self, call: ReceiverCall) -> None:
        """It returned or raised: ``call.elapsed_ns``, ``call.result`` or ``call.error``."""

    def receiver_context(self, call: ReceiverCall) -> AbstractContextManager[Any] | None:
        """A context manager to enter around the receiver's own code, or None.

        For a sync receiver it is entered once, around the call; for an async
        receiver once per step of its coroutine (a fresh one each time, so
        return a new context manager on every call), so that it is in effect
        only while that receiver runs, even among concurrent receivers. This
        is how an OpenTelemetry span becomes current inside the receiver.
        """
        return None


class Tracers(Tracer):
    """Several tracers as one, called in order.

    Each tracer sees its own ``data`` slot on the send and on each receiver
    call (the others' are put aside while it runs), so two tracers that both
    keep a span there do not overwrite each other's.
    """

    def __init__(self, *tracers: Tracer) -> None:
        for tracer in tracers:
            _check_tracer(tracer)
        self.tracers = tracers

    def send_started(self, send: SendTrace) -> None:
        self._each("send_started", send)

    def send_ended(self, send: SendTrace) -> None:
        self._each("send_ended", send)

    def receiver_started(self, call: ReceiverCall) -> None:
        self._each("receiver_started", call)

    def receiver_ended(self, call: ReceiverCall) -> None:
        self._each("receiver_ended", call)

    def receiver_context(self, call: ReceiverCall) -> AbstractContextManager[Any] | None:
        contexts = [
            _InSlots(context, call, index)
            for index, context in enumerate(self._each("receiver_context", call))
            if context is not None
        ]
        if not contexts:
            return None
        return contexts[0] if len(contexts) == 1 else _Nested(contexts)

    def _each(self, hook: str, event: SendTrace | ReceiverCall) -> list[Any]:
        """Call ``hook`` of every tracer, each with its own data slots."""
        results = []
        for index, tracer in enumerate(self.tracers):
            with _slot(event, index, len(self.tracers)):
                results.append(_hooks._report(getattr(tracer, hook), event))
        return results


class _Slots(list):  # type: ignore[type-arg]
    """The ``data`` of each tracer of a ``Tracers``, while it is put aside."""


class _slot:  # noqa: N801 (used like a function)
    """Show tracer ``index`` its own ``data`` on ``event`` (and on its send)."""

    def __init__(self, event: SendTrace | ReceiverCall, index: int, count: int) -> None:
        self.index = index
        self.events: list[SendTrace | ReceiverCall] = [event]
        if isinstance(event, ReceiverCall):
            self.events.append(event.send)
        self.slots: list[_Slots] = []
        for item in self.events:
            if not isinstance(item.data, _Slots):
                item.data = _Slots([None] * count)
            self.slots.append(item.data)

    def __enter__(self) -> None:
        for item, slots in zip(self.events, self.slots):
            item.data = slots[self.index]

    def __exit__(self, *exc_info: Any) -> None:
        for item, slots in zip(self.events, self.slots):
            slots[self.index] = item.data
            item.data = slots


class _InSlots:
    """A tracer's receiver context, entered and left with its own data slots."""

    def __init__(self, context: AbstractContextManager[Any], call: ReceiverCall, index: int) -> None:
        self.context = context
        self.call = call
        self.index = index

    def _slot(self) -> _slot:
        return _slot(self.call, self.index, len(self.call.data))

    def __enter__(self) -> Any:
        with self._slot():
            return self.context.__enter__()

    def __exit__(self, *exc_info: Any) -> Any:
        with self._slot():
            return self.context.__exit__(*exc_info)


class _Nested:
    """Context managers entered in order and left in reverse, as one."""

    def __init__(self, contexts: list[Any]) -> None:
        from contextlib import ExitStack

        self.contexts = contexts
        self.stack = ExitStack()

    def __enter__(self) -> None:
        for context in self.contexts:
            self.stack.enter_context(context)

    def __exit__(self, *exc_info: Any) -> bool:
        return bool(self.stack.__exit__(*exc_info))


def _check_tracer(tracer: object) -> None:
    missing = [name for name in _HOOKS if not callable(getattr(tracer, name, None))]
    if missing:
        raise TypeError(
            f"A tracer must be a fastdispatch.tracing.Tracer (subclass it and "
            f"override the hooks you need); {tracer!r} has no callable "
            f"{', '.join(missing)}."
        )


def _check_signal(signal: object) -> None:
    if not (callable(getattr(signal, "connect", None)) and hasattr(signal, "_live_records")):
        raise TypeError(
            f"set_tracer(signal=...) takes a fastdispatch signal, not {signal!r}."
        )


def set_tracer(
    tracer: Tracer | Sequence[Tracer] | None, *, signal: Any = None
) -> Tracer | None:
    """Install ``tracer`` for every signal, or for ``signal`` only; None removes it.

    A list or tuple of tracers is combined (``Tracers``). A signal's own
    tracer and the global one are both told, the global one first. Returns
    the tracer that was installed before. A tracer that lacks a hook, or a
    ``signal`` that is not a signal, is a ``TypeError`` and changes nothing.
    """
    if isinstance(tracer, (list, tuple)):
        tracer = Tracers(*tracer)
    elif tracer is not None:
        _check_tracer(tracer)
    if signal is None:
        return _hooks.set_global_tracer(tracer)  # type: ignore[arg-type]
    _check_signal(signal)
    return _hooks.set_signal_tracer(signal, tracer)  # type: ignore[arg-type]


def get_tracer(*, signal: Any = None) -> Tracer | None:
    """The global tracer, or the one installed for ``signal``."""
    if signal is None:
        return _hooks.global_tracer()
    _check_signal(signal)
    return signal.__dict__.get("_tracer")  # type: ignore[no-any-return]


class SlowReceiverLog(Tracer):
    """Logs every receiver call that takes longer than ``threshold`` seconds.

    A WARNING on ``logger`` (default ``fastdispatch.slow``) naming the
    receiver, the signal's sender and the time taken.
    """

    def __init__(self, threshold: float = 0.1, logger: logging.Logger | None = None) -> None:
        import math

        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not math.isfinite(threshold)
            or threshold < 0
        ):
            raise TypeError(
                "SlowReceiverLog(threshold=...) takes a finite number of seconds >= 0, "
                f"not {threshold!r}."
            )
        self.threshold_ns = int(threshold * 1e9)
        self.logger = logger or logging.getLogger("fastdispatch.slow")

    def receiver_ended(self, call: ReceiverCall) -> None:
        elapsed = call.elapsed_ns
        if elapsed is not None and elapsed >= self.threshold_ns:
            from ._info import describe_sender

            self.logger.warning(
                "Slow receiver %s: %.1f ms (%s, sender %s)",
                call.info.name,
                elapsed / 1e6,
                call.send.kind,
                describe_sender(call.send.sender),
            )
