"""Pure-Python implementation of the dispatcher.

``csrc/_dispatcher_c.pyx`` is the compiled twin of this module: same names,
same behaviour. Read them side by side.

How receivers are stored
------------------------
``_records`` maps each lookup key to Django's receiver record
``(lookup_key, receiver_or_ref, sender_ref, is_async)``, in connection order
(a dict keeps insertion order), so connect, disconnect and the duplicate check
are O(1). ``Signal.receivers`` is the list of these records, as in Django.

Sending never iterates ``_records``: it reads ``_snapshot``, an immutable
tuple of the records rebuilt after a change (copy-on-write). A receiver that
connects or disconnects while a send is running cannot disturb that send,
and a send needs no lock.

With ``use_caching=True``, ``sender_receivers_cache`` maps ``id(sender)`` to
``(weak reference to sender, records for that sender)``. The weak reference
evicts the entry when the sender dies, so the cache never keeps a sender alive
and a new object that reuses the id never sees a stale entry. Senders that
cannot be weakly referenced (``None``, ``object()``, ints) are not cached.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections.abc import Callable, Hashable, Iterable
# asgiref's version also honours its markcoroutinefunction() before Python 3.12.
from asgiref.sync import iscoroutinefunction
from types import MethodType
from typing import Any, TypeVar

from . import _async
from ._checks import (
    check_dispatch_uid,
    check_receiver,
    check_records,
    not_weakrefable,
)
from ._robust import log_robust_failure

__all__ = ["NONE_ID", "NO_RECEIVERS", "Signal", "receiver"]

Receiver = Callable[..., Any]
# (receiver key or dispatch_uid, sender key)
LookupKey = tuple[Hashable, Hashable]
# Django's receiver record: (lookup_key, receiver or weak reference to it,
# weak reference to the sender or None, is_async)
Record = tuple[LookupKey, Any, Any, bool]
Responses = list[tuple[Receiver, Any]]
R = TypeVar("R", bound=Receiver)

# Captured once: code (and one of Django's tests) may patch ``weakref.ref``,
# which must not change how existing records are read.
_ReferenceType = weakref.ReferenceType
_WeakMethod = weakref.WeakMethod
_deref = weakref.ReferenceType.__call__


def _make_id(target: object) -> Hashable:
    """The identity of a receiver or sender: a bound method is (self, func)."""
    if hasattr(target, "__func__"):
        return (id(target.__self__), id(target.__func__))  # type: ignore[attr-defined]
    return id(target)


NONE_ID = _make_id(None)

# Kept for compatibility with django.dispatch; the cache here stores an empty
# tuple for a sender nobody listens to.
NO_RECEIVERS = object()


def _live(record: Record) -> Any:
    """The receiver of ``record``, or None if it or its sender has died."""
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


class _SenderRef(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a cached sender that knows its cache key."""

    __slots__ = ("key",)
    key: int


def _is_dead(record: Record) -> bool:
    ref, sender_ref = record[1], record[2]
    if isinstance(ref, _ReferenceType) and ref() is None:
        return True
    return sender_ref is not None and sender_ref() is None


class _SignalCore:
    """The dispatcher. See ``Signal`` for the public documentation."""

    def __init__(
        self, use_caching: bool = False, *, providing_args: Iterable[str] | None = None
    ) -> None:
        if providing_args is not None:
            warnings.warn(
                "The providing_args argument is deprecated (Django removed it in "
                "4.0). It is stored for documentation only; document the "
                "arguments in the signal's docstring instead.",
                DeprecationWarning,
                stacklevel=2,
            )
        self.providing_args: set[str] = set(providing_args or ())
        self.use_caching = use_caching
        self.lock = threading.Lock()
        self.sender_receivers_cache: dict[int, tuple[Any, tuple[Record, ...]]] = {}
        self._dead_receivers = False
        self._records: dict[LookupKey, Record] = {}
        # (records, filter_by_sender) or None when stale. filter_by_sender is
        # False when every receiver listens to all senders.
        self._snapshot: tuple[tuple[Record, ...], bool] | None = None
        # One bound method for every weak reference (not one per connect).
        self._on_ref_death = self._flag_dead_receivers
        self._on_sender_death = self._evict_sender

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
            self._changed()

    def _flag_dead_receivers(self, reference: object = None) -> None:
        # Called by the garbage collector, possibly while self.lock is held:
        # only flag, the next connect/disconnect/send cleans up.
        self._dead_receivers = True

    def _changed(self) -> None:
        # The caller holds self.lock (or owns the signal exclusively).
        self._snapshot = None
        self.sender_receivers_cache.clear()

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
        with self.lock:
            self._clear_dead_receivers()
            if lookup_key not in self._records:
                self._records[lookup_key] = (lookup_key, stored, sender_ref, is_async)
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
                self._changed()
        return removed is not None

    # -- finding the receivers of a send -------------------------------------

    def _current_snapshot(self) -> tuple[tuple[Record, ...], bool]:
        snapshot = self._snapshot
        if snapshot is None:
            with self.lock:
                snapshot = self._snapshot_locked()
        return snapshot

    def _snapshot_locked(self) -> tuple[tuple[Record, ...], bool]:
        # The caller holds self.lock.
        self._clear_dead_receivers()
        snapshot = self._snapshot
        if snapshot is None:
            records = tuple(self._records.values())
            filter_by_sender = any(r[0][1] != NONE_ID for r in records)
            snapshot = self._snapshot = (records, filter_by_sender)
        return snapshot

    def _records_for(self, sender: object) -> tuple[Record, ...]:
        """The records that may receive a send from ``sender``, in order.

        Weak references are not dereferenced here: that happens at call time.
        """
        if self._dead_receivers:
            with self.lock:
                self._clear_dead_receivers()
        if not self.use_caching:
            snapshot = self._snapshot or self._current_snapshot()
            # Most signals have no sender-specific receivers: skip the filter.
            return self._filter(snapshot, sender) if snapshot[1] else snapshot[0]
        cached = self.sender_receivers_cache.get(id(sender))
        if cached is not None and cached[0]() is sender:
            return cached[1]
        try:
            sender_ref = _SenderRef(sender, self._on_sender_death)
        except TypeError:
            # None, object(), ints...: correct without the cache.
            return self._filter(self._current_snapshot(), sender)
        sender_ref.key = id(sender)
        with self.lock:
            # Computed and stored under the lock, so a concurrent connect
            # cannot leave a stale entry behind.
            records = self._filter(self._snapshot_locked(), sender)
            self.sender_receivers_cache[id(sender)] = (sender_ref, records)
        return records

    def _filter(
        self, snapshot: tuple[tuple[Record, ...], bool], sender: object
    ) -> tuple[Record, ...]:
        records, filter_by_sender = snapshot
        if not filter_by_sender:
            return records
        sender_key = _make_id(sender)
        return tuple(
            r for r in records if r[0][1] == NONE_ID or r[0][1] == sender_key
        )

    def _evict_sender(self, sender_ref: _SenderRef) -> None:
        # Called by the garbage collector when a cached sender dies. The entry
        # may already have been replaced (cache cleared, sender re-cached).
        cache = self.sender_receivers_cache
        entry = cache.get(sender_ref.key)
        if entry is not None and entry[0] is sender_ref:
            cache.pop(sender_ref.key, None)

    def _nobody_listens(self, sender: object) -> bool:
        """Whether the cache already knows ``sender`` has no receivers.

        Like Django's ``NO_RECEIVERS`` check, this answers before
        ``_live_receivers`` is called.
        """
        if not self.use_caching:
            return False
        cached = self.sender_receivers_cache.get(id(sender))
        return cached is not None and not cached[1] and cached[0]() is sender

    def _live_receivers(self, sender: object) -> tuple[list[Receiver], list[Receiver]]:
        """The live receivers for ``sender``: ``(sync_receivers, async_receivers)``."""
        sync_receivers: list[Receiver] = []
        async_receivers: list[Receiver] = []
        for record in self._records_for(sender):
            # _live(record), inlined for the common weak function receiver:
            # a Python call per receiver is what this loop must avoid.
            _, ref, sender_ref, is_async = record
            if type(ref) is _ReferenceType and (
                sender_ref is None or sender_ref() is not None
            ):
                live = ref()
            else:
                live = _live(record)
            if live is not None:
                if is_async:
                    async_receivers.append(live)
                else:
                    sync_receivers.append(live)
        return sync_receivers, async_receivers

    def has_listeners(self, sender: object = None) -> bool:
        """Whether any live receiver would receive a send from ``sender``."""
        sync_receivers, async_receivers = self._live_receivers(sender)
        return bool(sync_receivers) or bool(async_receivers)

    # -- sending -------------------------------------------------------------

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

    def send(self, sender: object, **named: Any) -> Responses:
        """Call every receiver for ``sender``; return ``[(receiver, response), ...]``.

        A receiver's exception propagates and later receivers are not called.
        Sync receivers are called first, in connection order, then async ones
        run concurrently in one ``async_to_sync`` call.
        """
        if not self._records:
            return []
        if type(self)._live_receivers is not _STOCK_LIVE_RECEIVERS:
            # A subclass or a patch (sentry-sdk) wraps _live_receivers: use it.
            if self._nobody_listens(sender):
                return []
            sync_receivers, async_receivers = self._live_receivers(sender)
            responses = self._call_receivers(sync_receivers, sender, named, False)
        else:
            # The hot path, with no Python calls but the receivers':
            # _records_for's cache hit and _live() are inlined. Every receiver
            # is resolved before the first is called, as Django does, so one
            # that a receiver drops during the send is still called.
            cached = (
                self.sender_receivers_cache.get(id(sender))
                if self.use_caching and not self._dead_receivers
                else None
            )
            if cached is not None and cached[0]() is sender:
                records = cached[1]
            else:
                records = self._records_for(sender)
            if not records:  # Django's NO_RECEIVERS shortcut
                return []
            sync_receivers = []
            async_receivers = []
            for record in records:
                _, ref, sender_ref, is_async = record
                if type(ref) is _ReferenceType and sender_ref is None:
                    receiver = ref()
                else:
                    receiver = _live(record)
                if receiver is not None:
                    if is_async:
                        async_receivers.append(receiver)
                    else:
                        sync_receivers.append(receiver)
            # A loop, not a comprehension: on Python 3.11 a comprehension is a
            # frame of its own, and receivers that warn with a stacklevel
            # count the frames between them and the sender, as Django has them.
            responses = []
            for r in sync_receivers:
                responses.append((r, r(signal=self, sender=sender, **named)))
        if async_receivers:
            responses.extend(
                _async.send_async_receivers(self, async_receivers, sender, named, False)
            )
        return responses

    def send_robust(self, sender: object, **named: Any) -> Responses:
        """Like ``send``, but an ``Exception`` raised by a receiver is logged and
        returned as its response (with ``__traceback__``)."""
        if not self._records or self._nobody_listens(sender):
            return []
        sync_receivers, async_receivers = self._live_receivers(sender)
        responses = self._call_receivers(sync_receivers, sender, named, True)
        if async_receivers:
            responses.extend(
                _async.send_async_receivers(self, async_receivers, sender, named, True)
            )
        return responses

    async def asend(self, sender: object, **named: Any) -> Responses:
        """From async code: sync receivers in one ``sync_to_async`` call, then
        async ones concurrently."""
        if not self._records or self._nobody_listens(sender):
            return []
        sync_receivers, async_receivers = self._live_receivers(sender)
        return await _async.asend(
            self, sync_receivers, async_receivers, sender, named, robust=False
        )

    async def asend_robust(self, sender: object, **named: Any) -> Responses:
        """``asend`` that catches, logs and returns receivers' exceptions."""
        if not self._records or self._nobody_listens(sender):
            return []
        sync_receivers, async_receivers = self._live_receivers(sender)
        return await _async.asend(
            self, sync_receivers, async_receivers, sender, named, robust=True
        )

    def _log_robust_failure(self, receiver: Receiver, err: Exception) -> None:
        log_robust_failure(receiver, err)


_STOCK_LIVE_RECEIVERS = _SignalCore._live_receivers


class Signal(_SignalCore):
    """A signal: receivers connect to it, senders send it.

    Same API and behaviour as ``django.dispatch.Signal`` (Django 6.1).
    ``use_caching=True`` caches the receivers of each sender, which makes
    repeated sends for the same sender (Django's model signals) cheaper.

    (A plain Python class over the core so that code may patch its methods,
    as sentry-sdk does with ``Signal._live_receivers``.)
    """


def receiver(signal: Signal | list[Signal] | tuple[Signal, ...], **kwargs: Any) -> Callable[[R], R]:
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
