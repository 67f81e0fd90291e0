/* C helpers of the compiled core (csrc/_dispatcher_c.pyx), kept here rather
   than in `cdef extern from *` strings so that they read as C. */

#ifndef FASTDISPATCH_HELPERS_H
#define FASTDISPATCH_HELPERS_H

#include <Python.h>
#include "structmember.h"

/* Free-threaded CPython (3.13t and later) runs without the GIL: state that
   threads share is then read and written with atomics or inside critical
   sections (the table in the module docstring of _dispatcher_c.pyx). The GIL build
   compiles the plain loads and stores it always had. */
#ifdef Py_GIL_DISABLED
#define FD_FREE_THREADED 1
#define fd_load_int(p) _Py_atomic_load_int_relaxed(p)
#define fd_store_int(p, v) _Py_atomic_store_int_relaxed((p), (v))
#define fd_load_uint(p) _Py_atomic_load_uint_relaxed(p)
#define fd_store_uint(p, v) _Py_atomic_store_uint_relaxed((p), (v))
#else
#define FD_FREE_THREADED 0
#define fd_load_int(p) (*(p))
#define fd_store_int(p, v) (*(p) = (v))
#define fd_load_uint(p) (*(p))
#define fd_store_uint(p, v) (*(p) = (v))
#endif

/* dict[key] as a new reference, None if missing, NULL on error. Without the
   GIL, a borrowed value could be freed by another thread before it is
   increfed: PyDict_GetItemRef increfs it safely. */
static inline PyObject *fd_dict_get(PyObject *dict, PyObject *key) {
#if PY_VERSION_HEX >= 0x030d0000
    PyObject *value;
    if (PyDict_GetItemRef(dict, key, &value) < 0) return NULL;
    if (value == NULL) { Py_INCREF(Py_None); return Py_None; }
    return value;
#else
    PyObject *value = PyDict_GetItemWithError(dict, key);
    if (value == NULL) {
        if (PyErr_Occurred()) return NULL;
        value = Py_None;
    }
    Py_INCREF(value);
    return value;
#endif
}

/* Item i of a list as a new reference. Without the GIL, PyList_GetItemRef
   reads it without taking the list's lock, safely against a concurrent
   fd_list_set: the free-threaded core publishes its snapshot and its cache
   dict in a list so that a send reads them without a critical section. */
static inline PyObject *fd_list_get(PyObject *list, Py_ssize_t i) {
#ifdef Py_GIL_DISABLED
    return PyList_GetItemRef(list, i);
#else
    PyObject *item = PyList_GET_ITEM(list, i);
    Py_INCREF(item);
    return item;
#endif
}

/* list[i] = item (PyList_SetItem, which takes the list's lock when
   free-threaded); the caller keeps its reference. */
static inline int fd_list_set(PyObject *list, Py_ssize_t i, PyObject *item) {
    Py_INCREF(item);
    return PyList_SetItem(list, i, item);
}

/* The referent of a weak reference in *obj (a new reference): 1 if alive,
   0 (*obj NULL) if dead, -1 on error. */
static inline int fd_get_ref(PyObject *ref, PyObject **obj) {
#if PY_VERSION_HEX >= 0x030d0000
    return PyWeakref_GetRef(ref, obj);
#else
    PyObject *referent = PyWeakref_GetObject(ref);
    *obj = NULL;
    if (referent == NULL) return -1;
    if (referent == Py_None) return 0;
    Py_INCREF(referent);
    *obj = referent;
    return 1;
#endif
}

/* The referent of a weak reference as a new reference, or None if dead. */
static inline PyObject *fd_referent(PyObject *ref) {
    PyObject *obj;
    int alive = fd_get_ref(ref, &obj);
    if (alive < 0) return NULL;
    if (!alive) { Py_INCREF(Py_None); return Py_None; }
    return obj;
}

/* Whether `ref` is a weak reference to `obj`, an object the caller holds:
   1 yes, 0 no (another object, dead, or not a weak reference). A pointer
   comparison: no reference is taken, so free-threaded builds skip the lock
   that resolving a weak reference takes (keyed by the referent, so two
   threads sending for one sender would take it in turns). Exact: a weak
   reference is cleared before its referent is freed, and obj, held by the
   caller, cannot be freed meanwhile. */
static inline int fd_refers_to(PyObject *ref, PyObject *obj) {
    if (!PyWeakref_Check(ref)) return 0;
#ifdef Py_GIL_DISABLED
    return _Py_atomic_load_ptr_relaxed(&((PyWeakReference *)ref)->wr_object) == obj;
#else
    return ((PyWeakReference *)ref)->wr_object == obj;
#endif
}

/* -- fd_live: the C twin of fastdispatch._signal._live ----------------------
   Set once at import by fd_init_live, read-only after: the shared module's
   weakref.ReferenceType and WeakMethod (captured there, as code may patch
   weakref.ref), and the offset of WeakMethod's __slots__ member _func_ref,
   read from its member descriptor so that the slot is read directly (a
   generic attribute lookup costs more than the rest of the dereference). */
static PyObject *fd_reference_type = NULL;
static PyObject *fd_weakmethod_type = NULL;
static Py_ssize_t fd_func_ref_offset = -1;

static int fd_init_live(PyObject *reference_type, PyObject *weakmethod_type,
                        PyObject *func_ref_descriptor) {
    if (Py_TYPE(func_ref_descriptor) != &PyMemberDescr_Type) {
        PyErr_SetString(PyExc_TypeError, "WeakMethod._func_ref is not a slot");
        return -1;
    }
    fd_func_ref_offset = ((PyMemberDescrObject *)func_ref_descriptor)->d_member->offset;
    Py_INCREF(reference_type);
    Py_XSETREF(fd_reference_type, reference_type);
    Py_INCREF(weakmethod_type);
    Py_XSETREF(fd_weakmethod_type, weakmethod_type);
    return 0;
}

/* Whether a record's sender reference (not None) is dead: 1 dead, 0 alive,
   -1 on error. `sender` is the send's sender, which the caller holds: a weak
   reference to it is alive without being resolved. */
static inline int fd_sender_dead(PyObject *sender_ref, PyObject *sender) {
    PyObject *obj;
    int alive;
    if (Py_TYPE(sender_ref) == (PyTypeObject *)fd_reference_type) {
        if (fd_refers_to(sender_ref, sender)) return 0;
        alive = fd_get_ref(sender_ref, &obj);
        if (alive < 0) return -1;
        Py_XDECREF(obj);
        return !alive;
    }
    obj = PyObject_CallNoArgs(sender_ref);
    if (obj == NULL) return -1;
    alive = obj != Py_None;
    Py_DECREF(obj);
    return !alive;
}

/* The live receiver of a record (lookup_key, receiver_or_ref, sender_ref,
   is_async) sent from `sender`: 1 and a new reference in *receiver if it
   and its sender are alive, 0 (*receiver NULL) if either has died, -1 on
   error. The record's items are read borrowed: the caller holds the record
   (through the snapshot), and records are immutable tuples. */
static int fd_live(PyObject *record, PyObject *sender, PyObject **receiver) {
    PyObject *sender_ref = PyTuple_GET_ITEM(record, 2);
    PyObject *ref = PyTuple_GET_ITEM(record, 1);
    PyTypeObject *kind = Py_TYPE(ref);
    int alive;
    *receiver = NULL;
    if (sender_ref != Py_None) {
        alive = fd_sender_dead(sender_ref, sender);
        if (alive != 0) return alive < 0 ? -1 : 0;
    }
    if (kind == (PyTypeObject *)fd_reference_type) return fd_get_ref(ref, receiver);
    if (kind == (PyTypeObject *)fd_weakmethod_type) {
        /* What WeakMethod.__call__ does, in C. */
        PyObject *obj, *func;
        PyObject *func_ref = *(PyObject **)((char *)ref + fd_func_ref_offset);
        if (func_ref == NULL) {
            PyErr_SetString(PyExc_AttributeError, "WeakMethod has no _func_ref");
            return -1;
        }
        alive = fd_get_ref(ref, &obj);
        if (alive <= 0) return alive;
        alive = fd_get_ref(func_ref, &func);
        if (alive <= 0) { Py_DECREF(obj); return alive; }
        *receiver = PyMethod_New(func, obj);
        Py_DECREF(func);
        Py_DECREF(obj);
        return *receiver == NULL ? -1 : 1;
    }
    alive = PyObject_IsInstance(ref, fd_reference_type);
    if (alive < 0) return -1;
    if (alive) {
        PyObject *obj = PyObject_CallNoArgs(ref);
        if (obj == NULL) return -1;
        if (obj == Py_None) { Py_DECREF(obj); return 0; }
        *receiver = obj;
        return 1;
    }
    if (ref == Py_None) return 0;
    Py_INCREF(ref);
    *receiver = ref;
    return 1;
}

/* fd_live's receiver as a new reference, None if dead, NULL on error. */
static PyObject *fd_live_or_none(PyObject *record, PyObject *sender) {
    PyObject *receiver;
    int alive = fd_live(record, sender, &receiver);
    if (alive < 0) return NULL;
    if (!alive) { Py_INCREF(Py_None); return Py_None; }
    return receiver;
}

/* Whether a record's receiver is async (its is_async item is true). */
static inline int fd_is_async(PyObject *record) {
    return PyObject_IsTrue(PyTuple_GET_ITEM(record, 3));
}

/* (receiver, response) as a new tuple, taking over the caller's reference
   to `receiver` (released on failure too); NULL on error. */
static inline PyObject *fd_response_pair(PyObject *receiver, PyObject *response) {
    PyObject *pair = PyTuple_New(2);
    if (pair == NULL) { Py_DECREF(receiver); return NULL; }
    PyTuple_SET_ITEM(pair, 0, receiver);
    Py_INCREF(response);
    PyTuple_SET_ITEM(pair, 1, response);
    return pair;
}

/* The type's version tag, or 0 if it has none. CPython gives a type a new
   tag whenever the type or one of its bases is modified (attribute set). */
static inline unsigned int fd_type_version(PyObject *obj) {
    PyTypeObject *type = Py_TYPE(obj);
#ifdef Py_TPFLAGS_VALID_VERSION_TAG
    if (!PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG)) return 0;
#endif
#ifdef Py_GIL_DISABLED
    /* CPython itself reads it so, as other threads may assign a new one. */
    return _Py_atomic_load_uint32_relaxed(&type->tp_version_tag);
#else
    return type->tp_version_tag;
#endif
}

/* Method definitions for the METH_FASTCALL send and send_robust. The text
   signatures (before "--") are what inspect.signature() reads. */
static PyMethodDef fd_fastcall_defs[] = {
    {"send", NULL, METH_FASTCALL | METH_KEYWORDS,
     "send($self, /, sender, **named)\n--\n\n"
     "Call every receiver for ``sender``; return ``[(receiver, response), ...]``.\n\n"
     "A receiver's exception propagates and later receivers are not called.\n"
     "Sync receivers are called first, in connection order, then async ones\n"
     "run concurrently in one ``async_to_sync`` call."},
    {"send_robust", NULL, METH_FASTCALL | METH_KEYWORDS,
     "send_robust($self, /, sender, **named)\n--\n\n"
     "Like ``send``, but an ``Exception`` raised by a receiver is logged and\n"
     "returned as its response (with ``__traceback__``)."},
};

static PyObject *fd_fastcall_method(PyObject *type, int slot, void *impl) {
    fd_fastcall_defs[slot].ml_meth = (PyCFunction)(void (*)(void))impl;
    return PyDescr_NewMethod((PyTypeObject *)type, &fd_fastcall_defs[slot]);
}

#endif /* FASTDISPATCH_HELPERS_H */
