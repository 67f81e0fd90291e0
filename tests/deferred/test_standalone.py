"""Standalone fastdispatch signals, no Django in either process: the worker mode
needs only an engine (Celery on Redis here); after-commit needs Django."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from . import services
from .shop.signals import impl_name

pytestmark = pytest.mark.services


def test_worker_mode_without_django(impl: ModuleType, redis: services.Redis, tmp_path: Path) -> None:
    name = impl_name(impl)
    log = tmp_path / "deliveries.jsonl"
    env = services.project_env(tmp_path, log, name, FD_REDIS_URL=redis.url)
    del env["DJANGO_SETTINGS_MODULE"]
    command = [
        sys.executable, "-m", "celery", "-A", "tests.deferred.standalone_app:app", "worker", "-P", "prefork", "-c", "1",
        "-Q", f"fd-standalone-{name}", "-n", f"standalone-{name}-{os.getpid()}@localhost",
        "--without-gossip", "--without-mingle", "-l", "INFO",
    ]
    process = services.Process("standalone celery worker", command, env, tmp_path / "worker.log").start()
    try:
        process.wait_for_log(" ready.", 90)
        result = subprocess.run(
            [sys.executable, "-m", "tests.deferred.scripts.standalone"],
            cwd=services.ROOT, env=env, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(result.stdout.splitlines()[-1])
        [sent] = report["sent"]
        [line] = services.wait_for_deliveries(log, [sent["delivery_id"]])[sent["delivery_id"]]
    finally:
        process.stop()
    assert report["django_used"] == [] and line["django_used"] == []
    assert report["compiled"] is (name == "compiled") and line["compiled"] is (name == "compiled")
    assert (sent["mode"], sent["task_id"]) == ("worker", sent["delivery_id"])
    assert (line["sender"], line["number"]) == ("shop", 1) and line["pid"] != os.getpid()
    assert "after_commit() waits for a Django database transaction" in report["after_commit_error"]
    assert "for signals sent outside Django, pass enqueue='now'" in report["on_commit_error"]
