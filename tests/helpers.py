"""What the test modules share: the implementations under test, senders,
receivers, exceptions, and small context managers.

Test modules import these from here, never from ``conftest.py`` or from each
other. Fixtures live in ``conftest.py`` (and the one-module ones in their
module); the context managers below are what they are made of.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from fastdispatch._env import extensions_disabled

# -- the implementations under test ------------------------------------------------

NO_EXTENSIONS = extensions_disabled()


def _load_compiled() -> tuple[ModuleType | None, str]:
    if NO_EXTENSIONS:
        return None, "not tested: FASTDISPATCH_NO_EXTENSIONS is set"
    try:
        return importlib.import_module("fastdispatch._dispatcher_c"), "tested"
    except ImportError as error:
        return None, f"NOT AVAILABLE ({error})"


COMPILED, COMPILED_STATUS = _load_compiled()
# "python" always, "compiled" when the extension imports: the params of ``impl``.
IMPLEMENTATIONS: dict[str, ModuleType] = {
    "python": importlib.import_module("fastdispatch._dispatcher_py")
}
if COMPILED is not None:
    IMPLEMENTATIONS["compiled"] = COMPILED
# The one implementation a run tests when it tests only one (the slow suites).
PRIMARY_IMPLEMENTATION = "compiled" if COMPILED is not None else "python"


# -- senders ---------------------------------------------------------------------


class Model:
    """A sender class."""


class OtherModel:
    """Another sender class."""


class Unhashable:
    __hash__ = None  # type: ignore[assignment]


class RaisingHash:
    """A sender or ``dispatch_uid`` whose ``__hash__`` raises ``error(message)``."""

    def __init__(
        self, error: type[Exception] = AssertionError, message: str = "a sender was hashed"
    ) -> None:
        self.error, self.message = error, message

    def __hash__(self) -> int:
        raise self.error(self.message)


class RaisingEq:
    """Hashable by identity; comparing it by equality is a bug."""

    def __eq__(self, other: object) -> bool:
        raise AssertionError("a sender was compared by equality")

    def __hash__(self) -> int:
        return id(self)


# -- receivers -------------------------------------------------------------------


class Handler:
    """Bound-method receivers: ``method`` answers ``response`` and counts its calls."""

    def __init__(self, response: Any = "method") -> None:
        self.response = response
        self.calls = 0

    def method(self, **kwargs: Any) -> Any:
        self.calls += 1
        return self.response


class CallableHandler:
    """A callable-object receiver that answers ``response``."""

    def __init__(self, response: Any = "instance") -> None:
        self.response = response

    def __call__(self, **kwargs: Any) -> Any:
        return self.response


class SlotsCallable:
    """Callable, accepts **kwargs, but cannot be weakly referenced."""

    __slots__ = ()

    def __call__(self, **kwargs: Any) -> str:
        return "slots"


def returning(response: Any) -> Callable[..., Any]:
    """A new receiver function that answers ``response``.

    Each call makes a distinct function object that only the caller holds,
    so a weakly connected one dies when the caller drops it.
    """

    def receiver(**kwargs: Any) -> Any:
        return response

    return receiver


def connected(signal: Any, *answers: Any) -> list[Callable[..., Any]]:
    """New receivers (``returning`` each of ``answers``), connected to
    ``signal`` in that order; the caller holds the only references."""
    receivers = [returning(answer) for answer in answers]
    for receiver in receivers:
        signal.connect(receiver)
    return receivers


def recording(calls: list[str], label: str) -> Callable[..., str]:
    """A new receiver function that appends ``label`` to ``calls`` and answers ``label``."""

    def receiver(**kwargs: Any) -> str:
        calls.append(label)
        return label

    return receiver


def keeping_kwargs(calls: list[dict[str, Any]], response: Any) -> Callable[..., Any]:
    """A new receiver function that appends the keyword arguments of each call
    to ``calls`` and answers ``response``."""

    def receiver(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return response

    return receiver


def answers(results: list[tuple[Any, Any]]) -> list[Any]:
    """The responses of a send, without the receivers."""
    return [response for _, response in results]


# -- exceptions --------------------------------------------------------------------


class Boom(Exception):
    """What failing receivers raise."""


class Stop(BaseException):
    """Not an ``Exception``: ``send_robust`` lets it through."""


# -- context managers for fixtures -------------------------------------------------


@contextlib.contextmanager
def frozen_gc() -> Iterator[None]:
    """Hide every object that exists now (pytest, Django, ...) from the
    garbage collector, so that the tests' many ``gc.collect()`` calls only
    look at what the tests made."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def threads_joined(timeout: float = 10.0) -> Iterator[None]:
    """Wait, as the block ends, for the threads started in it to end.

    ``async_to_sync`` runs each call's event loop in a thread of its own,
    which lets go of the coroutines it ran (and of the receivers they hold)
    only as it ends, after the send has returned. A receiver whose last
    reference that thread holds dies there: its weak reference is cleared,
    then its callback flags the signal's dead receivers. Without the GIL a
    test can look at the signal in between.
    """
    before = set(threading.enumerate())
    yield
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout)
        if thread.is_alive():
            raise AssertionError(f"{thread.name} did not end within {timeout} s")


@contextlib.contextmanager
def quiet_robust_log(*, make_records: bool) -> Iterator[None]:
    """Keep ``send_robust``'s log records (which hold exceptions, tracebacks
    and frames) out of pytest's log capture.

    ``make_records=False``: the loggers are disabled, no record is made at all
    (for leak measurements). ``make_records=True``: records are made and
    handled as usual, by a handler that drops them.
    """
    loggers = [logging.getLogger("django.dispatch"), logging.getLogger("fastdispatch")]
    saved = [(lg.propagate, lg.disabled) for lg in loggers]
    handler = logging.NullHandler()
    for lg in loggers:
        lg.propagate = False
        if make_records:
            lg.addHandler(handler)
        else:
            lg.disabled = True
    try:
        yield
    finally:
        for lg, (propagate, disabled) in zip(loggers, saved):
            lg.propagate = propagate
            lg.disabled = disabled
            lg.removeHandler(handler)


@contextlib.contextmanager
def switch_interval(seconds: float) -> Iterator[None]:
    """Switch threads every ``seconds``, so that their operations really interleave."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


# -- sizes of long tests -------------------------------------------------------------


def quick_and_soak(quick: Any, soak: Any) -> list[Any]:
    """Parameters of a test that runs at two sizes: ``quick`` in every run,
    ``soak`` marked ``soak`` (off by default; ``--run-soak`` runs it)."""
    return [
        pytest.param(quick, id="quick"),
        pytest.param(soak, id="soak", marks=pytest.mark.soak),
    ]


# -- Django as the oracle ------------------------------------------------------------


def django_signal_class(why: str) -> type:
    """``django.dispatch.Signal`` with Django's settings configured (``DEBUG``
    off); skips the calling module, saying ``why``, when Django is missing."""
    pytest.importorskip("django", reason=why)
    from django.conf import settings

    if not settings.configured:
        settings.configure(DEBUG=False)
    from django.dispatch import Signal

    return Signal


# -- free-threaded CPython ---------------------------------------------------------

FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
"""A free-threaded build (3.13t), whether or not the GIL is enabled at run time."""

# CPython 3.13t makes classes (and module-level functions) immortal once a
# second thread has started, to spare them reference-count contention (3.14
# counts their references per thread instead). Such a class never dies.
IMMORTAL_CLASSES = FREE_THREADED and sys.version_info < (3, 14)

skip_if_classes_are_immortal = pytest.mark.skipif(
    IMMORTAL_CLASSES,
    reason="free-threaded CPython 3.13 makes a class immortal once a thread has "
    "started, so a class sender is never garbage collected",
)


SENTRY_CAPTURING = """
import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.transport import Transport

envelopes = []

class Capture(Transport):
    def capture_envelope(self, envelope):
        envelopes.append(envelope)

sentry_sdk.init(
    dsn="https://public@sentry.invalid/1",
    integrations=[DjangoIntegration(signals_spans=True)],
    default_integrations=False,
    traces_sample_rate=1.0,
    transport=Capture,
)
"""
"""The start of a script run in a Django project: sentry-sdk with its Django
integration's signal spans, every envelope kept in ``envelopes`` (nothing is
sent anywhere)."""
