"""Django's Tasks framework engine: the database backend of django-tasks-db and
its worker (manage.py db_worker). django.tasks on Django 6, the django-tasks
backport on Django 5.2."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import django
import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from fastdispatch.deferred._django_tasks import tasks_framework

from .environment import Workers
from .services import read_log, wait_for, wait_for_deliveries
from .shop import receivers
from .shop.models import Order
from .shop.signals import order_placed


def send(signal: Any, wrapper: Any, **named: Any) -> Any:
    signal.connect(wrapper)
    try:
        [(_, response)] = signal.send(sender=Order, **named)
    finally:
        signal.disconnect(wrapper)
    return response


def test_framework_for_this_django() -> None:
    expected = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
    assert tasks_framework().__name__ == expected


@pytest.mark.services
def test_enqueued_after_commit_run_by_db_worker(impl: ModuleType, impl_name: str, workers: Workers, delivery_log: Path) -> None:
    worker = workers.db_worker(impl_name)
    with transaction.atomic():
        order = Order.objects.create(number=201, note="committed")
        response = send(order_placed(impl), receivers.tasks_db[impl_name], instance=order)
        assert response.task_id is None  # not enqueued yet
        tasks_before = DBTaskResult.objects.count()
    assert DBTaskResult.objects.count() == tasks_before + 1
    assert response.task_id is not None  # enqueued by the commit callback
    [line] = wait_for_deliveries(delivery_log, [response.delivery_id])[response.delivery_id]
    assert line["pid"] == worker.process.pid  # type: ignore[union-attr]
    assert line["kwargs"]["instance"]["fields"]["note"] == "committed"
    assert line["attempt"] == 1
    task_row = wait_for(
        lambda: DBTaskResult.objects.filter(id=response.task_id, status="SUCCESSFUL").first(), 60, "SUCCESSFUL"
    )
    assert task_row.task_path == "fastdispatch.deferred.tasks.deliver"
    assert task_row.queue_name == f"fd_{impl_name}"


@pytest.mark.services
def test_enqueue_now_is_atomic_with_the_transaction(
    impl: ModuleType, impl_name: str, workers: Workers, delivery_log: Path
) -> None:
    """The database backend writes the task row in the send's transaction: a
    rollback takes it away, a commit makes it visible to the worker."""
    workers.db_worker(impl_name)
    signal, wrapper = order_placed(impl), receivers.tasks_db_now[impl_name]
    with transaction.atomic():
        rolled_back = send(signal, wrapper, instance=Order.objects.create(number=202))
        assert DBTaskResult.objects.filter(id=rolled_back.task_id).exists()
        transaction.set_rollback(True)
    assert not DBTaskResult.objects.filter(id=rolled_back.task_id).exists()
    with transaction.atomic():
        committed = send(signal, wrapper, instance=Order.objects.create(number=203))
    wait_for_deliveries(delivery_log, [committed.delivery_id])
    assert not [line for line in read_log(delivery_log) if line.get("delivery_id") == rolled_back.delivery_id]


@pytest.mark.services
def test_failing_receiver_fails_the_task(impl: ModuleType, impl_name: str, workers: Workers) -> None:
    workers.db_worker(impl_name)
    response = send(order_placed(impl), receivers.tasks_db_fails[impl_name], note="x")
    row = wait_for(lambda: DBTaskResult.objects.filter(id=response.task_id, status="FAILED").first(), 90, "FAILED")
    assert row.exception_class_path == "builtins.RuntimeError"
    assert "this receiver fails on purpose" in row.traceback
