"""One fixture, ``impl``, runs every test against each implementation.

- ``python``: ``fastdispatch._dispatcher_py``, always.
- ``compiled``: ``fastdispatch._dispatcher_c``, when it imports.

``--require-compiled`` makes a missing or broken extension an error (CI passes
it), so the compiled half can never be skipped silently. With
``FASTDISPATCH_NO_EXTENSIONS=1`` only the pure-Python half runs. The session
header says which implementations ran.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

NO_EXTENSIONS = os.environ.get("FASTDISPATCH_NO_EXTENSIONS", "") not in ("", "0")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-compiled",
        action="store_true",
        help="fail if the compiled extension fastdispatch._dispatcher_c does not import",
    )
    _add_services_option(parser)


def _load_compiled() -> tuple[ModuleType | None, str]:
    if NO_EXTENSIONS:
        return None, "not tested: FASTDISPATCH_NO_EXTENSIONS is set"
    try:
        return importlib.import_module("fastdispatch._dispatcher_c"), "tested"
    except ImportError as error:
        return None, f"NOT AVAILABLE ({error})"


_COMPILED, _COMPILED_STATUS = _load_compiled()
IMPLEMENTATIONS: dict[str, ModuleType] = {
    "python": importlib.import_module("fastdispatch._dispatcher_py")
}
if _COMPILED is not None:
    IMPLEMENTATIONS["compiled"] = _COMPILED


def pytest_configure(config: pytest.Config) -> None:
    _register_services_marker(config)
    if config.getoption("--require-compiled") and _COMPILED is None:
        raise pytest.UsageError(
            "--require-compiled: the compiled extension is required but "
            f"fastdispatch._dispatcher_c is {_COMPILED_STATUS}. Build it with "
            "`pip install -e .` (without FASTDISPATCH_NO_EXTENSIONS)."
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        "fastdispatch implementations: " + ", ".join(IMPLEMENTATIONS),
        "fastdispatch compiled extension: " + _COMPILED_STATUS,
    ]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(
        "fastdispatch implementations covered: " + ", ".join(IMPLEMENTATIONS)
    )


@pytest.fixture(params=list(IMPLEMENTATIONS), scope="session")
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """The implementation module under test: ``Signal``, ``receiver``,
    ``_make_id``, ``NONE_ID`` and ``NO_RECEIVERS``."""
    return IMPLEMENTATIONS[request.param]


# -- Tests that start servers (tests/deferred): the `services` marker ----------
# A test marked @pytest.mark.services starts servers or workers of its own (a
# broker: redis-server, rabbitmq-server from Debian's packages; Celery and
# django-tasks workers). CI runs them on two Pythons only (.ci/run). When a
# server binary is missing they are skipped with the package to install,
# unless --require-services (or FASTDISPATCH_REQUIRE_SERVICES=1, which CI
# sets) makes that a failure.
# The fixtures that decide are in tests/deferred/conftest.py.


def _add_services_option(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-services",
        action="store_true",
        default=os.environ.get("FASTDISPATCH_REQUIRE_SERVICES", "") not in ("", "0"),
        help="fail (instead of skip) tests marked 'services' whose server binary is missing",
    )


def _register_services_marker(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "services: starts servers or workers of its own (redis-server, rabbitmq-server, "
        "Celery, db_worker); skipped when a server binary is missing unless --require-services",
    )
