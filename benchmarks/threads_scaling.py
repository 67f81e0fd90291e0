"""Send throughput from 1 and 2 threads on one shared signal.

    python benchmarks/threads_scaling.py [--sends N] [--rounds R] [--output PATH]

Meant for a free-threaded CPython (3.13t, with ``PYTHON_GIL=0``), where two
threads can send at once; on a GIL build it shows what the GIL allows (about
1x). For each contender (fastdispatch compiled, fastdispatch pure Python,
django.dispatch, and the hand-written loop as the floor) and each workload,
every thread sends ``N`` times to the same signal; throughput is all the
sends over the wall time from a common start to the last thread's end. The
scaling is the 2-thread throughput over the 1-thread throughput, medians of
``R`` rounds measured side by side (interleaved) in one run.

"Churn" runs a third thread that connects and disconnects a receiver of its
own in a loop while the senders send: their throughput against the same
senders without it.

Writes a markdown table (``--output``, default printed only).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from typing import Any

# Module-level receivers, as an application's are (on 3.13t such functions
# use deferred reference counting, so calling them from two threads does not
# fight over their reference count; nested functions would).
RECEIVERS: list[Callable[..., Any]] = []
for _index in range(10):

    def _receiver(sender: object, value: object = None, **kwargs: object) -> object:
        return value

    RECEIVERS.append(_receiver)


class Sender:
    pass


def _churn_receiver(sender: object, **kwargs: object) -> None:
    pass


def _django_signal_class() -> Any:
    from django.conf import settings

    if not settings.configured:
        settings.configure(DEBUG=False)
    from django.dispatch import Signal

    return Signal


def contenders() -> dict[str, Callable[[], Any]]:
    """name -> factory of a signal-like object with connect/send."""
    from fastdispatch import _dispatcher_py

    found: dict[str, Callable[[], Any]] = {}
    try:
        from fastdispatch import _dispatcher_c

        found["fastdispatch (compiled)"] = _dispatcher_c.Signal
    except ImportError as error:
        print(f"compiled extension not available: {error}", file=sys.stderr)
    found["fastdispatch (pure Python)"] = _dispatcher_py.Signal
    try:
        found["django.dispatch"] = _django_signal_class()
    except ImportError:
        print("Django not installed: django.dispatch not measured", file=sys.stderr)
    found["hand-written loop (floor)"] = FloorSignal
    return found


class FloorSignal:
    """The floor: the loop a dispatcher would run, written by hand."""

    def __init__(self) -> None:
        self.receivers: list[Callable[..., Any]] = []

    def connect(self, receiver: Callable[..., Any]) -> None:
        self.receivers.append(receiver)

    def disconnect(self, receiver: Callable[..., Any]) -> None:
        self.receivers.remove(receiver)

    def send(self, sender: object, **named: Any) -> list[tuple[Any, Any]]:
        return [(r, r(signal=self, sender=sender, **named)) for r in self.receivers]


def run_threads(signal: Any, threads: int, sends: int, churn: bool) -> float:
    """Sends per second from ``threads`` threads sending ``sends`` times each."""
    start = threading.Barrier(threads + 1 + churn)
    stop_churn = threading.Event()
    ends: list[float] = []

    def sender_loop() -> None:
        send = signal.send
        start.wait()
        for _ in range(sends):
            send(Sender, value=1)
        ends.append(time.perf_counter())

    def churn_loop() -> None:
        start.wait()
        while not stop_churn.is_set():
            signal.connect(_churn_receiver)
            signal.disconnect(_churn_receiver)

    workers = [threading.Thread(target=sender_loop) for _ in range(threads)]
    if churn:
        workers.append(threading.Thread(target=churn_loop))
    for worker in workers:
        worker.start()
    began = time.perf_counter()
    start.wait()
    for worker in workers[:threads]:
        worker.join()
    stop_churn.set()
    for worker in workers[threads:]:
        worker.join()
    return threads * sends / (max(ends) - began)


WORKLOADS = {"1 receiver": 1, "10 receivers": 10}


def measure(sends: int, rounds: int) -> dict[tuple[str, str, str], list[float]]:
    factories = contenders()
    results: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(rounds):
        for name, factory in factories.items():
            for workload, count in WORKLOADS.items():
                signal = factory()
                for receiver in RECEIVERS[:count]:
                    signal.connect(receiver)
                per_receiver = max(1, 10 // count)
                n = sends * per_receiver
                for mode, threads, churn in (
                    ("1 thread", 1, False),
                    ("2 threads", 2, False),
                    ("2 threads + churn", 2, True),
                ):
                    rate = run_threads(signal, threads, n, churn)
                    results.setdefault((name, workload, mode), []).append(rate)
    return results


def report(results: dict[tuple[str, str, str], list[float]], rounds: int) -> str:
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    build = "free-threaded" if sysconfig.get_config_var("Py_GIL_DISABLED") else "GIL"
    lines = [
        "# Send throughput from 1 and 2 threads on one signal",
        "",
        f"Written by `python benchmarks/threads_scaling.py`: CPython {platform.python_version()} "
        f"({build} build, GIL {'enabled' if gil else 'disabled'} at run time), "
        f"{os.cpu_count()} CPUs, medians of {rounds} interleaved rounds.",
        "",
        "| contender | workload | 1 thread (sends/s) | 2 threads (sends/s) | scaling (2 / 1) | 2 threads + churn (sends/s) | churn / no churn |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    names = dict.fromkeys(name for name, _, _ in results)
    for name in names:
        for workload in WORKLOADS:
            one = statistics.median(results[(name, workload, "1 thread")])
            two = statistics.median(results[(name, workload, "2 threads")])
            churn = statistics.median(results[(name, workload, "2 threads + churn")])
            lines.append(
                f"| {name} | {workload} | {one:,.0f} | {two:,.0f} | {two / one:.2f}x "
                f"| {churn:,.0f} | {churn / two:.2f}x |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=100_000, help="sends per thread (1 receiver)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", help="markdown file to write")
    args = parser.parse_args()
    text = report(measure(args.sends, args.rounds), args.rounds)
    print(text)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
