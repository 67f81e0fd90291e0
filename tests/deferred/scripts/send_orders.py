"""The sending process of the outage and kill tests: a Django process with
fastdispatch installed that saves orders, each in its own transaction, with
deferred post_save receivers in several modes.

    python -m tests.deferred.scripts.send_orders SCENARIO BASE

SCENARIO "outage": one proxy model per mode (OnCommitOrder: Celery after
commit; NowOrder: Celery at once; OutboxOrder: Celery through the outbox;
TasksNowOrder: django.tasks' database backend at once), each saved in its own
transaction, so a failing enqueue rolls back only its own.
SCENARIO "kill": one Order per transaction, with three receivers (outbox,
database task backend, Celery after commit: receivers.kill_*).

Commands on stdin, one per line; after each, a line "done":
  commit PHASE N     N transactions that commit, per mode
  rollback PHASE N   N transactions that roll back, per mode
  kill PHASE         one transaction that commits, then SIGKILL of this
                     process by its first commit callback: after the commit,
                     before any other callback (so before any after-commit
                     enqueue or publish)
  loop PHASE         commit transactions until killed
Each transaction prints a JSON line: phase, mode, number, committed, error.
Order numbers start at BASE; an order's note is "MODE|PHASE".
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sys

import fastdispatch.django

fastdispatch.django.install()

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402
from django.db.models.signals import post_save  # noqa: E402

from tests.deferred.shop import models, receivers  # noqa: E402

IMPL = "python" if os.environ.get("FASTDISPATCH_NO_EXTENSIONS") else "compiled"
SCENARIO, BASE = sys.argv[1], int(sys.argv[2])
numbers = itertools.count(BASE)

if SCENARIO == "outage":
    MODES = {
        "on_commit": (models.OnCommitOrder, receivers.celery_amqp[IMPL]),
        "now": (models.NowOrder, receivers.celery_amqp_now[IMPL]),
        "outbox": (models.OutboxOrder, receivers.celery_amqp_outbox[IMPL]),
        "tasks_now": (models.TasksNowOrder, receivers.tasks_db_now[IMPL]),
    }
    for model, wrapper in MODES.values():
        post_save.connect(wrapper, sender=model)
    TRANSACTIONS = [(mode, model) for mode, (model, _) in MODES.items()]
elif SCENARIO == "kill":
    for wrapper in (receivers.kill_outbox[IMPL], receivers.kill_tasks_now[IMPL], receivers.kill_on_commit[IMPL]):
        post_save.connect(wrapper, sender=models.Order)
    TRANSACTIONS = [("all", models.Order)]
else:
    sys.exit(f"unknown scenario {SCENARIO!r}")


def report(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def one(phase: str, mode: str, model: type, *, commit: bool, kill: bool = False) -> None:
    number = next(numbers)
    try:
        with transaction.atomic():
            if kill:
                report(phase=phase, mode=mode, number=number, committed=None, error="killing after commit")
                transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
            model.objects.create(number=number, note=f"{mode}|{phase}")
            if not commit:
                transaction.set_rollback(True)
    except Exception as error:
        report(phase=phase, mode=mode, number=number, committed=False, error=f"{type(error).__name__}: {error}")
    else:
        report(phase=phase, mode=mode, number=number, committed=commit, error=None)


for line in sys.stdin:
    command, phase, *rest = line.split()
    if command in ("commit", "rollback"):
        for _ in range(int(rest[0])):
            for mode, model in TRANSACTIONS:
                one(phase, mode, model, commit=command == "commit")
    elif command == "kill":
        one(phase, *TRANSACTIONS[0], commit=True, kill=True)
    elif command == "loop":
        while True:
            for mode, model in TRANSACTIONS:
                one(phase, mode, model, commit=True)
    print("done", flush=True)
