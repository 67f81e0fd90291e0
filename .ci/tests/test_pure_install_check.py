"""The pure-install check's rules (step 5 of the packaging proof)."""

from __future__ import annotations

from pathlib import Path

from checks.pure_install_check import problems


def test_a_pure_install_passes(tmp_path: Path) -> None:
    (tmp_path / "__init__.py").write_text("")
    assert problems(False, ImportError("no module"), tmp_path) == []


def test_each_broken_rule_is_named(tmp_path: Path) -> None:
    (tmp_path / "_dispatcher_c.cpython-311-x86_64-linux-gnu.so").write_text("")
    assert problems(True, None, tmp_path) == [
        "fastdispatch.COMPILED is True, not False",
        "fastdispatch.dispatcher.EXTENSION_IMPORT_ERROR is None",
        f"compiled-module files installed in {tmp_path}: ['_dispatcher_c.cpython-311-x86_64-linux-gnu.so']",
    ]
