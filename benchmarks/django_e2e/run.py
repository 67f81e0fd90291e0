"""End-to-end benchmark: Django model workloads on Django's own dispatcher vs
fastdispatch installed with ``fastdispatch.django.install()``.

From the repository root (build the compiled extension in place first, e.g.
``pip install -e .``)::

    python benchmarks/django_e2e/run.py                 # 7 rounds, ~2-3 minutes
    python benchmarks/django_e2e/run.py --rounds 3 --modes stock compiled
    python benchmarks/django_e2e/run.py --scale 0.001 --rounds 1   # smoke run
    python benchmarks/django_e2e/run.py --from-json a/results.json b/results.json

Which dispatcher runs is fixed per process, so each round starts one process
per mode (``workload.py``; see there for the workloads), in a rotating order
so that all modes see the same machine load. Times are CPU time of the
process by default (``--clock wall`` for elapsed time): on a shared machine,
time spent waiting for a CPU is not the dispatcher's. In each process every
workload runs ``--repeat`` times and its fastest repetition counts; the table gives, for
each mode, the median over the rounds of those times, and the speedup over
Django's dispatcher: the median over the rounds of stock time / mode time in
that round (``1.50x`` = 1.5 times as fast end to end; below ``1.00x`` would be
slower).

Writes ``results.md`` and ``results.json`` next to this script (or into
``--output-dir``) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WORKLOAD = HERE / "workload.py"

DESCRIPTIONS = {
    "init": "instantiate 100,000 models, no receivers",
    "init_post_init": "instantiate 100,000 models, 1 post_init receiver",
    "load_post_init": "load 100,000 rows from SQLite, 1 post_init receiver",
    "save": "save 10,000 models, 1 pre_save + 1 post_save receiver",
}
LABELS = {
    "stock": "django.dispatch (stock)",
    "compiled": "fastdispatch (compiled)",
    "python": "fastdispatch (pure Python)",
}


def _package_root() -> str:
    """Where the fastdispatch to measure lives: the installed one if there is
    one (a regular install has its compiled extension there), else src/."""
    try:
        import fastdispatch
    except ImportError:
        return str(REPO / "src")
    return str(Path(fastdispatch.__file__).resolve().parent.parent)


def run_once(mode: str, repeat: int, scale: float, clock: str) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [_package_root(), *filter(None, [env.get("PYTHONPATH")])]
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    completed = subprocess.run(
        [sys.executable, str(WORKLOAD), "--mode", mode, "--repeat", str(repeat),
         "--scale", str(scale), "--clock", clock],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(
            f"workload.py --mode {mode} failed ({completed.returncode}):\n"
            + completed.stderr[-4000:]
        )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def measure(
    modes: list[str], rounds: int, repeat: int, scale: float, clock: str
) -> dict[str, Any]:
    """``{"runs": {mode: [process output, ...]}, ...}``, interleaved."""
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    for round_number in range(rounds):
        order = modes[round_number % len(modes):] + modes[: round_number % len(modes)]
        for mode in order:
            runs[mode].append(run_once(mode, repeat, scale, clock))
        print(f"round {round_number + 1}/{rounds} done", file=sys.stderr, flush=True)
    return {"runs": runs}


def _best(run: dict[str, Any], workload: str) -> float:
    return min(run["results"][workload])


def summarize(data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{workload: {mode: median over rounds of the fastest repetition}}``."""
    runs = data["runs"]
    first = next(iter(runs.values()))[0]
    return {
        workload: {
            mode: statistics.median(_best(run, workload) for run in mode_runs)
            for mode, mode_runs in runs.items()
        }
        for workload in first["results"]
    }


def speedups(data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{workload: {mode: median over rounds of stock time / mode time}}``.

    The ratio is taken within each round (the modes ran one after the other,
    under about the same load), then the median over rounds: on a machine
    whose load drifts, that is steadier than the ratio of the medians.
    """
    runs = data["runs"]
    stock = runs["stock"]
    return {
        workload: {
            mode: statistics.median(
                _best(base, workload) / _best(run, workload)
                for base, run in zip(stock, mode_runs)
            )
            for mode, mode_runs in runs.items()
            if mode != "stock"
        }
        for workload in stock[0]["results"]
    }


def _ms(seconds: float) -> str:
    milliseconds = seconds * 1000
    return f"{milliseconds:,.0f} ms" if milliseconds >= 100 else f"{milliseconds:.2g} ms"


def table(data: dict[str, Any]) -> str:
    summary = summarize(data)
    runs = data["runs"]
    ratios = speedups(data) if "stock" in runs else {}
    modes = list(runs)
    others = [mode for mode in modes if mode != "stock"]
    first = next(iter(runs.values()))[0]
    header = ["workload", *(f"{LABELS[m]}" for m in modes)]
    header += [f"speedup, {LABELS[m]}" for m in others if "stock" in modes]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for workload, times in summary.items():
        size = first["sizes"][workload]
        name = DESCRIPTIONS.get(workload, workload)
        if size != {"save": 10_000}.get(workload, 100_000):
            name += f" (scaled: {size:,})"
        cells = [name, *(_ms(times[m]) for m in modes)]
        if "stock" in modes:
            cells += [f"{ratios[workload][m]:.2f}x" for m in others]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine(data: dict[str, Any]) -> str:
    first = next(iter(data["runs"].values()))[0]
    rounds = len(next(iter(data["runs"].values())))
    load = data.get("load_average")
    pooled = data.get("pooled_runs", 1)
    return (
        f"Django {first['django']}, Python {first['python']} "
        f"({platform.machine()}, {os.cpu_count()} CPUs"
        + (f", load average at start {'up to ' if pooled > 1 else ''}{load[0]:.2f}" if load else "")
        + (f"; {pooled} runs pooled" if pooled > 1 else "")
        + f"); {'CPU' if first.get('clock', 'cpu') == 'cpu' else 'elapsed'} time: "
        f"in each of {rounds} rounds, each mode runs in its own process and each "
        f"workload's fastest of {data.get('repeat', '?')} repetitions counts; times "
        "are medians over the rounds, speedups (stock time / mode time) are "
        "medians of the speedups of each round."
    )


def _pool(datasets: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds of several runs as one run's."""
    pooled = dict(datasets[0])
    pooled["runs"] = {
        mode: [run for data in datasets for run in data["runs"][mode]]
        for mode in datasets[0]["runs"]
    }
    loads = [data.get("load_average") for data in datasets if data.get("load_average")]
    pooled["load_average"] = max(loads, key=lambda load: load[0]) if loads else None
    pooled["pooled_runs"] = len(datasets)
    return pooled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument(
        "--clock", choices=["cpu", "wall"], default="cpu",
        help="cpu (default): each process's CPU time; wall: elapsed time",
    )
    parser.add_argument(
        "--modes", nargs="+", default=["stock", "compiled", "python"],
        choices=["stock", "compiled", "python"],
    )
    parser.add_argument("--output-dir", type=Path, default=HERE)
    parser.add_argument(
        "--from-json", type=Path, nargs="+", metavar="JSON",
        help="only write the report, from one or more results.json files (the "
        "rounds of several runs are pooled)",
    )
    options = parser.parse_args(argv)

    if options.from_json:
        data = _pool([json.loads(path.read_text()) for path in options.from_json])
    else:
        try:
            load = list(os.getloadavg())
        except (AttributeError, OSError):
            load = None
        start = time.perf_counter()
        data = measure(
            options.modes, options.rounds, options.repeat, options.scale, options.clock
        )
        data.update(
            load_average=load,
            repeat=options.repeat,
            seconds=round(time.perf_counter() - start, 1),
        )
    report = (
        "# End to end: Django models on fastdispatch\n\n"
        + machine(data)
        + "\n\n"
        + table(data)
        + "\n"
    )
    options.output_dir.mkdir(parents=True, exist_ok=True)
    if not options.from_json:
        (options.output_dir / "results.json").write_text(json.dumps(data, indent=1) + "\n")
    (options.output_dir / "results.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
