# cython: language_level=3, boundscheck=False, wraparound=False, auto_pickle=False, binding=False
"""Compiled implementation of the dispatcher: fastdispatch._dispatcher_c.

The twin of ``src/fastdispatch/_dispatcher_py.py``: same names, same
behaviour, same storage (read that module's docstring first). What the
compiler buys:

- ``send`` walks the records in one loop that checks liveness, builds bound
  methods and calls receivers, with no intermediate lists;
- weak references are read with the C API (``WeakMethod.__call__`` is Python
  code in CPython);
- receivers are called through vectorcall, with the argument vector and the
  keyword-names tuple built once per send and reused for every receiver.
"""

import threading
import warnings
import weakref
# asgiref's version also honours its markcoroutinefunction() before Python 3.12.
from asgiref.sync import iscoroutinefunction

from fastdispatch import _async
from fastdispatch._checks import (
    check_dispatch_uid,
    check_receiver,
    check_records,
    not_weakrefable,
)
from fastdispatch._robust import log_robust_failure

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.dict cimport PyDict_Next
from cpython.object cimport PyObject

cdef extern from "Python.h":
    object PyMethod_New(object func, object self)
    object PyObject_Vectorcall(object callable, PyObject **args, size_t nargsf, object kwnames)
    size_t PY_VECTORCALL_ARGUMENTS_OFFSET
    PyObject *PyTuple_GET_ITEM(object tuple, Py_ssize_t index)

cdef extern from *:
    """
    /* The referent of a weak reference as a new reference, or None if dead. */
    static CYTHON_INLINE PyObject *fd_referent(PyObject *ref) {
    #if PY_VERSION_HEX >= 0x030d0000
        PyObject *obj;
        if (PyWeakref_GetRef(ref, &obj) < 0) return NULL;
        if (obj == NULL) { Py_INCREF(Py_None); return Py_None; }
        return obj;
    #else
        PyObject *obj = PyWeakref_GetObject(ref);
        if (obj == NULL) return NULL;
        Py_INCREF(obj);
        return obj;
    #endif
    }
    """
    object fd_referent(object ref)

cdef extern from *:
    """
    /* WeakMethod keeps the weak reference to its function in the __slots__
       member _func_ref; its offset in the object is read once from the
       member descriptor, then the slot is read directly (a generic
       attribute lookup costs more than the rest of the dereference). */
    #include "structmember.h"
    static Py_ssize_t fd_func_ref_offset = -1;

    static int fd_init_weakmethod(PyObject *descriptor) {
        if (Py_TYPE(descriptor) != &PyMemberDescr_Type) {
            PyErr_SetString(PyExc_TypeError, "WeakMethod._func_ref is not a slot");
            return -1;
        }
        fd_func_ref_offset = ((PyMemberDescrObject *)descriptor)->d_member->offset;
        return 0;
    }

    /* The _func_ref of an exact WeakMethod (a new reference; None if unset). */
    static CYTHON_INLINE PyObject *fd_weakmethod_func_ref(PyObject *method) {
        PyObject *ref = *(PyObject **)((char *)method + fd_func_ref_offset);
        if (ref == NULL) ref = Py_None;
        Py_INCREF(ref);
        return ref;
    }
    """
    int fd_init_weakmethod(object descriptor) except -1
    object fd_weakmethod_func_ref(object method)

cdef extern from *:
    """
    /* The type's version tag, or 0 if it has none. CPython gives a type a new
       tag whenever the type or one of its bases is modified (attribute set). */
    static CYTHON_INLINE unsigned int fd_type_version(PyObject *obj) {
        PyTypeObject *type = Py_TYPE(obj);
    #ifdef Py_TPFLAGS_VALID_VERSION_TAG
        if (!PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG)) return 0;
    #endif
        return type->tp_version_tag;
    }
    """
    unsigned int fd_type_version(object obj)

cdef extern from *:
    """
    /* Method definitions for the METH_FASTCALL send and send_robust. */
    static PyMethodDef fd_fastcall_defs[] = {
        {"send", NULL, METH_FASTCALL | METH_KEYWORDS,
         "send($self, /, sender, **named)\\n--\\n\\n"
         "Call every receiver for sender; return [(receiver, response), ...].\\n\\n"
         "A receiver's exception propagates and later receivers are not called.\\n"
         "Sync receivers are called first, in connection order, then async ones\\n"
         "run concurrently in one async_to_sync call."},
        {"send_robust", NULL, METH_FASTCALL | METH_KEYWORDS,
         "send_robust($self, /, sender, **named)\\n--\\n\\n"
         "Like send, but an Exception raised by a receiver is logged and\\n"
         "returned as its response (with __traceback__)."},
    };

    static PyObject *fd_fastcall_method(PyObject *type, int slot, void *impl) {
        fd_fastcall_defs[slot].ml_meth = (PyCFunction)(void (*)(void))impl;
        return PyDescr_NewMethod((PyTypeObject *)type, &fd_fastcall_defs[slot]);
    }
    """
    object fd_fastcall_method(object type, int slot, void *impl)

__all__ = ["NONE_ID", "NO_RECEIVERS", "Signal", "receiver"]

# Captured once: code (and one of Django's tests) may patch ``weakref.ref``,
# which must not change how existing records are read.
cdef type _ReferenceType = weakref.ReferenceType
cdef type _WeakMethod = weakref.WeakMethod
fd_init_weakmethod(_WeakMethod.__dict__["_func_ref"])

# Keyword names of a send without extra arguments.
cdef tuple _SIGNAL_SENDER = ("signal", "sender")
# Argument vectors up to this size live on the C stack.
cdef enum:
    _STACK_ARGS = 16


def _make_id(target):
    """The identity of a receiver or sender: a bound method is (self, func)."""
    if hasattr(target, "__func__"):
        return (id(target.__self__), id(target.__func__))
    return id(target)


NONE_ID = _make_id(None)

# Kept for compatibility with django.dispatch; the cache here stores an empty
# tuple for a sender nobody listens to.
NO_RECEIVERS = object()

cdef object _NONE_ID = NONE_ID


cdef inline object _live(tuple record):
    """The receiver of ``record``, or None if it or its sender has died."""
    cdef object sender_ref = record[2]
    if sender_ref is not None:
        if type(sender_ref) is _ReferenceType:
            if fd_referent(sender_ref) is None:
                return None
        elif sender_ref() is None:
            return None
    cdef object ref = record[1]
    cdef type kind = type(ref)
    if kind is _ReferenceType:
        return fd_referent(ref)
    if kind is _WeakMethod:
        # What WeakMethod.__call__ does, in C.
        obj = fd_referent(ref)
        if obj is None:
            return None
        func = fd_referent(fd_weakmethod_func_ref(ref))
        if func is None:
            return None
        return PyMethod_New(func, obj)
    if isinstance(ref, _ReferenceType):
        return ref()
    return ref


cdef inline bint _is_dead(tuple record):
    ref, sender_ref = record[1], record[2]
    if isinstance(ref, _ReferenceType) and ref() is None:
        return True
    return sender_ref is not None and sender_ref() is None


class _SenderRef(weakref.ref):
    """A weak reference to a cached sender that knows its cache key."""

    __slots__ = ("key",)


cdef class _SignalCore:
    """The dispatcher. See ``Signal`` for the public documentation."""

    cdef public object use_caching
    cdef public object lock
    cdef public object providing_args
    cdef public dict sender_receivers_cache
    cdef public bint _dead_receivers
    cdef dict _records
    # (records, filter_by_sender) or None when stale.
    cdef object _snapshot
    cdef object _on_ref_death
    cdef object _on_sender_death
    # Keyword names of the last send (see _kwnames, _receiver_kwnames).
    cdef tuple _last_kwnames
    cdef tuple _last_call_kwnames
    # The sender_receivers_cache entry used last (see _records_for).
    cdef tuple _last_entry
    # Version tag of type(self) when _live_receivers was last found to be
    # ours (see _uses_stock_live_receivers).
    cdef unsigned int _stock_type_version

    def __cinit__(self, *args, **kwargs):
        # Here rather than in __init__, so a subclass that forgets to call
        # super().__init__() still has a consistent (empty) signal.
        self.use_caching = False
        self.lock = threading.Lock()
        self.providing_args = set()
        self.sender_receivers_cache = {}
        self._dead_receivers = False
        self._records = {}
        self._snapshot = None
        # One bound method for every weak reference (not one per connect).
        self._on_ref_death = self._flag_dead_receivers
        self._on_sender_death = self._evict_sender

    def __init__(self, use_caching=False, *, providing_args=None):
        if providing_args is not None:
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
    def receivers(self):
        """Django's receiver records ``(lookup_key, receiver, sender_ref, is_async)``.

        A new list on each read. Assigning a list (such as one read earlier)
        replaces the receivers, as factory_boy's ``mute_signals`` does.
        """
        return list(self._records.values())

    @receivers.setter
    def receivers(self, records):
        items = check_records(records)
        cdef dict replacement = {}
        for record in items:
            replacement.setdefault(record[0], record)
        self._records = replacement
        self._changed()
        # The records may hold receivers that died while they were away.
        self._dead_receivers = True

    def _clear_dead_receivers(self):
        # The caller holds self.lock.
        if self._dead_receivers:
            self._dead_receivers = False
            records = self._records
            alive = {key: r for key, r in records.items() if not _is_dead(<tuple>r)}
            # Unless `receivers` was assigned meanwhile (factory_boy assigns
            # it without the lock): that assignment wins.
            if self._records is records:
                self._records = alive
            self._changed()

    def _flag_dead_receivers(self, reference=None):
        # Called by the garbage collector, possibly while self.lock is held:
        # only flag, the next connect/disconnect/send cleans up.
        self._dead_receivers = True

    cdef void _changed(self):
        # The caller holds self.lock (or owns the signal exclusively).
        self._snapshot = None
        self._last_entry = None
        self.sender_receivers_cache.clear()

    # -- connecting ----------------------------------------------------------

    cdef tuple _lookup_key(self, receiver, sender, dispatch_uid):
        sender_key = _NONE_ID if sender is None else _make_id(sender)
        if dispatch_uid:
            check_dispatch_uid(dispatch_uid)
            return (dispatch_uid, sender_key)
        return (_make_id(receiver), sender_key)

    def connect(self, receiver, sender=None, weak=True, dispatch_uid=None):
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
        stored = receiver
        if weak:
            ref_type = weakref.ref
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

    def disconnect(self, receiver=None, sender=None, dispatch_uid=None):
        """Disconnect a receiver; return whether one was connected."""
        lookup_key = self._lookup_key(receiver, sender, dispatch_uid)
        with self.lock:
            self._clear_dead_receivers()
            removed = self._records.pop(lookup_key, None)
            if removed is not None:
                self._changed()
        return removed is not None

    # -- finding the receivers of a send -------------------------------------

    cdef tuple _current_snapshot(self):
        snapshot = self._snapshot
        if snapshot is None:
            with self.lock:
                snapshot = self._snapshot_locked()
        return <tuple>snapshot

    cdef tuple _snapshot_locked(self):
        # The caller holds self.lock.
        self._clear_dead_receivers()
        snapshot = self._snapshot
        if snapshot is None:
            records = tuple(self._records.values())
            filter_by_sender = any([r[0][1] != _NONE_ID for r in records])
            snapshot = self._snapshot = (records, filter_by_sender)
        return <tuple>snapshot

    cdef tuple _records_for(self, sender):
        """The records that may receive a send from ``sender``, in order.

        Weak references are not dereferenced here: that happens at call time.
        """
        if self._dead_receivers:
            with self.lock:
                self._clear_dead_receivers()
        if not self.use_caching:
            return self._filter(self._current_snapshot(), sender)
        # The entry of the last sender comes first: sends come in runs for
        # one sender (a queryset's post_init, a loop of saves).
        cached = self._last_entry
        if cached is not None and fd_referent((<tuple>cached)[0]) is sender:
            return <tuple>(<tuple>cached)[1]
        key = id(sender)
        cached = self.sender_receivers_cache.get(key)
        if cached is not None and fd_referent((<tuple>cached)[0]) is sender:
            self._last_entry = cached
            return <tuple>(<tuple>cached)[1]
        try:
            sender_ref = _SenderRef(sender, self._on_sender_death)
        except TypeError:
            # None, object(), ints...: correct without the cache.
            return self._filter(self._current_snapshot(), sender)
        sender_ref.key = key
        with self.lock:
            # Computed and stored under the lock, so a concurrent connect
            # cannot leave a stale entry behind.
            records = self._filter(self._snapshot_locked(), sender)
            self._last_entry = self.sender_receivers_cache[key] = (sender_ref, records)
        return records

    cdef tuple _filter(self, tuple snapshot, sender):
        cdef tuple records = snapshot[0]
        if not snapshot[1]:
            return records
        sender_key = _make_id(sender)
        return tuple([
            r for r in records
            if (<tuple>(<tuple>r)[0])[1] == _NONE_ID
            or (<tuple>(<tuple>r)[0])[1] == sender_key
        ])

    def _evict_sender(self, sender_ref):
        # Called by the garbage collector when a cached sender dies. The entry
        # may already have been replaced (cache cleared, sender re-cached).
        cache = self.sender_receivers_cache
        entry = cache.get(sender_ref.key)
        if entry is not None and entry[0] is sender_ref:
            cache.pop(sender_ref.key, None)

    cdef bint _nobody_listens(self, sender) except -1:
        """Whether the cache already knows ``sender`` has no receivers.

        Like Django's ``NO_RECEIVERS`` check, this answers before
        ``_live_receivers`` is called.
        """
        if not self.use_caching:
            return False
        cached = self.sender_receivers_cache.get(id(sender))
        return (
            cached is not None
            and not (<tuple>cached)[1]
            and fd_referent((<tuple>cached)[0]) is sender
        )

    def _live_receivers(self, sender):
        """The live receivers for ``sender``: ``(sync_receivers, async_receivers)``."""
        cdef list sync_receivers = []
        cdef list async_receivers = []
        for record in self._records_for(sender):
            live = _live(<tuple>record)
            if live is not None:
                if (<tuple>record)[3]:
                    async_receivers.append(live)
                else:
                    sync_receivers.append(live)
        return sync_receivers, async_receivers

    def has_listeners(self, sender=None):
        """Whether any live receiver would receive a send from ``sender``."""
        if not self._uses_stock_live_receivers():
            sync_receivers, async_receivers = self._live_receivers(sender)
            return bool(sync_receivers) or bool(async_receivers)
        for record in self._records_for(sender):
            if _live(<tuple>record) is not None:
                return True
        return False

    # -- sending -------------------------------------------------------------

    def _call_receivers(self, receivers, sender, dict named, bint robust):
        """Call sync receivers in order; with ``robust``, catch ``Exception``."""
        cdef PyObject *stack[_STACK_ARGS + 1]
        cdef PyObject **vector = _vector(stack, len(named))
        try:
            _fill(vector, self, sender, named)
            return self._call_all(receivers, sender, vector, _kwnames(self, named), named, robust)
        finally:
            if vector != stack:
                PyMem_Free(vector)

    cdef list _call_all(self, receivers, sender, PyObject **vector, kwnames, named, bint robust):
        """Call ``receivers`` in order with the arguments of ``vector`` (see
        _dispatch); with ``robust``, catch ``Exception``."""
        cdef list responses = []
        for r in receivers:
            if robust:
                response = _invoke_robust(r, vector, kwnames, self, sender, named)
            else:
                response = _invoke(r, vector, kwnames, self, sender, named)
            responses.append((r, response))
        return responses

    cdef bint _uses_stock_live_receivers(self) except -1:
        """Whether ``_live_receivers`` is still ours, not overridden or patched.

        The class lookup costs more than the rest of a send, so its answer is
        kept until the class (or a base) changes, which changes its version tag.
        """
        cdef unsigned int version = fd_type_version(self)
        if version != 0 and version == self._stock_type_version:
            return True
        if type(self)._live_receivers is not _STOCK_LIVE_RECEIVERS:
            return False
        # The lookup just made gives the type a version tag if it had none.
        self._stock_type_version = fd_type_version(self)
        return True

    cdef list _send(self, sender, dict named, bint robust):
        """send/send_robust with the keywords in a dict."""
        cdef PyObject *stack[_STACK_ARGS + 1]
        cdef PyObject **vector = _vector(stack, len(named))
        try:
            _fill(vector, self, sender, named)
            return self._dispatch(sender, vector, _kwnames(self, named), named, robust)
        finally:
            if vector != stack:
                PyMem_Free(vector)

    cdef object _send_fastcall(
        self, PyObject **args, Py_ssize_t nargs, PyObject *caller_kwnames, bint robust
    ):
        """send/send_robust straight from the caller's vectorcall arguments:
        no keyword dict is built unless a slow path needs one."""
        cdef Py_ssize_t count = nargs
        if caller_kwnames != NULL:
            count += len(<tuple>caller_kwnames)
        cdef Py_ssize_t sender_at = _sender_position(nargs, caller_kwnames, robust)
        sender = <object>args[sender_at]
        if not self._records:
            return []
        kwnames = self._receiver_kwnames(caller_kwnames, nargs)
        if kwnames is None:  # "signal" among the keywords: the generic path
            return self._send(sender, _named_from_call(args, nargs, caller_kwnames), robust)
        cdef PyObject *stack[_STACK_ARGS + 1]
        cdef PyObject **vector = _vector(stack, count - 1)
        cdef Py_ssize_t index, position = 3
        try:
            vector[0] = NULL
            vector[1] = <PyObject *>self
            vector[2] = args[sender_at]
            for index in range(count):
                if index != sender_at:
                    vector[position] = args[index]
                    position += 1
            return self._dispatch(sender, vector, kwnames, None, robust)
        finally:
            if vector != stack:
                PyMem_Free(vector)

    cdef object _receiver_kwnames(self, PyObject *caller_kwnames, Py_ssize_t nargs):
        """The receivers' keyword names for a caller's keyword names: sender
        moved to the front, "signal" added; None if "signal" is among them.

        Callers pass the same constant tuple on every call from one line of
        code, so the answer for the last one is kept.
        """
        key = None if caller_kwnames == NULL else <object>caller_kwnames
        cached = self._last_call_kwnames
        if (
            cached is not None
            and (<tuple>cached)[1] == nargs
            and _same_names((<tuple>cached)[0], key)
        ):
            return (<tuple>cached)[2]
        names = () if key is None else tuple([n for n in key if n != "sender"])
        kwnames = None if "signal" in names else _SIGNAL_SENDER + names
        self._last_call_kwnames = (key, nargs, kwnames)
        return kwnames

    cdef list _dispatch(self, sender, PyObject **vector, kwnames, named, bint robust):
        """Call the receivers of ``sender``.

        ``vector`` holds [spare, signal, sender, *values] for the keyword names
        ``kwnames`` (None: call generically with ``named``). ``named`` is the
        keyword dict, or None: it is then rebuilt from the vector only if a
        slow path (async receivers) needs it.
        """
        if not self._uses_stock_live_receivers():
            # A subclass or a patch (sentry-sdk) wraps _live_receivers: use it.
            if self._nobody_listens(sender):
                return []
            sync_receivers, async_receivers = self._live_receivers(sender)
        else:
            # The hot path: no Python calls but the receivers'. Every receiver
            # is resolved before the first is called, as Django does, so one
            # that a receiver drops during the send is still called.
            # (A cached sender nobody listens to gets () here: Django's
            # NO_RECEIVERS shortcut.)
            sync_receivers = []
            async_receivers = None
            for record in self._records_for(sender):
                live = _live(<tuple>record)
                if live is None:
                    continue
                if (<tuple>record)[3]:
                    if async_receivers is None:
                        async_receivers = []
                    async_receivers.append(live)
                else:
                    (<list>sync_receivers).append(live)
        responses = self._call_all(sync_receivers, sender, vector, kwnames, named, robust)
        if async_receivers:
            if named is None:
                named = _named(vector, kwnames)
            responses.extend(
                _async.send_async_receivers(self, async_receivers, sender, named, robust)
            )
        return responses

    def send(self, sender, **named):
        """Call every receiver for ``sender``; return ``[(receiver, response), ...]``.

        A receiver's exception propagates and later receivers are not called.
        Sync receivers are called first, in connection order, then async ones
        run concurrently in one ``async_to_sync`` call.
        """
        if not self._records:
            return []
        return self._send(sender, named, False)

    def send_robust(self, sender, **named):
        """Like ``send``, but an ``Exception`` raised by a receiver is logged and
        returned as its response (with ``__traceback__``)."""
        if not self._records:
            return []
        return self._send(sender, named, True)

    async def asend(self, sender, **named):
        """From async code: sync receivers in one ``sync_to_async`` call, then
        async ones concurrently."""
        if not self._records or self._nobody_listens(sender):
            return []
        sync_receivers, async_receivers = self._live_receivers(sender)
        return await _async.asend(
            self, sync_receivers, async_receivers, sender, named, robust=False
        )

    async def asend_robust(self, sender, **named):
        """``asend`` that catches, logs and returns receivers' exceptions."""
        if not self._records or self._nobody_listens(sender):
            return []
        sync_receivers, async_receivers = self._live_receivers(sender)
        return await _async.asend(
            self, sync_receivers, async_receivers, sender, named, robust=True
        )

    def _log_robust_failure(self, receiver, err):
        log_robust_failure(receiver, err)


cdef object _STOCK_LIVE_RECEIVERS = _SignalCore._live_receivers


# -- calling receivers: one argument vector per send ---------------------------
#
# ``receiver(signal=signal, sender=sender, **named)`` as a vectorcall. The
# vector is [spare, signal, sender, *named.values()]: the spare slot in front
# lets the callee prepend ``self`` for a bound method without copying
# (PY_VECTORCALL_ARGUMENTS_OFFSET). The values are borrowed from ``named``,
# which the caller keeps alive and nobody else can change.

cdef inline object _kwnames(_SignalCore signal, dict named):
    """The keyword names of the vector, or None when ``named`` holds "signal"
    (then the generic call raises Python's "multiple values" error).

    A signal is usually sent with the same keywords every time, so the tuple
    of its last send is reused when the keys are the same objects.
    """
    cdef Py_ssize_t count = len(named)
    if count == 0:
        return _SIGNAL_SENDER
    cdef tuple last = signal._last_kwnames
    cdef Py_ssize_t position = 0, index = 2
    cdef PyObject *key
    cdef PyObject *value
    if last is not None and len(last) == count + 2:
        while PyDict_Next(named, &position, &key, &value):
            if PyTuple_GET_ITEM(last, index) != key:
                break
            index += 1
        else:
            return last
    if "signal" in named:
        return None
    kwnames = _SIGNAL_SENDER + tuple(named)
    signal._last_kwnames = kwnames
    return kwnames


cdef inline PyObject **_vector(PyObject **stack, Py_ssize_t named_count) except NULL:
    """``stack`` if the vector fits in it, else memory the caller frees."""
    cdef Py_ssize_t size = 3 + named_count
    if size <= _STACK_ARGS + 1:
        return stack
    cdef PyObject **vector = <PyObject **>PyMem_Malloc(size * sizeof(PyObject *))
    if vector == NULL:
        raise MemoryError()
    return vector


cdef inline void _fill(PyObject **vector, signal, sender, dict named):
    cdef Py_ssize_t index = 3
    vector[0] = NULL
    vector[1] = <PyObject *>signal
    vector[2] = <PyObject *>sender
    for value in named.values():
        vector[index] = <PyObject *>value
        index += 1


cdef inline object _invoke(receiver, PyObject **vector, kwnames, signal, sender, dict named):
    if kwnames is None:
        return receiver(signal=signal, sender=sender, **named)
    return PyObject_Vectorcall(receiver, vector + 1, PY_VECTORCALL_ARGUMENTS_OFFSET, kwnames)


cdef object _invoke_robust(receiver, PyObject **vector, kwnames, signal, sender, dict named):
    try:
        return _invoke(receiver, vector, kwnames, signal, sender, named)
    except Exception as err:
        signal._log_robust_failure(receiver, err)
        return err


cdef Py_ssize_t _sender_position(Py_ssize_t nargs, PyObject *kwnames, bint robust) except -1:
    """Where ``sender`` is among a send's vectorcall arguments; Python's
    errors for a missing, doubled or extra argument."""
    method = "send_robust()" if robust else "send()"
    if nargs > 1:
        # Counting self, as Python does for a method.
        raise TypeError(f"{method} takes 2 positional arguments but {nargs + 1} were given")
    cdef Py_ssize_t index, position = 0 if nargs == 1 else -1
    if kwnames != NULL:
        names = <tuple>kwnames
        for index in range(len(names)):
            if names[index] == "sender":
                if position >= 0:
                    raise TypeError(f"{method} got multiple values for argument 'sender'")
                position = nargs + index
    if position < 0:
        raise TypeError(f"{method} missing 1 required positional argument: 'sender'")
    return position


cdef inline bint _same_names(object cached, object names):
    """Whether two keyword-name tuples (or None) hold the same string objects.

    The same tuple when sent from one line of code; an equal new one when sent
    as ``send(sender, **kwargs)``, whose keys are the same interned strings.
    """
    if cached is names:
        return True
    if cached is None or names is None:
        return False
    cdef Py_ssize_t index, size = len(<tuple>cached)
    if len(<tuple>names) != size:
        return False
    for index in range(size):
        if PyTuple_GET_ITEM(cached, index) != PyTuple_GET_ITEM(names, index):
            return False
    return True


cdef dict _named(PyObject **vector, tuple kwnames):
    """The keyword dict of a vector (see _dispatch)."""
    cdef dict named = {}
    cdef Py_ssize_t index
    for index in range(2, len(kwnames)):
        named[kwnames[index]] = <object>vector[index + 1]
    return named


cdef dict _named_from_call(PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    """The keyword dict of a send's vectorcall arguments, without sender."""
    cdef dict named = {}
    cdef Py_ssize_t index
    if kwnames != NULL:
        names = <tuple>kwnames
        for index in range(len(names)):
            if names[index] != "sender":
                named[names[index]] = <object>args[nargs + index]
    return named


# send and send_robust as METH_FASTCALL methods, installed on Signal below:
# Python hands them the caller's argument vector and keyword names, which
# become the receivers' vector without building a keyword dict. (A ``def``
# method with ``**named`` always builds one.)

cdef object _fastcall_send(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    return (<_SignalCore>self)._send_fastcall(args, nargs, kwnames, False)


cdef object _fastcall_send_robust(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    return (<_SignalCore>self)._send_fastcall(args, nargs, kwnames, True)


class Signal(_SignalCore):
    """A signal: receivers connect to it, senders send it.

    Same API and behaviour as ``django.dispatch.Signal`` (Django 6.1).
    ``use_caching=True`` caches the receivers of each sender, which makes
    repeated sends for the same sender (Django's model signals) cheaper.

    (A plain Python class over the core so that code may patch its methods,
    as sentry-sdk does with ``Signal._live_receivers``.)
    """


Signal.send = fd_fastcall_method(_SignalCore, 0, <void *>_fastcall_send)
Signal.send_robust = fd_fastcall_method(_SignalCore, 1, <void *>_fastcall_send_robust)


def receiver(signal, **kwargs):
    """Decorator: connect the function to ``signal`` (or to each of a list of
    signals), passing ``kwargs`` to ``connect``::

        @receiver(post_save, sender=MyModel)
        def on_save(sender, **kwargs): ...
    """

    def _decorator(func):
        if isinstance(signal, (list, tuple)):
            for s in signal:
                s.connect(func, **kwargs)
        else:
            signal.connect(func, **kwargs)
        return func

    return _decorator
