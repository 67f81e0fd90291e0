"""The contenders of every benchmark group, and the receivers they all call.

Every group does the same work with each contender:

- ``fastdispatch-c``: ``fastdispatch._dispatcher_c`` (compiled), skipped when
  it does not import or ``FASTDISPATCH_NO_EXTENSIONS`` is set;
- ``fastdispatch-py``: ``fastdispatch._dispatcher_py`` (pure Python);
- ``django``: ``django.dispatch`` from the installed Django (the reference);
- ``blinker`` and ``psygnal``, in the groups whose workload they support;
- ``floor``: the hand-written loop ``[(r, r(signal=s, sender=x, **kw)) for r in
  receivers]`` over exactly the receivers a dispatcher would call (for the
  workloads that are not a plain send, its hand-written equivalent: see the
  ``floor_*`` functions).

All receivers are ``receiver(sender, value=None, **kwargs) -> value``, which
each library can call its own way: Django-style ``receiver(signal=s,
sender=x, value=1)``, blinker's ``receiver(x, value=1)``, psygnal's
``receiver(x, 1)``. Every send passes ``value=VALUE``, so a correct send
returns one ``(receiver, VALUE)`` pair per receiver.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import inspect
import os
import tracemalloc
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import pytest

VALUE = 1
"""The one named argument of every send: ``value=VALUE``."""


class Sender:
    """The sender of the plain send workloads (no receiver is sender-specific)."""


SENDER = Sender
FLOOR_SIGNAL = object()
"""What the hand-written loop passes as ``signal=``."""

NO_EXTENSIONS = os.environ.get("FASTDISPATCH_NO_EXTENSIONS", "") not in ("", "0")

# ---------------------------------------------------------------------------
# Receivers
# ---------------------------------------------------------------------------


def configure_django() -> None:
    """Settings for the django.dispatch contender: DEBUG=False, so Django (and
    fastdispatch, which follows it) skips its receiver signature checks.
    Nothing to do without Django, or when settings are already configured."""
    try:
        from django.conf import settings
    except ImportError:
        return
    if not settings.configured:
        settings.configure(DEBUG=False)


def _make_function() -> Callable[..., Any]:
    def receiver(sender: Any, value: Any = None, **kwargs: Any) -> Any:
        return value

    return receiver


def _make_coroutine_function() -> Callable[..., Any]:
    async def receiver(sender: Any, value: Any = None, **kwargs: Any) -> Any:
        return value

    return receiver


def make_function_receivers(n: int) -> list[Callable[..., Any]]:
    """``n`` distinct function objects (one code object), so ``n`` receivers."""
    return [_make_function() for _ in range(n)]


def make_coroutine_receivers(n: int) -> list[Callable[..., Any]]:
    """``n`` distinct ``async def`` receivers."""
    return [_make_coroutine_function() for _ in range(n)]


class Listener:
    """An object whose bound method is connected (weakly) as a receiver."""

    __slots__ = ("__weakref__",)

    def on_signal(self, sender: Any, value: Any = None, **kwargs: Any) -> Any:
        return value


def make_method_receivers(n: int) -> tuple[list[Listener], list[Callable[..., Any]]]:
    """``n`` listeners and their bound methods. Keep the listeners alive: the
    dispatchers hold the methods weakly, through their ``__self__``."""
    listeners = [Listener() for _ in range(n)]
    return listeners, [listener.on_signal for listener in listeners]


def make_sender_classes(n: int, prefix: str = "Sender") -> list[type]:
    """``n`` distinct sender classes, like Django's model classes."""
    return [type(f"{prefix}{i}", (), {}) for i in range(n)]


# ---------------------------------------------------------------------------
# The floor: the same work, written by hand
# ---------------------------------------------------------------------------


def floor_send(receivers: Sequence[Any], signal: Any, sender: Any, **named: Any) -> list[tuple[Any, Any]]:
    """``send``: call each receiver, collect ``(receiver, response)``."""
    return [(r, r(signal=signal, sender=sender, **named)) for r in receivers]


def floor_send_robust(
    receivers: Sequence[Any], signal: Any, sender: Any, **named: Any
) -> list[tuple[Any, Any]]:
    """``send_robust``: the same loop, catching each receiver's ``Exception``."""
    responses = []
    for r in receivers:
        try:
            response = r(signal=signal, sender=sender, **named)
        except Exception as err:
            response = err
        responses.append((r, response))
    return responses


async def floor_asend_sync(
    receivers: Sequence[Any], signal: Any, sender: Any, **named: Any
) -> list[tuple[Any, Any]]:
    """``asend`` with sync receivers: the loop in one ``sync_to_async`` call."""
    from asgiref.sync import sync_to_async

    return await sync_to_async(floor_send)(receivers, signal, sender, **named)


async def floor_asend_async(
    receivers: Sequence[Any], signal: Any, sender: Any, **named: Any
) -> list[tuple[Any, Any]]:
    """``asend`` with async receivers: run them concurrently."""
    responses = await asyncio.gather(
        *[r(signal=signal, sender=sender, **named) for r in receivers]
    )
    return list(zip(receivers, responses))


def _floor_on_death(reference: object) -> None:
    pass


def floor_connect_disconnect(receivers: Sequence[Any]) -> tuple[int, int]:
    """Connect/disconnect: a dict of weak references keyed by ``id``."""
    registry = {}
    ref = weakref.ref
    for r in receivers:
        registry[id(r)] = ref(r, _floor_on_death)
    connected = len(registry)
    for r in receivers:
        del registry[id(r)]
    return connected, len(registry)


# ---------------------------------------------------------------------------
# Contenders
# ---------------------------------------------------------------------------

Call = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


def check_responses(responses: Any, expected: int) -> None:
    """A send returned one ``(receiver, VALUE)`` pair per expected receiver."""
    assert isinstance(responses, list), responses
    assert len(responses) == expected, (len(responses), expected)
    for pair in responses:
        assert pair[1] == VALUE, pair


class Contender:
    """One library (or the floor), behind the few operations the groups need."""

    key: str = ""
    label: str = ""

    def load(self) -> None:
        """Import the library; ``pytest.skip`` if it is not available."""

    def version(self) -> str:
        return ""

    # Signals. ``use_caching`` matters to Django-style dispatchers only.
    def make(self, use_caching: bool = False) -> Any:
        raise NotImplementedError

    def connect(self, signal: Any, receiver: Any, sender: Any = None) -> None:
        signal.connect(receiver, sender=sender)

    def count(self, signal: Any) -> int:
        """How many receivers are connected."""
        return len(signal.receivers)

    def send_call(self, signal: Any, sender: Any) -> Call:
        """The call that sends ``value=VALUE`` from ``sender``."""
        return signal.send, (sender,), {"value": VALUE}

    def check_send(self, signal: Any, sender: Any, result: Any, expected: int) -> None:
        """Check what ``send_call`` returned (``expected`` receivers called)."""
        check_responses(result, expected)

    def connect_disconnect(self, signal: Any, receivers: Sequence[Any]) -> tuple[int, int]:
        """Connect every receiver, then disconnect them all: (connected, left)."""
        connect = signal.connect
        for r in receivers:
            connect(r)
        connected = self.count(signal)
        disconnect = signal.disconnect
        for r in receivers:
            disconnect(r)
        return connected, self.count(signal)

    def memory_per_receiver(self, receivers: Sequence[Any]) -> float:
        """Bytes allocated per connected weak receiver, after one send.

        The signal exists before the measurement starts and the receivers
        themselves are not counted: only what connecting them (and the first
        send, which may build caches or snapshots) keeps allocated.
        """
        signal = self.make()
        fn, args, kwargs = self.send_call(signal, SENDER)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for r in receivers:
                self.connect(signal, r)
            result = fn(*args, **kwargs)
            self.check_send(signal, SENDER, result, len(receivers))
            del result
            used = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        return used / len(receivers)


class DjangoStyle(Contender):
    """fastdispatch (either implementation) or django.dispatch: one API."""

    def __init__(self, key: str, label: str, module: str) -> None:
        self.key, self.label, self.module_name = key, label, module
        self.Signal: Any = None

    def load(self) -> None:
        if self.Signal is not None:
            return
        try:
            module = importlib.import_module(self.module_name)
        except ImportError as error:
            pytest.skip(f"{self.label}: not available ({error})")
        self.Signal = module.Signal

    def make(self, use_caching: bool = False) -> Any:
        return self.Signal(use_caching=use_caching)

    def robust_call(self, signal: Any, sender: Any) -> Call:
        return signal.send_robust, (sender,), {"value": VALUE}

    def asend(self, signal: Any, sender: Any) -> Any:
        return signal.asend(sender, value=VALUE)


class Compiled(DjangoStyle):
    def load(self) -> None:
        if NO_EXTENSIONS:
            pytest.skip(f"{self.label}: not available (FASTDISPATCH_NO_EXTENSIONS is set)")
        super().load()


class Blinker(Contender):
    key, label = "blinker", "blinker"

    def load(self) -> None:
        global blinker
        blinker = pytest.importorskip("blinker")

    def make(self, use_caching: bool = False) -> Any:
        # blinker always indexes receivers by sender; there is nothing to cache.
        return blinker.Signal()

    def connect(self, signal: Any, receiver: Any, sender: Any = None) -> None:
        signal.connect(receiver, sender=blinker.ANY if sender is None else sender)


class Psygnal(Contender):
    """psygnal emits positional arguments: ``emit(sender, VALUE)``.

    It has no sender-specific receivers, no robust send and returns nothing
    from ``emit``; its groups check that all receivers are connected and that
    an emit reaches a probe connected after them.
    """

    key, label = "psygnal", "psygnal"

    def load(self) -> None:
        global psygnal
        psygnal = pytest.importorskip("psygnal")

    def make(self, use_caching: bool = False) -> Any:
        return psygnal.SignalInstance((object, object))

    def connect(self, signal: Any, receiver: Any, sender: Any = None) -> None:
        assert sender is None, "psygnal has no sender-specific receivers"
        signal.connect(receiver)

    def count(self, signal: Any) -> int:
        return len(signal)

    def send_call(self, signal: Any, sender: Any) -> Call:
        return signal.emit, (sender, VALUE), {}

    def check_send(self, signal: Any, sender: Any, result: Any, expected: int) -> None:
        assert result is None
        assert len(signal) == expected, (len(signal), expected)
        calls = []

        def probe(sender: Any, value: Any) -> None:
            calls.append((sender, value))

        # psygnal calls slots in order and raises if one fails: the probe,
        # connected last, is reached only if every receiver was called.
        signal.connect(probe)
        try:
            signal.emit(sender, VALUE)
        finally:
            signal.disconnect(probe)
        assert calls == [(sender, VALUE)], calls


class Floor(Contender):
    """The hand-written loop. Its "signal" is the list of receivers to call."""

    key, label = "floor", "hand-written loop (floor)"

    def make(self, use_caching: bool = False) -> Any:
        return []

    def connect(self, signal: Any, receiver: Any, sender: Any = None) -> None:
        raise NotImplementedError("the floor is given its receivers directly")

    def count(self, signal: Any) -> int:
        return len(signal)

    def send_call(self, signal: Any, sender: Any) -> Call:
        return floor_send, (signal, FLOOR_SIGNAL, sender), {"value": VALUE}

    def robust_call(self, signal: Any, sender: Any) -> Call:
        return floor_send_robust, (signal, FLOOR_SIGNAL, sender), {"value": VALUE}

    def asend(self, signal: Any, sender: Any) -> Any:
        if signal and inspect.iscoroutinefunction(signal[0]):
            return floor_asend_async(signal, FLOOR_SIGNAL, sender, value=VALUE)
        return floor_asend_sync(signal, FLOOR_SIGNAL, sender, value=VALUE)

    def connect_disconnect(self, signal: Any, receivers: Sequence[Any]) -> tuple[int, int]:
        return floor_connect_disconnect(receivers)

    def memory_per_receiver(self, receivers: Sequence[Any]) -> float:
        # The smallest weak registry: {id(receiver): weakref with callback}.
        registry: dict[int, Any] = {}
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for r in receivers:
                registry[id(r)] = weakref.ref(r, _floor_on_death)
            live = [ref() for ref in registry.values()]
            result = floor_send(live, FLOOR_SIGNAL, SENDER, value=VALUE)
            check_responses(result, len(receivers))
            del result, live
            used = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        return used / len(receivers)


CONTENDERS: dict[str, Contender] = {
    c.key: c
    for c in [
        Compiled("fastdispatch-c", "fastdispatch (compiled)", "fastdispatch._dispatcher_c"),
        DjangoStyle("fastdispatch-py", "fastdispatch (pure Python)", "fastdispatch._dispatcher_py"),
        DjangoStyle("django", "django.dispatch", "django.dispatch"),
        Blinker(),
        Psygnal(),
        Floor(),
    ]
}
"""Every contender, in the order the report lists them."""

DISPATCHERS = ["fastdispatch-c", "fastdispatch-py", "django"]
"""The contenders with Django's API (send_robust, asend, use_caching)."""

ALL = list(CONTENDERS)
WITH_SENDERS = [*DISPATCHERS, "blinker", "floor"]
"""The contenders that support sender-specific receivers."""
DJANGO_API_ONLY = [*DISPATCHERS, "floor"]


def in_group(
    benchmark: Any, contender: Contender, order: int, name: str, contenders: list[str]
) -> None:
    """Put ``benchmark`` in group ``name``; ``order`` sorts groups in the report,
    ``contenders`` lists who takes part (so the report can say who was missing)."""
    benchmark.group = name
    benchmark.extra_info.update(
        contender=contender.key,
        label=contender.label,
        order=order,
        contenders=contenders,
        metric="time",
    )
