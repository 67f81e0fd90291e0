"""Importable references ("package.module:attribute") for what a worker must find.

A worker process receives names, never objects: the receiver function and the
signal travel as references it imports. Receivers are checked when they are
wrapped (before any connect), so a lambda or a closure is refused at once with
a message that says what to write instead; signals are looked up on their first
deferred send and the answer is cached.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = [
    "import_reference",
    "signal_reference",
    "worker_receiver_reference",
]

_WHAT_TO_WRITE = (
    "A worker imports the receiver by name, so it must be a function defined "
    "with `def` at the top level of an importable module, e.g. in "
    "myapp/receivers.py:\n\n"
    "    @receiver(post_save, sender=Order)\n"
    "    @on_worker(engine)\n"
    "    def send_invoice(sender, instance, **kwargs):\n"
    "        ...\n\n"
    "For a method, write a module-level function that does the work. "
    "after_commit() runs in the sending process and accepts any callable."
)


def _describe_unimportable(func: object) -> str | None:
    """Why a worker could not import ``func`` by name, or None if it can."""
    if inspect.ismethod(func):
        return f"{func!r} is a bound method (a worker cannot import its instance)"
    if isinstance(func, (staticmethod, classmethod)):
        return f"{func!r} is a {type(func).__name__} object, not a function"
    if not inspect.isfunction(func):
        kind_type = type(func)
        kind_name = kind_type.__qualname__
        if kind_type.__module__ not in ("builtins", None):
            kind_name = f"{kind_type.__module__}.{kind_name}"
        kind = "a class" if inspect.isclass(func) else f"a {kind_name} object"
        return f"{func!r} is {kind}, not a function"
    if func.__name__ == "<lambda>":
        return f"{func.__qualname__} is a lambda"
    if "<locals>" in func.__qualname__:
        return (
            f"{func.__qualname__} is defined inside a function "
            "(a closure or nested function), so no module has it as an attribute"
        )
    module = getattr(func, "__module__", None)
    if not module or module == "__main__":
        return (
            f"{func.__qualname__} is defined in the __main__ script, which a "
            "worker process does not import under that name"
        )
    return None


def worker_receiver_reference(func: object, wrapper_name: str) -> str:
    """``"module:qualname"`` of a function a worker can import, else a TypeError."""
    problem = _describe_unimportable(func)
    if problem is not None:
        raise TypeError(f"{wrapper_name}() cannot defer {problem}. {_WHAT_TO_WRITE}")
    assert inspect.isfunction(func)
    return f"{func.__module__}:{func.__qualname__}"


def import_reference(reference: str) -> Any:
    """The object named by ``"package.module:attr.attr"``."""
    module_name, _, qualname = reference.partition(":")
    if not module_name or not qualname:
        raise ValueError(f"not a reference of the form 'module:attribute': {reference!r}")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


# -- signals --------------------------------------------------------------------

# Where Django defines its signals: checked first, so that post_save is always
# "django.db.models.signals:post_save" and not some module that imported it.
_KNOWN_SIGNAL_MODULES = (
    "django.db.models.signals",
    "django.core.signals",
    "django.db.backends.signals",
    "django.test.signals",
    "django.contrib.auth.signals",
    "django.tasks.signals",
)

_lock = threading.Lock()
# Signals are long-lived module attributes; a weak key lets a signal made in a
# test disappear with its cache entry.
_signal_refs: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _attribute_named(module: object, target: object) -> str | None:
    """The name under which ``module`` holds ``target`` (the first one), if any."""
    namespace = getattr(module, "__dict__", None)
    if not isinstance(namespace, dict):
        return None
    for name, value in list(namespace.items()):
        if value is target and isinstance(name, str) and not name.startswith("__"):
            return name
    return None


def _importable(module_name: str) -> bool:
    return module_name != "__main__" and not module_name.startswith("__mp_main__")


def _find_signal(signal: object, hint_modules: tuple[str, ...]) -> str | None:
    """Search the modules a worker can import for an attribute that is ``signal``.

    Order: Django's own signal modules, then the modules the receivers were
    defined in (a receiver's module almost always imported the signal it
    listens to), then every loaded module, preferring ones named ``signals``.
    """
    for module_name in (*_KNOWN_SIGNAL_MODULES, *hint_modules):
        module = sys.modules.get(module_name)
        if module is not None and _importable(module_name):
            name = _attribute_named(module, signal)
            if name is not None:
                return f"{module_name}:{name}"
    candidates: list[tuple[bool, int, str, str]] = []
    for module_name, module in list(sys.modules.items()):
        if module is None or not _importable(module_name):
            continue
        name = _attribute_named(module, signal)
        if name is not None:
            last = module_name.rpartition(".")[2]
            candidates.append((last != "signals", module_name.count("."), module_name, name))
    if not candidates:
        return None
    _, _, module_name, name = min(candidates)
    return f"{module_name}:{name}"


def signal_reference(signal: object, hint_modules: tuple[str, ...] = ()) -> str:
    """``"module:name"`` under which a worker can import ``signal``; cached."""
    try:
        return _signal_refs[signal]
    except (KeyError, TypeError):
        pass
    reference = _find_signal(signal, hint_modules)
    if reference is None:
        raise TypeError(
            f"Cannot defer a receiver of {signal!r} to a worker: the signal is not "
            "an attribute of any importable module, so the worker cannot find it. "
            "Define it at the top level of a module, e.g. `order_placed = Signal()` "
            "in myapp/signals.py."
        )
    with _lock:
        try:
            _signal_refs[signal] = reference
        except TypeError:
            pass  # not weakly referenceable: look it up again next time
    return reference


def describe_signal(signal: object) -> str:
    """A name for ``signal`` in error messages: its reference if it has one."""
    try:
        cached = _signal_refs.get(signal)
    except TypeError:
        cached = None
    if cached is not None:
        return cached.replace(":", ".")
    reference = _find_signal(signal, ())
    return reference.replace(":", ".") if reference else repr(signal)


def callable_name(func: Callable[..., Any]) -> str:
    """``module.qualname`` of a callable, for messages and logs."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None) or type(func).__qualname__
    return f"{module}.{qualname}" if module else str(qualname)
