"""``python -m fastdispatch``: version, active implementation, and a quick
head-to-head send benchmark against django.dispatch when Django is installed.

The full, reproducible comparison is ``python benchmarks/report.py``; this is
the one-minute version. Times are measured side by side, interleaved, and
reported as ratios of medians: on a shared machine absolute times mean little.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import statistics
import sys
import timeit
from collections.abc import Callable
from types import ModuleType
from typing import Any

import fastdispatch
from fastdispatch import dispatcher


def _implementation_line() -> str:
    if dispatcher.COMPILED:
        return "compiled (fastdispatch._dispatcher_c)"
    if dispatcher.NO_EXTENSIONS:
        why = "FASTDISPATCH_NO_EXTENSIONS is set"
    else:
        why = f"extension not importable: {dispatcher.EXTENSION_IMPORT_ERROR}"
    return f"pure Python (fastdispatch._dispatcher_py; {why})"


def _load_django() -> ModuleType | None:
    try:
        from django.conf import settings  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    if not settings.configured:
        settings.configure(DEBUG=False)
    return importlib.import_module("django.dispatch")


def _make_receivers(count: int) -> list[Callable[..., Any]]:
    receivers = []
    for _ in range(count):

        def receiver(sender: object, **kwargs: Any) -> int:
            return 1

        receivers.append(receiver)
    return receivers


class _Listener:
    def on_signal(self, sender: object, **kwargs: Any) -> int:
        return 1


Workload = Callable[[ModuleType, list[Any]], Callable[[], object]]


def _functions(count: int) -> Workload:
    def setup(module: ModuleType, keep: list[Any]) -> Callable[[], object]:
        signal = module.Signal()
        receivers = _make_receivers(count)
        keep.append(receivers)
        for r in receivers:
            signal.connect(r)
        return lambda: signal.send(sender=None, value=1)

    return setup


def _methods(count: int) -> Workload:
    def setup(module: ModuleType, keep: list[Any]) -> Callable[[], object]:
        signal = module.Signal()
        listeners = [_Listener() for _ in range(count)]
        keep.append(listeners)
        for listener in listeners:
            signal.connect(listener.on_signal)
        return lambda: signal.send(sender=None, value=1)

    return setup


def _cached(count: int, listened: bool) -> Workload:
    def setup(module: ModuleType, keep: list[Any]) -> Callable[[], object]:
        signal = module.Signal(use_caching=True)
        senders = [type(f"Sender{i}", (), {}) for i in range(count)]
        receivers = _make_receivers(count)
        nobody = type("Nobody", (), {})
        keep.append((senders, receivers, nobody))
        for sender, r in zip(senders, receivers):
            signal.connect(r, sender=sender)
        target = senders[count // 2] if listened else nobody
        return lambda: signal.send(sender=target, value=1)

    return setup


WORKLOADS: list[tuple[str, Workload]] = [
    ("send, 1 function receiver", _functions(1)),
    ("send, 10 function receivers", _functions(10)),
    ("send, 100 function receivers", _functions(100)),
    ("send, 10 bound-method receivers", _methods(10)),
    ("use_caching, 1 of 50 sender-specific receivers", _cached(50, True)),
    ("use_caching, sender nobody listens to", _cached(50, False)),
    ("send, no receivers", _functions(0)),
]


def _median_time(run: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(run, number=number, repeat=3)) / number


def compare(django_dispatch: ModuleType, rounds: int = 5) -> list[tuple[str, float]]:
    """Speed of fastdispatch relative to django.dispatch: time(django) / time(ours)."""
    results = []
    for name, setup in WORKLOADS:
        keep: list[Any] = []
        ours = setup(fastdispatch, keep)
        theirs = setup(django_dispatch, keep)
        # Enough calls per measurement for ~20 ms, then interleave rounds so
        # both see the same machine load.
        number = max(1, int(0.02 / max(_median_time(theirs, 10), 1e-9)))
        ratios = []
        for _ in range(rounds):
            ratios.append(_median_time(theirs, number) / _median_time(ours, number))
        results.append((name, statistics.median(ratios)))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastdispatch", description=__doc__)
    parser.add_argument(
        "--no-benchmark", action="store_true", help="only print version and implementation"
    )
    args = parser.parse_args(argv)

    print(f"fastdispatch {fastdispatch.__version__}")
    print(f"implementation: {_implementation_line()}")
    print(f"python: {platform.python_implementation()} {platform.python_version()}")
    if args.no_benchmark:
        return 0
    django_dispatch = _load_django()
    if django_dispatch is None:
        print("django: not installed; install Django to compare against django.dispatch")
        return 0
    import django  # type: ignore[import-untyped,unused-ignore]

    print(f"django: {django.__version__}")
    print()
    print("How many times faster than django.dispatch (median of interleaved rounds):")
    results = compare(django_dispatch)
    width = max(len(name) for name, _ in results)
    for name, ratio in results:
        print(f"  {name:<{width}}  {ratio:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
