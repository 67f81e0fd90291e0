"""The deferred benchmark (benchmarks/deferred/) still runs: its sender side
once per mode, tiny, on this session's brokers, and its report renders.
Benchmarks are not tests: no timing is asserted."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from . import services
from .environment import Workers

BENCH = services.ROOT / "benchmarks" / "deferred"

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not BENCH.is_dir(), reason="benchmarks/ is not part of this copy of tests/"),
]


def test_deferred_benchmark_runs(workers: Workers, tmp_path: Path) -> None:
    workers.relay()  # starts both brokers
    completed = subprocess.run(
        [sys.executable, str(BENCH / "workload.py"), "1", "1", "2"],
        cwd=services.ROOT, env=workers.env("compiled"), capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    times = json.loads(completed.stdout.splitlines()[-1])
    spec = importlib.util.spec_from_file_location("deferred_bench_run", BENCH / "run.py")
    assert spec is not None and spec.loader is not None
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    assert set(times["slow"]) == set(run.DESCRIPTIONS)
    throughput = {engine: {1: 10.0, 2: 15.0} for engine in ("celery_amqp", "celery_redis", "tasks_db_now")}
    report = run.render(times, throughput, SimpleNamespace(rounds=1, slow_sends=1, trivial_sends=2, messages=1), 1.0)
    assert report.count("\n| ") == 2 * (len(run.DESCRIPTIONS) - 1) + 3 + 3
