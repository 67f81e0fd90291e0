"""Run apps of Django's own test suite with fastdispatch swapped in for django.dispatch.

Usage (from anywhere; fastdispatch and Django must be importable)::

    python tests/django_suite/run_django_dispatch.py                  # dispatch app
    python tests/django_suite/run_django_dispatch.py dispatch signals
    python tests/django_suite/run_django_dispatch.py --impl fastdispatch._dispatcher_py
    python tests/django_suite/run_django_dispatch.py dispatch -- --failfast

Django's test suite is not installed with Django: the sdist of the installed
version (``django.__version__``) is downloaded with ``pip download`` into
``.django-sdist/`` at the repository root (git-ignored; override with
``FASTDISPATCH_DJANGO_SDIST_DIR``) and only its ``tests/`` folder is extracted,
to ``.django-sdist/django-<version>/tests``. Later runs reuse it. A lock file
and an atomic rename keep concurrent runs from corrupting the cache.

The swap happens before anything imports ``django.dispatch``:
``sys.modules["django.dispatch.dispatcher"]`` *is* the implementation module
(``fastdispatch._dispatcher_py`` or ``fastdispatch._dispatcher_c``), so
``django.dispatch.Signal``/``receiver`` and ``django.dispatch.dispatcher``'s
``Signal``, ``receiver``, ``_make_id``, ``NONE_ID`` and ``NO_RECEIVERS`` are
fastdispatch's, and ``mock.patch("django.dispatch.dispatcher._make_id")``
patches the global the implementation's ``Signal`` calls. Django's own signals
(``post_save``, ``request_started``...) are created after the swap, so they are
fastdispatch signals too. Then Django's ``tests/runtests.py`` runs in this
process (``--parallel 1``: no worker processes that would miss the swap).

The last lines printed say which implementation ran, whether the swap held,
and repeat unittest's summary (``Ran N tests in ...`` and ``OK``/``FAILED``).
Exit status: runtests.py's (0 when the tests passed), or 3 when the swap did
not hold (the tests would not have exercised fastdispatch).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib
import os
import re
import runpy
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType
from typing import IO, Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]
SDIST_DIR_ENV = "FASTDISPATCH_DJANGO_SDIST_DIR"
DEFAULT_APPS = ("dispatch",)
IMPLEMENTATION_LINE = "fastdispatch implementation: "
IMPLEMENTATION_FILE_LINE = "fastdispatch implementation file: "
SWAP_FAILED_EXIT = 3

# unittest's summary, as TextTestRunner prints it.
RAN_RE = re.compile(r"^Ran (\d+) tests? in [0-9.]+s$", re.MULTILINE)
STATUS_RE = re.compile(r"^(OK|FAILED)\b.*$", re.MULTILINE)


class DownloadError(RuntimeError):
    """Django's test suite could not be downloaded or extracted."""


# -- getting Django's tests/ ------------------------------------------------


def sdist_cache_dir() -> Path:
    return Path(os.environ.get(SDIST_DIR_ENV) or REPO_ROOT / ".django-sdist")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock (a no-op where neither fcntl nor msvcrt exist).

    Correctness does not depend on it (files appear by atomic rename only); it
    keeps concurrent runs from downloading the same sdist twice.
    """
    with open(path, "a+b") as handle:
        try:
            import fcntl
        except ImportError:
            fcntl = None  # type: ignore[assignment]
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return
        try:
            import msvcrt
        except ImportError:
            yield
            return
        handle.seek(0)
        while True:
            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
                break
            except OSError:  # LK_LOCK gives up after ~10 s: keep waiting
                continue
        try:
            yield
        finally:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


def _find_sdist(directory: Path, version: str) -> Path | None:
    wanted = {f"django-{version}.tar.gz"}
    for candidate in sorted(directory.iterdir()):
        if candidate.is_file() and candidate.name.lower() in wanted:
            return candidate
    return None


def _download_sdist(version: str, cache: Path) -> Path:
    """``pip download`` the sdist into a private folder, then move it into ``cache``."""
    scratch = Path(tempfile.mkdtemp(prefix=".download-", dir=cache))
    try:
        command = [
            sys.executable, "-m", "pip", "download",
            "--no-deps", "--no-binary", ":all:", "--disable-pip-version-check",
            f"django=={version}", "-d", str(scratch),
        ]
        try:
            completed = subprocess.run(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=900,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise DownloadError(f"{' '.join(command)} failed: {error}") from error
        downloaded = _find_sdist(scratch, version)
        if completed.returncode != 0 or downloaded is None:
            raise DownloadError(
                f"Could not download the Django {version} sdist "
                f"(exit status {completed.returncode}) with:\n  {' '.join(command)}\n"
                + completed.stdout[-4000:]
            )
        target = cache / downloaded.name.lower()
        os.replace(downloaded, target)  # atomic: never a half-written sdist
        return target
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _extract_tests(sdist: Path, destination: Path) -> None:
    """Extract ``<top>/tests/`` of ``sdist`` to ``destination/tests`` atomically."""
    scratch = Path(tempfile.mkdtemp(prefix=".extract-", dir=destination.parent))
    try:
        try:
            with tarfile.open(sdist, "r:gz") as archive:
                members = archive.getmembers()
                tops = {
                    m.name.split("/", 1)[0]
                    for m in members
                    if m.name.endswith("/tests/runtests.py") and m.name.count("/") == 2
                }
                if len(tops) != 1:
                    raise DownloadError(f"{sdist} has no single <top>/tests/runtests.py")
                prefix = tops.pop() + "/tests/"
                wanted = [m for m in members if m.name.startswith(prefix)]
                if hasattr(tarfile, "data_filter"):
                    archive.extractall(scratch, members=wanted, filter="data")
                else:  # Python without extraction filters (< 3.10.12 / 3.11.4)
                    for member in wanted:
                        parts = Path(member.name).parts
                        if member.name.startswith("/") or ".." in parts:
                            raise DownloadError(f"unsafe path in {sdist}: {member.name}")
                        if not (member.isfile() or member.isdir()):
                            raise DownloadError(f"unexpected member in {sdist}: {member.name}")
                    archive.extractall(scratch, members=wanted)
        except (tarfile.TarError, OSError, EOFError) as error:
            raise DownloadError(f"Could not extract {sdist}: {error}") from error
        extracted = scratch / prefix.split("/", 1)[0]
        if not (extracted / "tests" / "runtests.py").is_file():
            raise DownloadError(f"{sdist}: tests/runtests.py missing after extraction")
        try:
            os.rename(extracted, destination)  # atomic: complete or absent
        except OSError:
            if not (destination / "tests" / "runtests.py").is_file():
                raise
            # Someone else (without the lock) finished first: use theirs.
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def ensure_django_tests(version: str, cache: Path | None = None) -> Path:
    """The ``tests/`` folder of Django ``version``'s sdist, downloaded if needed.

    Raises ``DownloadError`` when it cannot be had.
    """
    cache = cache or sdist_cache_dir()
    destination = cache / f"django-{version}"
    tests_dir = destination / "tests"
    if (tests_dir / "runtests.py").is_file():
        return tests_dir
    cache.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache / ".lock"):
        if (tests_dir / "runtests.py").is_file():  # another run made it meanwhile
            return tests_dir
        sdist = _find_sdist(cache, version) or _download_sdist(version, cache)
        try:
            _extract_tests(sdist, destination)
        except DownloadError:
            # Maybe a corrupt sdist: fetch it again once.
            sdist.unlink()
            _extract_tests(_download_sdist(version, cache), destination)
    return tests_dir


# -- the swap -----------------------------------------------------------------


def default_implementation() -> str:
    """The implementation ``fastdispatch.dispatcher`` picked (compiled if available)."""
    from fastdispatch import dispatcher

    return "fastdispatch._dispatcher_c" if dispatcher.COMPILED else "fastdispatch._dispatcher_py"


def swap_in(impl_name: str) -> ModuleType:
    """Make ``django.dispatch`` and ``django.dispatch.dispatcher`` fastdispatch's.

    Call it before anything imports ``django.dispatch``; Signals created
    earlier (if any) would stay Django's.
    """
    impl = importlib.import_module(impl_name)
    missing = [
        name
        for name in ("Signal", "receiver", "_make_id", "NONE_ID", "NO_RECEIVERS")
        if not hasattr(impl, name)
    ]
    if missing:
        raise SystemExit(f"{impl_name} lacks {', '.join(missing)}: not a dispatcher")
    # The alias: importing (or mock.patch-ing) django.dispatch.dispatcher gets
    # the implementation module itself.
    sys.modules["django.dispatch.dispatcher"] = impl
    import django.dispatch  # its `from django.dispatch.dispatcher import ...` gets impl

    django.dispatch.dispatcher = impl  # type: ignore[attr-defined]
    django.dispatch.Signal = impl.Signal  # type: ignore[attr-defined]
    django.dispatch.receiver = impl.receiver  # type: ignore[attr-defined]
    return impl


def _make_id_patch_reaches(impl: ModuleType) -> bool:
    """Whether ``mock.patch("django.dispatch.dispatcher._make_id")`` changes
    what the implementation's ``Signal`` uses (Django's
    ``test_garbage_collected_sender`` relies on it)."""
    from unittest import mock

    calls: list[object] = []
    real_make_id = impl._make_id

    def fake_make_id(target: object) -> object:
        calls.append(target)
        return real_make_id(target)

    class Sender:
        pass

    def listener(**kwargs: object) -> None:
        pass

    signal = impl.Signal()
    sender = Sender()
    with mock.patch("django.dispatch.dispatcher._make_id", fake_make_id):
        signal.connect(listener, sender=sender)
        signal.send(sender=sender)
        signal.disconnect(listener, sender=sender)
    return any(target is sender for target in calls) and impl._make_id is real_make_id


def swap_report(impl: ModuleType, apps: list[str]) -> list[tuple[str, bool]]:
    """(description, holds) for each thing the swap must have achieved."""
    import django.dispatch

    checks = [
        (
            f'sys.modules["django.dispatch.dispatcher"] is {impl.__name__}',
            sys.modules.get("django.dispatch.dispatcher") is impl,
        ),
        (
            f"django.dispatch.dispatcher is {impl.__name__}",
            getattr(django.dispatch, "dispatcher", None) is impl,
        ),
        (
            f"django.dispatch.Signal, receiver are {impl.__name__}'s",
            django.dispatch.Signal is impl.Signal
            and django.dispatch.receiver is impl.receiver,
        ),
    ]
    for app in apps:
        module = sys.modules.get(f"{app}.tests")
        if module is None:
            continue
        dispatch_module = getattr(module, "dispatch", None)  # `from django import dispatch`
        if isinstance(dispatch_module, ModuleType):
            checks.append(
                (
                    f"{app}.tests.dispatch.Signal is {impl.__name__}.Signal",
                    getattr(dispatch_module, "Signal", None) is impl.Signal,
                )
            )
        for attribute in ("Signal", "receiver"):
            if hasattr(module, attribute):
                checks.append(
                    (
                        f"{app}.tests.{attribute} is {impl.__name__}.{attribute}",
                        getattr(module, attribute) is getattr(impl, attribute),
                    )
                )
    return checks


def builtin_signals_report(impl: ModuleType) -> str:
    """Whether Django's own signals (created at import) are fastdispatch's."""
    names = {
        "django.db.models.signals": ("post_save", "pre_migrate"),
        "django.core.signals": ("request_started",),
        "django.test.signals": ("setting_changed",),
    }
    ours, theirs = [], []
    for module_name, attributes in names.items():
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for attribute in attributes:
            signal = getattr(module, attribute, None)
            (ours if isinstance(signal, impl.Signal) else theirs).append(attribute)
    if theirs:
        return f"NOT all fastdispatch (still Django's: {', '.join(theirs)})"
    return f"fastdispatch ({', '.join(ours)})"


# -- running ------------------------------------------------------------------


class _Tee:
    """Writes through to ``stream``, keeping the tail to find unittest's summary."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._tail: collections.deque[str] = collections.deque(maxlen=4000)

    def write(self, text: str) -> int:
        self._tail.append(text)
        return self._stream.write(text)

    def tail(self) -> str:
        return "".join(self._tail)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def unittest_summary(output: str) -> tuple[int | None, str | None]:
    """``(N, status line)`` from the last ``Ran N tests`` in ``output``."""
    ran = None
    for ran in RAN_RE.finditer(output):
        pass
    if ran is None:
        return None, None
    status = STATUS_RE.search(output, ran.end())
    return int(ran.group(1)), status.group(0).strip() if status else None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    parser = argparse.ArgumentParser(
        description="Run apps of Django's test suite against fastdispatch.",
        epilog="Arguments after -- go to Django's runtests.py.",
    )
    parser.add_argument(
        "apps", nargs="*", default=list(DEFAULT_APPS),
        help="test apps/labels of Django's tests/ (default: dispatch)",
    )
    parser.add_argument(
        "--impl", metavar="MODULE",
        help="implementation module (default: the one fastdispatch.dispatcher picks)",
    )
    parser.add_argument(
        "--tests-dir", type=Path, metavar="DIR",
        help="Django's tests/ folder (default: download the installed version's)",
    )
    parser.add_argument("-v", "--verbosity", default="2", help="runtests.py verbosity")
    options = parser.parse_args(argv)

    import django  # only django/__init__: django.dispatch is not imported yet

    if "django.dispatch" in sys.modules or "django.dispatch.dispatcher" in sys.modules:
        raise SystemExit("django.dispatch was imported before the swap")
    tests_dir = options.tests_dir
    if tests_dir is None:
        try:
            tests_dir = ensure_django_tests(django.__version__)
        except DownloadError as error:
            print(error, file=sys.stderr)
            return 2
    tests_dir = tests_dir.resolve()
    runtests = tests_dir / "runtests.py"
    if not runtests.is_file():
        print(f"{runtests} does not exist", file=sys.stderr)
        return 2

    impl_name = options.impl or default_implementation()
    impl = swap_in(impl_name)
    patch_reaches = _make_id_patch_reaches(impl)

    # As `cd tests && ./runtests.py ...` would: the script's folder first on
    # sys.path (for test_sqlite and the test apps), and it as the cwd.
    tee = _Tee(sys.stderr)
    sys.stderr = tee  # unittest's TextTestRunner writes to sys.stderr
    sys.argv = [str(runtests), *options.apps, "--parallel", "1",
                "--verbosity", options.verbosity, "--noinput", *extra]
    sys.path.insert(0, str(tests_dir))
    os.chdir(tests_dir)
    status: int = 0
    try:
        runpy.run_path(str(runtests), run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
        if not isinstance(code, (int, type(None))):
            print(code, file=sys.stderr)
    finally:
        sys.stderr = tee._stream  # type: ignore[assignment]
        sys.stdout.flush()

    checks = swap_report(impl, options.apps)
    checks.append(
        ('mock.patch("django.dispatch.dispatcher._make_id") reaches its Signal',
         patch_reaches)
    )
    ran, unittest_status = unittest_summary(tee.tail())
    lines = [
        "-" * 70,
        f"Django {django.__version__}, apps: {' '.join(options.apps)}, tests from {tests_dir}",
        IMPLEMENTATION_FILE_LINE + str(getattr(impl, "__file__", "?")),
        *(f"swap check: {text}: {'yes' if holds else 'NO'}" for text, holds in checks),
        f"Django's built-in signals: {builtin_signals_report(impl)}",
        IMPLEMENTATION_LINE + impl.__name__,
        "unittest summary: "
        + (f"ran {ran} tests, {unittest_status}" if ran is not None else "no summary found"),
    ]
    sys.stderr.flush()
    print("\n".join(lines), flush=True)
    if not all(holds for _, holds in checks):
        print("The swap did not hold: these tests did not exercise fastdispatch.", flush=True)
        return SWAP_FAILED_EXIT
    return status


if __name__ == "__main__":
    sys.exit(main())
