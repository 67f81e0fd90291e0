"""Django's Tasks framework as an engine: ``django.tasks`` (Django 6.0+) or
the ``django-tasks`` package (``django_tasks``, Django 5.2).

Every configured backend works: the engine enqueues one module-level task,
``fastdispatch.deferred.tasks.deliver``, which the backend's own worker runs
(``manage.py db_worker`` for the database backend of ``django-tasks-db``).
With a database backend on the send's database, ``enqueue="now"`` writes the
task row inside the send's transaction: it commits or rolls back with it.
The framework has no retries; a receiver's exception fails the task, and the
backend records it (status FAILED, with the traceback).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ._delivery import Message
from ._engines import RetryPolicy

__all__ = ["DjangoTasks", "tasks_framework"]


def tasks_framework() -> ModuleType:
    """``django.tasks`` where Django has it (6.0+), else the ``django_tasks`` backport."""
    try:
        return importlib.import_module("django.tasks")
    except ImportError:
        pass
    try:
        return importlib.import_module("django_tasks")
    except ImportError:
        raise ImportError(
            "DjangoTasks needs Django's Tasks framework: Django 6.0+ (django.tasks), "
            "or `pip install django-tasks` on Django 5.2."
        ) from None


class DjangoTasks:
    """The Tasks framework as an engine; ``backend``, ``queue_name`` and
    ``priority`` go to ``Task.using()`` (None: the task's defaults)."""

    def __init__(
        self, backend: str | None = None, queue_name: str | None = None, priority: int | None = None
    ) -> None:
        self.backend = backend
        self.queue_name = queue_name
        self.priority = priority

    @property
    def name(self) -> str:
        return f"django.tasks:{self.backend or 'default'}:{self.queue_name or 'default'}"

    def enqueue(self, message: Message, *, fail_fast: bool = False) -> str:
        from .tasks import deliver

        options = {
            name: value
            for name, value in (
                ("backend", self.backend),
                ("queue_name", self.queue_name),
                ("priority", self.priority),
            )
            if value is not None
        }
        task = deliver.using(**options) if options else deliver
        return str(task.enqueue(message).id)

    def check_retry(self, retry: RetryPolicy | None) -> None:
        if retry is not None:
            raise TypeError(
                "on_worker(retry_on=...) needs an engine with retries: Django's Tasks "
                "framework has none (a failed task stays FAILED in its backend). Use "
                "Celery for retries, or retry inside the receiver."
            )

    def _key(self) -> tuple[str | None, str | None, int | None]:
        return (self.backend, self.queue_name, self.priority)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DjangoTasks) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"DjangoTasks(backend={self.backend!r}, queue_name={self.queue_name!r}, priority={self.priority!r})"
