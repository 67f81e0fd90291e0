"""Memory checks of the compiled extension (fastdispatch._dispatcher_c).

(a) The test suite, compiled implementation only (``-k compiled``,
    ``--require-compiled``), under ``python -X dev`` with
    ``PYTHONMALLOC=debug``: CPython's debug allocator hooks (buffer over- and
    underruns, use of freed memory, API misuse such as calling the object
    allocator without the GIL are fatal errors), dev-mode warnings (errors, by
    the suite's filterwarnings) and asyncio debug mode. Django's own dispatch
    suite runs in a subprocess that inherits ``PYTHONMALLOC=debug``;
    Soak tests are off by default (``--run-soak``), which keeps this bounded.
(b) ``checks/memcheck_driver.py``, which exercises every path of the compiled
    module, under ``valgrind --tool=memcheck`` with ``PYTHONMALLOC=malloc``
    (so that valgrind sees every object allocation); it must exit 0 and print
    ``DRIVER OK``. valgrind's XML reports are judged by
    ``checks.valgrind_report``: any error with a frame in _dispatcher_c fails,
    CPython's own are counted, not judged. The suite itself is not run under
    valgrind: pytest's start-up alone takes over a minute there.

CPython's valgrind suppression file is used when found (Debian ships
/usr/lib/valgrind/python3.supp); ``FASTDISPATCH_VALGRIND_SUPP`` overrides it.
``FASTDISPATCH_MEMCHECK_KEEP=1`` keeps the work directory (logs, reports).

Run: ``.ci/memcheck.sh PYTHON`` (PYTHON has fastdispatch built in place,
pytest and Django installed), which runs ``python -m checks.memcheck`` from
``.ci/`` with that interpreter. Exit status 0 when both parts pass.
"""

from __future__ import annotations

import collections
import glob
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from checks.valgrind_report import judge_valgrind_reports

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().with_name("memcheck_driver.py")
SUITE_TAIL_LINES = 15
SUPPRESSION_CANDIDATES = (
    "/usr/lib/valgrind/python3.supp",
    "/usr/lib/valgrind/python.supp",
    "/usr/share/doc/python3*/valgrind-python.supp",
)


def child_environment(environ: Mapping[str, str], root: Path) -> dict[str, str]:
    """The environment of every child: ``src/`` first on PYTHONPATH, so the
    in-place build is what gets imported."""
    env = dict(environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "src"), environ.get("PYTHONPATH")]))
    return env


def find_suppressions(
    environ: Mapping[str, str], candidates: Sequence[str] = SUPPRESSION_CANDIDATES
) -> Path | None:
    """FASTDISPATCH_VALGRIND_SUPP if set (it must exist), else the first
    candidate (glob patterns allowed) that is a file, else None."""
    override = environ.get("FASTDISPATCH_VALGRIND_SUPP")
    if override:
        if not Path(override).is_file():
            raise FileNotFoundError(f"FASTDISPATCH_VALGRIND_SUPP={override}: no such file")
        return Path(override)
    for pattern in candidates:
        for match in sorted(glob.glob(pattern)):
            if Path(match).is_file():
                return Path(match)
    return None


def valgrind_command(python: str, work: Path, suppressions: Path | None) -> list[str]:
    """valgrind memcheck on the driver: definite leaks count as errors; one
    XML report per process (``%p``)."""
    command = ["valgrind", "--tool=memcheck", "--track-origins=no", "--num-callers=50"]
    command += ["--leak-check=full", "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite"]
    if suppressions is not None:
        command.append(f"--suppressions={suppressions}")
    command += ["--xml=yes", f"--xml-file={work}/vg.%p.xml", f"--log-file={work}/vg.%p.log"]
    return [*command, python, str(DRIVER)]


def run_suite(python: str, env: Mapping[str, str], log: Path) -> bool:
    """Part (a): the suite's output goes to ``log``; its last lines are shown."""
    print("== (a) test suite, compiled implementation, python -X dev, PYTHONMALLOC=debug", flush=True)
    command = [python, "-X", "dev", "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"]
    command += ["--require-compiled", "-k", "compiled"]
    suite_env = {**env, "PYTHONMALLOC": "debug", "PYTHONFAULTHANDLER": "1"}
    tail: collections.deque[str] = collections.deque(maxlen=SUITE_TAIL_LINES)
    with (
        log.open("w") as out,
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=suite_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as suite,
    ):
        assert suite.stdout is not None
        for line in suite.stdout:
            out.write(line)
            tail.append(line)
    shown = "".join(tail)
    if shown and not shown.endswith("\n"):  # a crash mid-line
        shown += "\n"
    print(shown, end="")
    if suite.returncode == 0:
        print("(a) passed")
        return True
    if suite.returncode < 0:
        # A fatal error of the debug allocator aborts; pytest's output capture
        # loses its message, so say how to see it.
        print(
            f"(a) FAILED: the suite was killed by {signal.Signals(-suite.returncode).name} "
            "(a crash or a fatal error of the debug allocator); rerun the test that "
            "stopped with -s to see the message"
        )
    else:
        print(f"(a) FAILED (exit status {suite.returncode}; see the output above)")
    return False


def run_driver_under_valgrind(python: str, env: Mapping[str, str], work: Path) -> bool:
    """Part (b): the driver under valgrind, then the verdict on its reports."""
    try:
        suppressions = find_suppressions(env)
    except FileNotFoundError as error:
        print(f"(b) FAILED: {error}")
        return False
    if suppressions is None:
        print("suppressions: none found (CPython's own errors will be reported, not judged)")
    else:
        print(f"suppressions: {suppressions}")
    driver = subprocess.run(
        valgrind_command(python, work, suppressions),
        cwd=ROOT,
        env={**env, "PYTHONMALLOC": "malloc"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    (work / "driver.out").write_text(driver.stdout)
    print(driver.stdout, end="")
    passed = True
    if driver.returncode != 0 or "DRIVER OK" not in driver.stdout:
        print(f"(b) FAILED: the driver failed under valgrind (exit status {driver.returncode})")
        passed = False
    verdict = judge_valgrind_reports(sorted(work.glob("vg.*.xml")))
    print("\n".join(verdict.lines()))
    return passed and verdict.passed


def line_buffered_stdout() -> None:
    """Our lines in order with those the children write to the same stdout."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)


def main() -> int:
    line_buffered_stdout()
    python = sys.executable
    env = child_environment(os.environ, ROOT)
    work = Path(tempfile.mkdtemp(prefix="fastdispatch-memcheck.", dir=os.environ.get("TMPDIR")))
    try:
        where = 'import fastdispatch._dispatcher_c as c; print("compiled module:", c.__file__)'
        subprocess.run([python, "-c", where], cwd=ROOT, env=env, check=True)
        passed = run_suite(python, env, work / "suite.log")
        print("== (b) driver for the compiled module under valgrind memcheck, PYTHONMALLOC=malloc")
        if shutil.which("valgrind") is None:
            print("(b) FAILED: valgrind is not installed")
            return 1
        passed = run_driver_under_valgrind(python, env, work) and passed
    except subprocess.CalledProcessError as error:
        print(f"memcheck: FAILED: {error}")
        return 1
    finally:
        if os.environ.get("FASTDISPATCH_MEMCHECK_KEEP"):
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("memcheck: passed" if passed else "memcheck: FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
