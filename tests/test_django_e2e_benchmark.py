"""The end-to-end benchmark (``benchmarks/django_e2e/``) still runs: each mode
once, at a thousandth of its size. Benchmarks are not tests: no timing is
asserted, only that every mode ran the workloads on the dispatcher it names.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from .django_suite import run_captured
from .helpers import IMPLEMENTATIONS

pytest.importorskip(
    "django",
    reason="Django is not installed (pip install django to run these; CI does)",
)

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "django_e2e" / "run.py"


@pytest.mark.skipif(not RUN.is_file(), reason="benchmarks/ is not part of this copy of tests/")
def test_end_to_end_benchmark_runs(tmp_path: Path) -> None:
    modes = ["stock", *IMPLEMENTATIONS]
    env = dict(os.environ)
    env.pop("FASTDISPATCH_NO_EXTENSIONS", None)
    completed = run_captured(
        [sys.executable, str(RUN), "--scale", "0.001", "--rounds", "1", "--repeat", "1",
         "--modes", *modes, "--output-dir", str(tmp_path)],
        env=env,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout
    data = json.loads((tmp_path / "results.json").read_text())
    for mode in modes:
        [run] = data["runs"][mode]
        assert set(run["results"]) == {"init", "init_post_init", "load_post_init", "save"}
        if mode == "stock":
            assert run["signal_class"] == "django.dispatch.dispatcher.Signal"
        else:
            assert run["signal_class"] == "fastdispatch.django.Signal"
            assert f"fastdispatch._dispatcher_{'c' if mode == 'compiled' else 'py'}" in (
                run["post_save_class_mro"]
            )
    report = (tmp_path / "results.md").read_text()
    assert "| instantiate 100,000 models, 1 post_init receiver" in report
    assert "speedup, fastdispatch (compiled)" in report or "compiled" not in modes
