"""What a tracer costs a send: 10 receivers, with no tracer, a no-op
``Tracer()``, and ``fastdispatch.otel.OpenTelemetryTracer`` on the real SDK.

    PYTHONPATH=src python benchmarks/otel_overhead.py [--rounds 7] [--sends 2000]

The OpenTelemetry rows use a ``TracerProvider`` with a ``SimpleSpanProcessor``
and an exporter that drops every span (so what is timed is making the spans,
not shipping them). Rows:

- ``no tracer``: the plain send (the floor);
- ``Tracer()``: a tracer whose hooks do nothing (the hooked send loop alone);
- ``otel``: every send traced, 11 spans a send;
- ``otel sample_every=100``: one send in 100 traced;
- ``otel min_duration=1s``: every send timed, none slow enough for spans;
- ``(SDK: 11 bare spans)``: for reference, the plain send plus 11 spans made
  directly with the SDK (a parent and 10 children, no attributes): what the
  SDK itself costs, fastdispatch aside.

Every configuration is timed in each round, round-robin, on both
implementations; the best round of each is reported per send, as the time it
adds to the plain send divided by the 10 receivers, and as its ratio to
``no tracer``. Timing only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

try:
    import fastdispatch
except ImportError:  # run from a checkout without PYTHONPATH=src
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    import fastdispatch

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from fastdispatch import tracing
from fastdispatch.otel import OpenTelemetryTracer

RECEIVERS = 10


class DropEverything(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def make_receiver(index: int) -> Callable[..., int]:
    def receiver(sender: object, **kwargs: Any) -> int:
        return index

    receiver.__qualname__ = f"receiver_{index}"
    return receiver


def configurations(exporter: DropEverything) -> dict[str, tracing.Tracer | None]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return {
        "no tracer": None,
        "Tracer()": tracing.Tracer(),
        "otel": OpenTelemetryTracer(provider),
        "otel sample_every=100": OpenTelemetryTracer(provider, sample_every=100),
        "otel min_duration=1s": OpenTelemetryTracer(provider, min_duration=1.0),
    }


def time_sends(signal: Any, sends: int) -> float:
    send = signal.send
    started = time.perf_counter()
    for _ in range(sends):
        send(None)
    return (time.perf_counter() - started) / sends


def time_bare_spans(signal: Any, sends: int, tracer: trace.Tracer) -> float:
    send = signal.send
    started = time.perf_counter()
    for _ in range(sends):
        parent = tracer.start_span("signal")
        context = trace.set_span_in_context(parent)
        for _ in range(RECEIVERS):
            tracer.start_span("receiver", context=context).end()
        send(None)
        parent.end()
    return (time.perf_counter() - started) / sends


def run(implementation: str, rounds: int, sends: int) -> None:
    module = importlib.import_module(f"fastdispatch._dispatcher_{implementation}")
    signal = module.Signal()
    receivers = [make_receiver(i) for i in range(RECEIVERS)]  # kept alive here
    for receiver in receivers:
        signal.connect(receiver)
    exporter = DropEverything()
    tracers = configurations(exporter)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bare = provider.get_tracer("bare")
    best = dict.fromkeys([*tracers, "(SDK: 11 bare spans)"], float("inf"))
    try:
        for _ in range(rounds):
            for name, tracer in tracers.items():
                tracing.set_tracer(tracer)
                assert len(signal.send(None)) == RECEIVERS
                best[name] = min(best[name], time_sends(signal, sends))
            tracing.set_tracer(None)
            best["(SDK: 11 bare spans)"] = min(
                best["(SDK: 11 bare spans)"], time_bare_spans(signal, sends, bare)
            )
    finally:
        tracing.set_tracer(None)
    assert exporter.spans > 0  # the otel rows really made spans
    floor = best["no tracer"]
    label = {"c": "compiled", "py": "pure-Python"}[implementation]
    print(f"\n{label} implementation, {RECEIVERS} receivers, best of {rounds} x {sends} sends")
    print(f"{'':24} {'per send':>10} {'added/receiver':>15} {'vs no tracer':>13}")
    for name, seconds in best.items():
        per_receiver = (seconds - floor) / RECEIVERS
        extra = f"+{per_receiver * 1e6:.2f} us" if name != "no tracer" else ""
        print(f"{name:24} {seconds * 1e6:7.2f} us {extra:>15} {seconds / floor:12.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sends", type=int, default=2000)
    options = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, fastdispatch {fastdispatch.__version__}")
    implementations = ["py"]
    try:
        importlib.import_module("fastdispatch._dispatcher_c")
        implementations.insert(0, "c")
    except ImportError as error:
        print(f"(no compiled extension: {error})")
    for implementation in implementations:
        run(implementation, options.rounds, options.sends)


if __name__ == "__main__":
    main()
