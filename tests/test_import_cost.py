"""``import fastdispatch`` stays cheap: asyncio, logging, inspect, typing and
threading are not imported until something needs them.

Each check runs in a fresh interpreter (the test process has them all loaded).
The import time itself is measured, not asserted: ``python -X importtime``,
see the README.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from fastdispatch import _dispatcher_py

from .helpers import IMPLEMENTATIONS

HEAVY = ("asyncio", "logging", "inspect", "typing", "threading", "asgiref", "django")


def _run(impl_name: str, code: str) -> str:
    env = dict(os.environ)
    if impl_name == "python":
        env["FASTDISPATCH_NO_EXTENSIONS"] = "1"
    else:
        env.pop("FASTDISPATCH_NO_EXTENSIONS", None)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(params=list(IMPLEMENTATIONS))
def impl_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_import_loads_nothing_heavy(impl_name: str) -> None:
    out = _run(
        impl_name,
        f"""
        import sys
        import fastdispatch
        assert fastdispatch.COMPILED is {impl_name == "compiled"}
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
        """,
    )
    assert out.strip() == "[]"


def test_sync_receivers_never_import_asyncio(impl_name: str) -> None:
    out = _run(
        impl_name,
        """
        import sys
        from fastdispatch import Signal, receiver

        plain, cached = Signal(), Signal(use_caching=True)

        class Listener:
            def method(self, sender, **kwargs):
                return "method"

        @receiver([plain, cached])
        def on_signal(sender, **kwargs):
            return "function"

        def failing(sender, **kwargs):
            raise ValueError("caught by send_robust")

        listener = Listener()
        for sig in (plain, cached):
            sig.connect(listener.method)
            sig.connect(failing)
            assert sig.has_listeners(Listener)
            responses = sig.send_robust(Listener, value=1)
            assert [r for _, r in responses][:2] == ["function", "method"], responses
            assert isinstance(responses[2][1], ValueError)
            sig.disconnect(failing)
            assert sig.send(Listener) == [
                (on_signal, "function"), (listener.method, "method")
            ]
        print("asyncio" in sys.modules)
        """,
    )
    assert out.strip() == "False"


def test_async_receivers_still_work_after_a_cheap_import(impl_name: str) -> None:
    out = _run(
        impl_name,
        """
        import sys
        from fastdispatch import Signal

        sig = Signal()

        async def on_signal(sender, **kwargs):
            return "async"

        sig.connect(on_signal)
        assert sig.receivers[0][3] is True  # recognised as async without asyncio
        assert "asyncio" not in sys.modules
        print(sig.send(None) == [(on_signal, "async")], "asyncio" in sys.modules)
        """,
    )
    assert out.strip() == "True True"


def test_the_pure_module_needs_no_typing_at_run_time() -> None:
    # Annotations are strings; the names exist for type checkers only.
    assert "Any" not in vars(_dispatcher_py)
