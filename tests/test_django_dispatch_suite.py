"""Django's own ``tests/dispatch`` (and ``tests/signals``) suites, run against
each implementation.

The tests come from the sdist of the installed Django (downloaded into
``.django-sdist/`` on first use, see ``tests/django_suite/``) and run through
Django's ``tests/runtests.py`` in a subprocess in which ``django.dispatch`` is
the implementation under test, swapped in before Django creates any signal.
Skipped only when Django is not installed; a failed download fails.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from .django_suite import DownloadError, SuiteRun, ensure_django_tests, run_suite


def _run(impl: ModuleType, app: str) -> SuiteRun:
    django = pytest.importorskip(
        "django",
        reason="Django is not installed: Django's own dispatch tests cannot run "
        "(pip install django to run them; CI does)",
    )
    try:
        tests_dir = ensure_django_tests(django.__version__)
    except DownloadError as error:
        problem = str(error)
    else:
        return run_suite(impl, tests_dir, app)
    pytest.fail(
        f"Django {django.__version__} is installed but its test suite could "
        f"not be had:\n{problem}",
        pytrace=False,
    )


def _assert_passed(run: SuiteRun, impl: ModuleType, app: str) -> None:
    failed = "".join(f"\n  {test}" for test in run.failed_tests)
    context = (
        (f"\nfailed tests:{failed}" if failed else "")
        + f"\n$ {' '.join(run.command)}\nexit status {run.returncode}; "
        f"last lines of its output:\n{run.tail()}"
    )
    assert run.implementation == impl.__name__, (
        f"the runner did not report running {impl.__name__}" + context
    )
    assert run.implementation_file is not None and (
        Path(run.implementation_file).resolve() == Path(impl.__file__).resolve()
    ), f"the runner imported another build of {impl.__name__}" + context
    assert run.ran is not None and run.ran > 0, "no tests ran" + context
    assert run.status is not None and run.status.startswith("OK"), (
        f"Django's {app} tests: {run.status}" + context
    )
    assert run.returncode == 0, "the runner failed" + context


def test_django_dispatch_suite(impl: ModuleType) -> None:
    """Django's tests/dispatch (DispatcherTests, ReceiverTestCase) pass."""
    _assert_passed(_run(impl, "dispatch"), impl, "dispatch")


# fastdispatch tells sync from async receivers with inspect.iscoroutinefunction,
# which before Python 3.12 ignores asgiref's markcoroutinefunction(); Django 5.2
# and earlier (the versions for those Pythons) use asgiref.sync.iscoroutinefunction.
# So there a marked async callable (AsyncHandler in Django's signals tests) is
# called as a sync receiver and its coroutine returned, never awaited.
_MARKED_COROUTINE_BUG = sys.version_info < (3, 12)


def test_django_signals_suite(impl: ModuleType) -> None:
    """Django's tests/signals (model signals, async receivers) pass.

    Django's own signals (post_save...) are fastdispatch's here too.
    """
    run = _run(impl, "signals")
    failed = run.failed_tests
    if (
        _MARKED_COROUTINE_BUG
        and failed
        and all(t.startswith("signals.tests.AsyncReceiversTests.") for t in failed)
        and run.implementation == impl.__name__
    ):
        pytest.xfail(
            "known fastdispatch bug on Python < 3.12: receivers marked with "
            "asgiref.sync.markcoroutinefunction() are run as sync receivers "
            f"({len(failed)} AsyncReceiversTests failures)"
        )
    _assert_passed(run, impl, "signals")
