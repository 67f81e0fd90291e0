"""The deferred receivers: callables connected in place of a function.

``after_commit(func)`` and ``on_worker(engine)(func)`` return a wrapper that a
signal calls like any receiver. It passes through every ``connect()``
(``@receiver``, ``Signal.connect``, Django's ``ModelSignal.connect`` with its
own signature) because it *is* the receiver. Calling it schedules the work and
returns a ``Deferred``; the function runs later.

Lifetime: signals hold receivers weakly by default, and a wrapper that nobody
holds would die at once. So each wrapper is kept by the function it wraps (in
the function's ``__dict__``; for a bound method, for as long as its instance
lives): ``post_save.connect(after_commit(f))`` lives exactly as long as
``post_save.connect(f)`` would, and wrapping the same function with the same
options twice gives the same wrapper (so connecting it twice connects once).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import sys
import threading
import weakref
from collections.abc import Callable, Hashable, Mapping
from typing import Any, ClassVar

from .._robust import robust_logger
from ._delivery import (
    MESSAGE_VERSION,
    Deferred,
    Delivery,
    Enqueue,
    Message,
    Mode,
    enqueue,
    invoke_receiver,
    new_delivery_id,
)
from ._django import (
    database_alias,
    django_installed,
    is_snapshot_signal,
    on_commit,
    require_django_settings,
)
from ._engines import Engine, RetryPolicy, as_engine
from ._payload import encode_arguments
from ._references import (
    callable_name,
    describe_signal,
    import_reference,
    signal_reference,
    worker_receiver_reference,
)

__all__ = [
    "AfterCommitReceiver",
    "DeferredReceiver",
    "WorkerReceiver",
    "after_commit",
    "on_worker",
    "resolve_worker_receiver",
]

_logger = logging.getLogger("fastdispatch.deferred")
_KEEP = "_fastdispatch_deferred"  # the attribute of a function that keeps its wrappers
_lock = threading.Lock()
# Wrappers of bound methods, by id of the instance; emptied when it dies.
_bound_wrappers: dict[int, dict[Hashable, DeferredReceiver]] = {}
ENQUEUE_MODES: tuple[Enqueue, ...] = ("on_commit", "now", "outbox")


class DeferredReceiver:
    """Base of the wrappers. ``func`` is the wrapped callable."""

    mode: ClassVar[Mode]

    def __init__(self, func: Callable[..., Any]) -> None:
        if inspect.ismethod(func):
            self._func_ref: Callable[[], Callable[..., Any] | None] = weakref.WeakMethod(func)
        else:
            self._func_ref = functools.partial(_identity, func)
        self.name = callable_name(func)
        # What logging, Django's checks and inspect.signature() look at.
        self.__module__ = getattr(func, "__module__", None) or __name__
        self.__name__ = getattr(func, "__name__", type(func).__name__)
        self.__qualname__ = getattr(func, "__qualname__", self.__name__)
        self.__doc__ = getattr(func, "__doc__", None)
        if inspect.ismethod(func):
            # Not __wrapped__: that would keep the method's instance alive.
            try:
                self.__signature__ = inspect.signature(func)
            except (TypeError, ValueError):
                pass
        else:
            self.__wrapped__ = func

    @property
    def func(self) -> Callable[..., Any]:
        func = self._func_ref()
        if func is None:
            raise ReferenceError(f"the instance of {self.name} no longer exists")
        return func

    def __call__(self, signal: Any = None, sender: Any = None, **named: Any) -> Deferred:
        if signal is None:
            raise TypeError(
                f"{self.name} is a deferred receiver: signals call it (with signal=...). "
                f"To run the function itself now, call {self.__name__}.func(...)."
            )
        return self._defer(signal, sender, named)

    def _defer(self, signal: Any, sender: Any, named: dict[str, Any]) -> Deferred:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def _identity(func: Callable[..., Any]) -> Callable[..., Any]:
    return func


def _kept_wrapper(
    func: Callable[..., Any], key: Hashable, make: Callable[[], DeferredReceiver]
) -> DeferredReceiver:
    """The wrapper of ``func`` for ``key``, made once and kept alive by ``func``."""
    with _lock:
        if inspect.ismethod(func):
            owner = func.__self__
            key = (key, func.__func__)
            wrappers = _bound_wrappers.get(id(owner))
            if wrappers is None:
                wrappers = _bound_wrappers[id(owner)] = {}
                try:
                    weakref.finalize(owner, _bound_wrappers.pop, id(owner), None)
                except TypeError:
                    del _bound_wrappers[id(owner)]
                    raise TypeError(
                        f"Cannot defer {func!r}: its instance cannot be weakly referenced, "
                        "so the wrapper could not live exactly as long as it. Wrap a "
                        "module-level function instead."
                    ) from None
        else:
            try:
                namespace = vars(func)
            except TypeError:
                raise TypeError(
                    f"Cannot defer {func!r}: it has no __dict__ to keep its deferred "
                    "wrapper alive while a signal holds it weakly. Wrap a function."
                ) from None
            wrappers = namespace.setdefault(_KEEP, {})
        wrapper = wrappers.get(key)
        if wrapper is None:
            wrapper = wrappers[key] = make()
        return wrapper


def _check_wrappable(func: object, decorator: str) -> None:
    if isinstance(func, DeferredReceiver):
        raise TypeError(f"{func!r} is already deferred: use one of after_commit() and on_worker().")
    if not callable(func):
        raise TypeError(f"{decorator}() needs a callable receiver, not {func!r}.")
    if inspect.iscoroutinefunction(func):
        raise TypeError(
            f"{decorator}() cannot defer {callable_name(func)}: it is an async function, "
            "and deferred receivers run from synchronous commit callbacks and worker "
            "tasks. Write it as a plain def (a worker runs it outside the request anyway)."
        )
    connected_to = _plainly_connected(func)
    if connected_to is not None:
        raise TypeError(
            f"{callable_name(func)} is already connected to {connected_to} as an "
            f"ordinary receiver, so it would run inline as well. Put @{decorator}(...) "
            "below @receiver(...) (decorators apply bottom-up, so receiver() must "
            "connect the deferred receiver), or disconnect the function first."
        )


def _plainly_connected(func: object) -> str | None:
    """The signal ``func`` is already connected to, if one in its module or
    Django's model signals has it: the sign of decorators in the wrong order."""
    candidates: list[Any] = []
    own_module = getattr(func, "__module__", "") or ""
    for name, namespace in list(sys.modules.items()):
        # Its own module, and the modules that define signals by convention
        # (django.db.models.signals, myapp.signals).
        if namespace is not None and (name == own_module or name.rpartition(".")[2] == "signals"):
            candidates.extend(vars(namespace).values())
    seen: set[int] = set()
    for candidate in candidates:
        if id(candidate) in seen or inspect.isclass(candidate) or inspect.ismodule(candidate):
            continue
        seen.add(id(candidate))
        if not (hasattr(candidate, "connect") and hasattr(candidate, "send")):
            continue
        try:
            records = candidate.receivers
        except Exception:
            continue
        if not isinstance(records, list):
            continue
        for record in records:
            try:
                stored = record[1]
                live = stored() if isinstance(stored, weakref.ref) else stored
            except Exception:
                continue
            if live is func:
                return describe_signal(candidate)
    return None


# -- after commit, in the sending process ------------------------------------------


class AfterCommitReceiver(DeferredReceiver):
    """Runs ``func`` in this process after the send's transaction commits."""

    mode = "after_commit"

    def _defer(self, signal: Any, sender: Any, named: dict[str, Any]) -> Deferred:
        require_django_settings("after_commit()")
        _check_whole_send(self, signal, sender, named)
        using = database_alias(named)
        delivery = Delivery(id=new_delivery_id(), mode="after_commit", receiver=self.name)
        func = self.func
        on_commit(functools.partial(_run_after_commit, func, delivery, signal, sender, named), using)
        return Deferred(mode="after_commit", receiver=self.name, delivery_id=delivery.id, using=using)


def _run_after_commit(
    func: Callable[..., Any], delivery: Delivery, signal: Any, sender: Any, named: Mapping[str, Any]
) -> None:
    # Logged like send_robust logs, and never raised: the commit happened, and
    # the other commit callbacks must still run.
    try:
        invoke_receiver(func, delivery, signal, sender, named)
    except Exception as error:
        robust_logger().error(
            "Error calling %s after commit (%s)", delivery.receiver, error, exc_info=error
        )


def after_commit(func: Callable[..., Any]) -> AfterCommitReceiver:
    """Run this receiver after the transaction of the send commits, in this process.

    ::

        @receiver(post_save, sender=Order)
        @after_commit
        def notify(sender, instance, created, **kwargs): ...

    It waits for the database the send names (``using``, which model signals
    pass), else the default database; it never runs if that transaction, or an
    enclosing savepoint, rolls back, and runs at once outside an atomic block.
    An exception in it is logged (on ``django.dispatch``) and does not stop other
    commit callbacks. ``send()`` returns a ``Deferred`` for it.
    """
    _check_wrappable(func, "after_commit")
    if not django_installed():
        raise TypeError(
            "after_commit() waits for a Django database transaction, and Django is "
            "not installed. Without Django, call the receiver directly."
        )
    wrapper = _kept_wrapper(func, ("after_commit",), lambda: AfterCommitReceiver(func))
    assert isinstance(wrapper, AfterCommitReceiver)
    return wrapper


# -- on a worker ------------------------------------------------------------------


class WorkerReceiver(DeferredReceiver):
    """Runs ``func`` in a worker of ``engine``; enqueued as ``enqueue`` says."""

    mode = "worker"

    def __init__(
        self, func: Callable[..., Any], engine: Engine, enqueue: Enqueue, retry: RetryPolicy | None
    ) -> None:
        super().__init__(func)
        self.reference = worker_receiver_reference(func, "on_worker")
        self.engine = engine
        self.enqueue = enqueue
        self.retry = retry
        self._reference_checked = False

    def check_reference(self) -> None:
        """The worker will import ``self.reference``: it must lead back here.

        Checked on the first send, once the module has finished binding its
        names (a decorator runs before its function's name exists).
        """
        if self._reference_checked:
            return
        try:
            found = import_reference(self.reference)
        except (ImportError, AttributeError) as error:
            raise TypeError(
                f"on_worker(): a worker could not import {self.reference} ({error}). "
                "Keep the receiver a module-level function under its own name."
            ) from None
        original = self.__wrapped__
        if not (
            found is self
            or found is original
            or (isinstance(found, DeferredReceiver) and getattr(found, "__wrapped__", None) is original)
        ):
            raise TypeError(
                f"on_worker(): a worker importing {self.reference} would find {found!r}, "
                "not this receiver: another object took its name in the module. Give "
                "the function a name of its own."
            )
        self._reference_checked = True

    def _defer(self, signal: Any, sender: Any, named: dict[str, Any]) -> Deferred:
        if self.enqueue != "now":
            require_django_settings(
                f"on_worker(enqueue={self.enqueue!r})", "; for signals sent outside Django, pass enqueue='now'"
            )
        encoded = _check_whole_send(self, signal, sender, named)
        assert encoded is not None
        signal_ref, encoded_sender, encoded_kwargs = encoded
        message: Message = {
            "fastdispatch": MESSAGE_VERSION,
            "delivery_id": new_delivery_id(),
            "receiver": self.reference,
            "signal": signal_ref,
            "sender": encoded_sender,
            "kwargs": encoded_kwargs,
            # Which of the function's wrappers sent it (the relay and the
            # worker pick the wrapper, so its engine and retry policy, by it).
            "engine": self.engine.name,
        }
        engine = self.engine
        deferred = Deferred(
            mode="worker",
            receiver=self.reference,
            delivery_id=message["delivery_id"],
            using=None,
            enqueue=self.enqueue,
            engine=engine.name,
        )
        if self.enqueue == "now":
            deferred.task_id = enqueue(engine, message)
            return deferred
        using = database_alias(named)
        deferred.using = using
        if self.enqueue == "on_commit":
            deferred.task_id = getattr(engine, "known_task_id", _no_task_id)(message)
            on_commit(functools.partial(_enqueue_after_commit, engine, message, deferred), using)
            return deferred
        from ..outbox.store import publish_after_commit, store_message

        deferred.task_id = getattr(engine, "known_task_id", _no_task_id)(message)
        row_id = store_message(message, using)
        on_commit(functools.partial(publish_after_commit, row_id, using, engine, message), using)
        return deferred


def _no_task_id(message: Message) -> None:
    return None


def _enqueue_after_commit(engine: Engine, message: Message, deferred: Deferred) -> None:
    # After the commit there is nobody to raise to: the sender's request has
    # its answer. A failure here loses the delivery (that is what this mode
    # risks; enqueue="outbox" does not), so say so, with the message, loudly.
    try:
        deferred.task_id = enqueue(engine, message)
    except Exception as error:
        _logger.error(
            "Could not enqueue %s on %s after commit; this delivery is lost (%s). "
            "Message: %s",
            message["receiver"],
            engine.name,
            error,
            json.dumps(message),
            exc_info=error,
        )


def _check_whole_send(
    current: DeferredReceiver, signal: Any, sender: Any, named: Mapping[str, Any]
) -> tuple[str, list[Any], dict[str, list[Any]]] | None:
    """Check, before anything of this send is scheduled, everything that could
    make one of its worker receivers fail: the signal and receiver references
    and the arguments (the same for every receiver of the send, so encoded
    once here). Any deferred receiver of the send runs this first, so a bad
    argument stops the first one and nothing of that send is delivered.

    Returns ``(signal reference, sender, kwargs)`` encoded, or None when the
    send has no worker receiver.
    """
    workers: list[WorkerReceiver] = [current] if isinstance(current, WorkerReceiver) else []
    live_receivers = getattr(signal, "_live_receivers", None)
    if live_receivers is not None:
        try:
            sync_receivers = live_receivers(sender)[0]
        except Exception:  # a patched or foreign signal: check this receiver only
            sync_receivers = []
        for other in sync_receivers:
            if isinstance(other, WorkerReceiver) and other is not current:
                workers.append(other)
    if not workers:
        return None
    for worker in workers:
        worker.check_reference()
    signal_ref = signal_reference(signal, tuple(dict.fromkeys(w.__module__ for w in workers)))
    encoded_sender, encoded_kwargs = encode_arguments(
        sender,
        named,
        snapshot=is_snapshot_signal(signal),
        signal_name=signal_ref.replace(":", "."),
        receiver_name=workers[0].reference.replace(":", "."),
    )
    return signal_ref, encoded_sender, encoded_kwargs


def on_worker(
    engine: object,
    *,
    enqueue: Enqueue = "on_commit",
    retry_on: tuple[type[BaseException], ...] = (),
    max_retries: int = 3,
    retry_delay: float = 1.0,
) -> Callable[[Callable[..., Any]], WorkerReceiver]:
    """Run this receiver in a worker of ``engine`` instead of in the request.

    ::

        @receiver(post_save, sender=Order)
        @on_worker(celery_app)                  # or django.tasks, DjangoTasks(...)
        def send_invoice(sender, instance, created, **kwargs): ...

    ``enqueue``: ``"on_commit"`` (default) enqueues after the send's transaction
    commits (never for a rollback); ``"now"`` enqueues during the send (atomic
    with the transaction only for a database task backend on the same
    database); ``"outbox"`` writes the message to the outbox table in the
    send's transaction, and relays it after commit (no loss if the process
    dies or the broker is down: ``manage.py fastdispatch_relay`` sends what is
    left). Delivery is at least once: see ``current_delivery().id``.

    ``retry_on``, ``max_retries``, ``retry_delay`` (Celery only): re-run the
    receiver through Celery's own retry when it raises one of ``retry_on``.
    """
    resolved = as_engine(engine)
    if enqueue not in ENQUEUE_MODES:
        raise ValueError(
            f"on_worker(enqueue={enqueue!r}): enqueue must be one of {', '.join(map(repr, ENQUEUE_MODES))}."
        )
    if not isinstance(retry_on, tuple) or not all(
        inspect.isclass(e) and issubclass(e, BaseException) for e in retry_on
    ):
        raise TypeError(f"on_worker(retry_on={retry_on!r}): retry_on must be a tuple of exception classes.")
    retry = RetryPolicy(retry_on, max_retries, retry_delay) if retry_on else None
    resolved.check_retry(retry)
    if enqueue != "now" and not django_installed():
        raise TypeError(
            f"on_worker(enqueue={enqueue!r}) waits for a Django transaction to commit, and "
            "Django is not installed. For signals sent outside Django, pass enqueue='now'."
        )
    key = ("worker", resolved, enqueue, retry_on, max_retries, retry_delay)

    def decorate(func: Callable[..., Any]) -> WorkerReceiver:
        _check_wrappable(func, "on_worker")
        worker_receiver_reference(func, "on_worker")  # refuse lambdas & co. before keeping anything
        wrapper = _kept_wrapper(func, key, lambda: WorkerReceiver(func, resolved, enqueue, retry))
        assert isinstance(wrapper, WorkerReceiver)
        return wrapper

    return decorate


def resolve_worker_receiver(
    reference: str, *, engine: str | None = None, enqueue: Enqueue | None = None
) -> tuple[Callable[..., Any], WorkerReceiver | None]:
    """In a worker (or the outbox relay): the function ``reference`` names, and
    its ``WorkerReceiver`` (engine, retry policy) if its module made one,
    preferring the one whose engine is named ``engine``, then whose
    ``enqueue`` is ``enqueue``."""
    found = import_reference(reference)
    func = found.func if isinstance(found, DeferredReceiver) else found
    if not callable(func):
        raise TypeError(f"{reference} is not a receiver: {func!r}")
    kept = getattr(func, "__dict__", {}).get(_KEEP, {})
    workers = [w for w in kept.values() if isinstance(w, WorkerReceiver)]
    if isinstance(found, WorkerReceiver):
        workers.insert(0, found)
    workers.sort(key=lambda w: (engine is not None and w.engine.name != engine, enqueue is not None and w.enqueue != enqueue))
    return func, (workers[0] if workers else None)
