"""Run apps of Django's own test suite with fastdispatch installed into Django.

Usage (from anywhere; fastdispatch and Django must be importable)::

    python tests/django_suite/run_django_tests.py                    # dispatch app
    python tests/django_suite/run_django_tests.py dispatch signals
    python tests/django_suite/run_django_tests.py --impl python signals
    python tests/django_suite/run_django_tests.py --stock settings_tests  # no fastdispatch
    python tests/django_suite/run_django_tests.py dispatch -- --failfast

Django's test suite is not installed with Django: the sdist of the installed
version (``django.__version__``) is downloaded with ``pip download`` into
``.django-sdist/`` at the repository root (git-ignored; override with
``FASTDISPATCH_DJANGO_SDIST_DIR``) and only its ``tests/`` folder is extracted,
to ``.django-sdist/django-<version>/tests``. Later runs reuse it. A lock file
and an atomic rename keep concurrent runs from corrupting the cache.

Before anything imports ``django.dispatch``, the runner calls
``fastdispatch.django.install()`` (what a Django project does in manage.py),
so ``django.dispatch.Signal`` is fastdispatch's and every signal Django and
the test apps create is a fastdispatch signal. Then Django's
``tests/runtests.py`` runs in this process (``--parallel 1``: no worker
processes that would miss the install).

The last lines printed say which implementation ran, whether the install held
(every signal of Django's signal modules accelerated, ``mock.patch`` of
``django.dispatch.dispatcher._make_id`` reaching the implementation...), and
repeat unittest's summary (``Ran N tests in ...`` and ``OK``/``FAILED``).
Exit status: runtests.py's (0 when the tests passed), or 3 when the install
did not hold (the tests would not have exercised fastdispatch).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib
import os
import platform
import re
import runpy
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]
SDIST_DIR_ENV = "FASTDISPATCH_DJANGO_SDIST_DIR"
DEFAULT_APPS = ("dispatch",)

# The wider set: apps of Django's tests/ that exercise signals, and which.
# auth_tests runs without test_hashers (password hashing, no signals, two
# thirds of the app's time); see wide_labels().
WIDE_APPS: dict[str, str] = {
    "m2m_signals": "m2m_changed",
    "migrate_signals": "pre_migrate, post_migrate",
    "delete": "pre_delete, post_delete (and has_listeners() fast paths of the collector)",
    "delete_regress": "pre_delete, post_delete",
    "model_fields": "post_init (ImageField dimensions), class_prepared",
    "fixtures": "pre_save/post_save with raw=True from loaddata",
    "fixtures_regress": "pre_save/post_save from loaddata",
    "auth_tests": "user_logged_in/out, user_login_failed, post_migrate (permissions), setting_changed",
    "test_utils": "setting_changed (override_settings), template_rendered",
    "contenttypes_tests": "post_migrate (content types), pre_migrate",
    "invalid_models_tests": "system checks of lazy model signal references (signals.E001)",
    "check_framework": "system checks of lazy model signal references",
    "update_only_fields": "pre_save/post_save update_fields",
    "proxy_models": "model signals with proxy senders",
    "many_to_many": "m2m_changed",
    "generic_relations_regress": "model signals of generic relations",
    "settings_tests": "setting_changed",
    "handlers": "request_started, request_finished, got_request_exception",
    "test_client": "template_rendered, request signals",
    "defer_regress": "post_init/post_save of deferred-field models",
    "sites_tests": "post_migrate (create_default_site), pre_delete/pre_save cache clearing",
    "multiple_database": "model and m2m signals with `using`",
    "asgi": "request_started/request_finished from async handlers (thread sensitivity)",
    "wsgi": "request_finished",
    "backends": "connection_created",
    "model_inheritance": "model signals of parent and child models",
    "migrations.test_commands": "pre_migrate/post_migrate from the migrate command",
}
WIDE_EXCLUDED_MODULES = {"auth_tests.test_hashers"}

# unittest's verbose result of each test (verbosity 2): the test's line, maybe
# its docstring's first line, then " ... ok" (or "skipped 'why'", "FAIL"...).
RESULT_RE = re.compile(
    r"^\w+ \((?P<id>[\w.]+)\)(?:\n[^\n]*?)? \.\.\. "
    r"(?P<result>ok|skipped|expected failure|unexpected success|FAIL|ERROR)",
    re.MULTILINE,
)
APP_COUNTS_LINE = "tests by app: "


def wide_labels(tests_dir: Path) -> list[str]:
    """The test labels of the wider set for Django's ``tests_dir``."""
    labels = []
    for app in WIDE_APPS:
        modules = sorted(
            f"{app}.{path.stem}" for path in (tests_dir / app).glob("test*.py")
        )
        if any(module in WIDE_EXCLUDED_MODULES for module in modules):
            labels += [m for m in modules if m not in WIDE_EXCLUDED_MODULES]
        else:
            labels.append(app)
    return labels


def counts_by_app(output: str) -> dict[str, collections.Counter[str]]:
    """``{app: Counter(ok=.., skipped=.., ...)}`` from unittest's verbose results."""
    counts: dict[str, collections.Counter[str]] = {}
    for match in RESULT_RE.finditer(output):
        app = match.group("id").partition(".")[0]
        counts.setdefault(app, collections.Counter())[match.group("result")] += 1
    return counts


def format_counts(counts: dict[str, collections.Counter[str]]) -> str:
    """``app=ran/ok/skipped/other`` for each app, space-separated."""
    parts = []
    for app, counter in sorted(counts.items()):
        ran = sum(counter.values())
        other = ran - counter["ok"] - counter["skipped"]  # failures, errors, xfails
        parts.append(f"{app}={ran}/{counter['ok']}/{counter['skipped']}/{other}")
    return " ".join(parts)


IMPLEMENTATION_LINE = "fastdispatch implementation: "
IMPLEMENTATION_FILE_LINE = "fastdispatch implementation file: "
INSTALL_FAILED_EXIT = 3

# unittest's summary, as TextTestRunner prints it.
RAN_RE = re.compile(r"^Ran (\d+) tests? in [0-9.]+s$", re.MULTILINE)
STATUS_RE = re.compile(r"^(OK|FAILED)\b.*$", re.MULTILINE)


def run_captured(
    command: list[str], *, timeout: float, **options: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` (``options`` as for ``subprocess.run``): its stdout and
    stderr, interleaved, as text in ``.stdout``."""
    return subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        **options,
    )


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
            completed = run_captured(command, timeout=900)
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


# -- the install --------------------------------------------------------------

IMPLEMENTATIONS = {
    "compiled": "fastdispatch._dispatcher_c",
    "python": "fastdispatch._dispatcher_py",
}


def implementation_name(impl: str | None) -> str | None:
    """``compiled``/``python`` from either that or a module name; None: default."""
    if impl is None or impl in IMPLEMENTATIONS:
        return impl
    for name, module_name in IMPLEMENTATIONS.items():
        if impl == module_name:
            return name
    raise SystemExit(
        f"--impl: {impl!r} is not one of {', '.join([*IMPLEMENTATIONS, *IMPLEMENTATIONS.values()])}"
    )


def _make_id_patch_reaches(impl: ModuleType) -> bool:
    """Whether ``mock.patch("django.dispatch.dispatcher._make_id")`` changes
    what the installed ``Signal`` uses (Django's
    ``test_garbage_collected_sender`` relies on it)."""
    from unittest import mock

    import django.dispatch

    calls: list[object] = []
    real_make_id = impl._make_id

    def fake_make_id(target: object) -> object:
        calls.append(target)
        return real_make_id(target)

    class Sender:
        pass

    def listener(**kwargs: object) -> None:
        pass

    signal = django.dispatch.Signal()
    sender = Sender()
    with mock.patch("django.dispatch.dispatcher._make_id", fake_make_id):
        signal.connect(listener, sender=sender)
        signal.send(sender=sender)
        signal.disconnect(listener, sender=sender)
    return any(target is sender for target in calls) and impl._make_id is real_make_id


def install_report(impl: ModuleType, apps: list[str]) -> list[tuple[str, bool]]:
    """(description, holds) for each thing the install must have achieved."""
    import django.dispatch

    import fastdispatch.django

    installed = django.dispatch.Signal
    checks = [
        (
            f"django.dispatch.Signal is a subclass of {impl.__name__}.Signal",
            isinstance(installed, type) and issubclass(installed, impl.Signal),
        ),
        (
            "django.dispatch.dispatcher.Signal is django.dispatch.Signal",
            sys.modules["django.dispatch.dispatcher"].Signal is installed,  # type: ignore[attr-defined]
        ),
        (
            "Signal.connect keeps Django's __module__ (signals.E001 check)",
            getattr(installed.connect, "__module__", None) == "django.dispatch.dispatcher",
        ),
    ]
    for app in apps:
        module = sys.modules.get(f"{app.partition('.')[0]}.tests")
        if module is None:
            continue
        dispatch_module = getattr(module, "dispatch", None)  # `from django import dispatch`
        if isinstance(dispatch_module, ModuleType):
            checks.append(
                (
                    f"{module.__name__}.dispatch.Signal is the installed Signal",
                    getattr(dispatch_module, "Signal", None) is installed,
                )
            )
        if hasattr(module, "Signal"):
            checks.append(
                (
                    f"{module.__name__}.Signal is the installed Signal",
                    module.Signal is installed,
                )
            )
    report = fastdispatch.django.accelerated_signals(import_django=True)
    stock = [name for name, ours in report.items() if not ours]
    django_signals = [
        name
        for name in report
        if name.rpartition(".")[0] in fastdispatch.django.DJANGO_SIGNAL_MODULES
    ]
    checks.append(
        (
            f"every signal is a fastdispatch signal ({len(report)} signals, "
            f"{len(django_signals)} of them in Django's signal modules"
            + (f"; NOT: {', '.join(stock)}" if stock else "")
            + ")",
            not stock and len(django_signals) >= 20,
        )
    )
    return checks


# -- running ------------------------------------------------------------------


class _Tee:
    """Writes through to ``stream``, keeping a copy (unittest's results)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._chunks: list[str] = []

    def write(self, text: str) -> int:
        self._chunks.append(text)
        return self._stream.write(text)

    def text(self) -> str:
        return "".join(self._chunks)

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
        description="Run apps of Django's test suite with fastdispatch installed.",
        epilog="Arguments after -- go to Django's runtests.py.",
    )
    parser.add_argument(
        "apps", nargs="*",
        help="test apps/labels of Django's tests/ (default: dispatch)",
    )
    parser.add_argument(
        "--wide", action="store_true",
        help="add the wider set of signal-heavy apps (WIDE_APPS) to the apps",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--impl", metavar="IMPL",
        help="compiled or python (or the module name; default: the one "
        "fastdispatch.dispatcher picks)",
    )
    group.add_argument(
        "--stock", action="store_true",
        help="do not install fastdispatch: run on Django's own dispatcher (for comparison)",
    )
    parser.add_argument(
        "--tests-dir", type=Path, metavar="DIR",
        help="Django's tests/ folder (default: download the installed version's)",
    )
    parser.add_argument("-v", "--verbosity", default="2", help="runtests.py verbosity")
    options = parser.parse_args(argv)

    import django  # only django/__init__: django.dispatch is not imported yet

    if "django.dispatch" in sys.modules or "django.dispatch.dispatcher" in sys.modules:
        raise SystemExit("django.dispatch was imported before fastdispatch.django.install()")
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
    apps = list(options.apps) + (wide_labels(tests_dir) if options.wide else [])
    apps = apps or list(DEFAULT_APPS)

    impl: ModuleType | None = None
    patch_reaches = False
    if not options.stock:
        import fastdispatch.django

        fastdispatch.django.install(implementation=implementation_name(options.impl))
        impl = importlib.import_module(
            IMPLEMENTATIONS[fastdispatch.django.installed_implementation() or ""]
        )
        patch_reaches = _make_id_patch_reaches(impl)

    # As `cd tests && ./runtests.py ...` would: the script's folder first on
    # sys.path (for test_sqlite and the test apps), and it as the cwd.
    tee = _Tee(sys.stderr)
    sys.stderr = tee  # unittest's TextTestRunner writes to sys.stderr
    sys.argv = [str(runtests), *apps, "--parallel", "1",
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

    output = tee.text()
    ran, unittest_status = unittest_summary(output)
    lines = [
        "-" * 70,
        f"Django {django.__version__}, Python {platform.python_version()}, "
        f"apps: {' '.join(apps)}, tests from {tests_dir}",
    ]
    checks: list[tuple[str, bool]] = []
    if impl is not None:
        checks = install_report(impl, apps)
        checks.append(
            ('mock.patch("django.dispatch.dispatcher._make_id") reaches the installed Signal',
             patch_reaches)
        )
        lines.append(IMPLEMENTATION_FILE_LINE + str(getattr(impl, "__file__", "?")))
        lines += [f"install check: {text}: {'yes' if holds else 'NO'}" for text, holds in checks]
    counts = counts_by_app(output)
    if counts:
        lines.append(APP_COUNTS_LINE + "(ran/ok/skipped/other) " + format_counts(counts))
    lines += [
        IMPLEMENTATION_LINE + (impl.__name__ if impl is not None else "none (stock django.dispatch)"),
        "unittest summary: "
        + (f"ran {ran} tests, {unittest_status}" if ran is not None else "no summary found"),
    ]
    sys.stderr.flush()
    print("\n".join(lines), flush=True)
    if not all(holds for _, holds in checks):
        print("The install did not hold: these tests did not exercise fastdispatch.", flush=True)
        return INSTALL_FAILED_EXIT
    return status


if __name__ == "__main__":
    sys.exit(main())
