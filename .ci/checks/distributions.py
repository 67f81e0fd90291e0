"""What fastdispatch's distributions must (and must not) contain, and what the
packaging tools' output must say: the pure rules of ``checks.packaging_proof``.

- sdist: the files a build from it needs (pyproject.toml, setup.py, the .pyx,
  the build constraints, the package with py.typed, the tests), and no build
  leftovers (.c, .so, .pyd, .dylib, .o, .pyc, .html, __pycache__, .venv,
  .django-sdist, build/, dist/).
- platform wheel: exactly one compiled ``fastdispatch/_dispatcher_c`` module,
  a platform tag (not none-any), py.typed, no sources or build leftovers
  (.c, .pyx, .pxd, .h, .html, .o), no tests/, csrc/ or benchmarks/, and not
  the stale .so planted in the source tree.
- pure wheel: tagged py3-none-any only, py.typed, no compiled or C files,
  no tests/, csrc/ or benchmarks/.
- tool output: the exact Cython pin of constraints/build.txt, auditwheel's
  platform tag, the wheel pip built, the implementations the suite covered,
  mypy's errors on the lines it must reject, cibuildwheel's identifiers.

Each ``*_problems`` function returns the broken rules as messages (empty: all
good). Imported by ``checks.packaging_proof``; unit tests in ``.ci/tests``.
"""

from __future__ import annotations

import re
import tarfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SDIST_REQUIRED = (
    "pyproject.toml",
    "setup.py",
    "README.md",
    "MANIFEST.in",
    "csrc/_dispatcher_c.pyx",
    "constraints/build.txt",
    "src/fastdispatch/__init__.py",
    "src/fastdispatch/py.typed",
    "tests/conftest.py",
    "tests/django_suite/__init__.py",
    "tests/typing/user_module.py",
)
SDIST_LEFTOVER_SUFFIXES = (".c", ".so", ".pyd", ".dylib", ".o", ".pyc", ".html")
SDIST_UNWANTED_PREFIXES = (".venv", ".django-sdist", "build/", "dist/")
PLATFORM_WHEEL_LEFTOVER_SUFFIXES = (".c", ".pyx", ".pxd", ".h", ".html", ".o")
PURE_WHEEL_UNWANTED_SUFFIXES = (".c", ".pyx", ".pxd", ".h", ".so", ".pyd", ".o")
WHEEL_UNWANTED_PREFIXES = ("tests/", "csrc/", "benchmarks/")
COMPILED_MODULE_PREFIX = "fastdispatch/_dispatcher_c."
COMPILED_SUFFIXES = (".so", ".pyd")
TYPED_MARKER = "fastdispatch/py.typed"
PURE_TAG = "py3-none-any"


@dataclass(frozen=True)
class Wheel:
    names: tuple[str, ...]
    tags: tuple[str, ...]

    def compiled_modules(self) -> list[str]:
        return [
            name
            for name in self.names
            if name.startswith(COMPILED_MODULE_PREFIX) and name.endswith(COMPILED_SUFFIXES)
        ]


def wheel_tags(wheel_metadata: str) -> tuple[str, ...]:
    """The ``Tag:`` values of a wheel's ``.dist-info/WHEEL`` file."""
    prefix = "Tag: "
    return tuple(line[len(prefix) :] for line in wheel_metadata.splitlines() if line.startswith(prefix))


def read_wheel(path: Path) -> Wheel:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/WHEEL"))
        return Wheel(tuple(names), wheel_tags(archive.read(metadata).decode()))


def read_sdist_names(path: Path) -> list[str]:
    """The sdist's member names below its top directory (``name-version/``)."""
    with tarfile.open(path) as archive:
        return [n.split("/", 1)[1] for n in archive.getnames() if "/" in n]


def sdist_problems(names: Sequence[str]) -> list[str]:
    problems = [f"sdist: {needed} missing" for needed in SDIST_REQUIRED if needed not in names]
    for name in names:
        if name.endswith(SDIST_LEFTOVER_SUFFIXES):
            problems.append(f"sdist: build leftover {name}")
        if "__pycache__" in name or name.startswith(SDIST_UNWANTED_PREFIXES):
            problems.append(f"sdist: unwanted {name}")
    return problems


def platform_wheel_problems(wheel: Wheel, stale_leftover: str) -> list[str]:
    problems = []
    modules = wheel.compiled_modules()
    if len(modules) != 1:
        problems.append(
            f"platform wheel: expected one compiled fastdispatch/_dispatcher_c module, found {modules}"
        )
    if not wheel.tags or any("none-any" in tag for tag in wheel.tags):
        problems.append(f"platform wheel is tagged {list(wheel.tags)}")
    if TYPED_MARKER not in wheel.names:
        problems.append("platform wheel: py.typed missing")
    for name in wheel.names:
        if name.endswith(PLATFORM_WHEEL_LEFTOVER_SUFFIXES):
            problems.append(f"platform wheel: build leftover {name}")
        if name.startswith(WHEEL_UNWANTED_PREFIXES):
            problems.append(f"platform wheel: unwanted {name}")
        if stale_leftover in name:
            problems.append(f"platform wheel: stale {name}")
    return problems


def pure_wheel_problems(wheel: Wheel) -> list[str]:
    problems = []
    if wheel.tags != (PURE_TAG,):
        problems.append(f"pure wheel is tagged {list(wheel.tags)}, not {PURE_TAG}")
    if TYPED_MARKER not in wheel.names:
        problems.append("pure wheel: py.typed missing")
    for name in wheel.names:
        if name.endswith(PURE_WHEEL_UNWANTED_SUFFIXES):
            problems.append(f"pure wheel: {name}")
        if name.startswith(WHEEL_UNWANTED_PREFIXES):
            problems.append(f"pure wheel: unwanted {name}")
    return problems


def exact_pin(constraints: str, package: str) -> str | None:
    """The version of ``package==X`` in a constraints file (case-insensitive
    name), or None when it is not pinned exactly."""
    pattern = re.compile(rf"^{re.escape(package)}==([^\s;#]+)", re.IGNORECASE | re.MULTILINE)
    match = pattern.search(constraints)
    return match.group(1) if match else None


def auditwheel_platform_tag(show_output: str) -> str | None:
    """The first ``platform tag: "..."`` of ``auditwheel show`` (wrapped lines
    joined)."""
    match = re.search(r'platform tag:\s*"([^"]*)"', " ".join(show_output.splitlines()))
    return match.group(1) if match else None


def built_wheel_name(pip_log: str, project: str = "fastdispatch") -> str | None:
    """The wheel file name pip says it created for ``project`` (pip -v)."""
    match = re.search(rf"Created wheel for {re.escape(project)}: filename=(\S+)", pip_log)
    return match.group(1) if match else None


def wheel_tag(wheel_filename: str) -> str:
    """``python-abi-platform`` of a wheel file name (build tags aside)."""
    return "-".join(Path(wheel_filename).stem.split("-")[-3:])


def covered_implementations(pytest_log: str) -> str | None:
    """What the suite's ``fastdispatch implementations covered:`` line says."""
    prefix = "fastdispatch implementations covered:"
    for line in pytest_log.splitlines():
        if line.startswith(prefix):
            return " ".join(line[len(prefix) :].split())
    return None


def pytest_passed_line(pytest_log: str) -> str | None:
    """The last pytest summary line that starts with ``N passed``."""
    lines = [line for line in pytest_log.splitlines() if re.match(r"[0-9]+ passed", line)]
    return lines[-1] if lines else None


MYPY_MUST_REJECT = "# mypy must reject this line"


def lines_mypy_must_reject(source: str) -> list[int]:
    """Line numbers (1-based) marked ``# mypy must reject this line``."""
    return [n for n, line in enumerate(source.splitlines(), 1) if line.endswith(MYPY_MUST_REJECT)]


def unreported_lines(mypy_output: str, filename: str, lines: Iterable[int]) -> list[int]:
    """Those of ``lines`` of ``filename`` on which mypy reported no error."""
    return [n for n in lines if f"{filename}:{n}: error" not in mypy_output]


def expected_build_identifiers(platform: str, pythons: Sequence[str]) -> list[str]:
    """cibuildwheel's identifiers for [tool.cibuildwheel] in pyproject.toml:
    CPython ``pythons`` (e.g. "310", or "313t" for a free-threaded build); linux: manylinux and
    musllinux on x86_64 and aarch64; macos: x86_64 and arm64; windows: AMD64."""
    if platform == "linux":
        suffixes = [f"{libc}_{arch}" for libc in ("manylinux", "musllinux") for arch in ("x86_64", "aarch64")]
    elif platform == "macos":
        suffixes = ["macosx_x86_64", "macosx_arm64"]
    elif platform == "windows":
        suffixes = ["win_amd64"]
    else:
        raise ValueError(f"unknown platform {platform!r}: linux, macos or windows")
    return sorted(f"cp{py}-{suffix}" for py in pythons for suffix in suffixes)


def build_identifiers(cibuildwheel_output: str) -> list[str]:
    """The identifiers ``cibuildwheel --print-build-identifiers`` printed, sorted."""
    return sorted(line for line in cibuildwheel_output.splitlines() if re.match(r"(cp|pp)[0-9]", line))


def workflow_uses_cibuildwheel(workflow: str, version: str) -> bool:
    """Whether the workflow's cibuildwheel action is ``pypa/cibuildwheel@v<version>``."""
    pattern = rf"uses: pypa/cibuildwheel@v{re.escape(version)}(?![\w.-])"
    return re.search(pattern, workflow) is not None
