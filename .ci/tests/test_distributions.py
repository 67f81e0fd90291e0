"""The packaging rules: distributions' contents and the tools' output."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from checks import distributions as rules

ROOT = Path(__file__).resolve().parents[2]
STALE = "_dispatcher_c.cpython-00-stale-leftover.so"
COMPILED = "fastdispatch/_dispatcher_c.cpython-311-x86_64-linux-gnu.so"
PACKAGE = ["fastdispatch/__init__.py", "fastdispatch/dispatcher.py", "fastdispatch/py.typed"]
DIST_INFO = ["fastdispatch-0.1.0.dist-info/METADATA", "fastdispatch-0.1.0.dist-info/WHEEL"]
# What `auditwheel show` printed here (auditwheel 6.8.2), platform tag wrapped
# onto its own line as it was.
AUDITWHEEL_SHOW = """\
fastdispatch-0.1.0-cp311-cp311-linux_x86_64.whl is consistent with the
following platform tag: "manylinux_2_17_x86_64".

The wheel references external versioned symbols in these
system-provided shared libraries: libc.so.6 with versions
{'GLIBC_2.14', 'GLIBC_2.2.5'}
"""


def wheel(*names: str, tags: tuple[str, ...] = ("cp311-cp311-linux_x86_64",)) -> rules.Wheel:
    return rules.Wheel(tuple(names), tags)


def test_a_complete_clean_sdist_passes() -> None:
    names = [*rules.SDIST_REQUIRED, "src/fastdispatch/dispatcher.py", "LICENSE", "PKG-INFO"]
    assert rules.sdist_problems(names) == []


def test_sdist_missing_files_and_leftovers_are_named() -> None:
    names = [n for n in rules.SDIST_REQUIRED if n != "csrc/_dispatcher_c.pyx"]
    names += [f"src/fastdispatch/{STALE}", "csrc/_dispatcher_c.c", "src/fastdispatch/__pycache__/x.pyc"]
    names += [".venv/bin/python", "build/lib/x.py"]
    assert rules.sdist_problems(names) == [
        "sdist: csrc/_dispatcher_c.pyx missing",
        f"sdist: build leftover src/fastdispatch/{STALE}",
        "sdist: build leftover csrc/_dispatcher_c.c",
        "sdist: build leftover src/fastdispatch/__pycache__/x.pyc",
        "sdist: unwanted src/fastdispatch/__pycache__/x.pyc",
        "sdist: unwanted .venv/bin/python",
        "sdist: unwanted build/lib/x.py",
    ]


def test_a_good_platform_wheel_passes() -> None:
    assert rules.platform_wheel_problems(wheel(*PACKAGE, COMPILED, *DIST_INFO), STALE) == []


def test_the_planted_stale_so_in_the_platform_wheel_fails_twice() -> None:
    problems = rules.platform_wheel_problems(
        wheel(*PACKAGE, COMPILED, f"fastdispatch/{STALE}", *DIST_INFO), STALE
    )
    assert problems == [
        "platform wheel: expected one compiled fastdispatch/_dispatcher_c module, found "
        f"['{COMPILED}', 'fastdispatch/{STALE}']",
        f"platform wheel: stale fastdispatch/{STALE}",
    ]


def test_platform_wheel_rules() -> None:
    bad = wheel(
        "fastdispatch/__init__.py",
        "fastdispatch/_dispatcher_c.c",
        "tests/conftest.py",
        tags=("py3-none-any",),
    )
    assert rules.platform_wheel_problems(bad, STALE) == [
        "platform wheel: expected one compiled fastdispatch/_dispatcher_c module, found []",
        "platform wheel is tagged ['py3-none-any']",
        "platform wheel: py.typed missing",
        "platform wheel: build leftover fastdispatch/_dispatcher_c.c",
        "platform wheel: unwanted tests/conftest.py",
    ]
    assert "platform wheel is tagged []" in rules.platform_wheel_problems(
        wheel(*PACKAGE, COMPILED, tags=()), STALE
    )


def test_pure_wheel_rules() -> None:
    assert rules.pure_wheel_problems(wheel(*PACKAGE, *DIST_INFO, tags=("py3-none-any",))) == []
    bad = wheel("fastdispatch/__init__.py", COMPILED, "csrc/_dispatcher_c.pyx")
    assert rules.pure_wheel_problems(bad) == [
        "pure wheel is tagged ['cp311-cp311-linux_x86_64'], not py3-none-any",
        "pure wheel: py.typed missing",
        f"pure wheel: {COMPILED}",
        "pure wheel: csrc/_dispatcher_c.pyx",
        "pure wheel: unwanted csrc/_dispatcher_c.pyx",
    ]


def test_archives_are_read(tmp_path: Path) -> None:
    whl = tmp_path / "fastdispatch-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as archive:
        archive.writestr("fastdispatch/py.typed", "")
        archive.writestr("fastdispatch-0.1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
    assert rules.read_wheel(whl) == rules.Wheel(
        ("fastdispatch/py.typed", "fastdispatch-0.1.0.dist-info/WHEEL"), ("py3-none-any",)
    )
    sdist = tmp_path / "fastdispatch-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for name in ("fastdispatch-0.1.0", "fastdispatch-0.1.0/setup.py", "fastdispatch-0.1.0/src/x.py"):
            member = tarfile.TarInfo(name)
            archive.addfile(member, io.BytesIO(b""))
    assert rules.read_sdist_names(sdist) == ["setup.py", "src/x.py"]


def test_wheel_tags_and_file_name_tag() -> None:
    metadata = (
        "Wheel-Version: 1.0\nGenerator: setuptools\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n"
    )
    assert rules.wheel_tags(metadata) == ("cp311-cp311-linux_x86_64",)
    assert rules.wheel_tag("fastdispatch-0.1.0-cp311-cp311-linux_x86_64.whl") == "cp311-cp311-linux_x86_64"
    assert rules.wheel_tag("fastdispatch-0.1.0-py3-none-any.whl") == "py3-none-any"


def test_the_cython_pin() -> None:
    assert rules.exact_pin("# comment\ncython==3.3.1 ; python_version > '3'\n", "Cython") == "3.3.1"
    assert rules.exact_pin("Cython>=3.1\n", "Cython") is None
    assert rules.exact_pin("# Cython==1.0 in a comment\n", "Cython") is None
    assert rules.exact_pin((ROOT / "constraints" / "build.txt").read_text(), "Cython") is not None


def test_auditwheels_platform_tag() -> None:
    assert rules.auditwheel_platform_tag(AUDITWHEEL_SHOW) == "manylinux_2_17_x86_64"
    assert (
        rules.auditwheel_platform_tag(
            'fastdispatch.whl is consistent with\nthe following platform tag:\n"linux_x86_64".'
        )
        == "linux_x86_64"
    )
    assert rules.auditwheel_platform_tag("no ELF files") is None


def test_pip_and_pytest_output() -> None:
    pip_log = (
        "  Building wheel for fastdispatch (pyproject.toml): finished with status 'done'\n"
        "  Created wheel for fastdispatch: filename=fastdispatch-0.1.0-py3-none-any.whl size=2533 sha256=ab\n"
    )
    assert rules.built_wheel_name(pip_log) == "fastdispatch-0.1.0-py3-none-any.whl"
    assert rules.built_wheel_name("Created wheel for asgiref: filename=a.whl") is None
    pytest_log = (
        "fastdispatch implementations covered:   python,  compiled\n"
        "1 passed in 0.1s\n"
        "876 passed, 3 skipped in 507.03s (0:08:27)\n"
    )
    assert rules.covered_implementations(pytest_log) == "python, compiled"
    assert rules.covered_implementations("876 passed") is None
    assert rules.pytest_passed_line(pytest_log) == "876 passed, 3 skipped in 507.03s (0:08:27)"
    assert rules.pytest_passed_line("1 failed, 3 passed") is None


def test_lines_mypy_must_reject_in_the_real_wrong_usage_module() -> None:
    source = (ROOT / ".ci" / "typing" / "wrong_usage.py").read_text()
    lines = rules.lines_mypy_must_reject(source)
    assert len(lines) == 2
    first, second = lines
    output = f"wrong_usage.py:{first}: error: Incompatible types\nFound 1 error in 1 file\n"
    assert rules.unreported_lines(output, "wrong_usage.py", lines) == [second]
    output += f"wrong_usage.py:{second}: error: Argument 1\n"
    assert rules.unreported_lines(output, "wrong_usage.py", lines) == []


@pytest.mark.parametrize(("platform", "count"), [("linux", 20), ("macos", 10), ("windows", 5)])
def test_expected_build_identifiers(platform: str, count: int) -> None:
    expected = rules.expected_build_identifiers(platform, ("310", "311", "312", "313", "314"))
    assert len(expected) == len(set(expected)) == count
    assert expected == sorted(expected)


def test_build_identifiers() -> None:
    assert rules.expected_build_identifiers("windows", ("310", "311")) == [
        "cp310-win_amd64",
        "cp311-win_amd64",
    ]
    assert "cp314-musllinux_aarch64" in rules.expected_build_identifiers("linux", ("314",))
    with pytest.raises(ValueError, match="unknown platform 'ios'"):
        rules.expected_build_identifiers("ios", ("314",))
    output = "cibuildwheel 4.3.3\ncp311-win_amd64\npp311-win_amd64\ncp310-win_amd64\n\nwarning: x\n"
    assert rules.build_identifiers(output) == ["cp310-win_amd64", "cp311-win_amd64", "pp311-win_amd64"]


def test_the_workflow_s_cibuildwheel_version() -> None:
    workflow = (ROOT / ".github" / "workflows" / "wheels.yml").read_text()
    version = workflow.split("uses: pypa/cibuildwheel@v", 1)[1].split()[0]
    assert rules.workflow_uses_cibuildwheel(workflow, version)
    assert not rules.workflow_uses_cibuildwheel(workflow, version + "0")
    assert not rules.workflow_uses_cibuildwheel(workflow, version.rsplit(".", 1)[0])
