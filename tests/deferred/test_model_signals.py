"""Django's model signals on fastdispatch (``install()``), with deferred
receivers connected by ``@receiver`` and ``ModelSignal.connect`` (Django's own
signature), in a fresh interpreter per implementation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from . import services
from .shop.signals import impl_name


def run_script(script: str, impl_name: str, tmp_path: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    log = tmp_path / "deliveries.jsonl"
    env = services.project_env(tmp_path, log, impl_name)
    return subprocess.run(
        [sys.executable, "-m", f"tests.deferred.scripts.{script}", *args],
        cwd=services.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def report(impl: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of the script per implementation; the tests read its report."""
    tmp_path = tmp_path_factory.mktemp("model_signals")
    result = run_script("model_signals", impl_name(impl), tmp_path, str(tmp_path / "deliveries.jsonl"))
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_installed_implementation(report: dict[str, Any], impl: ModuleType) -> None:
    assert report["implementation"] == impl_name(impl)
    assert report["post_save_is_fastdispatch"] is True


def test_model_signal_connect_keeps_djangos_signature(report: dict[str, Any]) -> None:
    """Why deferring is a wrapper and not a connect() keyword: ModelSignal.connect
    is Django's and takes none."""
    assert report["connect_parameters"] == ["receiver", "sender", "weak", "dispatch_uid", "apps"]
    assert "unexpected keyword argument 'deferred'" in report["connect_new_keyword"]


def test_after_commit_and_on_worker_on_post_save(report: dict[str, Any]) -> None:
    first = {"number": 1, "created": True, "using": "default"}
    assert report["inside_atomic"] == [[], 0]  # nothing before the commit
    assert report["after_commit"] == [[first], 1]  # both after it
    assert report["after_rollback"] == [[first], 1]  # nothing for a rollback
    assert report["other_database"] == [[first, {"number": 3, "created": True, "using": "other"}], 2]


def test_worker_refetches_a_saved_instance(report: dict[str, Any]) -> None:
    message = report["messages"]["saved"]
    assert message["sender"] == ["model_class", "shop.Order"]
    assert message["signal"] == "django.db.models.signals:post_save"
    assert message["receiver"] == "tests.deferred.shop.model_receivers:order_saved_on_worker"
    assert message["kwargs"]["update_fields"] == ["json", None]
    [line] = [d for d in report["deliveries"] if d["delivery_id"] == message["delivery_id"]]
    assert line["kwargs"]["instance"]["fields"]["note"] == "changed before the worker ran"
    assert line["kwargs"]["instance"]["adding"] is False
    assert line["kwargs"]["created"] is True


def test_post_delete_receiver_gets_a_snapshot(report: dict[str, Any]) -> None:
    message = report["messages"]["deleted"]
    assert message["signal"] == "django.db.models.signals:post_delete"
    assert message["kwargs"]["instance"][0] == "snapshot"
    [line] = [d for d in report["deliveries"] if d["delivery_id"] == message["delivery_id"]]
    instance = line["kwargs"]["instance"]
    assert instance["adding"] is True  # an unsaved copy: the row is gone
    assert instance["fields"]["note"] == "changed before the worker ran"
    assert instance["pk"] is not None


def test_django_testcase_and_capture_on_commit_callbacks(impl: ModuleType, tmp_path: Path) -> None:
    """Django's own test runner, TestCase and TransactionTestCase, fastdispatch installed."""
    result = run_script("run_testcases", impl_name(impl), tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Ran 6 tests" in output and "\nOK" in output, output
