"""Engines run deferred receivers in their own workers: Celery and django.tasks.

An engine only enqueues messages; its own worker (``celery worker``,
``manage.py db_worker``, ...) runs them, through the one task each engine
module registers. ``as_engine`` accepts what a user naturally has at hand: a
Celery app, the ``django.tasks`` (or ``django_tasks``) module, or an engine
object made with options.
"""

from __future__ import annotations

import types
from typing import Protocol, runtime_checkable

from ._delivery import Message

__all__ = ["Engine", "RetryPolicy", "as_engine"]


class RetryPolicy:
    """How often the engine re-runs a receiver that raised one of ``on``."""

    __slots__ = ("delay", "max_retries", "on")

    def __init__(self, on: tuple[type[BaseException], ...], max_retries: int, delay: float) -> None:
        self.on = on
        self.max_retries = max_retries
        self.delay = delay


@runtime_checkable
class Engine(Protocol):
    """What ``on_worker`` needs from an engine."""

    @property
    def name(self) -> str:
        """A short name for messages and ``Deferred.engine``."""
        ...

    def enqueue(self, message: Message, *, fail_fast: bool = False) -> str | None:
        """Send ``message`` to the engine's workers; return the task id if known."""
        ...

    def check_retry(self, retry: RetryPolicy | None) -> None:
        """Raise ``TypeError`` if this engine cannot apply ``retry``."""
        ...


def _is_celery_app(obj: object) -> bool:
    module = type(obj).__module__ or ""
    return (module == "celery" or module.startswith("celery.")) and hasattr(obj, "send_task")


def as_engine(obj: object) -> Engine:
    """The engine for ``obj``, or a ``TypeError`` that lists what is accepted."""
    from ._celery import CeleryEngine
    from ._django_tasks import DjangoTasks

    if isinstance(obj, (CeleryEngine, DjangoTasks)):
        return obj
    if _is_celery_app(obj):
        return CeleryEngine.for_app(obj)
    if isinstance(obj, types.ModuleType) and obj.__name__ in ("django.tasks", "django_tasks"):
        return DjangoTasks()
    if isinstance(obj, Engine):
        return obj
    raise TypeError(
        f"on_worker() needs an engine, not {obj!r}: a Celery app "
        "(on_worker(app)), CeleryEngine(app, queue=...), the django.tasks module "
        "(on_worker(django.tasks), or django_tasks on Django 5.2), or "
        "DjangoTasks(backend=..., queue_name=...)."
    )
