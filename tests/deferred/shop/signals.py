"""Custom signals, one per dispatcher implementation (the tests send the one of
the implementation under test). Module attributes, so workers can import them."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from fastdispatch import _dispatcher_py

try:
    from fastdispatch import _dispatcher_c
except ImportError:  # a pure-Python install: only the python half runs
    _dispatcher_c = None

order_placed_python = _dispatcher_py.Signal()
order_placed_compiled = _dispatcher_c.Signal() if _dispatcher_c is not None else None

# Cached, as Django's model signals are.
order_shipped_python = _dispatcher_py.Signal(use_caching=True)
order_shipped_compiled = _dispatcher_c.Signal(use_caching=True) if _dispatcher_c is not None else None


def impl_name(impl: ModuleType) -> str:
    return {"fastdispatch._dispatcher_py": "python", "fastdispatch._dispatcher_c": "compiled"}[impl.__name__]


def order_placed(impl: ModuleType) -> Any:
    return globals()[f"order_placed_{impl_name(impl)}"]


def order_shipped(impl: ModuleType) -> Any:
    return globals()[f"order_shipped_{impl_name(impl)}"]
