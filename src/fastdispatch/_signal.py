"""What both implementations share: everything off the send path, once, in Python.

Each implementation module (``_dispatcher_py`` and the compiled
``_dispatcher_c``) defines a ``_SignalCore`` with the send path (``send``,
``send_robust``, ``_live_receivers`` and what they inline) and builds its
public class as ``class Signal(SignalMethods, _SignalCore)``. Connecting,
disconnecting, Django's compatibility attributes, ``has_listeners``, the
async sends and the ``receiver`` decorator live here, so they behave the same
on both by construction.

How receivers are stored
------------------------
``_records`` maps each lookup key to Django's receiver record
``(lookup_key, receiver_or_ref, sender_ref, is_async)``, in connection order
(a dict keeps insertion order), so connect, disconnect and the duplicate check
are O(1). ``Signal.receivers`` is the list of these records, as in Django.
Every change happens with ``signal.lock`` held and ends with
``signal._changed()``, which drops the core's derived state.

Sending never iterates ``_records``: the core reads ``_snapshot``, an
immutable tuple of the records rebuilt after a change (copy-on-write). A
receiver that connects or disconnects while a send is running cannot disturb
that send, and a send needs no lock.

With ``use_caching=True``, ``sender_receivers_cache`` maps ``id(sender)`` to
``(weak reference to sender, records for that sender)``. The weak reference
evicts the entry when the sender dies, so the cache never keeps a sender alive
and a new object that reuses the id never sees a stale entry. Senders that
cannot be weakly referenced (``None``, ``object()``, ints) are not cached.

Subclassing
-----------
``Signal`` is a plain Python class (its methods can be patched, as sentry-sdk
patches ``_live_receivers``). A subclass may override, with the same effect on
both implementations:

- ``connect`` and ``disconnect`` (Django's ``ModelSignal`` does), which
  ``receiver()`` calls;
- ``send``, ``send_robust``, ``asend``, ``asend_robust`` and ``has_listeners``;
- ``_live_receivers(sender)``: every send, ``has_listeners`` and the async
  sends then go through the override (sentry-sdk relies on this);
- ``_clear_dead_receivers()`` (called with ``lock`` held) and
  ``_log_robust_failure(receiver, error)``.

Everything else with a leading underscore is internal: the send path's
helpers are module functions, not methods, so there is nothing there to
override that one implementation would honour and the other ignore.
"""

from __future__ import annotations

import sys
import weakref
from _thread import allocate_lock
from types import FunctionType, MethodType

from . import _hooks
from ._checks import (
    check_dispatch_uid,
    check_receiver,
    check_records,
    not_weakrefable,
)
from ._info import Connection, ReceiverInfo, receiver_info

# typing is not imported at run time (``import fastdispatch`` stays cheap);
# type checkers treat a TYPE_CHECKING constant as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable
    from typing import Any, Protocol, TypeVar

    Receiver = Callable[..., Any]
    # (receiver key or dispatch_uid, sender key)
    LookupKey = tuple[Hashable, Hashable]
    # Django's receiver record: (lookup_key, receiver or weak reference to
    # it, weak reference to the sender or None, is_async)
    Record = tuple[LookupKey, Any, Any, bool]
    Responses = list[tuple[Receiver, Any]]
    Snapshot = tuple[tuple[Record, ...], bool]
    R = TypeVar("R", bound=Receiver)

    class Connectable(Protocol):
        """What ``receiver()`` needs of a signal."""

        def connect(self, *args: Any, **kwargs: Any) -> None: ...

__all__ = ["NONE_ID", "NO_RECEIVERS", "SignalMethods", "TemporaryConnection", "receiver"]

# Captured once: code (and one of Django's tests) may patch ``weakref.ref``,
# which must not change how existing records are read.
_ReferenceType = weakref.ReferenceType
_WeakMethod = weakref.WeakMethod
_deref = weakref.ReferenceType.__call__


def _make_id(target: object) -> Hashable:
    """The identity of a receiver or sender: a bound method is (self, func).

    Both implementations call this module's ``_make_id`` (looked up at call
    time), so patching it here, or ``django.dispatch.dispatcher._make_id``
    once ``fastdispatch.django.install()`` ran, reaches every signal.
    """
    if hasattr(target, "__func__"):
        return (id(target.__self__), id(target.__func__))  # type: ignore[attr-defined]
    return id(target)


NONE_ID = _make_id(None)

# Kept for compatibility with django.dispatch; the cache here stores an empty
# tuple for a sender nobody listens to.
NO_RECEIVERS = object()


class _SenderRef(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a cached sender that knows its cache key."""

    __slots__ = ("key",)
    key: int


def _live(record: Record) -> Any:
    """The receiver of ``record``, or None if it or its sender has died.

    The compiled core has a C twin of this; the pure one inlines its first
    case and calls this for the rest.
    """
    sender_ref = record[2]
    if sender_ref is not None and sender_ref() is None:
        return None
    ref = record[1]
    kind = type(ref)
    if kind is _ReferenceType:
        return ref()
    if kind is _WeakMethod:
        # What WeakMethod.__call__ does, without its Python-level frame.
        obj = _deref(ref)
        func = ref._func_ref()
        if obj is None or func is None:
            return None
        return MethodType(func, obj)
    if isinstance(ref, _ReferenceType):
        return ref()
    return ref


class _AnySender:
    def __repr__(self) -> str:
        return "<any sender>"


_ANY_SENDER: Any = _AnySender()


class TemporaryConnection:
    """What ``Signal.connected_to()`` returns: a context manager (see there)."""

    __slots__ = ("signal", "receiver", "sender", "dispatch_uid", "_connected")

    def __init__(
        self, signal: Any, receiver: Receiver, sender: object, dispatch_uid: Hashable | None
    ) -> None:
        check_receiver(receiver)
        # Checks the dispatch_uid now, before the block runs.
        signal._lookup_key(receiver, sender, dispatch_uid)
        self.signal = signal
        self.receiver = receiver
        self.sender = sender
        self.dispatch_uid = dispatch_uid
        self._connected: list[bool] = []

    def __enter__(self) -> Receiver:
        signal = self.signal
        key = signal._lookup_key(self.receiver, self.sender, self.dispatch_uid)
        with signal.lock:
            already = key in signal._records
        if not already:
            signal.connect(self.receiver, self.sender, weak=False, dispatch_uid=self.dispatch_uid)
        self._connected.append(not already)
        return self.receiver

    def __exit__(self, *exc_info: object) -> None:
        if self._connected.pop():
            self.signal.disconnect(self.receiver, self.sender, self.dispatch_uid)


def _is_dead(record: Record) -> bool:
    ref, sender_ref = record[1], record[2]
    if isinstance(ref, _ReferenceType) and ref() is None:
        return True
    return sender_ref is not None and sender_ref() is None


_CO_COROUTINE = 0x0080


def iscoroutinefunction(func: object) -> bool:
    """Whether ``func`` is an async receiver, without importing asyncio.

    asgiref's check (which honours its ``markcoroutinefunction()`` before
    Python 3.12) imports asyncio. A function can only carry asgiref's mark if
    asyncio is imported, so until then ``inspect``'s check gives the same
    answer; and a plain function or method defined with ``def`` needs neither.
    """
    if "asyncio" in sys.modules:
        from asgiref.sync import iscoroutinefunction as asgiref_check

        return asgiref_check(func)
    target = func.__func__ if type(func) is MethodType else func
    if type(target) is FunctionType and "inspect" not in sys.modules:
        # Nothing can have marked it (inspect.markcoroutinefunction needs
        # inspect): the code flag decides.
        return bool(target.__code__.co_flags & _CO_COROUTINE)
    import inspect

    return inspect.iscoroutinefunction(func)


def _async() -> Any:
    """The async bridges (``fastdispatch._async``), imported on first use:
    it imports asyncio, which a program without async receivers never needs."""
    from . import _async

    return _async


def init_state(signal: Any) -> None:
    """Give ``signal`` its shared state. Each core calls this as the object is
    created (``__cinit__``/``__new__``), so a subclass whose ``__init__``
    forgets ``super().__init__()`` still has a consistent, empty signal."""
    signal._records = {}
    # ReceiverInfo of each lookup key, computed once, at connect.
    signal._info = {}
    signal.lock = allocate_lock()
    signal.providing_args = set()
    # One bound method for every weak reference (not one per connect).
    signal._on_ref_death = signal._flag_dead_receivers
    signal._on_sender_death = signal._evict_sender


SIGNAL_DOC = """A signal: receivers connect to it, senders send it.

    Same API and behaviour as ``django.dispatch.Signal`` (Django 6.1).
    ``use_caching=True`` caches the receivers of each sender, which makes
    repeated sends for the same sender (Django's model signals) cheaper.

    Subclass it as you would Django's. A subclass may override ``connect``
    and ``disconnect`` (Django's ``ModelSignal`` does; ``receiver()`` calls
    them), ``send``, ``send_robust``, ``asend``, ``asend_robust``,
    ``has_listeners``, ``_live_receivers(sender)`` (every send,
    ``has_listeners`` and the async sends then use the override),
    ``_clear_dead_receivers()`` and ``_log_robust_failure(receiver,
    error)``: the compiled and the pure-Python implementation honour each
    override the same way. Methods may also be patched on the class, as
    sentry-sdk patches ``Signal._live_receivers``.
    """


class SignalMethods:
    """The part of ``Signal`` that is not on the send path (see the module docstring)."""

    if TYPE_CHECKING:
        # Provided by the implementation's _SignalCore (or init_state).
        use_caching: bool
        lock: Any
        providing_args: set[str]
        sender_receivers_cache: dict[int, tuple[Any, tuple[Record, ...]]]
        _dead_receivers: bool
        _records: dict[LookupKey, Record]
        _info: dict[LookupKey, ReceiverInfo]
        _on_ref_death: Callable[..., None]
        _on_sender_death: Callable[..., None]

        def _changed(self) -> None: ...

        def _live_receivers(
            self, sender: object
        ) -> tuple[list[Receiver], list[Receiver]]: ...

        def _live_records(
            self, sender: object
        ) -> tuple[list[tuple[Receiver, Record]], list[tuple[Receiver, Record]]] | None: ...

    def __init__(
        self, use_caching: bool = False, *, providing_args: Iterable[str] | None = None
    ) -> None:
        if providing_args is not None:
            import warnings

            warnings.warn(
                "The providing_args argument is deprecated (Django removed it in "
                "4.0). It is stored for documentation only; document the "
                "arguments in the signal's docstring instead.",
                DeprecationWarning,
                stacklevel=2,
            )
        self.providing_args = set(providing_args or ())
        self.use_caching = use_caching

    # -- Django's compatibility attributes ---------------------------------

    @property
    def receivers(self) -> list[Record]:
        """Django's receiver records ``(lookup_key, receiver, sender_ref, is_async)``.

        A new list on each read. Assigning a list (such as one read earlier)
        replaces the receivers, as factory_boy's ``mute_signals`` does.
        """
        return list(self._records.values())

    @receivers.setter
    def receivers(self, records: Iterable[Record]) -> None:
        items = check_records(records)
        replacement: dict[LookupKey, Record] = {}
        for record in items:
            replacement.setdefault(record[0], record)
        self._records = replacement
        self._changed()
        # The records may hold receivers that died while they were away.
        self._dead_receivers = True

    def _clear_dead_receivers(self) -> None:
        # The caller holds self.lock.
        if self._dead_receivers:
            self._dead_receivers = False
            records = self._records
            alive = {key: r for key, r in records.items() if not _is_dead(r)}
            # Unless `receivers` was assigned meanwhile (factory_boy assigns
            # it without the lock): that assignment wins.
            if self._records is records:
                self._records = alive
                for key in records.keys() - alive.keys():
                    self._info.pop(key, None)
            self._changed()

    def _flag_dead_receivers(self, reference: object = None) -> None:
        # Called by the garbage collector, possibly while self.lock is held:
        # only flag, the next connect/disconnect/send cleans up.
        self._dead_receivers = True

    def _evict_sender(self, sender_ref: _SenderRef) -> None:
        # Called by the garbage collector when a cached sender dies. The entry
        # may already have been replaced (cache cleared, sender re-cached).
        cache = self.sender_receivers_cache
        entry = cache.get(sender_ref.key)
        if entry is not None and entry[0] is sender_ref:
            cache.pop(sender_ref.key, None)

    # -- connecting ----------------------------------------------------------

    def _lookup_key(
        self, receiver: object, sender: object, dispatch_uid: Hashable | None
    ) -> LookupKey:
        sender_key = NONE_ID if sender is None else _make_id(sender)
        if dispatch_uid:
            check_dispatch_uid(dispatch_uid)
            return (dispatch_uid, sender_key)
        return (_make_id(receiver), sender_key)

    def connect(
        self,
        receiver: Receiver,
        sender: object = None,
        weak: bool = True,
        dispatch_uid: Hashable | None = None,
    ) -> None:
        """Connect ``receiver`` to this signal, for ``sender`` only if given.

        ``receiver`` is called as ``receiver(signal=..., sender=..., **named)``.
        With ``weak=True`` (the default) the signal holds it weakly: functions
        and bound methods disappear when they are garbage collected. Connecting
        the same receiver (or ``dispatch_uid``) for the same sender twice does
        nothing.
        """
        check_receiver(receiver)
        lookup_key = self._lookup_key(receiver, sender, dispatch_uid)
        is_async = iscoroutinefunction(receiver)
        stored: Any = receiver
        if weak:
            ref_type: Callable[..., Any] = weakref.ref
            if hasattr(receiver, "__self__") and hasattr(receiver, "__func__"):
                ref_type = weakref.WeakMethod
            try:
                stored = ref_type(receiver, self._on_ref_death)
            except TypeError:
                raise not_weakrefable(receiver) from None
        sender_ref = None
        if sender is not None:
            try:
                sender_ref = weakref.ref(sender, self._on_ref_death)
            except TypeError:
                pass  # Not weakly referenceable (e.g. object()): still works.
        info = receiver_info(receiver, sender, dispatch_uid, is_async, bool(weak))
        with self.lock:
            self._clear_dead_receivers()
            if lookup_key not in self._records:
                self._records[lookup_key] = (lookup_key, stored, sender_ref, is_async)
                self._info[lookup_key] = info
                self._changed()

    def disconnect(
        self,
        receiver: Receiver | None = None,
        sender: object = None,
        dispatch_uid: Hashable | None = None,
    ) -> bool:
        """Disconnect a receiver; return whether one was connected."""
        lookup_key = self._lookup_key(receiver, sender, dispatch_uid)
        with self.lock:
            self._clear_dead_receivers()
            removed = self._records.pop(lookup_key, None)
            if removed is not None:
                self._info.pop(lookup_key, None)
                self._changed()
        return removed is not None

    def connected_to(
        self,
        receiver: Receiver,
        sender: object = None,
        dispatch_uid: Hashable | None = None,
    ) -> TemporaryConnection:
        """Connect ``receiver`` for the duration of a ``with`` block::

            with signal.connected_to(lambda sender, **kwargs: seen.append(sender)):
                ...

        It is held strongly inside the block (so a lambda works) and
        disconnected when the block ends, also when it raises. If the same
        receiver (or ``dispatch_uid``) was already connected for that sender,
        the block changes nothing and leaves it connected.
        """
        return TemporaryConnection(self, receiver, sender, dispatch_uid)

    def connections(self, sender: object = _ANY_SENDER) -> list[Connection]:
        """The signal's connections, in connection order, as ``Connection`` records.

        With ``sender``, only those a send from ``sender`` would reach (the
        ones for any sender and those for ``sender``). Dead receivers are
        listed with ``receiver=None`` until the signal next cleans up.
        """
        records = list(self._records.values())
        if sender is not _ANY_SENDER:
            sender_key = NONE_ID if sender is None else _make_id(sender)
            records = [r for r in records if r[0][1] in (NONE_ID, sender_key)]
        return [self._connection(record) for record in records]

    def _connection(self, record: Record) -> Connection:
        (receiver_key, _sender_key), ref, sender_ref, is_async = record
        live = _live(record)
        info = self._info.get(record[0])
        weak = isinstance(ref, _ReferenceType)
        if info is None:  # a record assigned to `receivers` from elsewhere
            uid = None if live is None or _make_id(live) == receiver_key else receiver_key
            info = receiver_info(live, None, uid, is_async, weak)
        sender = None
        if sender_ref is not None:
            sender = sender_ref() if isinstance(sender_ref, _ReferenceType) else sender_ref
        return Connection(live, sender, info.dispatch_uid, weak, is_async, info.name)

    # -- asking ----------------------------------------------------------------

    def has_listeners(self, sender: object = None) -> bool:
        """Whether any live receiver would receive a send from ``sender``
        (receivers muted here do not count)."""
        if _hooks.active and _hooks.applies(self):
            return _hooks.has_listeners(self, sender)
        sync_receivers, async_receivers = self._live_receivers(sender)
        return bool(sync_receivers) or bool(async_receivers)

    def _nobody_listens(self, sender: object) -> bool:
        """Whether the cache already knows ``sender`` has no receivers.

        Like Django's ``NO_RECEIVERS`` check, this answers before
        ``_live_receivers`` is called.
        """
        if not self.use_caching:
            return False
        cached = self.sender_receivers_cache.get(id(sender))
        return cached is not None and not cached[1] and cached[0]() is sender

    # -- sending from async code and calling receivers -------------------------

    def _call_receivers(
        self,
        receivers: list[Receiver],
        sender: object,
        named: dict[str, Any],
        robust: bool,
    ) -> Responses:
        """Call sync receivers in order; with ``robust``, catch ``Exception``."""
        if not robust:
            return [(r, r(signal=self, sender=sender, **named)) for r in receivers]
        responses: Responses = []
        for r in receivers:
            try:
                response = r(signal=self, sender=sender, **named)
            except Exception as err:
                self._log_robust_failure(r, err)
                response = err
            responses.append((r, response))
        return responses

    async def asend(self, sender: object, **named: Any) -> Responses:
        """Send from async code; return ``[(receiver, response), ...]`` as ``send`` does.

        The sync receivers are called first, in connection order, all in one
        ``sync_to_async`` call (so outside the event loop). Then the async
        receivers run concurrently in the caller's event loop, sharing one
        copy of the caller's context, whose changes are copied back to the
        caller (as in Django 6.1; an ``asyncio.TaskGroup`` on Python 3.11+).
        Their responses follow the sync ones', in connection order.

        A receiver's exception propagates: a sync receiver's stops the
        receivers after it (no async receiver is started); an async
        receiver's cancels the others still running (on Python 3.11+, several
        failing at once raise an ``ExceptionGroup``).
        """
        if not self._records or self._nobody_listens(sender):
            return []
        if _hooks.active and _hooks.applies(self):
            return await _hooks.asend(self, sender, named, "send")
        sync_receivers, async_receivers = self._live_receivers(sender)
        return await _async().asend(  # type: ignore[no-any-return]
            self, sync_receivers, async_receivers, sender, named, robust=False
        )

    async def asend_robust(self, sender: object, **named: Any) -> Responses:
        """``send_robust`` from async code: receivers run as in ``asend``, and
        every one of them runs.

        An ``Exception`` raised by a receiver, sync or async, is logged (on
        the ``django.dispatch`` logger in a process that imported Django, else
        ``fastdispatch``) and returned as that receiver's response, with its
        ``__traceback__``. A ``BaseException`` (``KeyboardInterrupt``,
        ``asyncio.CancelledError``) is not caught.
        """
        if not self._records or self._nobody_listens(sender):
            return []
        if _hooks.active and _hooks.applies(self):
            return await _hooks.asend(self, sender, named, "robust")
        sync_receivers, async_receivers = self._live_receivers(sender)
        return await _async().asend(  # type: ignore[no-any-return]
            self, sync_receivers, async_receivers, sender, named, robust=True
        )

    def send_then_raise(self, sender: object, **named: Any) -> Responses:
        """Call every receiver, even after one raised; then raise what they raised.

        If no receiver raised, return ``[(receiver, response), ...]`` as
        ``send`` does. Otherwise raise one ``ExceptionGroup`` of every
        ``Exception`` the receivers raised, in the order of their responses,
        with the message ``"N of M receivers raised"``; each exception gets a
        note ``"raised by receiver <name> (sender <sender>)"`` (without the
        sender part when the sender is None). A
        ``BaseException`` (``KeyboardInterrupt``, ``SystemExit``) propagates
        at once. Async receivers run as in ``send``. (On Python 3.10 the
        group is the ``exceptiongroup`` backport's.)
        """
        if not self._records:
            return []
        return _hooks.send(self, sender, named, "collect")

    async def asend_then_raise(self, sender: object, **named: Any) -> Responses:
        """``send_then_raise`` from async code: receivers run as in ``asend``
        (an async receiver that raises does not cancel the others), then one
        ``ExceptionGroup`` of their exceptions is raised, as
        ``send_then_raise`` raises it."""
        if not self._records:
            return []
        return await _hooks.asend(self, sender, named, "collect")

    def _log_robust_failure(self, receiver: Receiver, err: Exception) -> None:
        from ._robust import log_robust_failure

        log_robust_failure(receiver, err)


def receiver(
    signal: Connectable | list[Connectable] | tuple[Connectable, ...], **kwargs: Any
) -> Callable[[R], R]:
    """Decorator: connect the function to ``signal`` (or to each of a list of
    signals), passing ``kwargs`` to ``connect``::

        @receiver(post_save, sender=MyModel)
        def on_save(sender, **kwargs): ...
    """

    def _decorator(func: R) -> R:
        if isinstance(signal, (list, tuple)):
            for s in signal:
                s.connect(func, **kwargs)
        else:
            signal.connect(func, **kwargs)
        return func

    return _decorator
