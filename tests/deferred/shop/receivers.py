"""Module-level receivers that the workers import, and their deferred wrappers.

``record`` appends one JSON line per call to FD_DELIVERY_LOG: which delivery,
which attempt, in which process, with what arguments. Tests count those lines
and compare them with what was committed. The wrappers are made here, at
import, as a project's receivers module would (workers import this module
through Django's app loading or the Celery app's ``include``); tests connect
them to signals. One wrapper per implementation: each worker consumes the
queue of the implementation its tests run with.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from django.db import transaction

from fastdispatch.deferred import CeleryEngine, DjangoTasks, current_delivery, on_worker

from ..project.celery_app import amqp_app, redis_app

IMPLS = ("python", "compiled")


class TransientError(Exception):
    """What flaky_record raises on its first attempts."""


def describe(value: Any) -> Any:
    """A JSON picture of an argument as the receiver got it."""
    from django.db import models

    if isinstance(value, models.Model):
        fields = {f.attname: f.value_to_string(value) for f in value._meta.concrete_fields}
        return {"model": value._meta.label, "pk": value.pk, "adding": value._state.adding, "db": value._state.db, "fields": fields}
    if isinstance(value, type):
        return {"class": f"{value.__module__}.{value.__qualname__}"}
    if isinstance(value, (set, frozenset)):
        return {type(value).__name__: sorted(value, key=repr)}
    if hasattr(value, "send") and hasattr(value, "connect"):
        return {"signal": type(value).__module__}
    return value


def _log(receiver: str, sender: Any, kwargs: dict[str, Any], **extra: Any) -> None:
    delivery = current_delivery()
    line = {
        "event": "delivered",
        "receiver": receiver,
        "delivery_id": delivery.id if delivery else None,
        "attempt": delivery.attempt if delivery else None,
        "mode": delivery.mode if delivery else None,
        "pid": os.getpid(),
        "at": time.time(),
        "sender": describe(sender),
        "signal": describe(kwargs.pop("signal", None)),
        "kwargs": {name: describe(value) for name, value in kwargs.items()},
        **extra,
    }
    path = os.environ["FD_DELIVERY_LOG"]
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(line) + "\n")


def record(sender: Any, **kwargs: Any) -> None:
    _log("record", sender, kwargs)


def flaky_record(sender: Any, **kwargs: Any) -> None:
    delivery = current_delivery()
    assert delivery is not None
    if (delivery.attempt or 1) < 3:
        raise TransientError(f"attempt {delivery.attempt} fails on purpose")
    _log("flaky_record", sender, kwargs)


def always_fails(sender: Any, **kwargs: Any) -> None:
    raise RuntimeError("this receiver fails on purpose")


def slow_record(sender: Any, **kwargs: Any) -> None:
    """The benchmark's 50 ms receiver."""
    time.sleep(0.05)


def trivial(sender: Any, **kwargs: Any) -> None:
    """The throughput benchmark's receiver: one line, nothing else."""
    _log("trivial", sender, {})


def send_invoice_once(sender: Any, instance: Any, **kwargs: Any) -> None:
    """The idempotent receiver of the docs: a delivery seen before is skipped."""
    from .models import InvoiceSent, ProcessedDelivery

    delivery = current_delivery()
    assert delivery is not None
    with transaction.atomic(using="default"):
        _, first_time = ProcessedDelivery.objects.get_or_create(delivery_id=delivery.id)
        if first_time:
            InvoiceSent.objects.create(order_number=instance.number)
    _log("send_invoice_once", sender, {"instance": instance}, first_time=first_time)


def _queue(impl: str) -> str:
    return f"fd-{impl}"


# Celery on Redis and on RabbitMQ, enqueued after commit (the default).
celery_redis = {impl: on_worker(CeleryEngine(redis_app, queue=_queue(impl)))(record) for impl in IMPLS}
celery_amqp = {impl: on_worker(CeleryEngine(amqp_app, queue=_queue(impl)))(record) for impl in IMPLS}
celery_amqp_now = {
    impl: on_worker(CeleryEngine(amqp_app, queue=_queue(impl)), enqueue="now")(record) for impl in IMPLS
}
celery_amqp_outbox = {
    impl: on_worker(CeleryEngine(amqp_app, queue=_queue(impl)), enqueue="outbox")(record) for impl in IMPLS
}
celery_redis_outbox = {
    impl: on_worker(CeleryEngine(redis_app, queue=_queue(impl)), enqueue="outbox")(record) for impl in IMPLS
}
celery_flaky = {
    impl: on_worker(
        CeleryEngine(redis_app, queue=_queue(impl)), retry_on=(TransientError,), max_retries=3, retry_delay=0.1
    )(flaky_record)
    for impl in IMPLS
}
celery_fails = {impl: on_worker(CeleryEngine(redis_app, queue=_queue(impl)))(always_fails) for impl in IMPLS}
invoice_outbox = {
    impl: on_worker(CeleryEngine(redis_app, queue=_queue(impl)), enqueue="outbox")(send_invoice_once)
    for impl in IMPLS
}

# Django's Tasks framework, database backend (django-tasks-db), run by db_worker.
tasks_db = {impl: on_worker(DjangoTasks(queue_name=f"fd_{impl}"))(record) for impl in IMPLS}
tasks_db_now = {impl: on_worker(DjangoTasks(queue_name=f"fd_{impl}"), enqueue="now")(record) for impl in IMPLS}
tasks_db_fails = {impl: on_worker(DjangoTasks(queue_name=f"fd_{impl}"), enqueue="now")(always_fails) for impl in IMPLS}
# The dummy backend keeps what is enqueued in memory: no worker needed.
tasks_dummy = on_worker(DjangoTasks(backend="dummy"))(record)
tasks_dummy_now = on_worker(DjangoTasks(backend="dummy"), enqueue="now")(record)


# The kill test connects three modes to the same post_save: one function each,
# so a delivery line says which mode delivered it.
def record_outbox(sender: Any, **kwargs: Any) -> None:
    _log("outbox", sender, kwargs)


def record_tasks_now(sender: Any, **kwargs: Any) -> None:
    _log("tasks_now", sender, kwargs)


def record_on_commit(sender: Any, **kwargs: Any) -> None:
    _log("on_commit", sender, kwargs)


kill_outbox = {
    impl: on_worker(CeleryEngine(amqp_app, queue=_queue(impl)), enqueue="outbox")(record_outbox) for impl in IMPLS
}
kill_tasks_now = {impl: on_worker(DjangoTasks(queue_name=f"fd_{impl}"), enqueue="now")(record_tasks_now) for impl in IMPLS}
kill_on_commit = {impl: on_worker(CeleryEngine(amqp_app, queue=_queue(impl)))(record_on_commit) for impl in IMPLS}


# The benchmarks (benchmarks/deferred/): every mode for the 50 ms receiver and
# for the trivial one, on their own queue, which no test worker consumes.
BENCH_QUEUE = "fd-bench"


class NullEngine:
    """An engine that drops every message: what fastdispatch's own part of a
    deferred send costs (checks, encoding, the message), without an engine's."""

    name = "null"

    def enqueue(self, message: dict[str, Any], *, fail_fast: bool = False) -> None:
        return None

    def check_retry(self, retry: Any) -> None:
        return None


NULL_ENGINE = NullEngine()


def _bench_wrappers(func: Any, queue: str = BENCH_QUEUE) -> dict[str, Any]:
    amqp = CeleryEngine(amqp_app, queue=queue)
    redis = CeleryEngine(redis_app, queue=queue)
    tasks = DjangoTasks(queue_name=queue.replace("-", "_"))
    return {
        "celery_amqp": on_worker(amqp)(func),
        "celery_amqp_now": on_worker(amqp, enqueue="now")(func),
        "celery_amqp_outbox": on_worker(amqp, enqueue="outbox")(func),
        "celery_redis": on_worker(redis)(func),
        "tasks_db": on_worker(tasks)(func),
        "tasks_db_now": on_worker(tasks, enqueue="now")(func),
        "null_now": on_worker(NULL_ENGINE, enqueue="now")(func),
    }


bench_slow = _bench_wrappers(slow_record)
bench_trivial = _bench_wrappers(trivial)
# Throughput: a queue of its own, holding only what that measurement enqueues.
THROUGHPUT_QUEUE = "fd-throughput"
bench_throughput = _bench_wrappers(trivial, THROUGHPUT_QUEUE)


class SwitchableEngine:
    """An engine whose broker can be "down" (for the outbox relay tests):
    keeps what it accepts in ``accepted``."""

    name = "switchable"

    def __init__(self) -> None:
        self.down = False
        self.accepted: list[dict[str, Any]] = []

    def enqueue(self, message: dict[str, Any], *, fail_fast: bool = False) -> None:
        if self.down:
            raise ConnectionError("the broker is down (on purpose)")
        self.accepted.append(message)

    def check_retry(self, retry: Any) -> None:
        return None


SWITCHABLE = SwitchableEngine()
switchable_outbox = on_worker(SWITCHABLE, enqueue="outbox")(record)
