"""Fixtures, and how a run chooses which tests to run.

Implementations
---------------
One fixture, ``impl``, runs every test against each implementation:

- ``python``: ``fastdispatch._dispatcher_py``, always.
- ``compiled``: ``fastdispatch._dispatcher_c``, when it imports.

``--require-compiled`` makes a missing or broken extension an error (CI passes
it), so the compiled half can never be skipped silently. With
``FASTDISPATCH_NO_EXTENSIONS=1`` only the pure-Python half runs. The session
header says which implementations ran.

Categories of tests (markers)
-----------------------------
``CATEGORIES`` below is the one table of them; each row is a marker, and the
options are made from it:

- ``soak``: long runs (minutes): the leak, thread-stress and differential
  tests at full size, and Django's wider apps on the second implementation.
  Off by default: skipped, with a reason saying so. ``--run-soak`` runs them
  (``--run-soak -m soak``: only them).
- ``slow``: Django's wider test apps (a minute or more), on one
  implementation (the compiled one when it is there). Run by default;
  ``-m "not slow"`` leaves them out.
- ``network``: tests that download from PyPI (the sdist of the installed
  Django, whose ``tests/`` folder Django's own suites run from; a copy
  already in ``.django-sdist/``, or in ``FASTDISPATCH_DJANGO_SDIST_DIR``,
  needs no download). Run by default; without registry access they skip,
  with a reason that says how to run them.

``--require-<marker>`` (one for each row) says a run needs that category: a
test of it that skips (no registry access, Django missing, ...) fails
instead, and a run in which no test of it is selected is a usage error. It
implies ``--run-<marker>`` for a category that is off by default. CI passes
``--require-network`` (and ``--require-slow`` where the wider apps run).

- ``services``: tests that start servers or workers of their own
  (``tests/deferred``: redis-server, rabbitmq-server from Debian's packages,
  Celery and django-tasks workers). Run by default; when a server binary is
  missing they skip, naming the package to install. CI passes
  ``--require-services`` where they run (Python 3.11 and 3.12) and
  ``-m "not services"`` elsewhere.

A new category is one more row: its marker is registered, its options exist,
and a test of it that skips because what it needs is missing only has to
call ``pytest.skip`` with a reason that says how to run it
(``--require-<marker>`` does the rest).

What the former environment variables did: ``FASTDISPATCH_SOAK=1`` is
``--run-soak``; ``FASTDISPATCH_DJANGO_APPS=both`` is ``--run-soak -m slow``
for the wider apps alone (``--run-soak`` for everything long), ``=python``
or ``=compiled`` adds ``-k python`` or ``-k compiled`` to that, and ``=none``
is ``-m "not slow"``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from .django_suite import DownloadError, ensure_django_tests
from .helpers import COMPILED, COMPILED_STATUS, IMPLEMENTATIONS, frozen_gc


@dataclasses.dataclass(frozen=True)
class Category:
    marker: str
    meaning: str  # for `pytest --markers`
    off_by_default: bool = False


CATEGORIES = (
    Category(
        "soak",
        "a long run (minutes); off by default, --run-soak runs it",
        off_by_default=True,
    ),
    Category("slow", "takes a minute or more (Django's wider test apps); -m 'not slow' leaves it out"),
    Category(
        "network",
        "downloads from PyPI (Django's sdist); skips without registry access "
        "unless --require-network",
    ),
    Category(
        "services",
        "starts servers or workers of its own (redis-server, rabbitmq-server, Celery, "
        "db_worker); skips when a server binary is missing unless --require-services",
    ),
)

# Set on an item that a category switched off: that skip is not a failure
# under --require-<other category>.
_OFF = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-compiled",
        action="store_true",
        help="fail if the compiled extension fastdispatch._dispatcher_c does not import",
    )
    group = parser.getgroup("fastdispatch categories", "test categories (tests/conftest.py)")
    for category in CATEGORIES:
        if category.off_by_default:
            group.addoption(
                f"--run-{category.marker}",
                action="store_true",
                help=f"run the tests marked {category.marker} (off by default)",
            )
        group.addoption(
            f"--require-{category.marker}",
            action="store_true",
            help=f"the tests marked {category.marker} must run: one that skips fails instead, "
            "and selecting none of them is an error",
        )


def _required(config: pytest.Config) -> list[Category]:
    return [c for c in CATEGORIES if config.getoption(f"--require-{c.marker}")]


def _switched_on(config: pytest.Config, category: Category) -> bool:
    return (
        not category.off_by_default
        or config.getoption(f"--run-{category.marker}")
        or config.getoption(f"--require-{category.marker}")
    )


def pytest_configure(config: pytest.Config) -> None:
    for category in CATEGORIES:
        config.addinivalue_line("markers", f"{category.marker}: {category.meaning}")
    # pytest-run-parallel's marker, also when that plugin is not installed.
    config.addinivalue_line(
        "markers", "thread_unsafe: not run in several threads at once by pytest-run-parallel"
    )
    if config.getoption("--require-compiled") and COMPILED is None:
        raise pytest.UsageError(
            "--require-compiled: the compiled extension is required but "
            f"fastdispatch._dispatcher_c is {COMPILED_STATUS}. Build it with "
            "`pip install -e .` (without FASTDISPATCH_NO_EXTENSIONS)."
        )


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for category in CATEGORIES:
        if _switched_on(config, category):
            continue
        reason = (
            f"{category.marker}: off by default; --run-{category.marker} runs it "
            f"(--run-{category.marker} -m {category.marker}: only these)"
        )
        for item in items:
            if item.get_closest_marker(category.marker) is not None:
                item.stash[_OFF] = category.marker
                item.add_marker(pytest.mark.skip(reason=reason))
    # pytest-run-parallel (the free-threaded CI step runs tests in several
    # threads at once) cannot run an async test: pytest-asyncio runs those.
    for item in items:
        if inspect.iscoroutinefunction(getattr(item, "obj", None)):
            item.add_marker(
                pytest.mark.thread_unsafe(reason="an async test, run by pytest-asyncio")
            )
    for category in _required(config):
        if not any(item.get_closest_marker(category.marker) for item in items):
            raise pytest.UsageError(
                f"--require-{category.marker}: no test marked {category.marker} is selected"
            )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> pytest.TestReport:
    """Under --require-<marker>, a skip of a test with that marker is a failure."""
    report: pytest.TestReport = yield
    if not report.skipped or hasattr(report, "wasxfail") or _OFF in item.stash:
        return report
    required = [
        c.marker for c in _required(item.config) if item.get_closest_marker(c.marker)
    ]
    if required:
        reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = (
            f"--require-{required[0]}: this test is marked {required[0]} and had to "
            f"run, but it skipped: {reason}"
        )
    return report


def pytest_report_header(config: pytest.Config) -> list[str]:
    off = [c.marker for c in CATEGORIES if not _switched_on(config, c)]
    return [
        "fastdispatch implementations: " + ", ".join(IMPLEMENTATIONS),
        "fastdispatch compiled extension: " + COMPILED_STATUS,
        "fastdispatch test categories off: " + (", ".join(off) or "none")
        + "; required: " + (", ".join(c.marker for c in _required(config)) or "none"),
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


@pytest.fixture
def cheap_gc() -> Iterator[None]:
    """For a test that collects garbage often: each collection only looks at
    what the test made."""
    with frozen_gc():
        yield


@pytest.fixture(scope="module")
def cheap_gc_for_module() -> Iterator[None]:
    """The same for a whole module (``pytestmark =
    pytest.mark.usefixtures("cheap_gc_for_module")``)."""
    with frozen_gc():
        yield


@functools.cache
def _django_tests(version: str) -> Path | str:
    """Django ``version``'s ``tests/`` folder, or why it cannot be had (tried
    once a run: a failed download is not retried by every test)."""
    try:
        return ensure_django_tests(version)
    except DownloadError as error:
        return str(error)


@pytest.fixture
def django_tests_dir(request: pytest.FixtureRequest) -> Path:
    """Django's ``tests/`` folder for the installed Django, from its sdist
    (downloaded on first use). Skips without Django, and when the sdist
    cannot be had; the test must be marked ``network``."""
    if request.node.get_closest_marker("network") is None:
        pytest.fail(
            f"{request.node.nodeid} uses django_tests_dir (a download from PyPI): "
            "mark it @pytest.mark.network",
            pytrace=False,
        )
    django = pytest.importorskip(
        "django",
        reason="Django is not installed: Django's own test suites cannot run "
        "(pip install django to run them; CI does)",
    )
    tests_dir = _django_tests(django.__version__)
    if isinstance(tests_dir, Path):
        return tests_dir
    lines = [line.strip() for line in tests_dir.splitlines() if line.strip()]
    problem = lines[0] + (f" ... {lines[-1]}" if len(lines) > 1 else "")
    pytest.skip(
        f"network: Django {django.__version__}'s test suite (in its sdist, from PyPI) "
        f"could not be had: {problem}. To run this test: run with registry access, or put "
        f"django-{django.__version__}.tar.gz into .django-sdist/ (or "
        "FASTDISPATCH_DJANGO_SDIST_DIR); --require-network makes this skip a failure"
    )
