"""OpenTelemetry spans for signal sends: one per send, a child per receiver.

::

    from opentelemetry.sdk.trace import TracerProvider
    from fastdispatch import tracing
    from fastdispatch.otel import OpenTelemetryTracer

    tracing.set_tracer(OpenTelemetryTracer())  # the global tracer provider
    tracing.set_tracer(OpenTelemetryTracer(provider, min_duration=0.005))

A send of ``django.db.models.signals.post_save`` gives a span named
``signal post_save``, a child of the span current where the send was made,
and each receiver a child of that span, named by the receiver
(``myapp.handlers.on_save``). While a receiver runs, its span is the current
span, so a span opened inside it (a database query) is its child: for async
receivers too, even when several run concurrently.

Options:

- ``sample_every=N``: trace one send in N of each signal (the first, then
  every Nth); the others make no span at all.
- ``min_duration=seconds``: only sends that took at least that long make
  spans. They are made when the send ends, with the times measured, so a
  receiver's span is not current while it runs: spans opened inside it are
  children of the span that was current around the send instead.
- ``slow_receiver_threshold=seconds``: log every receiver slower than that
  (``fastdispatch.tracing.SlowReceiverLog``), whether its send was traced or
  not.
- ``record_arguments=True``: the send's keyword arguments as attributes
  (``fastdispatch.argument.created``): numbers, booleans and strings as they
  are, other values described by type (never their ``repr``).

Importing this module imports ``opentelemetry`` (the API; the SDK is yours to
configure); ``import fastdispatch`` never does.
"""

from __future__ import annotations

import math
import re
import sys
import time
import types
import weakref
from contextlib import AbstractContextManager
from itertools import count
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode

from . import __version__
from ._info import describe_sender
from ._signal import SignalMethods
from .tracing import ReceiverCall, SendTrace, SlowReceiverLog, Tracer

__all__ = [
    "ARGUMENT_PREFIX",
    "CODE_FUNCTION_NAME",
    "DISPATCH_UID",
    "ERROR_COUNT",
    "ERROR_TYPE",
    "IS_ASYNC",
    "OpenTelemetryTracer",
    "RECEIVER_COUNT",
    "RECEIVER_MODULE",
    "SENDER",
    "SEND_KIND",
    "SIGNAL_NAME",
    "signal_name",
]

# -- attribute names -----------------------------------------------------------
# OpenTelemetry's semantic conventions where they have a name for the thing,
# the "fastdispatch." namespace for the rest.

SIGNAL_NAME = "fastdispatch.signal.name"
"""The signal's importable name, ``"django.db.models.signals.post_save"``
(on send and receiver spans)."""
SENDER = "fastdispatch.sender"
"""The sender, described: ``"myapp.Order"`` (a model's label), a class's
qualified name, or ``"module.Type instance"``; absent for ``None``."""
SEND_KIND = "fastdispatch.send.kind"
"""``"send"``, ``"send_robust"``, ``"send_then_raise"``, ``"asend"``, ..."""
RECEIVER_COUNT = "fastdispatch.send.receiver_count"
"""How many receivers the send called (set when it ends)."""
ERROR_COUNT = "fastdispatch.send.error_count"
"""How many of them raised (set when it ends)."""
ARGUMENT_PREFIX = "fastdispatch.argument."
"""Followed by a keyword argument's name, with ``record_arguments=True``."""
CODE_FUNCTION_NAME = "code.function.name"
"""The receiver's qualified name (semantic conventions), as in the span name."""
RECEIVER_MODULE = "fastdispatch.receiver.module"
"""The receiver's module."""
DISPATCH_UID = "fastdispatch.receiver.dispatch_uid"
"""The ``dispatch_uid`` it was connected with, as a string, if any."""
IS_ASYNC = "fastdispatch.receiver.is_async"
"""Whether it is an async receiver."""
ERROR_TYPE = "error.type"
"""The qualified name of the exception a failed receiver or send raised
(semantic conventions); the exception itself is a span event."""

_MAX_STRING = 200  # longest argument string recorded (record_arguments)
_INT64 = range(-(2**63), 2**63)  # what exporters can encode as an integer

# -- signal names ----------------------------------------------------------------

# ModuleType's own __dict__ getter: reading a module's namespace through it
# never runs a lazy module's __getattr__/__getattribute__ (no import as a side
# effect of tracing).
_module_namespace = vars(types.ModuleType)["__dict__"].__get__

# What follows a name assigned at the start of a line ("x = ...", "x: T = ...").
_ASSIGNED = re.compile(rb"[ \t]*(:[^=\n]*)?=(?!=)")

# The names found by the scans of sys.modules so far, and when the last scan
# was: (the number of modules then, time.monotonic()). A signal without a
# name starts a new scan only once modules were imported or removed since, or
# _RESCAN_INTERVAL seconds later (signals made on the fly cost at most one
# scan a second).
_found: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_last_scan = (-1, -math.inf)
_RESCAN_INTERVAL = 1.0


def _scan_modules() -> None:
    """Name every signal that is a public attribute of an imported module."""
    global _last_scan
    _last_scan = (len(sys.modules), time.monotonic())
    places: dict[int, tuple[Any, list[_Place]]] = {}
    for module_name, module in list(sys.modules.items()):
        if not issubclass(type(module), types.ModuleType):  # type(): see below
            continue
        namespace = _module_namespace(module).copy()
        for attribute, value in namespace.items():
            # type(), not isinstance(): isinstance() reads __class__, which a
            # lazy object (django.conf.settings) evaluates.
            if issubclass(type(value), SignalMethods) and not attribute.startswith("_"):
                places.setdefault(id(value), (value, []))[1].append(
                    (module_name, attribute, namespace)
                )
    sources: dict[str, bytes] = {}
    for signal, found in places.values():
        if len(found) > 1:
            found.sort(key=lambda place: _rank(signal, place, sources))
        module_name, attribute, _ = found[0]
        _found[signal] = f"{module_name}.{attribute}"


_Place = tuple[str, str, dict[str, Any]]  # module name, attribute, namespace


def _rank(signal: Any, place: _Place, sources: dict[str, bytes]) -> tuple[Any, ...]:
    """Sorts the modules that have a signal, the one that defines it first.

    A signal is defined in one module and imported into others (Django's
    post_save into django.db.models.base, and into the signals.py of the apps
    that connect to it). Preferred, in order: a module whose source assigns
    the name at module level (``post_save = ModelSignal(...)``), one that
    holds the signal's class (the defining module imported it), one named
    ``...signals``, the shortest module path.
    """
    module_name, attribute, namespace = place
    own_class = type(signal)
    return (
        not _assigns(namespace, attribute, sources),
        not any(value is own_class for value in namespace.values()),
        not module_name.rpartition(".")[2].endswith("signals"),
        module_name.count("."),
        module_name,
    )


def _assigns(namespace: dict[str, Any], attribute: str, sources: dict[str, bytes]) -> bool:
    """Whether the module's source file assigns ``attribute`` at module level."""
    path = namespace.get("__file__")
    if not isinstance(path, str) or not path.endswith(".py"):
        return False
    if path not in sources:
        try:
            with open(path, "rb") as file:
                sources[path] = file.read()
        except OSError:
            sources[path] = b""
    # Lines that start with the name, then "=" or an annotation and "=".
    source, line = b"\n" + sources[path], b"\n" + attribute.encode()
    start = source.find(line)
    while start != -1:
        end = start + len(line)
        if _ASSIGNED.match(source, end):
            return True
        start = source.find(line, end)
    return False


def signal_name(signal: object) -> str | None:
    """The importable name of ``signal`` (``"django.db.models.signals.post_save"``),
    or None if no imported module has it as a public attribute.

    A signal not met before is looked for in every module of ``sys.modules``
    (one scan, which also names every other signal found there; at most one
    a second unless modules were imported since the last). A signal
    several modules have is named after the module that defines it: the one
    whose source assigns the name at module level, else one that holds the
    signal's class, else one named ``...signals``, else the shortest path.
    """
    try:
        name = _found.get(signal)
    except TypeError:  # not weakly referenceable or not hashable
        return None
    if name is None:
        modules, at = _last_scan
        if len(sys.modules) != modules or time.monotonic() - at >= _RESCAN_INTERVAL:
            _scan_modules()
            name = _found.get(signal)
    return name


class _SignalState:
    """What a tracer keeps per signal: its names and its send counter."""

    __slots__ = ("sends", "full_name", "short_name", "modules_seen")

    def __init__(self) -> None:
        self.sends = count()
        self.full_name: str | None = None
        self.short_name = ""
        self.modules_seen = -1


# -- per-send and per-call state -------------------------------------------------


class _Send:
    """``send.data``: the send's span (or, deferred, when it started)."""

    __slots__ = (
        "owner",
        "signal",
        "span",
        "context",
        "parent",
        "started",
        "calls",
        "receivers",
        "errors",
    )

    def __init__(self, owner: OpenTelemetryTracer, signal: _SignalState) -> None:
        self.owner = owner
        self.signal = signal
        self.span: Span | None = None
        self.context: Context | None = None  # the send span's, for its receivers
        self.parent: Context | None = None  # deferred: the context around the send
        self.started = 0  # deferred: wall-clock start, ns
        self.calls: list[_Call] = []  # deferred: the receivers' timings
        self.receivers = 0
        self.errors = 0


class _Call:
    """``call.data``: the receiver's span and context (or, deferred, its times)."""

    __slots__ = ("owner", "span", "context", "started", "ended", "call")

    def __init__(self, owner: OpenTelemetryTracer, call: ReceiverCall) -> None:
        self.owner = owner
        self.call = call
        self.span: Span | None = None
        # The context the receiver's code runs in: its span, then whatever
        # the receiver itself makes current (kept from one step of an async
        # receiver to the next).
        self.context: Context | None = None
        self.started = 0
        self.ended = 0


class _ReceiverScope:
    """Makes a receiver's context current around its code (or one step of an
    async receiver's coroutine), and keeps what the receiver made current
    (a span it opened and is still in) for its next step."""

    __slots__ = ("state", "token")

    def __init__(self, state: _Call) -> None:
        self.state = state

    def __enter__(self) -> None:
        assert self.state.context is not None
        self.token = otel_context.attach(self.state.context)

    def __exit__(self, *exc_info: object) -> None:
        self.state.context = otel_context.get_current()
        otel_context.detach(self.token)


def _error_status(error: BaseException) -> Status:
    return Status(StatusCode.ERROR, f"{type(error).__name__}: {error}")


def _type_name(error: BaseException) -> str:
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def _fail(span: Span, error: BaseException, timestamp: int | None = None) -> None:
    span.record_exception(error, timestamp=timestamp)
    span.set_attribute(ERROR_TYPE, _type_name(error))
    span.set_status(_error_status(error))


def _argument_value(value: object) -> str | bool | int | float | None:
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        return int(value) if value in _INT64 else str(value)[:_MAX_STRING]
    if isinstance(value, str):
        return value[:_MAX_STRING]
    return describe_sender(value)


def _check_seconds(option: str, value: object) -> int | None:
    """A duration option in seconds, as ns; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"OpenTelemetryTracer({option}=...) takes a number of seconds (or None), "
            f"not {value!r}."
        )
    if not (value >= 0 and math.isfinite(value)):  # NaN too
        raise ValueError(
            f"OpenTelemetryTracer({option}=...) takes a finite number of seconds >= 0, "
            f"not {value!r}."
        )
    return int(value * 1e9)


# -- the tracer ---------------------------------------------------------------------


class OpenTelemetryTracer(Tracer):
    """A span per traced send, with a child span per receiver.

    :param tracer_provider: where spans go; None for the global one
        (``opentelemetry.trace.set_tracer_provider``), looked up at each span.
    :param sample_every: trace one send in this many of each signal, the
        first one included (1: every send). Sends not traced make no span.
    :param min_duration: seconds; if set, a send that took less makes no
        span, and the spans of the others are made when the send ends (so a
        receiver's span is not current while it runs).
    :param slow_receiver_threshold: seconds; if set, receivers slower than
        that are logged (a WARNING on ``fastdispatch.slow``), traced or not.
    :param record_arguments: record the send's keyword arguments as
        ``fastdispatch.argument.<name>`` attributes of the send span.

    Install it for every signal, or for one::

        from fastdispatch import tracing
        from fastdispatch.otel import OpenTelemetryTracer

        tracing.set_tracer(OpenTelemetryTracer(sample_every=10))
        tracing.set_tracer(OpenTelemetryTracer(min_duration=0.005), signal=post_save)

    Override ``name_signal`` to name signals another way, ``should_trace``
    for another sampling rule.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        *,
        sample_every: int = 1,
        min_duration: float | None = None,
        slow_receiver_threshold: float | None = None,
        record_arguments: bool = False,
    ) -> None:
        if tracer_provider is not None and not callable(
            getattr(tracer_provider, "get_tracer", None)
        ):
            raise TypeError(
                "OpenTelemetryTracer(tracer_provider=...) takes an OpenTelemetry "
                f"TracerProvider (or None for the global one), not {tracer_provider!r}."
            )
        if isinstance(sample_every, bool) or not isinstance(sample_every, int):
            raise TypeError(
                "OpenTelemetryTracer(sample_every=...) takes a whole number N >= 1 "
                f"(trace one send in N), not {sample_every!r}."
            )
        if sample_every < 1:
            raise ValueError(
                "OpenTelemetryTracer(sample_every=...) takes a whole number N >= 1 "
                f"(trace one send in N; 1 traces every send), not {sample_every!r}. "
                "To trace nothing, uninstall the tracer: set_tracer(None)."
            )
        if not isinstance(record_arguments, bool):
            raise TypeError(
                f"OpenTelemetryTracer(record_arguments=...) takes True or False, "
                f"not {record_arguments!r}."
            )
        self.min_duration_ns = _check_seconds("min_duration", min_duration)
        _check_seconds("slow_receiver_threshold", slow_receiver_threshold)
        self.sample_every = sample_every
        self.record_arguments = record_arguments
        self.slow_log = (
            SlowReceiverLog(slow_receiver_threshold)
            if slow_receiver_threshold is not None
            else None
        )
        self.tracer = trace.get_tracer(
            "fastdispatch", __version__, tracer_provider=tracer_provider
        )
        self._signals: weakref.WeakKeyDictionary[Any, _SignalState] = (
            weakref.WeakKeyDictionary()
        )

    # -- what subclasses may override --

    def name_signal(self, signal: Any) -> str | None:
        """The signal's full name, or None for an unnamed one (then named by
        its ``repr``). Asked at a signal's first send, and for an unnamed one
        again at a later send once the number of imported modules changed."""
        return signal_name(signal)

    def should_trace(self, send: SendTrace, send_number: int) -> bool:
        """Whether to trace this send: ``send_number`` counts the sends of
        its signal this tracer saw, from 0."""
        return send_number % self.sample_every == 0

    # -- the hooks --

    def send_started(self, send: SendTrace) -> None:
        signal = self._signal_state(send.signal)
        if not self.should_trace(send, next(signal.sends)):
            return
        state = _Send(self, signal)
        if self.min_duration_ns is not None:
            state.parent = otel_context.get_current()
            state.started = time.time_ns()
            send.data = state
            return
        span = self.tracer.start_span(
            f"signal {signal.short_name}", attributes=self._send_attributes(send, signal)
        )
        if not span.is_recording():  # the sampler said no: no receiver spans
            span.end()
            return
        state.span = span
        state.context = trace.set_span_in_context(span)
        send.data = state

    def receiver_started(self, call: ReceiverCall) -> None:
        send = call.send.data
        if type(send) is not _Send or send.owner is not self:
            return
        send.receivers += 1
        state = _Call(self, call)
        call.data = state
        if send.span is None:  # deferred
            state.started = time.time_ns()
            return
        span = self.tracer.start_span(
            call.info.name,
            context=send.context,
            attributes=self._receiver_attributes(call, send.signal),
        )
        state.span = span
        state.context = trace.set_span_in_context(span, otel_context.get_current())

    def receiver_context(self, call: ReceiverCall) -> AbstractContextManager[None] | None:
        state = call.data
        if type(state) is not _Call or state.owner is not self or state.span is None:
            return None
        return _ReceiverScope(state)

    def receiver_ended(self, call: ReceiverCall) -> None:
        if self.slow_log is not None:
            self.slow_log.receiver_ended(call)
        state = call.data
        if type(state) is not _Call or state.owner is not self:
            return
        send = call.send.data
        if call.error is not None and type(send) is _Send:
            send.errors += 1
        span = state.span
        if span is None:  # deferred
            state.ended = time.time_ns()
            if type(send) is _Send:
                send.calls.append(state)
            return
        if call.error is not None:
            _fail(span, call.error)
        span.end()

    def send_ended(self, send: SendTrace) -> None:
        state = send.data
        if type(state) is not _Send or state.owner is not self:
            return
        if state.span is None:
            self._end_deferred(send, state)
            return
        span = state.span
        span.set_attribute(RECEIVER_COUNT, state.receivers)
        span.set_attribute(ERROR_COUNT, state.errors)
        if send.error is not None:
            _fail(span, send.error)
        span.end()

    # -- helpers --

    def _signal_state(self, signal: Any) -> _SignalState:
        state = self._signals.get(signal)
        if state is None:
            state = self._signals.setdefault(signal, _SignalState())
        if state.full_name is None and state.modules_seen != len(sys.modules):
            state.modules_seen = len(sys.modules)
            name = self.name_signal(signal)
            if name is not None:
                state.full_name, state.short_name = name, name.rpartition(".")[2]
            else:
                state.short_name = repr(signal)
        return state

    def _send_attributes(self, send: SendTrace, signal: _SignalState) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            SIGNAL_NAME: signal.full_name or signal.short_name,
            SEND_KIND: send.kind,
        }
        sender = describe_sender(send.sender)
        if sender is not None:
            attributes[SENDER] = sender
        if self.record_arguments:
            for name, value in send.named.items():
                recorded = _argument_value(value)
                if recorded is not None:
                    attributes[ARGUMENT_PREFIX + name] = recorded
        return attributes

    def _receiver_attributes(self, call: ReceiverCall, signal: _SignalState) -> dict[str, Any]:
        info = call.info
        attributes: dict[str, Any] = {
            CODE_FUNCTION_NAME: info.name,
            SIGNAL_NAME: signal.full_name or signal.short_name,
            IS_ASYNC: info.is_async,
        }
        if info.module is not None:
            attributes[RECEIVER_MODULE] = info.module
        if info.dispatch_uid is not None:
            attributes[DISPATCH_UID] = str(info.dispatch_uid)
        return attributes

    def _end_deferred(self, send: SendTrace, state: _Send) -> None:
        assert self.min_duration_ns is not None
        if send.elapsed_ns is None or send.elapsed_ns < self.min_duration_ns:
            return
        ended = time.time_ns()
        span = self.tracer.start_span(
            f"signal {state.signal.short_name}",
            context=state.parent,
            attributes=self._send_attributes(send, state.signal),
            start_time=state.started,
        )
        parent = trace.set_span_in_context(span, state.parent)
        for call in state.calls:
            child = self.tracer.start_span(
                call.call.info.name,
                context=parent,
                attributes=self._receiver_attributes(call.call, state.signal),
                start_time=call.started,
            )
            if call.call.error is not None:
                _fail(child, call.call.error, call.ended)
            child.end(end_time=call.ended)
        span.set_attribute(RECEIVER_COUNT, state.receivers)
        span.set_attribute(ERROR_COUNT, state.errors)
        if send.error is not None:
            _fail(span, send.error, ended)
        span.end(end_time=ended)
