"""Model signals on fastdispatch with deferred receivers: run in a fresh
interpreter (``install()`` is for the whole process), prints one JSON object.

Environment: the test project's (services.project_env); the implementation
follows FASTDISPATCH_NO_EXTENSIONS.
"""

from __future__ import annotations

import gc
import inspect
import json
import sys
from pathlib import Path

import fastdispatch.django

fastdispatch.django.install()

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.db.models.signals import post_save  # noqa: E402

from fastdispatch.deferred._django_tasks import tasks_framework  # noqa: E402
from fastdispatch.deferred._worker import run_delivery  # noqa: E402
from tests.deferred.services import read_log  # noqa: E402
from tests.deferred.shop import model_receivers  # noqa: E402
from tests.deferred.shop.models import Order  # noqa: E402

for alias in ("default", "other"):
    call_command("migrate", database=alias, run_syncdb=True, verbosity=0)
gc.collect()  # every wrapper is held weakly by its signal: it must survive
results = tasks_framework().task_backends["dummy"].results
report: dict[str, object] = {
    "implementation": fastdispatch.django.installed_implementation(),
    "post_save_is_fastdispatch": isinstance(post_save, fastdispatch.django._installed.impl.Signal),  # type: ignore[union-attr]
    "connect_parameters": list(inspect.signature(post_save.connect).parameters),
}
try:
    post_save.connect(model_receivers.order_deleted, sender=Order, deferred=True)  # type: ignore[call-arg]
except TypeError as error:
    report["connect_new_keyword"] = str(error)

with transaction.atomic():
    order = Order.objects.create(number=1)
    report["inside_atomic"] = [list(model_receivers.after_commit_calls), len(results)]
report["after_commit"] = [list(model_receivers.after_commit_calls), len(results)]

with transaction.atomic(using="other"):
    Order.objects.using("other").create(number=2)
    transaction.set_rollback(True, using="other")
report["after_rollback"] = [list(model_receivers.after_commit_calls), len(results)]

with transaction.atomic(using="other"):
    Order.objects.using("other").create(number=3)
report["other_database"] = [list(model_receivers.after_commit_calls), len(results)]

# What a worker does with the messages: run them, then read the log.
saved_message = results[0].args[0]
Order.objects.filter(pk=order.pk).update(note="changed before the worker ran")  # no signal
run_delivery(saved_message, attempt=1)  # re-fetches: sees the change
order.refresh_from_db()
order.delete()  # post_delete: enqueued at once (enqueue="now"): a snapshot
deleted_message = results[-1].args[0]
run_delivery(deleted_message, attempt=1)  # the row is gone: the snapshot
report["messages"] = {"saved": saved_message, "deleted": deleted_message}
ids = {saved_message["delivery_id"], deleted_message["delivery_id"]}
report["deliveries"] = [line for line in read_log(Path(sys.argv[1])) if line.get("delivery_id") in ids]
print(json.dumps(report))
