"""Celery as an engine: one task, ``fastdispatch.deliver``, on the user's app.

Nothing here imports Celery: the app brings it. The task is registered on the
app when the engine is made, which happens when a receiver module calls
``on_worker(app)``; a worker that starts with ``celery -A proj worker`` imports
those modules (Django's app loading, or the app's ``include``) before it
consumes, so it knows the task. Messages are JSON whatever the app's default
serializer, and the task id is the delivery id.

The task acknowledges late and is rejected (so redelivered) when the worker
process is lost: a delivery is at least once. A receiver's exception fails
the task; with ``on_worker(..., retry_on=...)`` Celery's own ``task.retry``
re-runs it.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from ._delivery import Message
from ._engines import RetryPolicy

__all__ = ["TASK_NAME", "CeleryEngine"]

TASK_NAME = "fastdispatch.deliver"

_lock = threading.Lock()
_default_engines: weakref.WeakKeyDictionary[Any, CeleryEngine] = weakref.WeakKeyDictionary()


def _deliver(task: Any, message: Message) -> None:
    """The body of ``fastdispatch.deliver``, run by a Celery worker."""
    from ._receivers import resolve_worker_receiver
    from ._worker import run_delivery

    request = task.request
    try:
        run_delivery(message, attempt=request.retries + 1, task_id=request.id)
    except Exception as error:
        try:
            _, wrapper = resolve_worker_receiver(message["receiver"], engine=message.get("engine"))
        except Exception:
            wrapper = None
        policy = wrapper.retry if wrapper is not None else None
        if policy is not None and isinstance(error, policy.on):
            # Celery's own retry: it re-publishes the message with the retry
            # count and raises the error once max_retries is exceeded.
            raise task.retry(exc=error, countdown=policy.delay, max_retries=policy.max_retries) from error
        raise


def register_task(app: Any) -> Any:
    """Register ``fastdispatch.deliver`` on ``app`` (once) and return it."""
    with _lock:
        # app.tasks would finalize the app; look at what is registered so far.
        registry = getattr(app, "_tasks", None)
        if registry is not None and TASK_NAME in registry:
            return registry[TASK_NAME]
        return app.task(
            name=TASK_NAME,
            bind=True,
            shared=False,
            acks_late=True,
            reject_on_worker_lost=True,
            ignore_result=True,
            serializer="json",
        )(_deliver)


class CeleryEngine:
    """Celery ``app`` as an engine; ``queue`` and ``options`` go to ``send_task``.

    ``on_worker(app)`` is ``on_worker(CeleryEngine(app))``.
    """

    def __init__(self, app: Any, *, queue: str | None = None, **options: Any) -> None:
        if not hasattr(app, "send_task") or not hasattr(app, "task"):
            raise TypeError(f"CeleryEngine needs a Celery app, not {app!r}.")
        self.app = app
        self.queue = queue
        self.options = options
        self._key = (id(app), queue, tuple(sorted((k, repr(v)) for k, v in options.items())))
        register_task(app)

    @classmethod
    def for_app(cls, app: Any) -> CeleryEngine:
        """The engine with no options for ``app`` (one per app)."""
        with _lock:
            engine = _default_engines.get(app)
        if engine is None:
            engine = cls(app)
            with _lock:
                engine = _default_engines.setdefault(app, engine)
        return engine

    @property
    def name(self) -> str:
        main = getattr(self.app, "main", None) or "app"
        return f"celery:{main}:{self.queue or 'default'}"

    def known_task_id(self, message: Message) -> str:
        return str(message["delivery_id"])

    def enqueue(self, message: Message, *, fail_fast: bool = False) -> str:
        options = dict(self.options)
        if self.queue is not None:
            options["queue"] = self.queue
        if fail_fast:
            options["retry"] = False
        result = self.app.send_task(
            TASK_NAME,
            args=[message],
            task_id=message["delivery_id"],
            serializer="json",
            **options,
        )
        return str(result.id)

    def check_retry(self, retry: RetryPolicy | None) -> None:
        return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CeleryEngine) and other._key == self._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"CeleryEngine({self.app!r}, queue={self.queue!r})"
