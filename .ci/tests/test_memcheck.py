"""The memory check's set-up: suppressions, the valgrind command, PYTHONPATH."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from checks.memcheck import DRIVER, child_environment, find_suppressions, valgrind_command


def test_suppressions_first_existing_candidate(tmp_path: Path) -> None:
    (tmp_path / "doc-python3.11").mkdir()
    found = tmp_path / "doc-python3.11" / "valgrind-python.supp"
    found.write_text("")
    candidates = [str(tmp_path / "missing.supp"), str(tmp_path / "doc-python3*" / "valgrind-python.supp")]
    assert find_suppressions({}, candidates) == found
    assert find_suppressions({}, [str(tmp_path / "missing.supp")]) is None


def test_suppressions_override(tmp_path: Path) -> None:
    mine = tmp_path / "mine.supp"
    mine.write_text("")
    assert find_suppressions({"FASTDISPATCH_VALGRIND_SUPP": str(mine)}, []) == mine
    with pytest.raises(FileNotFoundError, match=r"FASTDISPATCH_VALGRIND_SUPP=.*: no such file"):
        find_suppressions({"FASTDISPATCH_VALGRIND_SUPP": str(tmp_path / "none.supp")}, [])


def test_the_valgrind_command(tmp_path: Path) -> None:
    command = valgrind_command("/venv/bin/python", tmp_path, Path("/s/python3.supp"))
    assert command[:2] == ["valgrind", "--tool=memcheck"]
    assert "--errors-for-leak-kinds=definite" in command
    assert "--suppressions=/s/python3.supp" in command
    assert f"--xml-file={tmp_path}/vg.%p.xml" in command
    assert command[-2:] == ["/venv/bin/python", str(DRIVER)]
    assert DRIVER.is_file()
    assert not any(a.startswith("--suppressions") for a in valgrind_command("py", tmp_path, None))


def test_src_comes_first_on_pythonpath() -> None:
    root = Path("/repo")
    assert child_environment({"A": "1"}, root) == {"A": "1", "PYTHONPATH": "/repo/src"}
    env = child_environment({"PYTHONPATH": "/other"}, root)
    assert env["PYTHONPATH"] == f"/repo/src{os.pathsep}/other"
