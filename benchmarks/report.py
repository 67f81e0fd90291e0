"""Run the benchmark suite and write the report: one command, one run.

From the repository root::

    python benchmarks/report.py                 # run everything (~3-4 min), then report
    python benchmarks/report.py -k send         # extra arguments go to pytest
    python benchmarks/report.py --from-json benchmarks/results.json   # report only

It runs ``python -m pytest benchmarks --benchmark-json=benchmarks/results.json``
(with ``src/`` first on ``PYTHONPATH``, so the checkout is what is measured;
build the compiled extension in place first, e.g. ``pip install -e .``), then
reads that JSON and writes:

- ``benchmarks/results.md``: the machine, then for each group each
  contender's median, its speedup over django.dispatch (django's median / its
  median: ``3.4x`` = 3.4 times faster) and its cost relative to the
  hand-written loop (its median / the loop's median: ``1.0x`` = as fast as
  calling the receivers by hand), all from the same run. Memory rows give
  bytes per connected receiver instead, with the same two ratios on bytes.
- ``benchmarks/results.png``: speedup over django.dispatch per group (needs
  matplotlib; without it the chart is skipped, and the report says so).

The tables are printed too. ``--output-dir`` writes the three files elsewhere.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent

ORDER = ["fastdispatch-c", "fastdispatch-py", "django", "blinker", "psygnal", "floor"]
LABELS = {
    "fastdispatch-c": "fastdispatch (compiled)",
    "fastdispatch-py": "fastdispatch (pure Python)",
    "django": "django.dispatch",
    "blinker": "blinker",
    "psygnal": "psygnal",
    "floor": "hand-written loop (floor)",
}
COLORS = {
    "fastdispatch-c": "#1f77b4",
    "fastdispatch-py": "#7fb8e6",
    "django": "#2ca02c",
    "blinker": "#ff7f0e",
    "psygnal": "#9467bd",
    "floor": "#7f7f7f",
}


# ---------------------------------------------------------------------------
# Running the suite
# ---------------------------------------------------------------------------


def run_suite(json_path: Path, pytest_args: list[str]) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(REPO / "src"), env.get("PYTHONPATH", "")] if p
    )
    command = [
        sys.executable, "-m", "pytest", str(BENCH_DIR),
        "-c", str(BENCH_DIR / "pytest.ini"),
        f"--benchmark-json={json_path}",
        *pytest_args,
    ]
    print("$", " ".join(command), flush=True)
    started = time.monotonic()
    completed = subprocess.run(command, cwd=REPO, env=env, check=False)
    print(f"(benchmark run: {time.monotonic() - started:.0f} s)", flush=True)
    if completed.returncode != 0:
        sys.exit(
            f"report.py: pytest exited with status {completed.returncode}; "
            "no report written."
        )


# ---------------------------------------------------------------------------
# Reading the results
# ---------------------------------------------------------------------------


class Group:
    def __init__(self, name: str, order: int, metric: str, contenders: list[str]) -> None:
        self.name, self.order, self.metric = name, order, metric
        self.contenders = [key for key in ORDER if key in contenders]
        self.values: dict[str, float] = {}  # median seconds, or bytes per receiver
        self.rounds: dict[str, int] = {}
        self.minimum: dict[str, float] = {}  # fastest round, for judging noise

    def ratio_vs_django(self, key: str) -> float | None:
        """How many times faster (or smaller) than django.dispatch."""
        if key not in self.values or "django" not in self.values:
            return None
        value = self.values[key]
        return self.values["django"] / value if value > 0 else math.inf

    def ratio_vs_floor(self, key: str) -> float | None:
        """This contender's time (or bytes) divided by the floor's."""
        if key not in self.values or "floor" not in self.values:
            return None
        floor = self.values["floor"]
        return self.values[key] / floor if floor > 0 else math.inf


def read_groups(data: dict[str, Any]) -> list[Group]:
    groups: dict[str, Group] = {}
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        if "contender" not in info:
            continue
        name = bench["group"]
        group = groups.get(name)
        if group is None:
            group = groups[name] = Group(
                name, info.get("order", 0), info.get("metric", "time"),
                info.get("contenders", ORDER),
            )
        key = info["contender"]
        if group.metric == "memory":
            group.values[key] = float(info["bytes_per_receiver"])
        else:
            group.values[key] = float(bench["stats"]["median"])
            group.minimum[key] = float(bench["stats"]["min"])
        group.rounds[key] = int(bench["stats"]["rounds"])
    return sorted(groups.values(), key=lambda g: (g.order, g.name))


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------


def format_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):  # noqa: B007 (read after the break)
        if seconds >= scale:
            value = seconds / scale
            break
    else:
        unit, value = "ns", seconds / 1e-9
    if value >= 100:
        return f"{value:.0f} {unit}"
    if value >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


def format_value(group: Group, key: str) -> str:
    value = group.values[key]
    if group.metric == "memory":
        return f"{value:.0f} B/receiver"
    text = format_time(value)
    if group.rounds.get(key, 0) < 5:
        rounds = group.rounds[key]
        text += f" ({rounds} round{'s' * (rounds != 1)})"
    return text


def format_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    if math.isinf(ratio):
        return "∞"
    if ratio >= 100:
        return f"{ratio:.0f}x"
    if ratio >= 10:
        return f"{ratio:.1f}x"
    return f"{ratio:.2f}x"


def machine_lines(machine: dict[str, Any], data: dict[str, Any]) -> list[str]:
    info = machine.get("fastdispatch", {})
    psygnal = info.get("psygnal", "?")
    if info.get("psygnal_compiled"):
        psygnal += " (compiled with mypyc)"
    lines = [
        f"- CPU: {info.get('cpu_model', '?')} ({info.get('cpu_count', '?')} cores); "
        f"{info.get('platform', machine.get('system', '?'))}",
        f"- Python: {info.get('python', machine.get('python_version', '?'))}",
        f"- fastdispatch {info.get('fastdispatch', '?')} from `{info.get('fastdispatch_path', '?')}`; "
        f"compiled extension: **{info.get('compiled', '?')}**",
        f"- Django {info.get('django', '?')} (settings.DEBUG={info.get('django_debug')}), "
        f"blinker {info.get('blinker', '?')}, psygnal {psygnal}, "
        f"pytest-benchmark {info.get('pytest-benchmark', '?')}",
        f"- Run: {data.get('datetime', '?')}; load average (1/5/15 min) at start "
        f"{info.get('load_average_start')}, at end {info.get('load_average_end')} "
        "(anything else running skews timings)",
    ]
    return lines


def summary_table(groups: list[Group]) -> list[str]:
    keys = [k for k in ORDER if any(k in g.contenders for g in groups)]
    lines = [
        "| Workload | " + " | ".join(LABELS[k] for k in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for group in groups:
        cells = []
        for key in keys:
            if key not in group.contenders:
                cells.append("")
            elif key not in group.values:
                cells.append("n/a")
            else:
                cells.append(format_ratio(group.ratio_vs_django(key)))
        lines.append(f"| {group.name} | " + " | ".join(cells) + " |")
    return lines


def detail_table(groups: list[Group]) -> list[str]:
    lines = [
        "| Workload | Contender | Median | vs django.dispatch (x faster) | vs floor (time / floor) | Min |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for group in groups:
        for i, key in enumerate(group.contenders):
            name = group.name if i == 0 else ""
            if key not in group.values:
                lines.append(f"| {name} | {LABELS[key]} | not available | — | — | — |")
                continue
            lines.append(
                f"| {name} | {LABELS[key]} | {format_value(group, key)} | "
                f"{format_ratio(group.ratio_vs_django(key))} | "
                f"{format_ratio(group.ratio_vs_floor(key))} | "
                f"{format_time(group.minimum[key]) if key in group.minimum else '—'} |"
            )
    return lines


# ---------------------------------------------------------------------------
# The chart
# ---------------------------------------------------------------------------


def write_chart(groups: list[Group], path: Path, title: str) -> str | None:
    """Write the chart; return why not if it could not be written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: results.png was not written (pip install matplotlib)"

    import textwrap

    shown = [g for g in groups if "django" in g.values]
    if not shown:
        return "no group has a django.dispatch result: results.png was not written"
    # Bars for the libraries; django.dispatch is the 1x line, the floor a dashed tick.
    bar_keys = [k for k in ORDER if k not in ("django", "floor")]
    per_group = [[k for k in bar_keys if k in g.values] for g in shown]
    widest = max(1, *(len(keys) for keys in per_group))
    bar = 0.8 / widest
    fig, ax = plt.subplots(figsize=(10, 0.2 * len(shown) * (widest + 1.5) + 1.8))
    labelled: set[str] = set()
    for i, (group, keys) in enumerate(zip(shown, per_group)):
        for j, key in enumerate(keys):
            ratio = group.ratio_vs_django(key)
            if ratio is None or math.isinf(ratio):
                continue
            y = i + (j - (len(keys) - 1) / 2) * bar
            bars = ax.barh(
                [y], [ratio], height=bar * 0.9, color=COLORS[key],
                label=None if key in labelled else LABELS[key],
            )
            labelled.add(key)
            ax.bar_label(bars, labels=[format_ratio(ratio)], padding=2, fontsize=7)
        floor = group.ratio_vs_django("floor")
        if floor is not None and not math.isinf(floor):
            half = 0.45 * bar * len(keys) if keys else 0.3
            ax.plot(
                [floor, floor], [i - half, i + half], color="black", linewidth=1.2,
                linestyle="--", label=None if "floor" in labelled else LABELS["floor"],
            )
            labelled.add("floor")
    ax.axvline(1.0, color=COLORS["django"], linewidth=1.5, label="django.dispatch (1x)")
    ax.set_xscale("log")
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels(
        [
            textwrap.fill(g.name + (" (bytes)" if g.metric == "memory" else ""), 34)
            for g in shown
        ],
        fontsize=8,
    )
    ax.invert_yaxis()
    ax.set_xlabel(
        "times faster than django.dispatch (its median / median; memory: its bytes / bytes), log scale",
        fontsize=8,
    )
    ax.set_title(textwrap.fill(title, 110), fontsize=9)
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    xmin, xmax = ax.get_xlim()
    ax.set_xlim(min(xmin, 0.3), xmax * 2)  # room for the labels
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Unrecognised arguments are passed to pytest.",
    )
    parser.add_argument(
        "--from-json", type=Path, metavar="PATH",
        help="do not run the benchmarks: report from this pytest-benchmark JSON file",
    )
    parser.add_argument(
        "--output-dir", type=Path, default=BENCH_DIR, metavar="DIR",
        help="where to write results.json, results.md and results.png (default: benchmarks/)",
    )
    options, pytest_args = parser.parse_known_args(argv)
    out = options.output_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)

    if options.from_json is not None:
        json_path = options.from_json
    else:
        json_path = out / "results.json"
        run_suite(json_path, pytest_args)

    data = json.loads(json_path.read_text(encoding="utf-8"))
    groups = read_groups(data)
    if not groups:
        sys.exit(f"report.py: no benchmark results in {json_path}")
    machine = data.get("machine_info", {})
    info = machine.get("fastdispatch", {})
    compiled = info.get("compiled", "?")

    png = out / "results.png"
    title = (
        f"fastdispatch vs django.dispatch — {info.get('python', '?')}, Django "
        f"{info.get('django', '?')}, {info.get('cpu_model', '?')}; "
        f"compiled extension: {compiled}"
    )
    chart_problem = write_chart(groups, png, title)
    if chart_problem is not None and png.exists():
        png.unlink()  # never leave a stale chart next to fresh numbers

    summary = summary_table(groups)
    details = detail_table(groups)
    md = [
        "# fastdispatch benchmarks",
        "",
        f"Written by `python benchmarks/report.py` from `{json_path.name}`. "
        "All numbers come from one run; benchmarks are noisy, ratios within a "
        "group are what to read.",
        "",
        "## Machine",
        "",
        *machine_lines(machine, data),
        "",
        "## How to read this",
        "",
        "- Each row group is one comparison: every contender does the same work "
        "(same receivers, same `value=1` argument, same sender).",
        "- **Median**: median time of one operation (pytest-benchmark, "
        "`time.perf_counter`). The connect/disconnect groups are whole runs "
        "(connect N, then disconnect N) in pedantic mode with few rounds.",
        "- **vs django.dispatch**: django.dispatch's median divided by this one: "
        "how many times faster (`3.4x`); below `1x` is slower.",
        "- **vs floor**: this median divided by the hand-written loop's "
        "`[(r, r(signal=s, sender=x, **kw)) for r in receivers]` over the "
        "receivers that get called (for send_robust the same loop with "
        "try/except, for asend the loop in one `sync_to_async` or "
        "`asyncio.gather` of the coroutines, for connect/disconnect a dict of "
        "weak references). `1.00x` = as fast as calling the receivers by hand.",
        "- **Min**: the fastest round, for judging noise only: a median far "
        "above its min means the machine was busy during that benchmark, and "
        "its ratios are unreliable.",
        "- **Memory**: bytes kept allocated per connected weak function "
        "receiver after one send (tracemalloc); the ratios are on bytes "
        "(vs django.dispatch: how many times smaller).",
        "- `not available`: the contender could not run here (the compiled "
        "extension not built, a library not installed); an empty cell: the "
        "workload does not apply to that library.",
        "",
    ]
    if chart_problem is None:
        md += ["![Speedup vs django.dispatch](results.png)", ""]
    else:
        md += [f"*Chart: {chart_problem}.*", ""]
    md += [
        "## Speedup vs django.dispatch",
        "",
        *summary,
        "",
        "## Details",
        "",
        *details,
        "",
    ]
    (out / "results.md").write_text("\n".join(md), encoding="utf-8")

    print()
    print("\n".join(machine_lines(machine, data)))
    print()
    print("\n".join(details))
    print()
    print("Speedup vs django.dispatch:")
    print("\n".join(summary))
    print()
    print(f"Wrote {out / 'results.md'}")
    if chart_problem is None:
        print(f"Wrote {png}")
    else:
        print(chart_problem)
    print(f"Raw data: {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
