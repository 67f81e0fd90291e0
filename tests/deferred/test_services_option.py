"""A missing server binary: skipped with the package to install, or, with
--require-services, a failure."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import _require


class FakeRequest:
    def __init__(self, require: bool) -> None:
        self.config = self

        def getoption(name: str) -> Any:
            assert name == "--require-services"
            return require

        self.getoption = getoption


def test_missing_binary_skips_naming_the_package() -> None:
    with pytest.raises(pytest.skip.Exception, match=r"rabbitmq-server is not installed: apt-get install -y rabbitmq-server"):
        _require(FakeRequest(require=False), None, "rabbitmq-server")  # type: ignore[arg-type]


def test_missing_binary_fails_with_require_services() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"--require-services: redis-server is not installed"):
        _require(FakeRequest(require=True), None, "redis-server")  # type: ignore[arg-type]


def test_present_binary_is_returned() -> None:
    assert _require(FakeRequest(require=True), "/usr/bin/redis-server", "redis-server") == "/usr/bin/redis-server"  # type: ignore[arg-type]

