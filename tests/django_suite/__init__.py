"""Run apps of Django's own test suite (``tests/dispatch``...) against fastdispatch.

``run_django_dispatch.py`` is the runner (a script, run in a subprocess: the
swap must happen before Django is imported); ``run_suite`` runs it for the
pytest tests in ``tests/test_django_dispatch_suite.py``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from .run_django_dispatch import (
    IMPLEMENTATION_FILE_LINE,
    IMPLEMENTATION_LINE,
    DownloadError,
    ensure_django_tests,
    unittest_summary,
)

__all__ = ["DownloadError", "SuiteRun", "ensure_django_tests", "run_suite"]

RUNNER = Path(__file__).with_name("run_django_dispatch.py")
# unittest's headers of failed tests: "FAIL: test_x (app.tests.Class.test_x)"
_FAILED_RE = re.compile(r"^(?:FAIL|ERROR|UNEXPECTED SUCCESS): \S+ \(([^)]+)\)", re.MULTILINE)
TIMEOUT = 900


@dataclasses.dataclass
class SuiteRun:
    command: list[str]
    returncode: int
    output: str  # stdout and stderr, interleaved

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


def run_suite(impl: ModuleType, tests_dir: Path, *apps: str) -> SuiteRun:
    """Run Django's ``apps`` from ``tests_dir`` with ``impl`` swapped in, in a
    subprocess of this interpreter that imports the same fastdispatch."""
    package = sys.modules[impl.__name__.partition(".")[0]]
    package_root = str(Path(package.__file__).resolve().parent.parent)  # type: ignore[arg-type]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [package_root, *filter(None, [env.get("PYTHONPATH")])]
    )
    env["PYTHONUNBUFFERED"] = "1"  # keep stdout and stderr in order
    env.pop("DJANGO_SETTINGS_MODULE", None)  # runtests.py picks test_sqlite
    command = [
        sys.executable, str(RUNNER),
        "--impl", impl.__name__, "--tests-dir", str(tests_dir), *apps,
    ]
    try:
        completed = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        output = error.output or ""
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        return SuiteRun(command, -1, output + f"\n[timed out after {TIMEOUT} s]")
    return SuiteRun(command, completed.returncode, completed.stdout)
