#!/usr/bin/env bash
# Memory checks of the compiled extension (fastdispatch._dispatcher_c).
#
#   (a) The test suite, compiled implementation only (-k compiled,
#       --require-compiled), under `python -X dev` with PYTHONMALLOC=debug:
#       CPython's debug allocator hooks (buffer over- and underruns, use of
#       freed memory, API misuse such as calling the object allocator
#       without the GIL are fatal errors), dev-mode warnings (as errors, by
#       the suite's filterwarnings) and asyncio debug mode.
#   (b) A driver that exercises every path of the compiled module (weak and
#       strong receivers of every kind, senders, caching with senders dying,
#       send/send_robust with the on-stack and the heap argument vector and
#       reused keyword-name tuples, re-entrancy, garbage collection during a
#       send, a patched _live_receivers, subclasses, async receivers,
#       threads) under `valgrind --tool=memcheck` with PYTHONMALLOC=malloc
#       (so that valgrind sees every object allocation). The suite itself is
#       not run under valgrind: pytest's start-up alone takes over a minute
#       there.
#
#       CPython itself makes memcheck report errors valgrind cannot tell
#       apart from bugs (uninitialised bytes from getrandom, its own
#       finalisation leaks). Its suppression file is used when found
#       (Debian ships /usr/lib/valgrind/python3.supp; FASTDISPATCH_VALGRIND_SUPP
#       overrides), and the verdict is "no error in fastdispatch code": an
#       error (invalid read/write, use of uninitialised values, invalid free,
#       or a definite leak) fails the run if any frame of its stack is in
#       _dispatcher_c (the module's object file, or a __pyx_ function).
#       Other errors are counted and reported, not judged.
#
# Usage: .ci/memcheck.sh PYTHON     (the interpreter with fastdispatch built
#                                    in place, pytest and Django installed)
# Exit status: 0 when both parts pass, non-zero otherwise. About 2-3 minutes.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 PYTHON" >&2
    exit 2
fi
PYTHON=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fastdispatch-memcheck.XXXXXX")
trap '[[ -n ${FASTDISPATCH_MEMCHECK_KEEP:-} ]] || rm -rf "$WORK"' EXIT
status=0

"$PYTHON" -c 'import fastdispatch._dispatcher_c as c; print("compiled module:", c.__file__)'

# -- (a) the suite under -X dev and PYTHONMALLOC=debug ----------------------------------------

echo "== (a) test suite, compiled implementation, python -X dev, PYTHONMALLOC=debug"
# The dispatch suite of Django's own tests runs in a subprocess that inherits
# PYTHONMALLOC=debug; FASTDISPATCH_SOAK is forced off to keep this bounded.
if PYTHONMALLOC=debug FASTDISPATCH_SOAK=0 PYTHONFAULTHANDLER=1 \
    "$PYTHON" -X dev -m pytest tests -q -p no:cacheprovider --require-compiled -k compiled \
    2>&1 | tee "$WORK/suite.log" | tail -n 15; then
    echo "(a) passed"
else
    echo "(a) FAILED (see the output above)"
    status=1
fi

# -- (b) a driver under valgrind memcheck --------------------------------------------------------

echo "== (b) driver for the compiled module under valgrind memcheck, PYTHONMALLOC=malloc"
if ! command -v valgrind >/dev/null 2>&1; then
    echo "(b) FAILED: valgrind is not installed"
    exit 1
fi

cat >"$WORK/driver.py" <<'DRIVER'
"""Every path of fastdispatch._dispatcher_c, with assertions, small counts."""
import asyncio
import gc
import logging
import threading
import weakref

import fastdispatch._dispatcher_c as impl

# send_robust logs each failure with its traceback: not wanted here.
logging.getLogger("fastdispatch").addHandler(logging.NullHandler())
logging.getLogger("fastdispatch").propagate = False

Signal = impl.Signal


class Model:
    pass


class Handler:
    def __init__(self, name):
        self.name = name

    def method(self, **kwargs):
        return self.name

    def __call__(self, **kwargs):
        return self.name


class Slots:
    __slots__ = ()

    def __call__(self, **kwargs):
        return "slots"


class Boom(Exception):
    pass


def function(**kwargs):
    return "function"


def failing(**kwargs):
    raise Boom("boom")


def echo_kwargs(signal, sender, **kwargs):
    return tuple(sorted(kwargs))


def check(condition, what):
    if not condition:
        raise AssertionError(what)


# connect / disconnect, every kind of receiver and sender
for use_caching in (False, True):
    sig = Signal(use_caching=use_caching)
    handlers = [Handler(f"h{i}") for i in range(5)]
    sig.connect(function)
    sig.connect(handlers[0].method)
    sig.connect(handlers[1])
    sig.connect(handlers[2].method, weak=False)
    sig.connect(Slots(), weak=False, dispatch_uid="slots")
    sig.connect(lambda **kwargs: "lambda", weak=False)
    sig.connect(handlers[3], sender=Model)
    sig.connect(handlers[4], sender=Model, dispatch_uid=("uid", 1))
    sig.connect(function)  # duplicate: no-op
    check(len(sig.receivers) == 8, "records")
    for _ in range(3):
        check(len(sig.send(Model)) == 8, "send Model")
        check(len(sig.send(None)) == 6, "send None")
        check(len(sig.send(object())) == 6, "send object()")
        check(len(sig.send_robust(Model, a=1)) == 8, "send_robust")
        check(sig.has_listeners(Model) and sig.has_listeners(), "has_listeners")
    # the argument vector: on the stack (<= 16 values) and on the heap
    for count in (0, 1, 13, 14, 15, 16, 40, 200):
        named = {f"k{i}": i for i in range(count)}
        for send in (sig.send, sig.send_robust):
            responses = send(Model, **named)
            check(len(responses) == 8, f"{count} kwargs")
        sig2 = Signal(use_caching=use_caching)
        sig2.connect(echo_kwargs)
        for _ in range(2):
            check(sig2.send(None, **named)[0][1] == tuple(sorted(named)), "kwargs passed")
            # equal keys that are other string objects: the kwnames tuple is rebuilt
            fresh = {"".join(["k", str(i)]): i for i in range(count)}
            check(sig2.send(None, **fresh)[0][1] == tuple(sorted(fresh)), "fresh keys")
            reordered = dict(reversed(list(named.items())))
            check(sig2.send(None, **reordered)[0][1] == tuple(sorted(named)), "reordered")
    # a named argument "signal": the generic call path raises, robustly too
    try:
        sig.send(None, signal=1)
    except TypeError:
        pass
    else:
        raise AssertionError("signal= accepted")
    check(all(isinstance(r, TypeError) for _, r in sig.send_robust(None, signal=1)), "robust clash")
    # failures
    sig.connect(failing)
    try:
        sig.send(None)
    except Boom:
        pass
    responses = sig.send_robust(None)
    check(isinstance(responses[-1][1], Boom) and responses[-1][1].__traceback__ is not None, "robust")
    check(sig.disconnect(failing), "disconnect failing")
    check(sig.disconnect(handlers[4], sender=Model, dispatch_uid=("uid", 1)), "disconnect uid")
    check(sig.disconnect(dispatch_uid="slots"), "disconnect slots")
    check(not sig.disconnect(failing), "disconnect twice")
    # weak receivers dying
    del handlers[0:2], responses
    gc.collect()
    check(len(sig.send(Model)) == 4, "dead receivers dropped")
    saved = sig.receivers
    sig.receivers = []
    check(sig.send(Model) == [] and not sig.has_listeners(Model), "muted")
    sig.receivers = saved
    check(len(sig.send(Model)) == 4, "restored")
    with sig.lock:
        sig._clear_dead_receivers()
        sig.sender_receivers_cache.clear()
    del sig, saved, handlers

# caching: senders created and dropped; id reuse
sig = Signal(use_caching=True)
sig.connect(function)
keep = Handler("sender-specific")
for i in range(3000):
    sender = Model() if i % 3 else type("Dyn", (), {})
    sig.connect(keep, sender=sender)
    check(len(sig.send(sender)) == 2, "cached sender")
    check(len(sig.send(sender)) == 2, "cache hit")
    if i % 2:
        sig.disconnect(keep, sender=sender)
    del sender
    if i % 100 == 0:
        gc.collect()
gc.collect()
check(sig.has_listeners() and len(sig.receivers) == 1, "dead senders dropped")
check(len(sig.sender_receivers_cache) <= 1, "cache evicted")

# re-entrancy, garbage collection during a send, nested sends
for use_caching in (False, True):
    sig = Signal(use_caching=use_caching)
    holder = {}

    def victim(**kwargs):
        return "victim"

    def killer(**kwargs):
        holder.clear()
        gc.collect()
        sig.connect(function)
        return "killer"

    def nested(depth=0, **kwargs):
        if depth < 3:
            return sig.send_robust(Model, depth=depth + 1)
        sig.disconnect(nested)
        sig.connect(nested)
        return depth

    holder["v"] = victim
    sig.connect(killer)
    sig.connect(victim)
    sig.connect(nested)
    del victim
    sig.send(Model)
    sig.send(Model)
    sig.send_robust(Model)
    gc.collect()
    check(sig.has_listeners(Model), "re-entrancy")
    del sig, holder, killer, nested

# a patched _live_receivers (sentry-sdk), a subclass, a subclass without __init__
sig = Signal()
sig.connect(function)
original = Signal._live_receivers


def patched(self, sender):
    sync_receivers, async_receivers = original(self, sender)
    return sync_receivers + [lambda **kwargs: "patched"], async_receivers


Signal._live_receivers = patched
try:
    check(len(sig.send(None)) == 2 and len(sig.send_robust(None, x=1)) == 2, "patched")
finally:
    Signal._live_receivers = original
check(len(sig.send(None)) == 1, "unpatched")


class NoInit(Signal):
    def __init__(self):
        pass


class ModelSignal(Signal):
    def connect(self, receiver, sender=None, weak=True, dispatch_uid=None):
        return super().connect(receiver, sender=sender, weak=weak, dispatch_uid=dispatch_uid)


for cls in (NoInit, ModelSignal):
    s = cls()
    s.connect(function)
    check(s.send(None) == [(function, "function")], cls.__name__)
    del s

# async receivers
sig = Signal()


async def coroutine_receiver(**kwargs):
    await asyncio.sleep(0)
    return "async"


sig.connect(coroutine_receiver)
sig.connect(function)
check([r for _, r in sig.send(None)] == ["function", "async"], "send with async")
check([r for _, r in asyncio.run(sig.asend(None))] == ["function", "async"], "asend")
check([r for _, r in asyncio.run(sig.asend_robust(None))] == ["function", "async"], "asend_robust")
del sig

# threads
sig = Signal(use_caching=True)
stable = Handler("stable")
sig.connect(stable)
errors = []


def worker(index):
    try:
        own = [Handler(f"{index}-{i}") for i in range(4)]
        for i in range(300):
            receiver = own[i % 4]
            sender = Model() if i % 2 else Model
            sig.connect(receiver, sender=sender)
            responses = sig.send(sender, i=i)
            check(responses[0] == (stable, "stable"), "stable first")
            check(sig.disconnect(receiver, sender=sender), "thread disconnect")
    except BaseException as error:
        errors.append(error)


threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
check(errors == [], repr(errors))
check(sig.send(Model) == [(stable, "stable")], "after threads")

# signals with receivers and a populated cache, dropped: deallocation
signals = []
for i in range(50):
    s = Signal(use_caching=bool(i % 2))
    s.connect(function)
    s.connect(stable.method)
    s.connect(Handler("strong"), weak=False)
    s.send(Model)
    signals.append(s)
ref = weakref.ref(signals[0])
del signals, s
gc.collect()
check(ref() is None, "signal collected")
print("DRIVER OK")
DRIVER

SUPP=${FASTDISPATCH_VALGRIND_SUPP:-}
if [[ -z $SUPP ]]; then
    for candidate in /usr/lib/valgrind/python3.supp /usr/lib/valgrind/python.supp \
        /usr/share/doc/python3*/valgrind-python.supp; do
        if [[ -f $candidate ]]; then SUPP=$candidate; break; fi
    done
fi
SUPP_ARGS=()
if [[ -n $SUPP ]]; then
    echo "suppressions: $SUPP"
    SUPP_ARGS=(--suppressions="$SUPP")
else
    echo "suppressions: none found (CPython's own errors will be reported, not judged)"
fi

set +e
PYTHONMALLOC=malloc valgrind --tool=memcheck --track-origins=no --num-callers=50 \
    --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    "${SUPP_ARGS[@]}" --xml=yes --xml-file="$WORK/vg.%p.xml" --log-file="$WORK/vg.%p.log" \
    "$PYTHON" "$WORK/driver.py" >"$WORK/driver.out" 2>&1
driver_status=$?
set -e
cat "$WORK/driver.out"
if [[ $driver_status -ne 0 ]] || ! grep -q "DRIVER OK" "$WORK/driver.out"; then
    echo "(b) FAILED: the driver failed under valgrind (exit status $driver_status)"
    status=1
fi

"$PYTHON" - "$WORK" <<'VERDICT' || status=1
"""Read valgrind's XML reports: fail on any error with a frame in _dispatcher_c."""
import collections
import glob
import sys
import xml.etree.ElementTree as ET

work = sys.argv[1]
ours, theirs = [], collections.Counter()
reports = glob.glob(f"{work}/vg.*.xml")
if not reports:
    print("(b) FAILED: no valgrind report was written")
    sys.exit(1)
for path in reports:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:  # a forked child that exec'd: truncated report
        print(f"note: {path}: unreadable ({error})")
        continue
    for error in root.iter("error"):
        kind = error.findtext("kind", "?")
        frames = [
            (frame.findtext("fn", "?"), frame.findtext("obj", ""), frame.findtext("file", ""))
            for frame in error.iter("frame")
        ]
        if any("_dispatcher_c" in obj or "_dispatcher_c" in file or fn.startswith("__pyx_")
               for fn, obj, file in frames):
            what = error.findtext("what") or error.findtext("xwhat/text") or kind
            ours.append((kind, what, frames[:12]))
        else:
            theirs[kind] += 1
print(f"valgrind: {sum(theirs.values())} error(s) outside fastdispatch (CPython and libraries, "
      f"not judged): {dict(theirs)}")
if ours:
    print(f"(b) FAILED: {len(ours)} error(s) with a frame in _dispatcher_c:")
    for kind, what, frames in ours:
        print(f"  {kind}: {what}")
        for fn, obj, file in frames:
            print(f"      {fn}  ({file or obj})")
    sys.exit(1)
print("(b) passed: no valgrind error in fastdispatch code")
VERDICT

if [[ $status -eq 0 ]]; then
    echo "memcheck: passed"
else
    echo "memcheck: FAILED"
fi
exit $status
