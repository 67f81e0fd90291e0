"""The valgrind driver's own assertions hold on both implementations (run
here as valgrind runs it, in its own process, without valgrind), so a failure
under valgrind means valgrind's finding or a real bug, not a wrong driver."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from checks import memcheck_driver


@pytest.mark.parametrize("implementation", ["python", "compiled"])
def test_every_scenario_passes(implementation: str) -> None:
    pytest.importorskip("fastdispatch")
    if importlib.util.find_spec(memcheck_driver.IMPLEMENTATIONS[implementation]) is None:
        pytest.skip(f"the {implementation} implementation is not importable (extension not built)")
    option = ["--python"] if implementation == "python" else []
    driver = subprocess.run(
        [sys.executable, memcheck_driver.__file__, *option], capture_output=True, text=True, timeout=300
    )
    assert (driver.returncode, driver.stdout, driver.stderr) == (0, "DRIVER OK\n", "")


def test_every_scenario_runs_on_the_compiled_module() -> None:
    """The pure implementation skips only what it cannot do (no __init__)."""
    compiled, python = memcheck_driver.SCENARIOS["compiled"], memcheck_driver.SCENARIOS["python"]
    assert set(compiled) - set(python) == {memcheck_driver.subclass_without_init}
    assert len(set(compiled)) == len(compiled) == 7


def test_a_failing_assertion_fails_the_driver() -> None:
    with pytest.raises(AssertionError, match="the reason"):
        memcheck_driver.check(False, "the reason")
    memcheck_driver.check(True, "never raised")
