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

/* The referent of a weak reference as a new reference, or None if dead. */
static inline PyObject *fd_referent(PyObject *ref) {
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

/* WeakMethod keeps the weak reference to its function in the __slots__
   member _func_ref; its offset in the object is read once from the member
   descriptor, then the slot is read directly (a generic attribute lookup
   costs more than the rest of the dereference). */
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
static inline PyObject *fd_weakmethod_func_ref(PyObject *method) {
    PyObject *ref = *(PyObject **)((char *)method + fd_func_ref_offset);
    if (ref == NULL) ref = Py_None;
    Py_INCREF(ref);
    return ref;
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
