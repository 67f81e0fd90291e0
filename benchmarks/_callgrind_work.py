"""The program ``callgrind.py`` counts: one workload, one contender, N sends.

Run by ``benchmarks/callgrind.py`` under ``valgrind --tool=callgrind``, twice
per (contender, workload): with 0 and with N iterations. The difference of the
two totals, divided by N, is the cost of one send; start-up, imports and the
set-up below cancel out because both runs do them identically.

It can also be run by hand, without valgrind, to see that a workload works::

    python benchmarks/_callgrind_work.py fastdispatch-c funcs10 100

The workloads are those of ``bench_send.py`` (the timing suite), built from
the same receivers and contender adapters (``_contenders.py``). One
difference, taken from the instruction-count protocol
(``benchmark-protocol.md``): each send passes two named arguments,
``value=VALUE, other=OTHER``, instead of one. psygnal, which only emits
positional arguments, emits ``(sender, VALUE)`` as in the timing suite.

Each send is a direct call written out in a small loop function
(``signal.send(sender, value=value, other=other)``), not
``fn(*args, **kwargs)``: unpacking a dict per call would add ~1,300
instructions to every contender and blur the differences.

Before counting, ``WARM_UP`` sends go through the same loop (one-off work
such as CPython specialising the loop's bytecode is then done in both runs),
and the last result is checked (one ``(receiver, VALUE)`` pair per receiver
that must be called), so a workload cannot silently do nothing. Then ``gc.collect(); gc.disable()``: a
collection inside the counted loop would make counts unrepeatable.

Prints one JSON line on stdout: what ran (versions, module file, receivers
called). Exit status 3 means the contender is not available here (the
compiled extension not built, blinker or psygnal not installed); the JSON line
then says why.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import platform
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from itertools import repeat
from pathlib import Path
from typing import Any

import _contenders
import pytest
from _contenders import (
    ALL,
    DJANGO_API_ONLY,
    FLOOR_SIGNAL,
    SENDER,
    VALUE,
    WITH_SENDERS,
    Contender,
    check_responses,
    floor_send,
    floor_send_robust,
    make_function_receivers,
    make_method_receivers,
    make_sender_classes,
)

OTHER = 2
"""The second named argument of every send: ``other=OTHER``."""

SENDER_SPECIFIC = 50
"""Receivers in the use_caching workloads, each for its own sender class
(as ``bench_send.SENDER_SPECIFIC``)."""

WARM_UP = 100
"""Sends before the counted loop, in every run: the first sends do one-off
work (CPython's specialising interpreter adapts the loop's instructions,
caches fill) that must not be counted as the cost of a send."""

FASTDISPATCH = ("fastdispatch-c", "fastdispatch-py")
"""The contenders of the tracing workloads (the others have no such hooks)."""

UNAVAILABLE = 3
"""Exit status: the contender cannot run here."""


@dataclass(frozen=True)
class Workload:
    """One row of the report: what is connected and how it is sent."""

    name: str
    label: str
    kind: str
    """``functions``, ``methods``, ``cached`` (use_caching, send for a sender
    with a receiver), ``unheard`` (use_caching, a sender nobody listens to),
    ``robust`` (send_robust to functions)."""
    receivers: int
    """Receivers connected (for ``cached``/``unheard``: one per sender class)."""
    contenders: tuple[str, ...]
    """The contenders this workload applies to (keys of ``CONTENDERS``)."""
    tracer: str = ""
    """fastdispatch's tracing hooks: ``""`` none installed, ``"this"`` a
    no-op ``Tracer()`` on the sending signal, ``"other"`` one on another
    signal (the hooks are on, this signal is not traced)."""


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in [
        Workload("empty", "send, no receivers", "functions", 0, tuple(ALL)),
        *[
            Workload(f"funcs{n}", f"send, {_plural(n, 'function receiver')}", "functions", n, tuple(ALL))
            for n in (1, 10, 100)
        ],
        *[
            Workload(
                f"methods{n}", f"send, {_plural(n, 'bound-method receiver')}", "methods", n, tuple(ALL)
            )
            for n in (1, 10, 100)
        ],
        Workload(
            "cached50",
            f"send (use_caching), 1 of {SENDER_SPECIFIC} sender-specific receivers",
            "cached",
            SENDER_SPECIFIC,
            tuple(WITH_SENDERS),
        ),
        Workload(
            "nobody",
            f"send (use_caching), sender nobody listens to ({SENDER_SPECIFIC} sender-specific receivers)",
            "unheard",
            SENDER_SPECIFIC,
            tuple(WITH_SENDERS),
        ),
        Workload("robust10", "send_robust, 10 function receivers", "robust", 10, tuple(DJANGO_API_ONLY)),
        *[
            Workload(
                f"traced{n}",
                f"send, {_plural(n, 'function receiver')}, a no-op tracer on the signal",
                "functions",
                n,
                FASTDISPATCH,
                tracer="this",
            )
            for n in (1, 10)
        ],
        Workload(
            "elsewhere10",
            "send, 10 function receivers, a tracer on another signal",
            "functions",
            10,
            FASTDISPATCH,
            tracer="other",
        ),
    ]
}
"""Every workload, in the order the report lists them."""


# ---------------------------------------------------------------------------
# The counted loops: one send per iteration, everything in local variables.
# itertools.repeat, as timeit does: range() would allocate an int per
# iteration from 257 on.
# ---------------------------------------------------------------------------


def loop_send(send: Callable[..., Any], sender: Any, value: Any, other: Any, iterations: int) -> Any:
    """``signal.send(sender, ...)`` (or ``send_robust``): Django's API, blinker's."""
    result = None
    for _ in repeat(None, iterations):
        result = send(sender, value=value, other=other)
    return result


def loop_floor(
    floor: Callable[..., Any],
    receivers: Sequence[Any],
    signal: Any,
    sender: Any,
    value: Any,
    other: Any,
    iterations: int,
) -> Any:
    """The hand-written loop over ``receivers``."""
    result = None
    for _ in repeat(None, iterations):
        result = floor(receivers, signal, sender, value=value, other=other)
    return result


def loop_emit(emit: Callable[..., Any], sender: Any, value: Any, iterations: int) -> Any:
    """psygnal: positional arguments only."""
    result = None
    for _ in repeat(None, iterations):
        result = emit(sender, value)
    return result


# ---------------------------------------------------------------------------
# Building a workload
# ---------------------------------------------------------------------------


@dataclass
class Prepared:
    """A connected signal and the loop that sends from it."""

    loop: Callable[[int], Any]
    """``loop(n)`` sends ``n`` times and returns the last result."""
    check: Callable[[Any], None]
    """Checks the result of one send."""
    called: int
    """How many receivers one send must call."""
    keep_alive: list[Any] = field(default_factory=list)
    """What must outlive the counted loop: the dispatchers hold receivers
    (and Django-style ones senders) weakly, and a receiver that dies is
    disconnected (as in ``bench_send.py``, where the test's locals keep them)."""


def prepare(workload: Workload, contender: Contender) -> Prepared:
    """Connect ``workload``'s receivers to a signal of ``contender``, as the
    corresponding group of ``bench_send.py`` does."""
    use_caching = workload.kind in ("cached", "unheard")
    signal = contender.make(use_caching=use_caching)
    sender: Any = SENDER
    senders: list[Any] | None = None
    listeners: list[Any] = []
    if workload.kind == "methods":
        listeners, methods = make_method_receivers(workload.receivers)
        # Fresh bound-method objects, which die at once (as
        # `signal.connect(self.on_event)`): the dispatcher holds them weakly.
        to_connect: list[Any] = [listener.on_signal for listener in listeners]
        called: list[Any] = methods
    elif use_caching:
        senders = make_sender_classes(workload.receivers)
        to_connect = make_function_receivers(workload.receivers)
        if workload.kind == "cached":
            sender = senders[workload.receivers // 2]
            called = [to_connect[workload.receivers // 2]]
        else:
            (sender,) = make_sender_classes(1, prefix="Unheard")
            called = []
    else:
        to_connect = make_function_receivers(workload.receivers)
        called = to_connect

    if contender.key == "floor":
        signal[:] = called
    else:
        for i, r in enumerate(to_connect):
            contender.connect(signal, r, None if senders is None else senders[i])
    if workload.tracer:
        from fastdispatch.tracing import Tracer, set_tracer

        traced = signal if workload.tracer == "this" else contender.make(use_caching=False)
        set_tracer(Tracer(), signal=traced)
        listeners = [*listeners, traced]
    connected = contender.count(signal)
    assert connected == len(called if contender.key == "floor" else to_connect), connected

    robust = workload.kind == "robust"
    loop: Callable[[int], Any]
    if contender.key == "floor":
        floor = floor_send_robust if robust else floor_send
        receivers = signal

        def loop(n: int) -> Any:
            return loop_floor(floor, receivers, FLOOR_SIGNAL, sender, VALUE, OTHER, n)

    elif contender.key == "psygnal":
        emit = signal.emit

        def loop(n: int) -> Any:
            return loop_emit(emit, sender, VALUE, n)

    else:
        send = signal.send_robust if robust else signal.send

        def loop(n: int) -> Any:
            return loop_send(send, sender, VALUE, OTHER, n)

    def check(result: Any) -> None:
        # Still every receiver connected (none died, none was dropped).
        assert contender.count(signal) == connected, (contender.count(signal), connected)
        if robust:
            check_responses(result, len(called))
        else:
            contender.check_send(signal, sender, result, len(called))
        if contender.key != "psygnal":
            # The right receivers (blinker does not keep connection order).
            assert Counter(pair[0] for pair in result) == Counter(called), (result, called)

    keep_alive = [to_connect, called, senders, sender, listeners]
    return Prepared(loop=loop, check=check, called=len(called), keep_alive=keep_alive)


# ---------------------------------------------------------------------------
# The program
# ---------------------------------------------------------------------------


def _use_checkout_if_not_installed() -> None:
    # As benchmarks/conftest.py: the installed fastdispatch, else src/ of
    # this checkout.
    try:
        import fastdispatch  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


DISTRIBUTIONS = {
    "fastdispatch-c": "fastdispatch",
    "fastdispatch-py": "fastdispatch",
    "django": "django",
    "blinker": "blinker",
    "psygnal": "psygnal",
}


def describe(contender: Contender) -> dict[str, Any]:
    """What exactly was measured: the library's version and file."""
    info: dict[str, Any] = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
        "hash_randomization": sys.flags.hash_randomization,
    }
    distribution = DISTRIBUTIONS.get(contender.key)
    if distribution is not None:
        try:
            info["version"] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            info["version"] = "?"
    module_name = getattr(contender, "module_name", None) or (
        contender.key if contender.key in ("blinker", "psygnal") else None
    )
    if module_name is not None:
        module = importlib.import_module(module_name)
        info["module_file"] = getattr(module, "__file__", None)
    if contender.key == "psygnal":
        info["psygnal_compiled"] = bool(getattr(sys.modules["psygnal"], "_compiled", False))
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("contender", choices=list(_contenders.CONTENDERS))
    parser.add_argument("workload", choices=list(WORKLOADS))
    parser.add_argument("iterations", type=int, help="sends in the counted loop (0: set-up only)")
    args = parser.parse_args(argv)
    if args.iterations < 0:
        parser.error("iterations must be 0 or more")

    _use_checkout_if_not_installed()
    _contenders.configure_django()
    workload = WORKLOADS[args.workload]
    if args.contender not in workload.contenders:
        parser.error(f"workload {workload.name!r} does not apply to {args.contender!r}")
    contender = _contenders.CONTENDERS[args.contender]
    try:
        contender.load()
    except pytest.skip.Exception as skipped:
        print(json.dumps({"unavailable": str(skipped.msg)}))
        return UNAVAILABLE

    prepared = prepare(workload, contender)
    gc.collect()  # so that the check below sees anything that would die
    prepared.check(prepared.loop(WARM_UP))
    # Everything but the loop is done before it: what runs after it would
    # run in a heap the loop has churned, at a cost that need not be the
    # same as in the run with 0 sends.
    line = json.dumps({"called": prepared.called, **describe(contender)})

    gc.collect()
    gc.disable()
    prepared.loop(args.iterations)
    # The collector stays off: re-enabled, it would collect at once, with a
    # cost that depends on how many objects the loop allocated.

    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
