"""A missing server binary: the test skips naming the package to install
(``--require-services`` turns such a skip into a failure: tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .services import require_binary


def test_missing_binary_skips_naming_the_package() -> None:
    with pytest.raises(
        pytest.skip.Exception,
        match=r"rabbitmq-server is not installed: apt-get install -y rabbitmq-server",
    ):
        require_binary(None, "rabbitmq-server")


def test_present_binary_is_returned() -> None:
    assert require_binary("/usr/bin/redis-server", "redis-server") == "/usr/bin/redis-server"


@pytest.mark.parametrize("required", [False, True])
def test_require_services_makes_the_skip_a_failure(tmp_path: Path, required: bool) -> None:
    # A test marked services whose server is missing, run by pytest with the
    # project's conftest: skipped, or with --require-services failed.
    tests = Path(__file__).resolve().parent.parent
    (tmp_path / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    (tmp_path / "test_needs_a_server.py").write_text(
        textwrap.dedent(
            """
            import pytest

            from tests.deferred.services import require_binary

            @pytest.mark.services
            def test_needs_a_server():
                require_binary(None, "redis-server")
            """
        )
    )
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    if required:
        args.append("--require-services")
    # Without the caller's PYTEST_ADDOPTS: CI's `-m "not services"` would
    # deselect the one test this run is about.
    env = {name: value for name, value in os.environ.items() if name != "PYTEST_ADDOPTS"}
    result = subprocess.run(
        args, cwd=tests.parent, env=env, capture_output=True, text=True, check=False
    )
    if required:
        assert result.returncode == 1, result.stdout
        assert "--require-services: this test is marked services and had to run" in result.stdout
    else:
        assert result.returncode == 0, result.stdout
        assert "1 skipped" in result.stdout
