"""fastdispatch without Django: a signal, a Celery app on Redis, a worker receiver.

The sender (scripts/standalone.py) and the worker
(``celery -A tests.deferred.standalone_app:app worker -Q fd-standalone-<impl>``)
import this module; neither configures Django.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from celery import Celery

from fastdispatch import Signal
from fastdispatch.deferred import CeleryEngine, current_delivery, on_worker

app = Celery("fd-standalone", include=["tests.deferred.standalone_app"])
app.conf.update(broker_url=os.environ.get("FD_REDIS_URL", "memory://"), broker_connection_retry_on_startup=True)

order_placed = Signal()


def on_order_placed(sender: Any, number: int, **kwargs: Any) -> None:
    delivery = current_delivery()
    line = {
        "event": "delivered",
        "delivery_id": delivery.id if delivery else None,
        "sender": sender,
        "number": number,
        "pid": os.getpid(),
        "django_used": sorted(m for m in ("django.conf", "django.db", "django.apps") if m in sys.modules),
        "compiled": __import__("fastdispatch").COMPILED,
    }
    with open(os.environ["FD_DELIVERY_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(line) + "\n")


QUEUE = f"fd-standalone-{'python' if os.environ.get('FASTDISPATCH_NO_EXTENSIONS') else 'compiled'}"
on_order_placed_worker = on_worker(CeleryEngine(app, queue=QUEUE), enqueue="now")(on_order_placed)
order_placed.connect(on_order_placed_worker)
