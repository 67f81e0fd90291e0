"""The task that Django's Tasks framework runs for every deferred receiver.

Its path, ``fastdispatch.deferred.tasks.deliver``, is what a database backend
stores in its task rows and what its worker imports. Importing this module
needs Django's settings (the framework validates the task against the
default backend).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._django_tasks import tasks_framework
from ._worker import run_delivery

__all__ = ["deliver"]

_task: Callable[..., Callable[[Callable[..., None]], Any]] = tasks_framework().task


@_task(takes_context=True)
def deliver(context: Any, message: dict[str, Any]) -> None:
    """Run the deferred receiver that ``message`` names."""
    run_delivery(message, attempt=context.attempt, task_id=str(context.task_result.id))
