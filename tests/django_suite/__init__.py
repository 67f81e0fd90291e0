"""Run apps of Django's own test suite (``tests/dispatch``...) with fastdispatch
installed into Django by ``fastdispatch.django.install()``.

``run_django_tests.py`` is the runner (a script, run in a subprocess: the
install must happen before Django creates its signals); ``run_suite`` runs it
for the pytest tests in ``tests/test_django_*_suite.py``.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from .run_django_tests import (
    IMPLEMENTATION_FILE_LINE,
    IMPLEMENTATION_LINE,
    WIDE_APPS,
    DownloadError,
    counts_by_app,
    ensure_django_tests,
    format_counts,
    run_captured,
    unittest_summary,
    wide_labels,
)

__all__ = [
    "WIDE_APPS",
    "DownloadError",
    "SuiteRun",
    "assert_passed",
    "ensure_django_tests",
    "format_counts",
    "run_captured",
    "run_suite",
    "wide_labels",
]

RUNNER = Path(__file__).with_name("run_django_tests.py")
# unittest's headers of failed tests: "FAIL: test_x (app.tests.Class.test_x)"
_FAILED_RE = re.compile(
    r"^(?:FAIL|ERROR|UNEXPECTED SUCCESS): \S+ \(([^)]+)\)", re.MULTILINE
)
TIMEOUT = 900


@dataclasses.dataclass
class SuiteRun:
    command: list[str]
    returncode: int
    output: str  # stdout and stderr, interleaved
    seconds: float = 0.0

    @property
    def ran(self) -> int | None:
        """N of unittest's ``Ran N tests``, or None if it never got that far."""
        return unittest_summary(self.output)[0]

    @property
    def status(self) -> str | None:
        """unittest's status line: ``OK``, ``OK (skipped=1)``, ``FAILED (...)``."""
        return unittest_summary(self.output)[1]

    @property
    def failed_tests(self) -> list[str]:
        """Dotted ids of the tests that failed or errored (``app.tests.Class.test``)."""
        return sorted(set(_FAILED_RE.findall(self.output)))

    def counts_by_app(self) -> dict[str, collections.Counter[str]]:
        """``{app: Counter(ok=.., skipped=.., ...)}`` from the verbose results
        (verbosity 2); best effort, for reports."""
        return counts_by_app(self.output)

    def reported(self, prefix: str) -> str | None:
        """The rest of the runner's last line starting with ``prefix``."""
        for line in reversed(self.output.splitlines()):
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        return None

    @property
    def implementation(self) -> str | None:
        return self.reported(IMPLEMENTATION_LINE)

    @property
    def implementation_file(self) -> str | None:
        return self.reported(IMPLEMENTATION_FILE_LINE)

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def run_suite(
    impl: ModuleType | None, tests_dir: Path, *apps: str, verbosity: int = 2
) -> SuiteRun:
    """Run Django's ``apps`` from ``tests_dir`` with ``impl`` installed (None:
    on Django's own dispatcher), in a subprocess of this interpreter that
    imports the same fastdispatch."""
    import time

    import fastdispatch

    package_root = str(Path(fastdispatch.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [package_root, *filter(None, [env.get("PYTHONPATH")])]
    )
    env["PYTHONUNBUFFERED"] = "1"  # keep stdout and stderr in order
    env.pop("DJANGO_SETTINGS_MODULE", None)  # runtests.py picks test_sqlite
    selection = ["--stock"] if impl is None else ["--impl", impl.__name__]
    command = [
        sys.executable, str(RUNNER), *selection, "--tests-dir", str(tests_dir),
        "--verbosity", str(verbosity), *apps,
    ]
    start = time.perf_counter()
    try:
        completed = run_captured(command, env=env, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as error:
        output = error.output or ""
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        return SuiteRun(
            command, -1, output + f"\n[timed out after {TIMEOUT} s]",
            time.perf_counter() - start,
        )
    return SuiteRun(
        command, completed.returncode, completed.stdout, time.perf_counter() - start
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
