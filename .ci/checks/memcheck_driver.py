"""Every path of fastdispatch's compiled module, with assertions, small counts.

Run under valgrind by ``checks.memcheck`` (part (b) of ``.ci/memcheck.sh``):
weak and strong receivers of every kind, senders, caching with senders dying,
send/send_robust with the on-stack and the heap argument vector and reused
keyword-name tuples, re-entrancy, garbage collection during a send, a patched
``_live_receivers``, subclasses, async receivers, threads, deallocation.
Prints ``DRIVER OK`` when every assertion held.

Run it directly (``python .ci/checks/memcheck_driver.py``) to exercise the
compiled module; ``--python`` runs the same paths on the pure-Python
implementation (``.ci/tests`` does both, to keep the driver itself right).
It needs only fastdispatch and the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

IMPLEMENTATIONS = {
    "compiled": "fastdispatch._dispatcher_c",
    "python": "fastdispatch._dispatcher_py",
}


class Model:
    pass


class Handler:
    def __init__(self, name: str) -> None:
        self.name = name

    def method(self, **kwargs: object) -> str:
        return self.name

    def __call__(self, **kwargs: object) -> str:
        return self.name


class Slots:
    __slots__ = ()

    def __call__(self, **kwargs: object) -> str:
        return "slots"


class Boom(Exception):
    pass


def function(**kwargs: object) -> str:
    return "function"


def failing(**kwargs: object) -> str:
    raise Boom("boom")


def echo_kwargs(signal: object, sender: object, **kwargs: object) -> tuple[str, ...]:
    return tuple(sorted(kwargs))


def check(condition: object, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def connect_and_send(Signal: Any) -> None:
    """connect/disconnect with every kind of receiver and sender; the argument
    vector on the stack (<= 16 values) and on the heap; failures; weak
    receivers dying; receivers muted and restored."""
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
        for count in (0, 1, 13, 14, 15, 16, 40, 200):
            named = {f"k{i}": i for i in range(count)}
            for send in (sig.send, sig.send_robust):
                check(len(send(Model, **named)) == 8, f"{count} kwargs")
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
        robust = sig.send_robust(None, signal=1)
        check(all(isinstance(r, TypeError) for _, r in robust), "robust clash")
        del robust
        sig.connect(failing)
        with contextlib.suppress(Boom):
            sig.send(None)
        responses = sig.send_robust(None)
        last = responses[-1][1]
        check(isinstance(last, Boom) and last.__traceback__ is not None, "robust")
        check(sig.disconnect(failing), "disconnect failing")
        check(sig.disconnect(handlers[4], sender=Model, dispatch_uid=("uid", 1)), "disconnect uid")
        check(sig.disconnect(dispatch_uid="slots"), "disconnect slots")
        check(not sig.disconnect(failing), "disconnect twice")
        # weak receivers dying (the responses hold them too)
        del handlers[0:2], responses, last
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


def caching_with_senders_dying(Signal: Any) -> None:
    """Senders created and dropped (ids reused) while their receivers are cached."""
    sig = Signal(use_caching=True)
    sig.connect(function)
    keep = Handler("sender-specific")
    for i in range(3000):
        sender: object = Model() if i % 3 else type("Dyn", (), {})
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


def reentrancy(Signal: Any) -> None:
    """Receivers that collect garbage, connect and send during a send."""
    for use_caching in (False, True):
        reentrant_sends(Signal(use_caching=use_caching))


def reentrant_sends(sig: Any) -> None:
    holder: dict[str, Callable[..., object]] = {}

    def victim(**kwargs: object) -> str:
        return "victim"

    def killer(**kwargs: object) -> str:
        holder.clear()
        gc.collect()
        sig.connect(function)
        return "killer"

    def nested(depth: int = 0, **kwargs: object) -> object:
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


def patched_and_subclassed(Signal: Any) -> None:
    """A patched ``_live_receivers`` (as sentry-sdk does), a subclass."""
    sig = Signal()
    sig.connect(function)
    original = Signal._live_receivers

    def patched(self: Any, sender: object) -> tuple[list[object], list[object]]:
        sync_receivers, async_receivers = original(self, sender)
        return [*sync_receivers, lambda **kwargs: "patched"], async_receivers

    Signal._live_receivers = patched
    try:
        check(len(sig.send(None)) == 2 and len(sig.send_robust(None, x=1)) == 2, "patched")
    finally:
        Signal._live_receivers = original
    check(len(sig.send(None)) == 1, "unpatched")

    class ModelSignal(Signal):  # type: ignore[misc]
        def connect(
            self, receiver: Any, sender: object = None, weak: bool = True, dispatch_uid: Any = None
        ) -> Any:
            return super().connect(receiver, sender=sender, weak=weak, dispatch_uid=dispatch_uid)

    s = ModelSignal()
    s.connect(function)
    check(s.send(None) == [(function, "function")], "ModelSignal")


def subclass_without_init(Signal: Any) -> None:
    """A subclass whose ``__init__`` skips Signal's: the compiled type's
    fields are set up by its allocator anyway (the pure class needs __init__)."""

    class NoInit(Signal):  # type: ignore[misc]
        def __init__(self) -> None:
            pass

    s = NoInit()
    s.connect(function)
    check(s.send(None) == [(function, "function")], "NoInit")


def async_receivers(Signal: Any) -> None:
    sig = Signal()

    async def coroutine_receiver(**kwargs: object) -> str:
        await asyncio.sleep(0)
        return "async"

    sig.connect(coroutine_receiver)
    sig.connect(function)
    check([r for _, r in sig.send(None)] == ["function", "async"], "send with async")
    check([r for _, r in asyncio.run(sig.asend(None))] == ["function", "async"], "asend")
    robust = asyncio.run(sig.asend_robust(None))
    check([r for _, r in robust] == ["function", "async"], "asend_robust")


def threads_then_deallocation(Signal: Any) -> None:
    """Four threads connecting, sending and disconnecting on one cached
    signal; then signals with receivers and a populated cache, dropped."""
    sig = Signal(use_caching=True)
    stable = Handler("stable")
    sig.connect(stable)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            own = [Handler(f"{index}-{i}") for i in range(4)]
            for i in range(300):
                receiver = own[i % 4]
                sender: object = Model() if i % 2 else Model
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


Scenario = Callable[[Any], None]
SCENARIOS: dict[str, tuple[Scenario, ...]] = {
    "compiled": (
        connect_and_send,
        caching_with_senders_dying,
        reentrancy,
        patched_and_subclassed,
        subclass_without_init,
        async_receivers,
        threads_then_deallocation,
    ),
}
SCENARIOS["python"] = tuple(s for s in SCENARIOS["compiled"] if s is not subclass_without_init)


def exercise(implementation: str) -> None:
    """Every scenario on the implementation's Signal ("compiled" or "python");
    raises AssertionError on the first failure."""
    module = importlib.import_module(IMPLEMENTATIONS[implementation])
    for scenario in SCENARIOS[implementation]:
        scenario(module.Signal)


def quiet_robust_logging() -> None:
    """send_robust logs each failure with its traceback: not wanted here."""
    logger = logging.getLogger("fastdispatch")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False


def main(argv: list[str]) -> int:
    if argv not in ([], ["--python"]):
        print("usage: memcheck_driver.py [--python]", file=sys.stderr)
        return 2
    quiet_robust_logging()
    exercise("python" if argv else "compiled")
    print("DRIVER OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
