"""fastdispatch.otel: OpenTelemetry spans, with the real SDK, on both implementations.

Every test gets its own ``TracerProvider`` with an in-memory exporter (the
global provider is never set in this process) and leaves no tracer installed.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="opentelemetry-sdk is not installed")

from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode  # noqa: E402

from fastdispatch import _hooks, otel, tracing  # noqa: E402
from fastdispatch.otel import OpenTelemetryTracer  # noqa: E402

# -- fixtures and helpers ----------------------------------------------------------


class Spans:
    """A fresh TracerProvider and what it exported."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests")  # for spans opened by tests

    def finished(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> ReadableSpan:
        [span] = [s for s in self.finished() if s.name == name]
        return span

    def parent_name(self, span: ReadableSpan) -> str | None:
        if span.parent is None:
            return None
        names = {s.context.span_id: s.name for s in self.finished()}
        return names.get(span.parent.span_id, "<not exported>")

    def tree(self, *attributes: str) -> str:
        return render_tree(self.finished(), attributes)


def render_tree(spans: Sequence[Any], attributes: Sequence[str] = ()) -> str:
    """The spans as an indented tree, children in start order; the listed
    attributes after each name, and ERROR for failed spans. (Also written
    into the Django project of the subprocess tests.)"""
    known = {span.context.span_id for span in spans}
    children: dict[Any, list[Any]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        children.setdefault(parent if parent in known else None, []).append(span)

    def label(span: Any) -> str:
        shown = [f"{key}={span.attributes[key]!r}" for key in attributes if key in span.attributes]
        if span.status.status_code.name == "ERROR":
            shown.append("ERROR")
        return str(span.name) + (f"  ({', '.join(shown)})" if shown else "")

    lines: list[str] = []

    def walk(parent: Any, prefix: str) -> None:
        kids = sorted(children.get(parent, []), key=lambda span: span.start_time)
        for index, span in enumerate(kids):
            last = index == len(kids) - 1
            lines.append(prefix + ("└── " if last else "├── ") + label(span))
            walk(span.context.span_id, prefix + ("    " if last else "│   "))

    for root in sorted(children.get(None, []), key=lambda span: span.start_time):
        lines.append(label(root))
        walk(root.context.span_id, "")
    return "\n".join(lines)


@pytest.fixture
def spans() -> Spans:
    return Spans()


@pytest.fixture(autouse=True)
def no_tracer_left() -> Iterator[None]:
    yield
    tracing.set_tracer(None)
    for signal in list(_hooks._traced_signals):  # a failed test's own tracers
        tracing.set_tracer(None, signal=signal)
    assert not _hooks.active, "a test left a hook on"


@pytest.fixture
def shop(impl: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """Makes signals that are attributes of an importable module,
    ``shop.signals``, as Django's are (so they have a name)."""
    module = types.ModuleType("shop.signals")
    monkeypatch.setitem(sys.modules, "shop.signals", module)
    # Attributes of a module imported before: no time limit on looking again.
    monkeypatch.setattr(otel, "_RESCAN_INTERVAL", 0.0)

    def make(name: str) -> Any:
        signal = impl.Signal()
        setattr(module, name, signal)
        return signal

    return make


class Order:
    pass


def on_paid(sender: object, **kwargs: Any) -> str:
    return "receipt"


def ship(sender: object, **kwargs: Any) -> str:
    return "shipped"


def fails(sender: object, **kwargs: Any) -> None:
    raise ValueError("out of stock")


NAME = f"{__name__}."


def interval(span: ReadableSpan) -> tuple[int, int]:
    """(start, end) in ns since the epoch."""
    assert span.start_time is not None and span.end_time is not None
    return span.start_time, span.end_time


def ids(span: ReadableSpan) -> tuple[int, int, int | None]:
    parent = span.parent.span_id if span.parent is not None else None
    return span.context.trace_id, span.context.span_id, parent


# -- the span tree -------------------------------------------------------------------


def test_a_send_is_a_span_with_a_child_per_receiver(
    spans: Spans, shop: Callable[[str], Any]
) -> None:
    order_paid = shop("order_paid")
    order_paid.connect(on_paid, dispatch_uid="receipts")
    order_paid.connect(ship)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))
    with spans.tracer.start_as_current_span("request") as request:
        assert order_paid.send(Order, amount=10) == [(on_paid, "receipt"), (ship, "shipped")]
    first, second, send, request_span = spans.finished()
    assert [s.name for s in (first, second, send, request_span)] == [
        NAME + "on_paid",
        NAME + "ship",
        "signal order_paid",
        "request",
    ]
    trace_id = request.get_span_context().trace_id
    assert ids(send) == (trace_id, send.context.span_id, request.get_span_context().span_id)
    assert ids(first)[0] == ids(second)[0] == trace_id
    assert ids(first)[2] == ids(second)[2] == send.context.span_id
    assert len({s.context.span_id for s in spans.finished()}) == 4
    assert dict(send.attributes or {}) == {
        otel.SIGNAL_NAME: "shop.signals.order_paid",
        otel.SENDER: f"{NAME}Order",
        otel.SEND_KIND: "send",
        otel.RECEIVER_COUNT: 2,
        otel.ERROR_COUNT: 0,
    }
    assert dict(first.attributes or {}) == {
        otel.CODE_FUNCTION_NAME: NAME + "on_paid",
        otel.SIGNAL_NAME: "shop.signals.order_paid",
        otel.RECEIVER_MODULE: __name__,
        otel.DISPATCH_UID: "receipts",
        otel.IS_ASYNC: False,
    }
    assert otel.DISPATCH_UID not in (second.attributes or {})
    # Success leaves the status unset, as instrumentations should.
    assert {s.status.status_code for s in spans.finished()} == {StatusCode.UNSET}
    # The receivers ran inside the send span, in order.
    times = [*interval(send), *interval(first), *interval(second)]
    assert times[0] <= times[2] <= times[3] <= times[4] <= times[5] <= times[1], times
    assert spans.tree() == textwrap.dedent(
        f"""\
        request
        └── signal order_paid
            ├── {NAME}on_paid
            └── {NAME}ship"""
    )


def test_without_a_current_span_the_send_span_is_a_root(
    impl: types.ModuleType, spans: Spans
) -> None:
    signal = impl.Signal()
    signal.connect(on_paid)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))
    signal.send(None)
    receiver, send = spans.finished()
    assert send.parent is None and ids(receiver)[2] == send.context.span_id
    assert otel.SENDER not in (send.attributes or {})
    # Not a module attribute: named by its repr.
    assert send.name == f"signal {signal!r}"
    assert (send.attributes or {})[otel.SIGNAL_NAME] == repr(signal)


def test_a_receiver_that_raises_in_send(spans: Spans, shop: Callable[[str], Any]) -> None:
    order_paid = shop("order_paid")
    order_paid.connect(fails)
    order_paid.connect(ship)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))
    with pytest.raises(ValueError, match="out of stock") as raised:
        order_paid.send(Order)
    receiver, send = spans.finished()  # ship never ran
    for span in (receiver, send):
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "ValueError: out of stock"
        assert (span.attributes or {})[otel.ERROR_TYPE] == "ValueError"
        [event] = span.events
        assert event.name == "exception"
        assert (event.attributes or {})["exception.type"] == "ValueError"
        assert (event.attributes or {})["exception.message"] == "out of stock"
    assert (send.attributes or {})[otel.RECEIVER_COUNT] == 1
    assert (send.attributes or {})[otel.ERROR_COUNT] == 1
    assert raised.value.__traceback__ is not None


def test_send_robust_marks_only_the_receiver(
    spans: Spans, shop: Callable[[str], Any], caplog: pytest.LogCaptureFixture
) -> None:
    order_paid = shop("order_paid")
    order_paid.connect(fails)
    order_paid.connect(ship)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))
    with caplog.at_level(logging.ERROR):
        responses = order_paid.send_robust(Order)
    assert isinstance(responses[0][1], ValueError) and responses[1] == (ship, "shipped")
    failed, shipped, send = spans.finished()
    assert failed.status.status_code is StatusCode.ERROR
    assert [e.name for e in failed.events] == ["exception"]
    assert shipped.status.status_code is StatusCode.UNSET
    assert send.status.status_code is StatusCode.UNSET and not send.events
    assert (send.attributes or {})[otel.SEND_KIND] == "send_robust"
    assert (send.attributes or {})[otel.ERROR_COUNT] == 1
    assert (send.attributes or {})[otel.RECEIVER_COUNT] == 2


def test_send_then_raise_marks_the_failed_receivers(
    spans: Spans, shop: Callable[[str], Any]
) -> None:
    order_paid = shop("order_paid")
    order_paid.connect(fails)
    order_paid.connect(ship)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))
    with pytest.raises(Exception, match="1 of 2 receivers raised"):
        order_paid.send_then_raise(Order)
    assert spans.named(NAME + "fails").status.status_code is StatusCode.ERROR
    assert spans.named(NAME + "ship").status.status_code is StatusCode.UNSET
    send = spans.named("signal order_paid")
    assert (send.attributes or {})[otel.SEND_KIND] == "send_then_raise"
    assert (send.attributes or {})[otel.ERROR_COUNT] == 1


@pytest.mark.parametrize("send_kind", ["send_then_raise", "asend_then_raise"])
def test_send_then_raise_marks_the_send_with_the_group(
    spans: Spans, shop: Callable[[str], Any], send_kind: str
) -> None:
    order_paid = shop("order_paid")
    order_paid.connect(fails)
    order_paid.connect(ship)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))

    async def asend() -> Any:
        return await order_paid.asend_then_raise(Order)

    with pytest.raises(Exception, match="1 of 2 receivers raised"):
        if send_kind == "send_then_raise":
            order_paid.send_then_raise(Order)
        else:
            asyncio.run(asend())
    send = spans.named("signal order_paid")
    assert send.status.status_code is StatusCode.ERROR
    # (The exceptiongroup backport's on Python 3.10.)
    assert (send.attributes or {})[otel.ERROR_TYPE] in (
        "ExceptionGroup",
        "exceptiongroup.ExceptionGroup",
    )


# -- async receivers ---------------------------------------------------------------


async def async_ship(sender: object, **kwargs: Any) -> str:
    await asyncio.sleep(0)
    return "shipped later"


async def async_fails(sender: object, **kwargs: Any) -> None:
    await asyncio.sleep(0)
    raise KeyError("no address")


@pytest.mark.parametrize("send_kind", ["send", "asend"])
def test_async_receivers_under_send_and_asend(
    spans: Spans, shop: Callable[[str], Any], send_kind: str
) -> None:
    order_paid = shop("order_paid")
    order_paid.connect(on_paid)
    order_paid.connect(async_ship)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))

    async def asend() -> Any:
        return await order_paid.asend(Order)

    with spans.tracer.start_as_current_span("request"):
        if send_kind == "send":
            responses = order_paid.send(Order)
        else:
            responses = asyncio.run(asend())
    assert responses == [(on_paid, "receipt"), (async_ship, "shipped later")]
    assert spans.tree(otel.IS_ASYNC) == textwrap.dedent(
        f"""\
        request
        └── signal order_paid
            ├── {NAME}on_paid  ({otel.IS_ASYNC}=False)
            └── {NAME}async_ship  ({otel.IS_ASYNC}=True)"""
    )
    assert (spans.named("signal order_paid").attributes or {})[otel.SEND_KIND] == send_kind


def test_an_async_receiver_that_raises(spans: Spans, shop: Callable[[str], Any]) -> None:
    order_paid = shop("order_paid")
    order_paid.connect(async_fails)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))
    with pytest.raises(KeyError, match="no address"):
        asyncio.run(order_paid.asend(Order))
    receiver = spans.named(NAME + "async_fails")
    assert receiver.status.status_code is StatusCode.ERROR
    assert (receiver.attributes or {})[otel.ERROR_TYPE] == "KeyError"
    assert spans.named("signal order_paid").status.status_code is StatusCode.ERROR
    [(receiver_result, error)] = asyncio.run(order_paid.asend_robust(Order))
    assert isinstance(error, KeyError)


# -- spans opened inside receivers -----------------------------------------------


def test_a_span_opened_in_a_sync_receiver_is_its_child(
    spans: Spans, shop: Callable[[str], Any]
) -> None:
    order_paid = shop("order_paid")

    def saves(sender: object, **kwargs: Any) -> None:
        with spans.tracer.start_as_current_span("db INSERT"):
            pass

    order_paid.connect(saves)
    order_paid.connect(ship)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))
    with spans.tracer.start_as_current_span("request") as request:
        order_paid.send(Order)
        assert trace.get_current_span() is request  # nothing left current
    assert spans.tree() == textwrap.dedent(
        f"""\
        request
        └── signal order_paid
            ├── {NAME}test_a_span_opened_in_a_sync_receiver_is_its_child.<locals>.saves
            │   └── db INSERT
            └── {NAME}ship"""
    )


def test_sync_receivers_of_asend_run_in_their_span_too(
    spans: Spans, shop: Callable[[str], Any]
) -> None:
    order_paid = shop("order_paid")

    def saves(sender: object, **kwargs: Any) -> None:  # run by sync_to_async
        with spans.tracer.start_as_current_span("db INSERT"):
            pass

    order_paid.connect(saves)

    async def page() -> None:
        with spans.tracer.start_as_current_span("request"):
            await order_paid.asend(Order)

    tracing.set_tracer(OpenTelemetryTracer(spans.provider))
    asyncio.run(page())
    assert spans.parent_name(spans.named("db INSERT")).endswith(".saves")  # type: ignore[union-attr]
    assert spans.parent_name(spans.named("signal order_paid")) == "request"


def make_concurrent_receivers(spans: Spans, order: list[str]) -> tuple[Any, Any]:
    async def index(sender: object, **kwargs: Any) -> None:
        for step in range(3):
            order.append(f"index {step}")
            with spans.tracer.start_as_current_span(f"index query {step}"):
                await asyncio.sleep(0)

    async def notify(sender: object, **kwargs: Any) -> None:
        # A span held open across awaits: what is opened inside it after an
        # await is still its child.
        with spans.tracer.start_as_current_span("notify request"):
            for step in range(3):
                order.append(f"notify {step}")
                await asyncio.sleep(0)
                with spans.tracer.start_as_current_span(f"notify write {step}"):
                    pass

    return index, notify


@pytest.mark.parametrize("send_kind", ["send", "asend"])
def test_spans_in_concurrent_async_receivers_nest_under_their_own(
    spans: Spans, shop: Callable[[str], Any], send_kind: str
) -> None:
    order_paid = shop("order_paid")
    order: list[str] = []
    index, notify = make_concurrent_receivers(spans, order)
    order_paid.connect(index)
    order_paid.connect(notify)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))

    async def page() -> None:
        with spans.tracer.start_as_current_span("request") as request:
            await order_paid.asend(Order)
            assert trace.get_current_span() is request

    if send_kind == "send":
        with spans.tracer.start_as_current_span("request") as request:
            order_paid.send(Order)
            assert trace.get_current_span() is request
    else:
        asyncio.run(page())
    # They really interleaved.
    assert order[:4] == ["index 0", "notify 0", "index 1", "notify 1"]
    local = f"{NAME}make_concurrent_receivers.<locals>."
    assert spans.tree() == textwrap.dedent(
        f"""\
        request
        └── signal order_paid
            ├── {local}index
            │   ├── index query 0
            │   ├── index query 1
            │   └── index query 2
            └── {local}notify
                └── notify request
                    ├── notify write 0
                    ├── notify write 1
                    └── notify write 2"""
    )


def test_a_receiver_that_sends_a_signal(spans: Spans, shop: Callable[[str], Any]) -> None:
    order_paid, stock_changed = shop("order_paid"), shop("stock_changed")

    def update_stock(sender: object, **kwargs: Any) -> None:
        stock_changed.send(Order)

    order_paid.connect(update_stock)
    stock_changed.connect(ship)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))
    order_paid.send(Order)
    assert spans.tree() == textwrap.dedent(
        f"""\
        signal order_paid
        └── {NAME}test_a_receiver_that_sends_a_signal.<locals>.update_stock
            └── signal stock_changed
                └── {NAME}ship"""
    )


# -- sampling and minimum duration --------------------------------------------------


def test_sample_every_traces_one_send_in_n_per_signal(
    spans: Spans, shop: Callable[[str], Any]
) -> None:
    chatty, rare = shop("post_init"), shop("request_finished")
    chatty.connect(on_paid)
    rare.connect(ship)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider, sample_every=3, record_arguments=True))
    for number in range(7):
        assert chatty.send(Order, number=number) == [(on_paid, "receipt")]
    rare.send(Order, number=0)
    rare.send(Order, number=1)
    traced = [
        (s.name, (s.attributes or {})[otel.ARGUMENT_PREFIX + "number"])
        for s in spans.finished()
        if s.name.startswith("signal ")
    ]
    assert traced == [
        ("signal post_init", 0),
        ("signal post_init", 3),
        ("signal post_init", 6),
        ("signal request_finished", 0),
    ]
    # No receiver spans for the sends not traced either.
    assert len(spans.finished()) == 2 * len(traced)


def test_should_trace_can_be_overridden(spans: Spans, shop: Callable[[str], Any]) -> None:
    order_paid = shop("order_paid")
    order_paid.connect(on_paid)

    class OnlyOrders(OpenTelemetryTracer):
        def should_trace(self, send: tracing.SendTrace, send_number: int) -> bool:
            return send.sender is Order

    tracing.set_tracer(OnlyOrders(spans.provider))
    order_paid.send(None)
    order_paid.send(Order)
    order_paid.send(object)
    [send] = [s for s in spans.finished() if s.name == "signal order_paid"]
    assert (send.attributes or {})[otel.SENDER] == f"{NAME}Order"


def test_min_duration_drops_short_sends(spans: Spans, shop: Callable[[str], Any]) -> None:
    order_paid = shop("order_paid")

    def quick(sender: object, **kwargs: Any) -> str:
        with spans.tracer.start_as_current_span("db SELECT"):
            return "quick"

    order_paid.connect(quick)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider, min_duration=5.0))
    with spans.tracer.start_as_current_span("request"):
        for _ in range(20):
            assert order_paid.send(Order) == [(quick, "quick")]
    names = [s.name for s in spans.finished()]
    assert names == ["db SELECT"] * 20 + ["request"]
    # No receiver span existed: the query is the request's child.
    assert {spans.parent_name(s) for s in spans.finished() if s.name == "db SELECT"} == {
        "request"
    }


def test_min_duration_keeps_slow_sends_with_their_times(
    spans: Spans, shop: Callable[[str], Any]
) -> None:
    order_paid = shop("order_paid")

    def slow(sender: object, **kwargs: Any) -> None:
        time.sleep(0.06)

    def queries(sender: object, **kwargs: Any) -> None:
        with spans.tracer.start_as_current_span("db SELECT"):
            pass

    order_paid.connect(slow)
    order_paid.connect(queries)
    order_paid.connect(fails)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider, min_duration=0.05))
    with spans.tracer.start_as_current_span("request"):
        order_paid.send_robust(Order)
    local = f"{NAME}test_min_duration_keeps_slow_sends_with_their_times.<locals>."
    # The trade-off: made after the send, the receiver spans were not current
    # while the receivers ran; the query is the request's child.
    assert spans.tree() == textwrap.dedent(
        f"""\
        request
        ├── signal order_paid
        │   ├── {local}slow
        │   ├── {local}queries
        │   └── {NAME}fails  (ERROR)
        └── db SELECT"""
    )
    send = spans.named("signal order_paid")
    slow_span, queries_span, failed = (
        spans.named(local + "slow"),
        spans.named(local + "queries"),
        spans.named(NAME + "fails"),
    )
    db = spans.named("db SELECT")
    send_start, send_end = interval(send)
    times = [
        send_start,
        *interval(slow_span),
        interval(queries_span)[0],
        *interval(db),
        interval(queries_span)[1],
        *interval(failed),
        send_end,
    ]
    assert times == sorted(times), times
    assert interval(slow_span)[1] - interval(slow_span)[0] >= 60_000_000
    assert send_end - send_start >= 60_000_000
    assert [e.name for e in failed.events] == ["exception"]
    assert failed.events[0].timestamp == failed.end_time
    assert dict(send.attributes or {})[otel.RECEIVER_COUNT] == 3
    assert dict(send.attributes or {})[otel.ERROR_COUNT] == 1


def test_min_duration_with_async_receivers(spans: Spans, shop: Callable[[str], Any]) -> None:
    order_paid = shop("order_paid")

    async def waits(sender: object, **kwargs: Any) -> None:
        await asyncio.sleep(0.03)

    order_paid.connect(waits)
    order_paid.connect(async_ship)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider, min_duration=0.02))
    asyncio.run(order_paid.asend(Order))
    send = spans.named("signal order_paid")
    waited = spans.named(f"{NAME}test_min_duration_with_async_receivers.<locals>.waits")
    assert ids(waited)[2] == ids(spans.named(NAME + "async_ship"))[2] == send.context.span_id
    waited_start, waited_end = interval(waited)
    assert waited_end - waited_start >= 30_000_000
    send_start, send_end = interval(send)
    assert send_start <= waited_start < waited_end <= send_end


# -- installation, options, bad input -----------------------------------------------


def test_installed_for_one_signal(spans: Spans, shop: Callable[[str], Any]) -> None:
    order_paid, other = shop("order_paid"), shop("other")
    order_paid.connect(on_paid)
    other.connect(on_paid)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider), signal=order_paid)
    other.send(Order)
    order_paid.send(Order)
    other.send(Order)
    assert [s.name for s in spans.finished()] == [NAME + "on_paid", "signal order_paid"]
    tracing.set_tracer(None, signal=order_paid)
    order_paid.send(Order)
    assert len(spans.finished()) == 2


def test_with_the_slow_receiver_log(
    spans: Spans, shop: Callable[[str], Any], caplog: pytest.LogCaptureFixture
) -> None:
    order_paid = shop("order_paid")

    def slow(sender: object, **kwargs: Any) -> None:
        time.sleep(0.02)

    order_paid.connect(slow)
    order_paid.connect(ship)
    # Only the first send is traced, every one is logged.
    tracing.set_tracer(
        OpenTelemetryTracer(spans.provider, sample_every=100, slow_receiver_threshold=0.01)
    )
    with caplog.at_level(logging.WARNING, logger="fastdispatch.slow"):
        order_paid.send(Order)
        order_paid.send(Order)
    messages = [r.getMessage() for r in caplog.records if r.name == "fastdispatch.slow"]
    assert len(messages) == 2
    prefix = f"Slow receiver {NAME}test_with_the_slow_receiver_log"
    assert all(message.startswith(prefix) for message in messages)
    assert len([s for s in spans.finished() if s.name == "signal order_paid"]) == 1
    # The same as combining the two tracers.
    caplog.clear()
    tracing.set_tracer([OpenTelemetryTracer(spans.provider), tracing.SlowReceiverLog(0.01)])
    with caplog.at_level(logging.WARNING, logger="fastdispatch.slow"):
        order_paid.send(Order)
    assert len([r for r in caplog.records if r.name == "fastdispatch.slow"]) == 1
    assert len([s for s in spans.finished() if s.name == "signal order_paid"]) == 2


def test_record_arguments(spans: Spans, shop: Callable[[str], Any]) -> None:
    post_save = shop("post_save")
    post_save.connect(on_paid)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider, record_arguments=True))
    post_save.send(
        Order, instance=Order(), created=True, using="default", update_fields=None,
        raw=False, weight=1.5, note="x" * 500, big=2**70, small=-(2**63),
    )
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))
    post_save.send(Order, created=True)
    recorded, plain = [s for s in spans.finished() if s.name == "signal post_save"]
    arguments = {
        key[len(otel.ARGUMENT_PREFIX):]: value
        for key, value in (recorded.attributes or {}).items()
        if key.startswith(otel.ARGUMENT_PREFIX)
    }
    assert arguments == {
        "instance": f"{NAME}Order instance",  # described, never its repr
        "created": True,
        "using": "default",
        "raw": False,
        "weight": 1.5,
        "note": "x" * 200,
        "big": str(2**70),  # more than an exporter's 64-bit integer
        "small": -(2**63),
    }
    assert not any(k.startswith(otel.ARGUMENT_PREFIX) for k in (plain.attributes or {}))


def test_no_receiver_spans_under_a_send_span_the_sampler_dropped(
    impl: types.ModuleType,
) -> None:
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    class NoSignals(Sampler):
        """Drops the send spans, keeps every other span."""

        def should_sample(self, parent_context: Any, trace_id: int, name: str, *args: Any,
                          **kwargs: Any) -> SamplingResult:
            if name.startswith("signal "):
                return SamplingResult(Decision.DROP)
            return SamplingResult(Decision.RECORD_AND_SAMPLE)

        def get_description(self) -> str:
            return "NoSignals"

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=NoSignals())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tests_tracer = provider.get_tracer("tests")

    def queries(sender: object, **kwargs: Any) -> str:
        with tests_tracer.start_as_current_span("db SELECT"):
            return "rows"

    signal = impl.Signal()
    signal.connect(queries)
    tracing.set_tracer(OpenTelemetryTracer(provider))
    with tests_tracer.start_as_current_span("request"):
        assert signal.send(None) == [(queries, "rows")]
    db, request = exporter.get_finished_spans()
    assert (db.name, request.name) == ("db SELECT", "request")
    assert db.parent is not None and db.parent.span_id == request.context.span_id


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"sample_every": 0}, ValueError, r"sample_every=\.\.\.\) takes a whole number N >= 1"),
        ({"sample_every": -3}, ValueError, r"set_tracer\(None\)"),
        ({"sample_every": 0.5}, TypeError, r"N >= 1 \(trace one send in N\), not 0\.5"),
        ({"sample_every": True}, TypeError, r"not True"),
        ({"sample_every": "2"}, TypeError, r"not '2'"),
        ({"min_duration": -1}, ValueError, r"min_duration=\.\.\.\) takes a finite number of"),
        ({"min_duration": float("nan")}, ValueError, r"seconds >= 0, not nan"),
        ({"min_duration": float("inf")}, ValueError, r"seconds >= 0, not inf"),
        ({"min_duration": "5ms"}, TypeError, r"min_duration=\.\.\.\) takes a number of seconds"),
        ({"slow_receiver_threshold": -0.1}, ValueError, r"slow_receiver_threshold"),
        ({"slow_receiver_threshold": [1]}, TypeError, r"slow_receiver_threshold"),
        ({"record_arguments": "yes"}, TypeError, r"record_arguments=\.\.\.\) takes True or False"),
        ({"tracer_provider": object()}, TypeError, r"takes an OpenTelemetry TracerProvider"),
        ({"sample_rate": 0.5}, TypeError, r"unexpected keyword argument 'sample_rate'"),
    ],
)
def test_bad_options_are_rejected(
    impl: types.ModuleType, spans: Spans, options: dict[str, Any], error: type, message: str
) -> None:
    installed = OpenTelemetryTracer(spans.provider)
    tracing.set_tracer(installed)
    with pytest.raises(error, match=message):
        OpenTelemetryTracer(**options)
    assert tracing.get_tracer() is installed
    signal = impl.Signal()
    signal.connect(on_paid)
    assert signal.send(None) == [(on_paid, "receipt")]
    assert len(spans.finished()) == 2


# -- signal names ------------------------------------------------------------------------


def test_a_signal_is_named_by_the_module_that_defines_it(
    impl: types.ModuleType, spans: Spans, monkeypatch: pytest.MonkeyPatch
) -> None:
    signal = impl.Signal()
    signal.connect(on_paid)
    # Imported elsewhere too: the "signals" module wins, then the shorter path.
    for module_name, attribute in [
        ("shop", "order_paid"),
        ("shop.views", "paid"),
        ("shop.orders.signals", "order_paid"),
        ("shop.signals", "order_paid"),
        ("shop.signals", "_private"),
    ]:
        module = sys.modules.get(module_name) or types.ModuleType(module_name)
        setattr(module, attribute, signal)
        monkeypatch.setitem(sys.modules, module_name, module)
    assert otel.signal_name(signal) == "shop.signals.order_paid"
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))
    signal.send(None)
    assert spans.named("signal order_paid")


def test_the_module_that_holds_the_signals_class_defines_it(
    impl: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    signal = impl.Signal()
    definer, importer = types.ModuleType("hooks.base"), types.ModuleType("hooks.signals")
    definer.Signal, definer.changed = impl.Signal, signal  # type: ignore[attr-defined]
    importer.changed = signal  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "hooks.base", definer)
    monkeypatch.setitem(sys.modules, "hooks.signals", importer)
    assert otel.signal_name(signal) == "hooks.base.changed"


def test_the_module_whose_source_assigns_the_signal_defines_it(
    impl: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The usual Django layout: an app's signals.py imports post_save to
    connect to it, and defines signals of its own."""
    suffix = impl.__name__.rpartition("_")[2]
    library, app = f"fdlib_{suffix}", f"fdapp_{suffix}"
    (tmp_path / library / "db").mkdir(parents=True)
    (tmp_path / library / "__init__.py").write_text("")
    (tmp_path / library / "db" / "__init__.py").write_text("")
    (tmp_path / library / "db" / "signals.py").write_text(
        f"from {impl.__name__} import Signal\n\npost_save = Signal()\n"
    )
    (tmp_path / app).mkdir()
    (tmp_path / app / "__init__.py").write_text("")
    (tmp_path / app / "signals.py").write_text(
        f"from {impl.__name__} import Signal\n"
        f"from {library}.db.signals import post_save\n\n"
        "order_paid = Signal()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import importlib

        app_signals = importlib.import_module(f"{app}.signals")
        assert otel.signal_name(app_signals.post_save) == f"{library}.db.signals.post_save"
        assert otel.signal_name(app_signals.order_paid) == f"{app}.signals.order_paid"
    finally:
        for name in [m for m in sys.modules if m.startswith((library, app))]:
            del sys.modules[name]


def test_a_signal_named_after_its_first_send(
    impl: types.ModuleType, spans: Spans, monkeypatch: pytest.MonkeyPatch
) -> None:
    signal = impl.Signal()
    signal.connect(on_paid)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))
    signal.send(None)
    module = types.ModuleType("late.signals")
    module.late = signal  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "late.signals", module)  # one more module
    signal.send(None)
    assert [s.name for s in spans.finished() if s.name.startswith("signal")] == [
        f"signal {signal!r}",
        "signal late",
    ]


def test_signals_made_on_the_fly_cost_one_scan(
    impl: types.ModuleType, spans: Spans, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans: list[int] = []
    scan = otel._scan_modules

    def counted() -> None:
        scans.append(len(sys.modules))
        scan()

    monkeypatch.setattr(otel, "_scan_modules", counted)
    monkeypatch.setattr(otel, "_RESCAN_INTERVAL", 3600.0)
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))
    made = []
    for _ in range(5):
        signal = impl.Signal()
        signal.connect(on_paid)
        signal.send(None)
        made.append(signal)
    assert len(scans) <= 1  # none if the last scan was after the last import
    assert len([s for s in spans.finished() if s.name.startswith("signal <")]) == 5
    monkeypatch.setattr(otel, "_RESCAN_INTERVAL", 0.0)
    assert otel.signal_name(made[0]) is None
    assert len(scans) in (1, 2)


def test_name_signal_can_be_overridden(impl: types.ModuleType, spans: Spans) -> None:
    signal = impl.Signal()
    signal.connect(on_paid)
    asked: list[Any] = []

    class Named(OpenTelemetryTracer):
        def name_signal(self, signal: Any) -> str | None:
            asked.append(signal)
            return "billing.invoice_sent"

    tracing.set_tracer(Named(spans.provider))
    signal.send(None)
    signal.send(None)
    assert asked == [signal]  # once per signal
    sends = [s for s in spans.finished() if s.name.startswith("signal")]
    assert [s.name for s in sends] == ["signal invoice_sent"] * 2
    assert (sends[0].attributes or {})[otel.SIGNAL_NAME] == "billing.invoice_sent"


def test_naming_never_evaluates_lazy_objects(
    impl: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Lazy:
        @property  # type: ignore[misc]
        def __class__(self) -> type:  # as django.utils.functional.LazyObject
            raise AssertionError("evaluated")

    module = types.ModuleType("lazy_settings")
    module.settings = Lazy()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lazy_settings", module)
    assert otel.signal_name(impl.Signal()) is None


def test_import_fastdispatch_does_not_import_opentelemetry() -> None:
    code = (
        "import sys, fastdispatch, fastdispatch.tracing, fastdispatch.dispatcher\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
        "import fastdispatch.otel\n"
        "print('opentelemetry.trace' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "True"]


# -- a core limitation found while writing this adapter -----------------------------


def test_a_global_and_a_signal_tracer_both_make_spans(
    spans: Spans, shop: Callable[[str], Any]
) -> None:
    order_paid = shop("order_paid")
    order_paid.connect(on_paid)
    own = Spans()
    tracing.set_tracer(OpenTelemetryTracer(spans.provider))
    tracing.set_tracer(OpenTelemetryTracer(own.provider, record_arguments=True), signal=order_paid)
    order_paid.send(Order)
    assert [s.name for s in own.finished()] == [NAME + "on_paid", "signal order_paid"]
    assert [s.name for s in spans.finished()] == [NAME + "on_paid", "signal order_paid"]


# -- with Django, in a fresh interpreter -----------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    pytest.importorskip("django", reason="Django is not installed")
    from .django_suite.project import write_project

    root = write_project(tmp_path)
    (root / "spantree.py").write_text(
        "from __future__ import annotations\n"
        "from typing import Any, Sequence\n\n\n" + inspect.getsource(render_tree)
    )
    (root / "fdapp" / "receivers.py").write_text(RECEIVERS)
    return root


def _run(impl: types.ModuleType, project: Path, *code: str) -> str:
    from .django_suite.project import PRELUDE, implementation_name, run_python

    prelude = PRELUDE.format(implementation=implementation_name(impl.__name__))
    result = run_python(project, prelude, *code)
    assert result.returncode == 0, result.stdout
    return result.stdout


RECEIVERS = """\
import asyncio

from opentelemetry import trace

from .models import Topping

tracer = trace.get_tracer("fdapp")


def index_pizza(sender, instance, created, **kwargs):
    with tracer.start_as_current_span("db SELECT fdapp_topping"):
        Topping.objects.count()


async def notify_kitchen(sender, instance, **kwargs):
    await asyncio.sleep(0)
    with tracer.start_as_current_span("cache SET kitchen-queue"):
        await asyncio.sleep(0)
"""

PAGE = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from django.db.models.signals import post_save
from fastdispatch import tracing
from fastdispatch.otel import OpenTelemetryTracer
from fdapp.models import Pizza
from fdapp.receivers import index_pizza, notify_kitchen
from spantree import render_tree

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)  # this process only
tracing.set_tracer(OpenTelemetryTracer())  # the global provider

post_save.connect(index_pizza, sender=Pizza)
post_save.connect(notify_kitchen, sender=Pizza)
with trace.get_tracer("page").start_as_current_span("GET /pizzas/new"):
    Pizza.objects.create(name="margherita")

spans = exporter.get_finished_spans()
print(render_tree(spans))
for name in ("signal post_save", "fdapp.receivers.index_pizza"):
    [span] = [s for s in spans if s.name == name]
    print()
    print(name)
    for key, value in span.attributes.items():
        print(f"    {key} = {value!r}")
"""


def test_a_django_page_span_tree(impl: types.ModuleType, project: Path) -> None:
    """The example of docs/observability.rst: real Django, real names."""
    from .django_suite.project import MIGRATE

    out = _run(impl, project, MIGRATE, PAGE)
    print(out)
    assert out == textwrap.dedent(
        """\
        GET /pizzas/new
        └── signal post_save
            ├── fdapp.receivers.index_pizza
            │   └── db SELECT fdapp_topping
            └── fdapp.receivers.notify_kitchen
                └── cache SET kitchen-queue

        signal post_save
            fastdispatch.signal.name = 'django.db.models.signals.post_save'
            fastdispatch.send.kind = 'send'
            fastdispatch.sender = 'fdapp.Pizza'
            fastdispatch.send.receiver_count = 2
            fastdispatch.send.error_count = 0

        fdapp.receivers.index_pizza
            code.function.name = 'fdapp.receivers.index_pizza'
            fastdispatch.signal.name = 'django.db.models.signals.post_save'
            fastdispatch.receiver.is_async = False
            fastdispatch.receiver.module = 'fdapp.receivers'
        """
    )


SENTRY = """
import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.transport import Transport
from django.dispatch import Signal
from django.db.models import signals
from fdapp.models import Pizza
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from fastdispatch import tracing
from fastdispatch.otel import OpenTelemetryTracer

envelopes = []

class Capture(Transport):
    def capture_envelope(self, envelope):
        envelopes.append(envelope)

sentry_sdk.init(
    dsn="https://public@sentry.invalid/1",
    integrations=[DjangoIntegration(signals_spans=True)],
    default_integrations=False,
    traces_sample_rate=1.0,
    transport=Capture,
)

def first(sender, **kwargs):
    return 1

class Listener:
    def method(self, sender, **kwargs):
        return 2

listener = Listener()
done = Signal()
done.connect(first)
done.connect(listener.method)
signals.post_init.connect(first, sender=Pizza)

def page():
    envelopes.clear()
    with sentry_sdk.start_transaction(name="signals"):
        for _ in range(3):
            assert [r for _, r in done.send(sender=None)] == [1, 2]
        assert [r for _, r in done.send_robust(sender=None)] == [1, 2]
        Pizza(name="a")
        Pizza(name="b")
    sentry_sdk.flush()
    return [
        span["description"]
        for envelope in envelopes
        for item in envelope.items
        if item.type == "transaction"
        for span in item.payload.json["spans"]
        if span["op"] == "event.django"
    ]

without = page()
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracing.set_tracer(OpenTelemetryTracer(provider))
with_tracer = page()
print("sentry without:", without)
print("sentry with:", with_tracer)
assert with_tracer == without, (with_tracer, without)
assert len(without) == 10 and without.count("__main__.first") == 6, without
names = [s.name for s in exporter.get_finished_spans()]
print("otel:", names)
assert names.count("signal done") == 4 and names.count("signal post_init") == 2, names
assert names.count("__main__.first") == 6 and names.count("__main__.Listener.method") == 4
"""


def test_sentry_signal_spans_with_the_otel_tracer(impl: types.ModuleType, project: Path) -> None:
    """sentry-sdk's Django integration (``signals_spans=True``) wraps every
    receiver; with the OpenTelemetry tracer installed it records the same
    spans as without, and the tracer sees the same receivers."""
    pytest.importorskip("sentry_sdk", reason="sentry-sdk is not installed")
    out = _run(impl, project, SENTRY)
    assert "otel:" in out
