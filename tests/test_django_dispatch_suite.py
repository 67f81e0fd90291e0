"""Django's own ``tests/dispatch`` and ``tests/signals`` suites, run with each
implementation installed into Django by ``fastdispatch.django.install()``.

The tests come from the sdist of the installed Django (downloaded into
``.django-sdist/`` on first use, see ``tests/django_suite/``) and run through
Django's ``tests/runtests.py`` in a subprocess in which ``install()`` ran
before Django created any signal, so Django's own signals (``post_save``,
``setting_changed``...) are fastdispatch's too. Skipped only when Django is
not installed; a failed download, a failed test or an install that did not
hold fails.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from .django_suite import DownloadError, SuiteRun, ensure_django_tests, run_suite


def django_tests_dir() -> Path:
    """Django's ``tests/`` folder for the installed Django; skips without
    Django, fails (never skips) when Django is installed but its tests cannot
    be had."""
    django = pytest.importorskip(
        "django",
        reason="Django is not installed: Django's own test suites cannot run "
        "(pip install django to run them; CI does)",
    )
    try:
        return ensure_django_tests(django.__version__)
    except DownloadError as error:
        problem = str(error)
    pytest.fail(
        f"Django {django.__version__} is installed but its test suite could "
        f"not be had:\n{problem}",
        pytrace=False,
    )


def assert_passed(
    run: SuiteRun,
    impl: ModuleType,
    label: str,
    known_failures: dict[str, str] | None = None,
) -> None:
    """The run exercised ``impl`` and its tests passed, except exactly
    ``known_failures`` (test id -> why), which must fail."""
    known_failures = known_failures or {}
    failed = run.failed_tests
    context = (
        "".join(f"\n  failed: {test}" for test in failed)
        + f"\n$ {' '.join(run.command)}\nexit status {run.returncode}; "
        f"last lines of its output:\n{run.tail()}"
    )
    assert run.implementation == impl.__name__, (
        f"the runner did not report running {impl.__name__}" + context
    )
    assert run.implementation_file is not None and (
        Path(run.implementation_file).resolve() == Path(impl.__file__).resolve()  # type: ignore[arg-type]
    ), f"the runner imported another build of {impl.__name__}" + context
    assert "install check:" in run.output, "no install checks reported" + context
    assert not [
        line for line in run.output.splitlines()
        if line.startswith("install check:") and line.endswith(": NO")
    ], "fastdispatch.django.install() did not hold" + context
    assert run.ran is not None and run.ran > 0, "no tests ran" + context
    unexpected = sorted(set(failed) - set(known_failures))
    assert not unexpected, f"Django's {label} tests failed: {run.status}" + context
    missing = sorted(set(known_failures) - set(failed))
    assert not missing, (
        f"known failures of {label} passed (update the list): {missing}" + context
    )
    if known_failures:
        assert run.status is not None, context
    else:
        assert run.status is not None and run.status.startswith("OK"), (
            f"Django's {label} tests: {run.status}" + context
        )
        assert run.returncode == 0, "the runner failed" + context


@pytest.mark.parametrize("app", ["dispatch", "signals"])
def test_django_suite(impl: ModuleType, app: str) -> None:
    """Django's tests/dispatch (DispatcherTests, ReceiverTestCase...) and
    tests/signals (model signals, lazy senders, async receivers) pass."""
    assert_passed(run_suite(impl, django_tests_dir(), app), impl, app)
