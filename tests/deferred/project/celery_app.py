"""The Celery apps of the tests: one on Redis, one on RabbitMQ (AMQP).

Brokers come from FD_REDIS_URL and FD_AMQP_URL; the pytest process sets
``app.conf.broker_url`` once its broker is up. Workers run as
``celery -A tests.deferred.project.celery_app:amqp_app worker -Q fd-python``.
Each worker appends Celery's own retry and failure events to FD_DELIVERY_LOG,
so the tests see the engine's handling, not ours.
"""

from __future__ import annotations

import json
import os
from typing import Any

from celery import Celery
from celery.signals import task_failure, task_retry


def _make(name: str, url_variable: str, transport_options: dict[str, Any]) -> Celery:
    app = Celery(name, include=["tests.deferred.shop.receivers"])
    app.conf.update(
        broker_url=os.environ.get(url_variable, "memory://"),
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=2,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
    )
    return app


# confirm_publish: RabbitMQ acknowledges each publish, so "sent" means the
# broker has it (what the outbox relay needs before deleting a row).
amqp_app = _make("fdtests-amqp", "FD_AMQP_URL", {"confirm_publish": True})
redis_app = _make("fdtests-redis", "FD_REDIS_URL", {"visibility_timeout": 60})


def _log_event(event: str, **fields: Any) -> None:
    path = os.environ.get("FD_DELIVERY_LOG")
    if path:
        line = json.dumps({"event": event, "pid": os.getpid(), **fields}) + "\n"
        with open(path, "a", encoding="utf-8") as log:
            log.write(line)


@task_retry.connect
def _on_retry(sender: Any = None, request: Any = None, reason: Any = None, **kwargs: Any) -> None:
    _log_event("celery_retry", task_id=getattr(request, "id", None), reason=repr(reason))


@task_failure.connect
def _on_failure(sender: Any = None, task_id: Any = None, exception: Any = None, **kwargs: Any) -> None:
    _log_event("celery_failure", task_id=task_id, exception=type(exception).__name__, message=str(exception))
