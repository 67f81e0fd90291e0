"""Fixtures and setup of the benchmark suite (see pytest.ini for the commands).

- ``contender``: the library under benchmark (parametrized indirectly with the
  keys of ``_contenders.CONTENDERS``); skips cleanly when it cannot be imported
  (the compiled extension before it is built, blinker or psygnal not
  installed).
- Django is configured minimally (``DEBUG=False``: Django then skips its
  receiver signature checks, and so does fastdispatch, which follows it).
- ``--benchmark-json`` output gets ``machine_info["fastdispatch"]``: CPU
  model, load average, versions, and whether the compiled extension was
  active; the per-round timings are left out of it (megabytes) unless
  ``--benchmark-save-data`` is given.
- ``--require-compiled`` makes a missing compiled extension an error instead
  of a skip.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import platform
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

try:
    import fastdispatch  # noqa: F401
except ImportError:  # run from a checkout without PYTHONPATH=src
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import _contenders
from _contenders import CONTENDERS, Contender

_contenders.configure_django()


def _compiled_status() -> str:
    if _contenders.NO_EXTENSIONS:
        return "not available (FASTDISPATCH_NO_EXTENSIONS is set)"
    try:
        importlib.import_module("fastdispatch._dispatcher_c")
    except ImportError as error:
        return f"not available ({error})"
    return "active"


COMPILED_STATUS = _compiled_status()


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


LOAD_AT_START = _load_average()


def pytest_addoption(parser: pytest.Parser) -> None:
    try:
        parser.addoption(
            "--require-compiled",
            action="store_true",
            help="fail if the compiled extension fastdispatch._dispatcher_c does not import",
        )
    except ValueError:
        pass  # `pytest tests benchmarks`: tests/conftest.py defines the same option


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--require-compiled") and COMPILED_STATUS != "active":
        raise pytest.UsageError(
            f"--require-compiled: fastdispatch._dispatcher_c is {COMPILED_STATUS}."
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        "fastdispatch: " + str(Path(fastdispatch_file()).parent),
        "fastdispatch compiled extension: " + COMPILED_STATUS,
    ]


def fastdispatch_file() -> str:
    import fastdispatch

    return fastdispatch.__file__ or "?"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    import fastdispatch

    try:
        import psygnal

        psygnal_compiled: Any = bool(psygnal._compiled)
    except (ImportError, AttributeError):
        psygnal_compiled = None
    try:
        from django.conf import settings

        django_debug: Any = bool(settings.DEBUG)
    except ImportError:
        django_debug = None
    machine_info["fastdispatch"] = {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        # 1/5/15-minute load averages: other work on the machine skews timings.
        "load_average_start": LOAD_AT_START,
        "load_average_end": _load_average(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "fastdispatch": fastdispatch.__version__,
        "fastdispatch_path": str(Path(fastdispatch_file()).parent),
        "compiled": COMPILED_STATUS,
        "django": _version("django"),
        "django_debug": django_debug,
        "blinker": _version("blinker"),
        "psygnal": _version("psygnal"),
        "psygnal_compiled": psygnal_compiled,
        "pytest-benchmark": _version("pytest-benchmark"),
        "contenders": {key: c.label for key, c in CONTENDERS.items()},
    }


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    # --benchmark-json stores every round's timing (megabytes for this suite);
    # the report needs the statistics only. --benchmark-save-data keeps them.
    if not config.getoption("benchmark_save_data"):
        for bench in output_json.get("benchmarks", []):
            bench.get("stats", {}).pop("data", None)


@pytest.fixture
def contender(request: pytest.FixtureRequest) -> Contender:
    """The contender named by the (indirect) parameter; skips if unavailable."""
    found = CONTENDERS[request.param]
    found.load()
    return found


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for a module's async benchmarks."""
    event_loop = asyncio.new_event_loop()
    try:
        yield event_loop
    finally:
        event_loop.run_until_complete(event_loop.shutdown_asyncgens())
        event_loop.run_until_complete(event_loop.shutdown_default_executor())
        event_loop.close()
