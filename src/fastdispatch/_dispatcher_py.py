"""Pure-Python implementation of the dispatcher's send path.

``csrc/_dispatcher_c.pyx`` is the compiled twin of this module: the same
names, the same behaviour, read them side by side. Everything off the send
path (connecting, Django's compatibility attributes, the async sends) is
shared by both and lives in ``fastdispatch._signal``, whose docstring says how
receivers are stored and what a subclass may override.

State of the core (besides what ``_signal.init_state`` sets):

- ``_snapshot``: ``(records, filter_by_sender)``, or None when stale (after
  a change). ``filter_by_sender`` is False when every receiver listens to all
  senders, so most sends skip the filter.
- ``sender_receivers_cache``, ``use_caching``, ``_dead_receivers``: as in
  Django.

Without the GIL (free-threaded CPython) nothing here can crash: every read
and write is a Python attribute or dict operation, which the interpreter
makes safe. What keeps the answers right: ``signal.lock`` is taken by every
change of the records and by every cache fill (computed from the snapshot
under the lock, so a concurrent connect cannot leave a stale entry); a send
takes no lock and reads ``_snapshot`` once (an immutable tuple, replaced, never
changed); cache entries are immutable ``(sender_ref, records)`` tuples; the
dead-receiver flag is only a hint (a send that misses it cleans up on the
next one). Assigning ``receivers`` without the lock (factory_boy does) races
with the cleanup of dead receivers, as in Django: the cleanup never
overwrites a list assigned meanwhile, but an assignment can be lost.
"""

from __future__ import annotations

from . import _hooks, _signal
from ._signal import (
    NO_RECEIVERS,
    NONE_ID,
    SIGNAL_DOC,
    SignalMethods,
    _live,
    _ReferenceType,
    _SenderRef,
    init_state,
    receiver,
)
from ._signal import _make_id as _make_id  # re-exported, as Django has it here

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._signal import Receiver, Record, Responses, Snapshot

__all__ = ["NONE_ID", "NO_RECEIVERS", "Signal", "receiver"]


class _SignalCore:
    """The send path. See ``Signal`` for the public documentation."""

    use_caching: bool
    sender_receivers_cache: dict[int, tuple[Any, tuple[Record, ...]]]
    _dead_receivers: bool
    _snapshot: Snapshot | None

    if TYPE_CHECKING:
        # Shared with the compiled core, from SignalMethods and init_state.
        _records: dict[Any, Record]

        def _nobody_listens(self, sender: object) -> bool: ...

        def _call_receivers(
            self,
            receivers: list[Receiver],
            sender: object,
            named: dict[str, Any],
            robust: bool,
        ) -> Responses: ...

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # Here rather than in __init__, like the compiled core's __cinit__.
        self = super().__new__(cls)
        self.use_caching = False
        self.sender_receivers_cache = {}
        self._dead_receivers = False
        self._snapshot = None
        init_state(self)
        return self

    def _changed(self) -> None:
        # The caller holds self.lock (or owns the signal exclusively).
        self._snapshot = None
        self.sender_receivers_cache.clear()

    def _live_receivers(self, sender: object) -> tuple[list[Receiver], list[Receiver]]:
        """The live receivers for ``sender``: ``(sync_receivers, async_receivers)``."""
        sync_receivers: list[Receiver] = []
        async_receivers: list[Receiver] = []
        for record in _records_for(self, sender):
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

    def _live_records(
        self, sender: object
    ) -> tuple[list[tuple[Receiver, Record]], list[tuple[Receiver, Record]]] | None:
        """``_live_receivers`` with each receiver's record, for the hooked
        send; None when ``_live_receivers`` is overridden (use that instead)."""
        if type(self)._live_receivers is not _STOCK_LIVE_RECEIVERS:
            return None
        sync_pairs: list[tuple[Receiver, Record]] = []
        async_pairs: list[tuple[Receiver, Record]] = []
        for record in _records_for(self, sender):
            live = _live(record)
            if live is not None:
                (async_pairs if record[3] else sync_pairs).append((live, record))
        return sync_pairs, async_pairs

    def send(self, sender: object, **named: Any) -> Responses:
        """Call every receiver for ``sender``; return ``[(receiver, response), ...]``.

        A receiver's exception propagates and later receivers are not called.
        Sync receivers are called first, in connection order, then async ones
        run concurrently in one ``async_to_sync`` call.
        """
        if not self._records:
            return []
        if _hooks_active and _hooks.applies(self):  # a tracer or muted() block for it
            return _hooks.send(self, sender, named, "send")
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
                records = _records_for(self, sender)
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
                _signal._async().send_async_receivers(
                    self, async_receivers, sender, named, False
                )
            )
        return responses

    def send_robust(self, sender: object, **named: Any) -> Responses:
        """Like ``send``, but an ``Exception`` raised by a receiver is logged and
        returned as its response (with ``__traceback__``)."""
        if not self._records or self._nobody_listens(sender):
            return []
        if _hooks_active and _hooks.applies(self):
            return _hooks.send(self, sender, named, "robust")
        sync_receivers, async_receivers = self._live_receivers(sender)
        responses = self._call_receivers(sync_receivers, sender, named, True)
        if async_receivers:
            responses.extend(
                _signal._async().send_async_receivers(
                    self, async_receivers, sender, named, True
                )
            )
        return responses


_STOCK_LIVE_RECEIVERS = _SignalCore._live_receivers

# Raised while a tracer or a muted() block is on (see fastdispatch._hooks).
_hooks_active = False


def _set_hooks_active(active: bool) -> None:
    global _hooks_active
    _hooks_active = active


_hooks.register_core(_set_hooks_active)


# -- finding the receivers of a send -----------------------------------------
# Module functions, not methods, as in the compiled twin (where they are C
# functions): nothing here is a hook a subclass could override.


def _current_snapshot(signal: Any) -> Snapshot:
    snapshot: Snapshot | None = signal._snapshot
    if snapshot is None:
        with signal.lock:
            snapshot = _snapshot_locked(signal)
    return snapshot


def _snapshot_locked(signal: Any) -> Snapshot:
    # The caller holds signal.lock.
    signal._clear_dead_receivers()
    snapshot: Snapshot | None = signal._snapshot
    if snapshot is None:
        records = tuple(signal._records.values())
        filter_by_sender = any(r[0][1] != NONE_ID for r in records)
        snapshot = signal._snapshot = (records, filter_by_sender)
    return snapshot


def _records_for(signal: Any, sender: object) -> tuple[Record, ...]:
    """The records that may receive a send from ``sender``, in order.

    Weak references are not dereferenced here: that happens at call time.
    """
    if signal._dead_receivers:
        with signal.lock:
            signal._clear_dead_receivers()
    if not signal.use_caching:
        snapshot = signal._snapshot or _current_snapshot(signal)
        # Most signals have no sender-specific receivers: skip the filter.
        return _filter(snapshot, sender) if snapshot[1] else snapshot[0]
    cached = signal.sender_receivers_cache.get(id(sender))
    if cached is not None and cached[0]() is sender:
        return cached[1]  # type: ignore[no-any-return]
    try:
        sender_ref = _SenderRef(sender, signal._on_sender_death)
    except TypeError:
        # None, object(), ints...: correct without the cache.
        return _filter(_current_snapshot(signal), sender)
    sender_ref.key = id(sender)
    with signal.lock:
        # Computed and stored under the lock, so a concurrent connect
        # cannot leave a stale entry behind.
        records = _filter(_snapshot_locked(signal), sender)
        signal.sender_receivers_cache[id(sender)] = (sender_ref, records)
    return records


def _filter(snapshot: Snapshot, sender: object) -> tuple[Record, ...]:
    records, filter_by_sender = snapshot
    if not filter_by_sender:
        return records
    sender_key = _signal._make_id(sender)
    return tuple(r for r in records if r[0][1] == NONE_ID or r[0][1] == sender_key)


class Signal(SignalMethods, _SignalCore):
    __doc__ = SIGNAL_DOC
