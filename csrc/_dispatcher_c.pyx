# cython: language_level=3, boundscheck=False, wraparound=False, auto_pickle=False
# cython: binding=True, embedsignature=True, freethreading_compatible=True
"""Compiled implementation of the dispatcher's send path: fastdispatch._dispatcher_c.

The twin of ``src/fastdispatch/_dispatcher_py.py``: the same names, the same
behaviour, read them side by side. Everything off the send path is shared by
both and lives in ``fastdispatch._signal`` (how receivers are stored, what a
subclass may override). What the compiler buys:

- ``send`` resolves the records' receivers into a C array (checking
  liveness and building bound methods, ``fd_live``), then calls them, with
  no intermediate lists;
- weak references are read with the C API (``WeakMethod.__call__`` is Python
  code in CPython), and a weak reference to the send's own sender is
  recognised by comparing pointers, without resolving it (``fd_refers_to``);
- receivers are called through vectorcall, with the argument vector and the
  keyword-names tuple built once per send and reused for every receiver;
- ``send`` and ``send_robust`` are METH_FASTCALL methods: the caller's
  argument vector becomes the receivers' without a keyword dict.

The C helpers are in ``csrc/fastdispatch_helpers.h``. ``binding`` and
``embedsignature`` make the methods introspectable (``inspect.signature``,
``help()``), as the pure twin's are.

Without the GIL (free-threaded CPython, ``freethreading_compatible``)
----------------------------------------------------------------------
A send takes no lock; connects, disconnects and cache fills take
``signal.lock`` as before. What threads share, and how each is guarded on a
free-threaded build (``FD_FREE_THREADED``; a GIL build compiles the plain
loads and stores it always had):

- ``_snapshot`` (the records tuple) and ``_cache`` (``sender_receivers_cache``):
  published in a two-item list, ``_published``: read with
  ``PyList_GetItemRef`` (no lock), replaced with ``PyList_SetItem`` (the
  list's own lock), so a send takes no critical section. The list itself is
  made with the signal and never replaced, so it is read borrowed. The
  snapshot is immutable once published; a send that finds none rebuilds it
  under ``signal.lock``. An empty signal is told by its snapshot too. A
  send reads the snapshot once (each read is an atomic reference count on
  an object every sender shares) and works from that one to the end.
- ``_records_dict`` (``_records``), ``_use_caching``: behind properties, read
  and replaced inside a critical section; the old object is released after
  it. A send reads ``_records_dict`` only when no snapshot is published.
- ``_caching``, ``_dead`` (``_dead_receivers``), ``_stock_type_version``, the
  type's version tag and the module's ``_hooks_active``: C ints, relaxed
  atomic loads and stores.
- ``sender_receivers_cache`` entries: immutable tuples, read with
  ``PyDict_GetItemRef`` (a strong reference, not a borrowed one), written
  with the lock held.
- ``_last_entry`` (the last sender's entry), ``_last_kwnames``,
  ``_last_call_kwnames``: not used. These per-send memos would be written by
  every send, and a race could free one under its reader; without them a
  send looks the cache up and builds its keyword-names tuple.
- Records, weak references, receivers: records are immutable tuples, read
  borrowed from the snapshot the send holds (no reference counts on shared
  items); receivers' weak references are resolved with ``PyWeakref_GetRef``
  into references the send owns, and receivers are called with those. A
  weak reference to the sender (a cache entry's, a record's sender
  reference) is compared with the sender the send holds, a pointer load
  (atomic on free-threaded builds) that takes no lock: the referent cannot
  be freed while the send holds it, and a weak reference is cleared before
  its referent is freed. Only when the pointers differ is it resolved.
- ``fd_init_live``'s types and ``WeakMethod`` slot offset, and the fastcall
  method table: written once at import, read-only after.

The shared Python half (``fastdispatch._signal``, ``fastdispatch._hooks``)
runs on the interpreter's own per-object locking, with ``signal.lock`` around
every change of the records, as in the pure twin.
"""

from fastdispatch import _hooks, _signal
from fastdispatch._signal import (  # noqa: F401 (_make_id: re-exported)
    NO_RECEIVERS,
    NONE_ID,
    SIGNAL_DOC,
    SignalMethods,
    _make_id,  # no-cython-lint (re-exported, as the pure twin does)
    _SenderRef,
    init_state,
    receiver,
)

from cython cimport critical_section
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.dict cimport PyDict_Next
from cpython.object cimport PyObject
from cpython.ref cimport Py_XDECREF

cdef extern from "Python.h":
    object PyMethod_New(object func, object self)
    object PyObject_Vectorcall(PyObject *callable, PyObject **args, size_t nargsf, object kwnames)
    size_t PY_VECTORCALL_ARGUMENTS_OFFSET
    PyObject *PyTuple_GET_ITEM(object tuple, Py_ssize_t index)

cdef extern from "fastdispatch_helpers.h":
    bint FD_FREE_THREADED
    int fd_load_int(int *flag)
    void fd_store_int(int *flag, int value)
    unsigned int fd_load_uint(unsigned int *value)
    void fd_store_uint(unsigned int *target, unsigned int value)
    object fd_dict_get(object dict, object key)
    object fd_referent(object ref)
    bint fd_refers_to(object ref, object obj)
    object fd_list_get(PyObject *list, Py_ssize_t index)
    int fd_list_set(object list, Py_ssize_t index, object item) except -1
    int fd_init_live(object reference_type, object weakmethod_type, object func_ref_descriptor) except -1
    int fd_live(PyObject *record, PyObject *sender, PyObject **receiver) except -1
    object fd_live_or_none(object record, object sender)
    int fd_is_async(PyObject *record) except -1
    object fd_response_pair(PyObject *receiver, object response)
    unsigned int fd_type_version(object obj)
    object fd_fastcall_method(object type, int slot, void *impl)

__all__ = ["NONE_ID", "NO_RECEIVERS", "Signal", "receiver"]

# The shared module's, captured once there (code may patch weakref.ref).
fd_init_live(
    _signal._ReferenceType, _signal._WeakMethod, _signal._WeakMethod.__dict__["_func_ref"]
)

# Keyword names of a send without extra arguments.
cdef tuple _SIGNAL_SENDER = ("signal", "sender")
# Argument vectors up to this size live on the C stack.
cdef enum:
    _STACK_ARGS = 16
# Receivers of one send up to this many are held on the C stack.
cdef enum:
    _STACK_RECEIVERS = 16

cdef object _NONE_ID = NONE_ID


cdef inline object _live(tuple record, sender):
    """The receiver of ``record`` sent from ``sender``, or None if it or its
    sender has died (the C twin of ``_signal._live``: fd_live)."""
    return fd_live_or_none(record, sender)


cdef class _SignalCore:
    """The send path. See ``Signal`` for the public documentation."""

    # Behind properties of the names Django and the shared code use
    # (use_caching, sender_receivers_cache, _dead_receivers, _records): on a
    # free-threaded build a field is read and written in a critical section
    # (or atomically), so no thread sees an object another one just freed.
    cdef object _use_caching
    cdef int _caching  # bool(_use_caching), what every send reads
    cdef dict _cache  # GIL builds only; free-threaded builds: _published[1]
    cdef int _dead
    # The shared code's receiver records (see fastdispatch._signal); a C
    # field because every send checks it first.
    cdef dict _records_dict
    # (records, filter_by_sender) or None when stale. GIL builds only;
    # free-threaded builds: _published[0].
    cdef object _snapshot
    # Free-threaded builds: [snapshot, cache], so that a send reads both with
    # PyList_GetItemRef instead of a critical section on the signal (see
    # _snapshot_of, _cache_of). None on GIL builds.
    cdef list _published
    # GIL builds only (free-threaded builds skip these memos): the keyword
    # names of the last send (see _kwnames, _receiver_kwnames) and the
    # sender_receivers_cache entry used last (see _records_for).
    cdef tuple _last_kwnames
    cdef tuple _last_call_kwnames
    cdef tuple _last_entry
    # Version tag of type(self) when _live_receivers was last found to be
    # ours (see _uses_stock_live_receivers).
    cdef unsigned int _stock_type_version

    def __cinit__(self, *args, **kwargs):
        # Here rather than in __init__, so a subclass that forgets to call
        # super().__init__() still has a consistent (empty) signal.
        self._use_caching = False
        self._records_dict = {}
        if FD_FREE_THREADED:
            self._published = [None, {}]  # _snapshot and _cache stay None
        else:
            self._cache = {}
            self._snapshot = None
        init_state(self)

    @property
    def use_caching(self):
        with critical_section(self):
            return self._use_caching

    @use_caching.setter
    def use_caching(self, value):
        cdef bint caching = value
        with critical_section(self):
            previous = self._use_caching
            self._use_caching = value
            fd_store_int(&self._caching, caching)
        del previous  # released outside the critical section

    @property
    def sender_receivers_cache(self):
        return _cache_of(self)

    @sender_receivers_cache.setter
    def sender_receivers_cache(self, dict value not None):
        if FD_FREE_THREADED:
            fd_list_set(self._published, 1, value)
        else:
            self._cache = value
            self._last_entry = None

    @property
    def _dead_receivers(self):
        return bool(fd_load_int(&self._dead))

    @_dead_receivers.setter
    def _dead_receivers(self, value):
        fd_store_int(&self._dead, bool(value))

    @property
    def _records(self):
        with critical_section(self):
            return self._records_dict

    @_records.setter
    def _records(self, dict value not None):
        with critical_section(self):
            previous = self._records_dict
            self._records_dict = value
        del previous

    def _changed(self):
        # The caller holds self.lock (or owns the signal exclusively).
        _publish_snapshot(self, None)
        if not FD_FREE_THREADED:
            self._last_entry = None
        _cache_of(self).clear()

    def _live_receivers(self, sender):
        """The live receivers for ``sender``: ``(sync_receivers, async_receivers)``."""
        cdef list sync_receivers = []
        cdef list async_receivers = []
        for record in _records_for(self, sender, None):
            live = _live(<tuple>record, sender)
            if live is not None:
                if (<tuple>record)[3]:
                    async_receivers.append(live)
                else:
                    sync_receivers.append(live)
        return sync_receivers, async_receivers

    def _live_records(self, sender):
        """``_live_receivers`` with each receiver's record, for the hooked
        send; None when ``_live_receivers`` is overridden (use that instead)."""
        if not self._uses_stock_live_receivers():
            return None
        cdef list sync_pairs = []
        cdef list async_pairs = []
        for record in _records_for(self, sender, None):
            live = _live(<tuple>record, sender)
            if live is not None:
                (async_pairs if (<tuple>record)[3] else sync_pairs).append((live, record))
        return sync_pairs, async_pairs

    # -- sending -------------------------------------------------------------

    cdef bint _uses_stock_live_receivers(self) except -1:
        """Whether ``_live_receivers`` is still ours, not overridden or patched.

        The class lookup costs more than the rest of a send, so its answer is
        kept until the class (or a base) changes, which changes its version tag.
        """
        cdef unsigned int version = fd_type_version(self)
        if version != 0 and version == fd_load_uint(&self._stock_type_version):
            return True
        if type(self)._live_receivers is not _STOCK_LIVE_RECEIVERS:
            return False
        # The lookup just made gives the type a version tag if it had none.
        fd_store_uint(&self._stock_type_version, fd_type_version(self))
        return True

    cdef list _send(self, sender, dict named, bint robust):
        """send/send_robust with the keywords in a dict."""
        # A tracer or a muted() block somewhere: the hooks, if one is for this send.
        if fd_load_int(&_hooks_active) and _hooks.applies(self):
            return _hooks.send(self, sender, named, "robust" if robust else "send")
        cdef PyObject *stack[_STACK_ARGS + 1]
        cdef PyObject **vector = _vector(stack, len(named))
        try:
            _fill(vector, self, sender, named)
            return self._dispatch(sender, vector, _kwnames(self, named), named, robust, None)
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
        # Free-threaded builds read the published snapshot once per send:
        # each read is an atomic reference count on an object all senders
        # share. (GIL builds read the field where it is needed.)
        snapshot = _snapshot_of(self) if FD_FREE_THREADED else None
        if not _has_records(self, snapshot):
            return []
        # A tracer or a muted() block somewhere: the hooks, if one is for this send.
        if fd_load_int(&_hooks_active) and _hooks.applies(self):
            return _hooks.send(
                self, sender, _named_from_call(args, nargs, caller_kwnames),
                "robust" if robust else "send",
            )
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
            return self._dispatch(sender, vector, kwnames, None, robust, snapshot)
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
        if not FD_FREE_THREADED:
            cached = self._last_call_kwnames
            if (
                cached is not None
                and (<tuple>cached)[1] == nargs
                and _same_names((<tuple>cached)[0], key)
            ):
                return (<tuple>cached)[2]
        names = () if key is None else tuple([n for n in key if n != "sender"])
        kwnames = None if "signal" in names else _SIGNAL_SENDER + names
        if not FD_FREE_THREADED:
            self._last_call_kwnames = (key, nargs, kwnames)
        return kwnames

    cdef list _dispatch(
        self, sender, PyObject **vector, kwnames, named, bint robust, snapshot
    ):
        """Call the receivers of ``sender``.

        ``vector`` holds [spare, signal, sender, *values] for the keyword names
        ``kwnames`` (None: call generically with ``named``). ``named`` is the
        keyword dict, or None: it is then rebuilt from the vector only if a
        slow path (async receivers) needs it. ``snapshot``: the one the send
        read, or None (see _current_snapshot).
        """
        if self._uses_stock_live_receivers():
            # The hot path. (A cached sender nobody listens to gets () here:
            # Django's NO_RECEIVERS shortcut.)
            return _send_to_records(
                self, _records_for(self, sender, snapshot), sender, vector, kwnames, named, robust
            )
        # A subclass or a patch (sentry-sdk) wraps _live_receivers: use it.
        if self._nobody_listens(sender):
            return []
        sync_receivers, async_receivers = self._live_receivers(sender)
        responses = _call_all(self, sync_receivers, sender, vector, kwnames, named, robust)
        _send_async(self, responses, async_receivers, sender, vector, kwnames, named, robust)
        return responses


cdef object _STOCK_LIVE_RECEIVERS = _SignalCore._live_receivers

# Raised while a tracer or a muted() block is on (see fastdispatch._hooks).
cdef int _hooks_active = 0


def _set_hooks_active(active):
    fd_store_int(&_hooks_active, bool(active))


_hooks.register_core(_set_hooks_active)


# -- finding the receivers of a send -------------------------------------------
# C functions, not methods, as module functions in the pure twin: nothing
# here is a hook a subclass could override.

cdef inline bint _has_records(_SignalCore signal, snapshot) except -1:
    """Whether ``signal`` has records; ``snapshot`` is the one the send read
    (None on GIL builds, or when none is published)."""
    if FD_FREE_THREADED:
        # A current snapshot answers without a critical section: every
        # change of the records unpublishes it (_changed).
        if snapshot is not None:
            return bool((<tuple>snapshot)[0])
        with critical_section(signal):
            return bool(signal._records_dict)
    return bool(signal._records_dict)


cdef inline object _snapshot_of(_SignalCore signal):
    if FD_FREE_THREADED:
        # _published is read borrowed (no shared reference count): it is
        # made in __cinit__ and never replaced, and the caller holds signal.
        return fd_list_get(<PyObject *>signal._published, 0)
    return signal._snapshot


cdef inline int _publish_snapshot(_SignalCore signal, snapshot) except -1:
    if FD_FREE_THREADED:
        fd_list_set(signal._published, 0, snapshot)
    else:
        signal._snapshot = snapshot
    return 0


cdef inline dict _cache_of(_SignalCore signal):
    if FD_FREE_THREADED:
        return <dict>fd_list_get(<PyObject *>signal._published, 1)
    return signal._cache


cdef tuple _current_snapshot(_SignalCore signal, snapshot):
    """``snapshot`` (the one a send read, or None), else the published one,
    else a new one built under the lock."""
    if snapshot is None:
        snapshot = _snapshot_of(signal)
    if snapshot is None:
        with signal.lock:
            snapshot = _snapshot_locked(signal)
    return <tuple>snapshot


cdef tuple _snapshot_locked(_SignalCore signal):
    # The caller holds signal.lock.
    signal._clear_dead_receivers()
    snapshot = _snapshot_of(signal)
    if snapshot is None:
        records = tuple(signal._records.values())
        filter_by_sender = any([r[0][1] != _NONE_ID for r in records])
        snapshot = (records, filter_by_sender)
        _publish_snapshot(signal, snapshot)
    return <tuple>snapshot


cdef tuple _records_for(_SignalCore signal, sender, snapshot):
    """The records that may receive a send from ``sender``, in order.

    Weak references are not dereferenced here: that happens at call time.
    ``snapshot``: the one the send read, or None.
    """
    if fd_load_int(&signal._dead):
        with signal.lock:
            signal._clear_dead_receivers()
    if not fd_load_int(&signal._caching):
        return _filter(_current_snapshot(signal, snapshot), sender)
    if not FD_FREE_THREADED:
        # The entry of the last sender comes first: sends come in runs for
        # one sender (a queryset's post_init, a loop of saves).
        cached = signal._last_entry
        if cached is not None and fd_refers_to((<tuple>cached)[0], sender):
            return <tuple>(<tuple>cached)[1]
    key = id(sender)
    cache = _cache_of(signal)
    cached = fd_dict_get(cache, key)
    if cached is not None and _is_entry_of(<tuple>cached, sender):
        if not FD_FREE_THREADED:
            signal._last_entry = cached
        return <tuple>(<tuple>cached)[1]
    try:
        sender_ref = _SenderRef(sender, signal._on_sender_death)
    except TypeError:
        # None, object(), ints...: correct without the cache.
        return _filter(_current_snapshot(signal, snapshot), sender)
    sender_ref.key = key
    with signal.lock:
        # Computed and stored under the lock, so a concurrent connect
        # cannot leave a stale entry behind.
        records = _filter(_snapshot_locked(signal), sender)
        entry = (sender_ref, records)
        cache[key] = entry
        if not FD_FREE_THREADED:
            signal._last_entry = entry
    return records


cdef inline bint _is_entry_of(tuple entry, sender) except -1:
    """Whether a sender_receivers_cache entry is ``sender``'s: its weak
    reference is to ``sender`` (compared without resolving it, fd_refers_to;
    an entry assigned from outside is resolved)."""
    if fd_refers_to(entry[0], sender):
        return True
    return fd_referent(entry[0]) is sender


cdef tuple _filter(tuple snapshot, sender):
    cdef tuple records = snapshot[0]
    if not snapshot[1]:
        return records
    sender_key = _signal._make_id(sender)
    return tuple([
        r for r in records
        if (<tuple>(<tuple>r)[0])[1] == _NONE_ID
        or (<tuple>(<tuple>r)[0])[1] == sender_key
    ])


cdef list _send_to_records(
    _SignalCore signal, tuple records, sender, PyObject **vector, kwnames, named, bint robust
):
    """Call the live receivers of ``records`` (see _dispatch for the rest).

    Every receiver is resolved before the first is called, as Django does,
    so one that a receiver drops during the send is still called. The
    resolved receivers are held in a C array, not a list: each is called
    and then handed to its (receiver, response) pair with the reference the
    send took, and the records' items are read borrowed (fd_live).
    """
    cdef Py_ssize_t count = len(records)
    if count == 0:
        return []
    cdef PyObject *stack[_STACK_RECEIVERS]
    cdef PyObject **receivers = stack
    if count > _STACK_RECEIVERS:
        receivers = <PyObject **>PyMem_Malloc(count * sizeof(PyObject *))
        if receivers == NULL:
            raise MemoryError()
    cdef Py_ssize_t index, found = 0, called = 0
    cdef PyObject *record
    cdef PyObject *live
    cdef list async_receivers = None
    cdef list responses = []
    try:
        for index in range(count):
            record = PyTuple_GET_ITEM(records, index)
            if not fd_live(record, <PyObject *>sender, &live):
                continue
            receivers[found] = live  # released in finally until handed on
            found += 1
            if fd_is_async(record):
                if async_receivers is None:
                    async_receivers = []
                async_receivers.append(<object>live)
                found -= 1
                Py_XDECREF(live)
        while called < found:
            live = receivers[called]
            if robust:
                response = _invoke_robust(live, vector, kwnames, signal, sender, named)
            else:
                response = _invoke(live, vector, kwnames, signal, sender, named)
            receivers[called] = NULL  # the pair takes the reference, even on failure
            called += 1
            responses.append(fd_response_pair(live, response))
    finally:
        while called < found:
            Py_XDECREF(receivers[called])
            called += 1
        if receivers != stack:
            PyMem_Free(receivers)
    _send_async(signal, responses, async_receivers, sender, vector, kwnames, named, robust)
    return responses


cdef int _send_async(
    _SignalCore signal, list responses, async_receivers, sender,
    PyObject **vector, kwnames, named, bint robust,
) except -1:
    """Run the async receivers, if any, adding their responses."""
    if async_receivers:
        if named is None:
            named = _named(vector, kwnames)
        responses.extend(
            _signal._async().send_async_receivers(
                signal, async_receivers, sender, named, robust
            )
        )
    return 0


cdef list _call_all(_SignalCore signal, receivers, sender, PyObject **vector, kwnames, named, bint robust):
    """Call ``receivers`` in order with the arguments of ``vector`` (see
    _dispatch); with ``robust``, catch ``Exception``."""
    cdef list responses = []
    for r in receivers:
        if robust:
            response = _invoke_robust(<PyObject *>r, vector, kwnames, signal, sender, named)
        else:
            response = _invoke(<PyObject *>r, vector, kwnames, signal, sender, named)
        responses.append((r, response))
    return responses


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
    cdef tuple last = None if FD_FREE_THREADED else signal._last_kwnames
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
    if not FD_FREE_THREADED:
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


cdef inline object _invoke(PyObject *callee, PyObject **vector, kwnames, signal, sender, dict named):
    # The caller holds a reference to ``callee``.
    if kwnames is None:
        return (<object>callee)(signal=signal, sender=sender, **named)
    return PyObject_Vectorcall(callee, vector + 1, PY_VECTORCALL_ARGUMENTS_OFFSET, kwnames)


cdef object _invoke_robust(PyObject *callee, PyObject **vector, kwnames, signal, sender, dict named):
    try:
        return _invoke(callee, vector, kwnames, signal, sender, named)
    except Exception as err:
        signal._log_robust_failure(<object>callee, err)
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


class Signal(SignalMethods, _SignalCore):
    __doc__ = SIGNAL_DOC


Signal.send = fd_fastcall_method(_SignalCore, 0, <void *>_fastcall_send)
Signal.send_robust = fd_fastcall_method(_SignalCore, 1, <void *>_fastcall_send_robust)
