"""Celery engine: real brokers (Redis, RabbitMQ) and real Celery workers."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.db import transaction

from fastdispatch.deferred._delivery import enqueue
from fastdispatch.outbox.models import OutboxMessage

from .environment import Workers
from .services import read_log, wait_for, wait_for_deliveries
from .shop import receivers
from .shop.models import InvoiceSent, Order
from .shop.signals import order_placed

pytestmark = pytest.mark.services

NUMBERS = itertools.count(10_000)
WRAPPERS = {"redis": receivers.celery_redis, "amqp": receivers.celery_amqp}


def send(signal: Any, wrapper: Any, **named: Any) -> Any:
    signal.connect(wrapper)
    try:
        [(_, response)] = signal.send(sender=Order, **named)
    finally:
        signal.disconnect(wrapper)
    return response


def events(log: Path, event: str, task_id: str) -> list[dict[str, Any]]:
    return [line for line in read_log(log) if line.get("event") == event and line.get("task_id") == task_id]


@pytest.mark.parametrize("broker", ["redis", "amqp"])
def test_delivered_after_commit_with_the_row_refetched(
    impl: ModuleType, impl_name: str, broker: str, workers: Workers, delivery_log: Path
) -> None:
    workers.celery(broker, impl_name)
    signal = order_placed(impl)
    with transaction.atomic():
        order = Order.objects.create(number=101, note="committed")
        response = send(signal, WRAPPERS[broker][impl_name], instance=order, tags={"a"}, using="default")
        assert response.task_id == response.delivery_id  # Celery's task id is the delivery id
    [line] = wait_for_deliveries(delivery_log, [response.delivery_id])[response.delivery_id]
    assert line["pid"] != os.getpid()  # a worker process (prefork: a child of the worker)
    assert line["kwargs"]["instance"]["fields"]["note"] == "committed"
    assert line["kwargs"]["tags"] == {"set": ["a"]}
    assert line["sender"] == {"class": "tests.deferred.shop.models.Order"}
    assert (line["mode"], line["attempt"]) == ("worker", 1)


@pytest.mark.parametrize("broker", ["redis", "amqp"])
def test_rolled_back_send_is_never_enqueued(
    impl: ModuleType, impl_name: str, broker: str, workers: Workers, delivery_log: Path
) -> None:
    workers.celery(broker, impl_name)
    signal, wrapper = order_placed(impl), WRAPPERS[broker][impl_name]
    with transaction.atomic():
        order = Order.objects.create(number=102)
        rolled_back = send(signal, wrapper, instance=order)
        transaction.set_rollback(True)
    with transaction.atomic():
        committed = send(signal, wrapper, instance=Order.objects.create(number=103))
    # One worker, one queue, in order: once the later send arrived, the
    # earlier one would have too.
    wait_for_deliveries(delivery_log, [committed.delivery_id])
    assert not [line for line in read_log(delivery_log) if line.get("delivery_id") == rolled_back.delivery_id]


def test_enqueue_now_runs_even_for_a_rollback(impl: ModuleType, impl_name: str, workers: Workers, delivery_log: Path) -> None:
    """enqueue="now" is the tutorials' bug, available on request: the task is
    sent inside the transaction, so it is delivered although the transaction
    rolled back, and the worker does not find the row."""
    workers.celery("amqp", impl_name)
    signal, wrapper = order_placed(impl), receivers.celery_amqp_now[impl_name]
    with transaction.atomic():
        response = send(signal, wrapper, instance=Order.objects.create(number=104))
        transaction.set_rollback(True)
    [failure] = wait_for(lambda: events(delivery_log, "celery_failure", response.delivery_id), 90, "the task to fail")
    assert failure["exception"] == "DoesNotExist"
    committed = send(signal, wrapper, instance=Order.objects.create(number=105))  # autocommit
    wait_for_deliveries(delivery_log, [committed.delivery_id])


def test_failing_receiver_fails_the_celery_task(impl: ModuleType, impl_name: str, workers: Workers, delivery_log: Path) -> None:
    workers.celery("redis", impl_name)
    response = send(order_placed(impl), receivers.celery_fails[impl_name], note="x")
    [failure] = wait_for(lambda: events(delivery_log, "celery_failure", response.task_id), 90, "Celery's task_failure")
    assert (failure["exception"], failure["message"]) == ("RuntimeError", "this receiver fails on purpose")


def test_celery_retries_the_receiver(impl: ModuleType, impl_name: str, workers: Workers, delivery_log: Path) -> None:
    """retry_on: Celery's own task.retry runs it again (attempts 1 and 2 fail)."""
    workers.celery("redis", impl_name)
    response = send(order_placed(impl), receivers.celery_flaky[impl_name], note="x")
    [line] = wait_for_deliveries(delivery_log, [response.delivery_id])[response.delivery_id]
    assert line["attempt"] == 3
    retries = events(delivery_log, "celery_retry", response.task_id)
    assert len(retries) == 2 and "attempt 2 fails on purpose" in retries[1]["reason"]
    assert not events(delivery_log, "celery_failure", response.task_id)


def test_outbox_delivers_and_empties(impl: ModuleType, impl_name: str, workers: Workers, delivery_log: Path) -> None:
    workers.celery("amqp", impl_name)
    signal, wrapper = order_placed(impl), receivers.celery_amqp_outbox[impl_name]
    with transaction.atomic():
        order = Order.objects.create(number=106)
        committed = send(signal, wrapper, instance=order, using="default")
        row = OutboxMessage.objects.get(delivery_id=committed.delivery_id)  # in the same transaction
        assert json.loads(row.message)["kwargs"]["instance"][2] == str(order.pk)
    with transaction.atomic():
        rolled_back = send(signal, wrapper, instance=Order.objects.create(number=107))
        transaction.set_rollback(True)
    assert not OutboxMessage.objects.filter(delivery_id=rolled_back.delivery_id).exists()
    # Published right after the commit by this process, then deleted.
    assert not OutboxMessage.objects.filter(delivery_id=committed.delivery_id).exists()
    wait_for_deliveries(delivery_log, [committed.delivery_id])


def test_outbox_on_the_other_database(impl: ModuleType, impl_name: str, workers: Workers, delivery_log: Path) -> None:
    """The outbox row is written to the send's database, in its transaction."""
    workers.celery("redis", impl_name)
    signal, wrapper = order_placed(impl), receivers.celery_redis_outbox[impl_name]
    with transaction.atomic(using="other"):
        order = Order.objects.using("other").create(number=108)
        response = send(signal, wrapper, instance=order, using="other")
        assert OutboxMessage.objects.using("other").filter(delivery_id=response.delivery_id).exists()
        assert not OutboxMessage.objects.using("default").filter(delivery_id=response.delivery_id).exists()
    [line] = wait_for_deliveries(delivery_log, [response.delivery_id])[response.delivery_id]
    assert line["kwargs"]["instance"]["db"] == "other"


def test_idempotent_receiver_does_the_work_once(impl: ModuleType, impl_name: str, workers: Workers, delivery_log: Path) -> None:
    """At least once: a message published twice (a relay that died after
    publishing, before deleting the row) reaches the receiver twice with the
    same delivery id, and the receiver's check makes the second a no-op."""
    workers.celery("redis", impl_name)
    wrapper = receivers.invoice_outbox[impl_name]
    number = next(NUMBERS)
    with transaction.atomic():
        order = Order.objects.create(number=number)
        response = send(order_placed(impl), wrapper, instance=order)
        message = json.loads(OutboxMessage.objects.get(delivery_id=response.delivery_id).message)
    wait_for_deliveries(delivery_log, [response.delivery_id])
    enqueue(wrapper.engine, message)  # the duplicate

    def two() -> list[dict[str, Any]] | None:
        lines = [line for line in read_log(delivery_log) if line.get("delivery_id") == response.delivery_id]
        return lines if len(lines) == 2 else None

    first, second = wait_for(two, 90, "the duplicate delivery")
    assert (first["first_time"], second["first_time"]) == (True, False)
    assert InvoiceSent.objects.filter(order_number=number).count() == 1
