"""Run every Django signal on fastdispatch: one call, before Django starts.

In ``manage.py``, ``wsgi.py`` and ``asgi.py``, before anything imports
Django::

    import fastdispatch.django
    fastdispatch.django.install()

From then on ``django.dispatch.Signal`` and ``django.dispatch.dispatcher.Signal``
are fastdispatch's, so every signal created afterwards runs on fastdispatch:
Django's own (``django.db.models.signals``, ``django.core.signals``,
``django.db.backends.signals``, ``django.contrib.auth.signals``,
``django.test.signals``, ``django.utils.autoreload``, ``django.tasks.signals``)
and those of your apps and third-party packages.

``install()`` only replaces the ``Signal`` class (and ``_make_id``) of
Django's own ``django.dispatch.dispatcher`` module; ``django.dispatch.receiver``
and the rest of that module stay Django's. If signals were already created with
Django's class (Django was imported first), ``install()`` raises
``InstallError`` naming the modules involved instead of leaving a mix of both.
``accelerated_signals()`` reports which signals run on fastdispatch.

pytest: ``pytest -p fastdispatch.django`` (or ``addopts = -p fastdispatch.django``
in the pytest configuration) installs it before pytest loads any other plugin
(pytest-django included) or conftest.py. Importing this module does not
install anything by itself.
"""

from __future__ import annotations

import gc
import importlib
import sys
import threading
import types
from typing import Any

from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "DJANGO_SIGNAL_MODULES",
    "InstallError",
    "accelerated_signals",
    "install",
    "installed_implementation",
    "is_installed",
]

DJANGO_SIGNAL_MODULES = (
    "django.core.signals",
    "django.db.backends.signals",
    "django.db.models.signals",
    "django.contrib.auth.signals",
    "django.test.signals",
    "django.utils.autoreload",
    "django.tasks.signals",  # Django 6.0+
)
"""The modules in which Django defines signals."""

_DISPATCHER = "django.dispatch.dispatcher"
_IMPLEMENTATIONS = {
    "compiled": "fastdispatch._dispatcher_c",
    "python": "fastdispatch._dispatcher_py",
}
_WHERE = (
    "Call fastdispatch.django.install() before anything imports Django: as the "
    "first lines of manage.py, wsgi.py and asgi.py (settings.py is too late, and "
    "so is anything after get_wsgi_application(), get_asgi_application(), "
    "django.setup() or sentry_sdk.init()). With pytest, pass -p fastdispatch.django "
    "(on the command line or in addopts), not pytest_plugins in a conftest.py."
)


class InstallError(ImproperlyConfigured):
    """``install()`` cannot make every signal a fastdispatch signal."""


class _Installed:
    def __init__(
        self, name: str, impl: types.ModuleType, signal: type, stock: type
    ) -> None:
        self.name = name  # "compiled" or "python"
        self.impl = impl
        self.signal = signal  # what django.dispatch.Signal is now
        self.stock = stock  # Django's own Signal class


_installed: _Installed | None = None
_lock = threading.Lock()


def is_installed() -> bool:
    """Whether ``install()`` has run in this process."""
    return _installed is not None


def installed_implementation() -> str | None:
    """``"compiled"`` or ``"python"`` once installed, else None."""
    return None if _installed is None else _installed.name


# -- the class that replaces django.dispatch.Signal ---------------------------


def _django_signal_class(impl: types.ModuleType) -> type:
    """A thin subclass of ``impl.Signal`` to stand in for Django's ``Signal``."""
    base: Any = impl.Signal

    class Signal(base):  # type: ignore[misc,valid-type]
        """fastdispatch's signal, as ``django.dispatch.Signal``.

        Same API and behaviour as Django's ``Signal``; see ``fastdispatch.Signal``.
        """

        def connect(
            self,
            receiver: Any,
            sender: object = None,
            weak: bool = True,
            dispatch_uid: Any = None,
        ) -> None:
            return super().connect(receiver, sender, weak, dispatch_uid)

        # Django's system checks recognize a pending lazy model signal
        # connection (ModelSignal.connect(sender="app.Model") of a model that
        # never appears) by (func.__module__, func.__name__) of the bound
        # connect: keep signals.E001 rather than the generic models.E022.
        connect.__module__ = _DISPATCHER

        def _remove_receiver(self, receiver: object = None) -> None:
            """Django 5.2's name for flagging dead receivers."""
            self._flag_dead_receivers(receiver)

    Signal.__module__ = __name__
    Signal.__qualname__ = "Signal"
    return Signal


class _DispatcherModule(types.ModuleType):
    """``django.dispatch.dispatcher`` once installed.

    Setting its ``_make_id`` (as ``mock.patch("django.dispatch.dispatcher._make_id")``
    does) also sets the global the implementation's ``Signal`` calls.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if name == "_make_id" and _installed is not None:
            # fastdispatch._signal's is the one both implementations call;
            # the implementation module re-exports it.
            from . import _signal

            _signal._make_id = value  # type: ignore[assignment]
            setattr(_installed.impl, name, value)
        super().__setattr__(name, value)


# -- install --------------------------------------------------------------------


def _implementation(name: str | None) -> tuple[str, types.ModuleType]:
    if name is None:
        from . import dispatcher

        name = "compiled" if dispatcher.COMPILED else "python"
    if name not in _IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be 'compiled', 'python' or None, not {name!r}"
        )
    return name, importlib.import_module(_IMPLEMENTATIONS[name])


def install(*, implementation: str | None = None) -> None:
    """Make ``django.dispatch.Signal`` fastdispatch's, for every signal created
    from now on. Safe to call more than once.

    ``implementation``: ``"compiled"``, ``"python"``, or None for the one
    ``fastdispatch.dispatcher`` picked (compiled unless
    ``FASTDISPATCH_NO_EXTENSIONS`` is set or the extension cannot be imported)
    or, on a later call, the one installed.

    Raises ``InstallError`` if signals were already created with Django's own
    class (or code holds that class to create them later): they would not run
    on fastdispatch. The message names the modules and says where to call
    ``install()``.
    """
    global _installed
    with _lock:
        if _installed is not None and implementation is None:
            _check_still_installed(_installed)
            return
        name, impl = _implementation(implementation)
        if _installed is not None:
            if _installed.impl is not impl:
                raise InstallError(
                    f"fastdispatch.django is installed with the {_installed.name} "
                    f"implementation; it cannot switch to {name}."
                )
            _check_still_installed(_installed)
            return
        imported_before = _DISPATCHER in sys.modules
        import django.dispatch
        import django.dispatch.dispatcher

        dispatcher_module = sys.modules[_DISPATCHER]
        stock = getattr(dispatcher_module, "Signal", None)
        if not isinstance(stock, type) or dispatcher_module.__name__ != _DISPATCHER:
            raise InstallError(
                f"{_DISPATCHER} is not Django's module (it is "
                f"{getattr(dispatcher_module, '__name__', dispatcher_module)!r}); "
                "something else replaced Django's dispatcher."
            )
        if imported_before:
            problems = _stock_signal_users(stock)
            if problems:
                raise InstallError(_describe(problems))
        signal = _django_signal_class(impl)
        state = _Installed(name, impl, signal, stock)
        dispatcher_module.__class__ = _DispatcherModule
        _installed = state
        dispatcher_module.Signal = signal
        dispatcher_module._make_id = impl._make_id
        django.dispatch.Signal = signal  # type: ignore[attr-defined]


def _check_still_installed(state: _Installed) -> None:
    import django.dispatch

    module = sys.modules.get(_DISPATCHER)
    if (
        getattr(module, "Signal", None) is not state.signal
        or getattr(django.dispatch, "Signal", None) is not state.signal
    ):
        raise InstallError(
            "fastdispatch.django was installed, but django.dispatch.Signal has "
            "been replaced since."
        )


def _is_stock(value: object, stock: type) -> bool:
    """Whether ``value`` is Django's Signal class or a subclass of it.

    Callers pass ``type(obj)`` to test an instance: ``isinstance()`` would ask
    lazy objects such as ``django.conf.settings`` for their ``__class__``,
    which evaluates them.
    """
    if not issubclass(type(value), type):
        return False
    try:
        return issubclass(value, stock)
    except TypeError:
        return False


def _module_items() -> list[tuple[str, dict[str, Any]]]:
    items = []
    for module_name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        if isinstance(namespace, dict):
            items.append((module_name, namespace))
    return items


def _stock_signal_users(stock: type) -> dict[str, list[str]]:
    """What would stay on Django's dispatcher: ``{module: [names]}``.

    Signals created with Django's ``Signal`` (or a subclass such as
    ``ModelSignal``), each under its preferred name (see ``_preferred_name``),
    and modules holding the class itself: they could create more signals, or
    patch the class (sentry-sdk patches ``Signal._live_receivers``).
    """
    signal_names: dict[int, list[str]] = {}
    class_holders: dict[str, list[str]] = {}
    for module_name, namespace in _module_items():
        if module_name in ("django.dispatch", _DISPATCHER):
            continue
        for attribute, value in list(namespace.items()):
            if _is_stock(type(value), stock):
                signal_names.setdefault(id(value), []).append(f"{module_name}.{attribute}")
            elif _is_stock(value, stock):
                class_holders.setdefault(module_name, []).append(f"{attribute} (class)")
    problems: dict[str, list[str]] = {}
    for names in signal_names.values():
        module_name, _, attribute = min(names, key=_preferred_name).rpartition(".")
        problems.setdefault(module_name, []).append(attribute)
    for module_name, classes in class_holders.items():
        if module_name not in problems:
            problems[module_name] = classes
    # Signals not bound to a module-level name (class attributes, closures...).
    anonymous = [
        repr(obj)
        for obj in gc.get_objects()
        if _is_stock(type(obj), stock) and id(obj) not in signal_names
    ]
    if anonymous:
        problems["(not bound to a module-level name)"] = anonymous
    return problems


def _describe(problems: dict[str, list[str]]) -> str:
    lines = [
        "fastdispatch.django.install() was called after Django's dispatcher "
        "was used: these signals (or modules holding Django's Signal class) "
        "would stay on Django's dispatcher while new ones run on fastdispatch:"
    ]
    for module_name, names in sorted(problems.items()):
        shown = ", ".join(sorted(names)[:12]) + (", ..." if len(names) > 12 else "")
        lines.append(f"  {module_name}: {shown}")
    lines.append(_WHERE)
    return "\n".join(lines)


# -- reporting ------------------------------------------------------------------


def _signal_classes() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(fastdispatch signal classes, Django's own Signal class if known)."""
    ours: list[type] = []
    for module_name in _IMPLEMENTATIONS.values():
        module = sys.modules.get(module_name)
        if module is not None:
            ours.append(module._SignalCore)
    if _installed is not None:
        stock: Any = _installed.stock
    else:
        stock = getattr(sys.modules.get(_DISPATCHER), "Signal", None)
    theirs = (stock,) if isinstance(stock, type) and stock not in ours else ()
    return tuple(ours), theirs


def _preferred_name(name: str) -> tuple[int, int, str]:
    """Sort key: where a signal is most likely defined rather than imported."""
    module_name = name.rpartition(".")[0]
    if module_name in DJANGO_SIGNAL_MODULES:
        rank = 0
    elif "signal" in module_name.rpartition(".")[2]:
        rank = 1
    else:
        rank = 2
    return rank, name.count("."), name


def accelerated_signals(
    *, import_django: bool = False, all_names: bool = False
) -> dict[str, bool]:
    """Which signals run on fastdispatch: ``{"django.db.models.signals.post_save": True, ...}``.

    Lists every signal (fastdispatch's or Django's own class) bound to a
    module-level name in an imported module, under one name: preferably in
    one of Django's signal modules or in a module named like ``signals``
    (``all_names=True`` lists every name bound to it). With
    ``import_django=True``, Django's signal modules (``DJANGO_SIGNAL_MODULES``)
    are imported first, so that all of Django's signals are listed.
    """
    if import_django:
        for module_name in DJANGO_SIGNAL_MODULES:
            try:
                importlib.import_module(module_name)
            except ImportError:
                if module_name != "django.tasks.signals":
                    raise
    ours, theirs = _signal_classes()
    names: dict[int, list[str]] = {}
    accelerated: dict[int, bool] = {}
    for module_name, namespace in _module_items():
        for attribute, value in list(namespace.items()):
            # type(), not isinstance(): lazy objects (django.conf.settings)
            # answer isinstance() by evaluating themselves.
            kind = type(value)
            if ours and issubclass(kind, ours):
                accelerated[id(value)] = True
            elif theirs and issubclass(kind, theirs):
                accelerated[id(value)] = False
            else:
                continue
            names.setdefault(id(value), []).append(f"{module_name}.{attribute}")
    report: dict[str, bool] = {}
    for key, found in names.items():
        for name in sorted(found, key=_preferred_name)[: None if all_names else 1]:
            report[name] = accelerated[key]
    return dict(sorted(report.items()))


# -- pytest plugin: ``pytest -p fastdispatch.django`` ---------------------------
#
# Only active when pytest registers this module as a plugin; importing it does
# nothing. pytest registers ``-p`` plugins (command line, PYTEST_ADDOPTS or the
# ini ``addopts``) before it loads entry-point plugins such as pytest-django
# and before any conftest.py, and calls ``pytest_addoption`` as soon as a
# plugin is registered: the earliest moment a plugin gets.


def pytest_addoption(parser: Any, pluginmanager: Any) -> None:
    install()


def pytest_report_header(config: Any) -> str:
    report = accelerated_signals()
    stock = [name for name, ours in report.items() if not ours]
    line = (
        f"fastdispatch.django: django.dispatch runs on fastdispatch "
        f"({installed_implementation()} implementation); "
        f"{len(report) - len(stock)} signals accelerated"
    )
    if stock:
        line += f", NOT accelerated: {', '.join(stock)}"
    return line
