"""How resolving a weak reference scales from 1 to 2 threads.

    PYTHON_GIL=0 python3.13t benchmarks/weakref_scaling.py [--steps N] [--rounds R]

A send to a weakly connected receiver resolves the receiver's weak
reference. On free-threaded CPython that takes a lock chosen by the address
of the object referred to, so threads resolving weak references to one shared
function take turns, and threads whose weak references refer to functions of
their own do not. Each thread loops over one weak reference: "shared" is one
weak reference both threads use; "own ref" is a weak reference of each
thread's own to the same function; "own function" refers to a function of
each thread's own. Medians of R interleaved rounds, in one run
(docs/free-threading.rst quotes them).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import types
import weakref
from collections.abc import Callable
from typing import Any


def receiver(sender: object = None, **named: object) -> None:
    return None


SHARED_REF = weakref.ref(receiver)
_kept: list[Callable[..., Any]] = []  # the per-thread copies stay alive


def resolve(ref: weakref.ref[Any], steps: int) -> None:
    for _ in range(steps):
        ref()


def ref_for(kind: str) -> weakref.ref[Any]:
    if kind == "shared":
        return SHARED_REF
    if kind == "own ref":
        return weakref.ref(receiver)
    copy = types.FunctionType(receiver.__code__, receiver.__globals__, "receiver_copy")
    _kept.append(copy)
    return weakref.ref(copy)


def rate(kind: str, threads: int, steps: int) -> float:
    refs = [ref_for(kind) for _ in range(threads)]
    start = threading.Barrier(threads + 1)

    def body(ref: weakref.ref[Any]) -> None:
        start.wait()
        resolve(ref, steps)

    workers = [threading.Thread(target=body, args=(ref,)) for ref in refs]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    return threads * steps / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400_000, help="weak references resolved per thread")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    kinds = ("shared", "own ref", "own function")
    results: dict[tuple[str, int], list[float]] = {(k, t): [] for k in kinds for t in (1, 2)}
    for _ in range(args.rounds):
        for kind in kinds:
            for threads in (1, 2):
                results[(kind, threads)].append(rate(kind, threads, args.steps))
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(
        f"CPython {sys.version.split()[0]}, GIL {'enabled' if gil else 'disabled'}, "
        f"medians of {args.rounds} rounds"
    )
    for kind in kinds:
        one = statistics.median(results[(kind, 1)])
        two = statistics.median(results[(kind, 2)])
        print(f"{kind:13s} 1 thread {one:14,.0f}/s   2 threads {two:14,.0f}/s   {two / one:.2f}x")


if __name__ == "__main__":
    main()
