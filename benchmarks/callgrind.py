"""CPU instructions per send, counted with callgrind: a report, not a test.

Timing on a shared machine moves 20-50% between runs; the number of
instructions callgrind counts for the same program and inputs does not. This
script counts them for each contender on the hot-path workloads of the timing
suite (``bench_send.py``) and writes a markdown table, so a change to the hot
path can be judged to the instruction (``benchmark-protocol.md``, "Instruction
counts").

From the repository root, with the compiled extension built (``pip install -e
.``) and valgrind installed (``apt-get install valgrind``)::

    python benchmarks/callgrind.py    # everything, 3,000 sends per count: ~45 min on 2 busy cores
    python benchmarks/callgrind.py --only funcs1,funcs10 --contenders fastdispatch-c,django
    python benchmarks/callgrind.py --only empty --contenders floor --iterations 50   # smoke run, ~1 min
    python benchmarks/callgrind.py --json after.json --compare benchmarks/instructions-baseline.json
    python benchmarks/callgrind.py --only funcs10 --repeat 3    # check counts repeat exactly

Options: ``--only WORKLOAD[,..]``, ``--contenders NAME[,..]``, ``--iterations N``
(default 3000), ``--output PATH`` (markdown, default
``benchmarks/instructions.md``; also printed), ``--json PATH``
(machine-readable counts), ``--compare OLD.json`` (adds a before/after table),
``--python PATH`` (the interpreter to measure; default: this one), ``--jobs N``
(valgrind processes at once), ``--repeat K`` (count each K times; differing
counts are an error).

How it counts. Each (contender, workload) runs ``_callgrind_work.py`` in a
fresh ``valgrind --tool=callgrind`` process with ``PYTHONHASHSEED=0``, twice:
with 0 and with N sends in the counted loop (which runs after ``gc.collect();
gc.disable()``). Instructions per send = (total with N - total with 0) / N:
start-up, imports and set-up cancel out. Each pair is first run once without
valgrind, which checks that it works and writes its ``.pyc`` files (a run that
compiles them would count more than one that reads them).

Workloads (rows): ``empty`` (no receivers), ``funcs1``/``funcs10``/``funcs100``
(weak function receivers), ``methods1``/``methods10``/``methods100`` (weak
bound methods), ``cached50`` (``use_caching=True``, 50 receivers each for its
own sender class, sending for one of them), ``nobody`` (the same, sending for
a sender nobody listens to), ``robust10`` (``send_robust``, 10 functions);
for fastdispatch only, ``traced1``/``traced10`` (a no-op
``fastdispatch.tracing.Tracer()`` installed on the signal: what the tracing
hooks cost) and ``elsewhere10`` (a tracer installed on another signal).
Each send passes ``value=1, other=2`` (psygnal: ``emit(sender, 1)``).
Contenders (columns): as in the timing suite (``_contenders.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from _callgrind_work import UNAVAILABLE, WARM_UP, WORKLOADS, Workload
from _contenders import CONTENDERS
from report import format_ratio

BENCH_DIR = Path(__file__).resolve().parent
WORK_PROGRAM = BENCH_DIR / "_callgrind_work.py"
DEFAULT_OUTPUT = BENCH_DIR / "instructions.md"
DEFAULT_ITERATIONS = 3000

PASSED_ENVIRONMENT = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "PYTHONPATH"}
"""Variables passed to the counted process (with ``FASTDISPATCH_*``)."""

# The project's two implementations get ratio columns in the table.
RATIO_CONTENDERS = ["fastdispatch-c", "fastdispatch-py"]


class CountError(RuntimeError):
    """A count could not be made (valgrind or the work program failed)."""


# ---------------------------------------------------------------------------
# Reading callgrind's output, and the arithmetic
# ---------------------------------------------------------------------------


def parse_total(text: str, event: str = "Ir") -> int:
    """The program's total of ``event`` (instructions) in a callgrind output file.

    The file names its events (``events: Ir ...``) and gives one total per
    event on a ``totals:`` line (older callgrind versions: ``summary:``).
    """
    events: list[str] | None = None
    totals: dict[str, list[int]] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key == "events":
            events = rest.split()
        elif key in ("totals", "summary"):
            totals[key] = [int(field) for field in rest.split()]
    if events is None:
        raise ValueError("not a callgrind output file: no 'events:' line")
    if event not in events:
        raise ValueError(f"callgrind output has no {event!r} event (events: {' '.join(events)})")
    found = totals.get("totals") or totals.get("summary")
    if found is None:
        raise ValueError("callgrind output has no 'totals:' or 'summary:' line")
    return found[events.index(event)]


def per_send(total_zero: int, total_n: int, iterations: int) -> float:
    """Instructions per send: the difference of the two totals over N sends."""
    if iterations <= 0:
        raise ValueError(f"iterations must be positive, not {iterations}")
    if total_n < total_zero:
        raise ValueError(
            f"the run with {iterations} sends counted fewer instructions ({total_n:,}) "
            f"than the run with none ({total_zero:,}): the two runs did not do the same set-up"
        )
    return (total_n - total_zero) / iterations


# ---------------------------------------------------------------------------
# Running the work program
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Runner:
    python: str
    valgrind: str
    workdir: Path

    def environment(self) -> dict[str, str]:
        """The counted process's environment: only what it needs, so that
        another session's variables (their number and length shift the heap)
        do not move the counts."""
        env = {name: value for name, value in os.environ.items() if name in PASSED_ENVIRONMENT
               or name.startswith("FASTDISPATCH_")}
        env["PYTHONHASHSEED"] = "0"
        return env

    def command(self, contender: str, workload: str, iterations: int) -> list[str]:
        # Zero-padded to one width: "0" is a cached one-character string and
        # "3000" a new object, and that one allocation shifts the heap (and
        # with it hash collisions of address-keyed lookups) by a few
        # thousand instructions between the two runs.
        return [self.python, str(WORK_PROGRAM), contender, workload, f"{iterations:09d}"]

    def run_plain(self, contender: str, workload: str) -> dict[str, Any]:
        """Run once without valgrind: checks the pair, writes its .pyc files.
        Returns the work program's JSON line (``unavailable`` set if it cannot run)."""
        completed = subprocess.run(
            self.command(contender, workload, 1),
            env=self.environment(), capture_output=True, text=True, check=False,
        )
        if completed.returncode not in (0, UNAVAILABLE):
            raise CountError(
                f"{contender} {workload}: the work program failed (exit {completed.returncode}):\n"
                + completed.stderr.strip()
            )
        return _last_json_line(completed.stdout, f"{contender} {workload}")

    def count(self, contender: str, workload: str, iterations: int) -> tuple[int, dict[str, Any]]:
        """Total instructions of one run under callgrind, and its JSON line."""
        with tempfile.NamedTemporaryFile(
            dir=self.workdir, prefix=f"{contender}.{workload}.{iterations}.", suffix=".out", delete=False
        ) as out_file:
            out_path = Path(out_file.name)
        try:
            completed = subprocess.run(
                [
                    self.valgrind, "--tool=callgrind", f"--callgrind-out-file={out_path}",
                    *self.command(contender, workload, iterations),
                ],
                env=self.environment(), capture_output=True, text=True, check=False,
            )
            if completed.returncode != 0:
                raise CountError(
                    f"{contender} {workload} ({iterations} sends): valgrind exited with "
                    f"{completed.returncode}:\n{completed.stderr.strip()[-3000:]}"
                )
            total = parse_total(out_path.read_text(encoding="utf-8", errors="replace"))
        finally:
            out_path.unlink(missing_ok=True)
        return total, _last_json_line(completed.stdout, f"{contender} {workload}")


def _last_json_line(stdout: str, what: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise CountError(f"{what}: the work program printed no JSON line:\n{stdout}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@dataclass
class Count:
    """The counts of one (contender, workload)."""

    contender: str
    workload: str
    iterations: int
    totals_zero: list[int]
    totals_n: list[int]
    info: dict[str, Any]
    seconds: float

    @property
    def repeatable(self) -> bool:
        return len(set(self.totals_zero)) == 1 and len(set(self.totals_n)) == 1

    @property
    def per_send(self) -> float:
        return per_send(self.totals_zero[0], self.totals_n[0], self.iterations)

    def as_json(self) -> dict[str, Any]:
        return {
            "per_send": self.per_send,
            "iterations": self.iterations,
            "total_zero": self.totals_zero[0],
            "total_n": self.totals_n[0],
            "repeats": len(self.totals_n),
            "repeatable": self.repeatable,
            **({} if self.repeatable else {"totals_zero": self.totals_zero, "totals_n": self.totals_n}),
            "called": self.info.get("called"),
            "version": self.info.get("version"),
            "module_file": self.info.get("module_file"),
            "seconds": round(self.seconds, 1),
        }


def measure(runner: Runner, contender: str, workload: str, iterations: int, repeat: int) -> Count | str:
    """Count one pair ``repeat`` times; a string says why the contender is unavailable."""
    started = time.monotonic()
    plain = runner.run_plain(contender, workload)
    if "unavailable" in plain:
        return str(plain["unavailable"])
    zeros, ns = [], []
    info: dict[str, Any] = {}
    for _ in range(repeat):
        total_zero, info_zero = runner.count(contender, workload, 0)
        total_n, info = runner.count(contender, workload, iterations)
        if info_zero != info:
            raise CountError(
                f"{contender} {workload}: the two runs measured different things: {info_zero} / {info}"
            )
        zeros.append(total_zero)
        ns.append(total_n)
    if info.get("hash_randomization") != 0:
        raise CountError(f"{contender} {workload}: hash randomisation was on (PYTHONHASHSEED=0 not honoured)")
    return Count(contender, workload, iterations, zeros, ns, info, time.monotonic() - started)


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

Results = dict[str, dict[str, Any]]
"""workload -> contender -> a count's JSON (``per_send`` ...) or ``{"unavailable": reason}``."""


def _per_send_of(results: Results, workload: str, contender: str) -> float | None:
    entry = results.get(workload, {}).get(contender)
    if not entry or "per_send" not in entry:
        return None
    value: float = entry["per_send"]
    return value


def format_count(value: float) -> str:
    return f"{value:,.0f}"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None:
        return None
    if denominator == 0:
        return math.inf if numerator > 0 else None
    return numerator / denominator


def counts_table(results: Results, workloads: Sequence[Workload], contenders: Sequence[str]) -> list[str]:
    header = ["Workload", *(CONTENDERS[key].label for key in contenders)]
    ratio_keys = [key for key in RATIO_CONTENDERS if key in contenders]
    for key in ratio_keys:
        short = "compiled" if key == "fastdispatch-c" else "pure Python"
        if "django" in contenders:
            header.append(f"{short} vs django.dispatch")
        if "floor" in contenders:
            header.append(f"{short} vs floor")
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for workload in workloads:
        cells = [workload.label]
        for key in contenders:
            entry = results.get(workload.name, {}).get(key)
            if key not in workload.contenders:
                cells.append("")
            elif entry is None or "per_send" not in entry:
                cells.append("n/a")
            else:
                cells.append(format_count(entry["per_send"]))
        for key in ratio_keys:
            ours = _per_send_of(results, workload.name, key)
            if "django" in contenders:
                cells.append(format_ratio(ratio(_per_send_of(results, workload.name, "django"), ours)))
            if "floor" in contenders:
                cells.append(format_ratio(ratio(ours, _per_send_of(results, workload.name, "floor"))))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def compare_table(
    old: Results, new: Results, workloads: Sequence[Workload], contenders: Sequence[str]
) -> list[str]:
    """Per contender and workload: the old count, the new one, the change."""
    lines = [
        "| Workload | Contender | before | after | change |",
        "|---|---|---:|---:|---:|",
    ]
    for workload in workloads:
        first = True
        for key in contenders:
            before = _per_send_of(old, workload.name, key)
            after = _per_send_of(new, workload.name, key)
            if before is None and after is None:
                continue
            if before is not None and after is not None:
                delta = after - before
                percent = f" ({delta / before:+.1%})" if before else ""
                change = f"{delta:+,.0f}{percent}"
            else:
                change = "—"
            lines.append(
                f"| {workload.label if first else ''} | {CONTENDERS[key].label} | "
                f"{'—' if before is None else format_count(before)} | "
                f"{'—' if after is None else format_count(after)} | {change} |"
            )
            first = False
    return lines


HOW_TO_READ = """\
## How to read this

- One fresh process per count, run twice: with 0 and with N sends in the counted loop;
  instructions per send = (total with N - total with 0) / N, so start-up, imports and
  set-up cancel out. `PYTHONHASHSEED=0`, a fixed minimal environment, {warm_up} sends
  before counting (one-off work such as CPython specialising the loop's bytecode), and
  the garbage collector off during the counted loop: the same binary and inputs give the
  same count to the instruction, whatever else the machine is doing.
- Fewer is faster, but an instruction is not a unit of time: cache misses, branch
  mispredictions and memory traffic are not counted. The timing suite
  (`benchmarks/results.md`) gives the times.
- The workloads are those of the timing suite (`bench_send.py`), with the same receivers
  and adapters (`_contenders.py`). Each send is a direct call with two named arguments,
  `signal.send(sender, value=1, other=2)`; psygnal, which emits positional arguments only,
  `signal.emit(sender, 1)`. The counts include the loop's own cost (an iteration of
  `for _ in itertools.repeat(None, n)`).
- **floor**: the hand-written loop of the timing suite, a function
  `floor_send(receivers, signal, sender, **named)` returning
  `[(r, r(signal=signal, sender=sender, **named)) for r in receivers]` over the receivers
  a dispatcher would call (for send_robust the same loop with try/except).
- **vs django.dispatch**: django.dispatch's count divided by this one (how many times
  fewer instructions). **vs floor**: this count divided by the floor's (`1.00x` = as cheap
  as the hand-written loop; below 1 = cheaper).
- `n/a`: the contender could not run here; an empty cell: the workload does not apply to it.
"""


def markdown(report: dict[str, Any], workloads: Sequence[Workload], contenders: Sequence[str],
             old: dict[str, Any] | None, old_path: Path | None) -> str:
    run = report["run"]
    versions = ", ".join(f"{CONTENDERS[k].label} {v}" for k, v in run["versions"].items())
    if run.get("psygnal_compiled"):
        versions += " (psygnal compiled with mypyc)"
    lines = [
        "# Instructions per send (callgrind)",
        "",
        ("Written by `python benchmarks/callgrind.py` (see its docstring). CPU instructions "
        "(callgrind's `Ir`) for one send."),
        "",
        f"- Python: {run['python']} (`{run['executable']}`); {run['valgrind']}",
        f"- {versions}",
        f"- {run['iterations']:,} sends per count; run {run['date']}, {run['seconds'] / 60:.0f} min"
        + (f"; every count made {run['repeat']} times, identical" if run.get("repeat", 1) > 1 else ""),
        "",
        HOW_TO_READ.format(warm_up=run.get("warm_up", "?")).rstrip(),
        "",
        "## Instructions per send",
        "",
        *counts_table(report["results"], workloads, contenders),
    ]
    unavailable = [
        f"- {CONTENDERS[key].label}, {name}: {entry['unavailable']}"
        for name, row in report["results"].items()
        for key, entry in row.items()
        if "unavailable" in entry
    ]
    if unavailable:
        lines += ["", "Not available:", "", *unavailable]
    if old is not None:
        lines += [
            "",
            f"## Compared with `{old_path}`",
            "",
            (f"Before: {old['run'].get('date', '?')}, {old['run'].get('python', '?')}, "
            f"{old['run'].get('iterations', '?'):,} sends per count."),
            "",
            *compare_table(old["results"], report["results"], workloads, contenders),
        ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# The program
# ---------------------------------------------------------------------------


def _names(text: str, known: Sequence[str], what: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}"
        )
    return names


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Count CPU instructions per send with callgrind, per contender and workload.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="workloads: " + ", ".join(WORKLOADS) + "\ncontenders: " + ", ".join(CONTENDERS),
    )
    parser.add_argument("--only", metavar="WORKLOAD[,..]", default=",".join(WORKLOADS),
                        type=lambda text: _names(text, list(WORKLOADS), "workload"),
                        help="workloads to count (default: all)")
    parser.add_argument("--contenders", metavar="NAME[,..]", default=",".join(CONTENDERS),
                        type=lambda text: _names(text, list(CONTENDERS), "contender"),
                        help="contenders to count (default: all)")
    parser.add_argument("--iterations", metavar="N", type=int, default=DEFAULT_ITERATIONS,
                        help=f"sends in the counted run (default {DEFAULT_ITERATIONS})")
    parser.add_argument("--output", metavar="PATH", type=Path, default=DEFAULT_OUTPUT,
                        help="markdown report (default benchmarks/instructions.md)")
    parser.add_argument("--json", metavar="PATH", type=Path, help="also write the counts as JSON")
    parser.add_argument("--from-json", metavar="PATH", type=Path,
                        help="count nothing: write the report from the JSON of an earlier run")
    parser.add_argument("--compare", metavar="OLD.json", type=Path,
                        help="add a before/after table against the JSON of an earlier run")
    parser.add_argument("--python", metavar="PATH", default=sys.executable,
                        help="the interpreter to measure (default: this one)")
    parser.add_argument("--valgrind", metavar="PATH", default="valgrind", help="valgrind executable")
    parser.add_argument("--jobs", metavar="N", type=int, default=1,
                        help="valgrind processes at once (counts do not depend on it; default 1)")
    parser.add_argument("--repeat", metavar="K", type=int, default=1,
                        help="count each pair K times; differing counts are an error (default 1)")
    args = parser.parse_args(argv)
    if args.iterations < 1:
        parser.error("--iterations must be 1 or more")
    if args.jobs < 1 or args.repeat < 1:
        parser.error("--jobs and --repeat must be 1 or more")
    if args.compare is not None and not args.compare.is_file():
        parser.error(f"--compare: no such file {args.compare}")
    if args.from_json is not None:
        if not args.from_json.is_file():
            parser.error(f"--from-json: no such file {args.from_json}")
        return args
    valgrind = shutil.which(args.valgrind)
    if valgrind is None:
        parser.error(f"valgrind not found ({args.valgrind!r}): install it (apt-get install valgrind) "
                     "or pass --valgrind PATH")
    args.valgrind = valgrind
    return args


def _valgrind_version(valgrind: str) -> str:
    completed = subprocess.run([valgrind, "--version"], capture_output=True, text=True, check=False)
    return completed.stdout.strip() or "valgrind (version unknown)"


def count_all(
    args: argparse.Namespace, workloads: Sequence[Workload], contenders: Sequence[str]
) -> dict[str, Any]:
    """Count every (contender, workload) pair; the report as JSON data."""
    pairs = [(w.name, key) for w in workloads for key in contenders if key in w.contenders]
    print(f"{len(pairs)} counts, {args.iterations:,} sends each, {args.jobs} at a time "
          f"({args.python})", flush=True)
    started = time.monotonic()
    results: Results = {w.name: {} for w in workloads}
    info: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="callgrind-") as workdir:
        runner = Runner(args.python, args.valgrind, Path(workdir))
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = {
                pair: pool.submit(measure, runner, pair[1], pair[0], args.iterations, args.repeat)
                for pair in pairs
            }
            by_future = {future: pair for pair, future in futures.items()}
            for future in as_completed(by_future):
                workload, key = by_future[future]
                try:
                    count = future.result()
                    if isinstance(count, str):
                        results[workload][key] = {"unavailable": count}
                        print(f"  {workload:10} {key:16} not available: {count}", flush=True)
                        continue
                    results[workload][key] = count.as_json()
                except (CountError, ValueError) as error:
                    failures.append(f"{key} {workload}: {error}")
                    print(f"  {workload:10} {key:16} FAILED", flush=True)
                    continue
                info[key] = count.info
                if not count.repeatable:
                    failures.append(f"{key} {workload}: counts differ between repeats: "
                                    f"{count.totals_zero} / {count.totals_n}")
                repeats = f", {args.repeat} repeats identical" if count.repeatable and args.repeat > 1 else ""
                print(f"  {workload:10} {key:16} {count.per_send:12,.1f} per send "
                      f"({count.seconds:.0f} s{repeats})", flush=True)

    # In the report's order, whatever order the counts finished in.
    results = {w.name: {k: results[w.name][k] for k in contenders if k in results[w.name]} for w in workloads}
    any_info = next(iter(info.values()), {})
    return {
        "run": {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "python": any_info.get("python", "?"),
            "executable": any_info.get("executable", args.python),
            "valgrind": _valgrind_version(args.valgrind),
            "iterations": args.iterations,
            "warm_up": WARM_UP,
            "repeat": args.repeat,
            "seconds": round(time.monotonic() - started, 1),
            "versions": {key: i["version"] for key, i in info.items() if "version" in i},
            "fastdispatch_files": {key: i.get("module_file") for key, i in info.items()
                                   if key.startswith("fastdispatch")},
            "psygnal_compiled": info.get("psygnal", {}).get("psygnal_compiled"),
        },
        "results": results,
        "failures": failures,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    old = json.loads(args.compare.read_text(encoding="utf-8")) if args.compare else None
    workloads = [WORKLOADS[name] for name in args.only]
    contenders = [key for key in CONTENDERS if key in args.contenders]
    if args.from_json is not None:
        report: dict[str, Any] = json.loads(args.from_json.read_text(encoding="utf-8"))
        workloads = [w for w in workloads if w.name in report["results"]]
        contenders = [k for k in contenders if any(k in row for row in report["results"].values())]
    else:
        report = count_all(args, workloads, contenders)

    text = markdown(report, workloads, contenders, old, args.compare)
    print()
    print(text, end="")
    args.output.write_text(text, encoding="utf-8")
    print(f"\nwrote {args.output}")
    if args.json is not None and args.from_json is None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    for failure in report.get("failures", []):
        print(f"error: {failure}", file=sys.stderr)
    return 1 if report.get("failures") else 0


if __name__ == "__main__":
    sys.exit(main())
