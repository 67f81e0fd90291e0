"""Free-threaded CPython: importing the compiled core keeps the GIL off.

An extension that is not declared free-threading compatible turns the GIL
back on when it is imported (with a RuntimeWarning). These run only on a
free-threaded build (3.13t); elsewhere there is no GIL to keep off.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from .helpers import COMPILED, FREE_THREADED

pytestmark = pytest.mark.skipif(
    not FREE_THREADED, reason="needs a free-threaded CPython build (python3.13t)"
)


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", textwrap.dedent(code)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.skipif(COMPILED is None, reason="the compiled extension is not built")
def test_importing_the_compiled_core_keeps_the_gil_off() -> None:
    # PYTHON_GIL unset: the interpreter decides, and would re-enable the GIL
    # (warning, an error here) for an extension not declared compatible.
    result = _run(
        """
        import sys
        assert not sys._is_gil_enabled(), "the GIL was on before the import"
        import fastdispatch, fastdispatch._dispatcher_c
        assert fastdispatch.COMPILED
        print(sys._is_gil_enabled())
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_pure_implementation_keeps_the_gil_off() -> None:
    result = _run(
        """
        import sys
        import fastdispatch
        assert not fastdispatch.COMPILED
        sig = fastdispatch.Signal()
        sig.connect(lambda sender, **kwargs: None, weak=False)
        sig.send(None)
        print(sys._is_gil_enabled())
        """,
        FASTDISPATCH_NO_EXTENSIONS="1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
