"""The sender's side of the deferred-delivery benchmark: a Django process with
fastdispatch installed that saves orders (one transaction each, as a request
would) with one post_save receiver in a given mode, and times each save from
the start of the transaction to the end of its commit callbacks: what the
request waits for.

Run by run.py with the test project's environment (brokers up, no workers
consuming the benchmark queues). Prints one JSON object:
{"slow": {mode: [seconds per save, ...]}, "trivial": {...}}, each list one
median per round.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

import fastdispatch.django

fastdispatch.django.install()

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402
from django.db.models.signals import post_save  # noqa: E402

from fastdispatch.deferred import after_commit  # noqa: E402
from tests.deferred.shop import receivers  # noqa: E402
from tests.deferred.shop.models import Order  # noqa: E402

ROUNDS, SLOW_SENDS, TRIVIAL_SENDS = (int(arg) for arg in sys.argv[1:4])


def receiver_for(kind: str, mode: str) -> Any:
    func = receivers.slow_record if kind == "slow" else receivers.trivial
    if mode == "none":
        return None
    if mode == "inline":
        return func
    if mode == "after_commit":
        return after_commit(func)
    return (receivers.bench_slow if kind == "slow" else receivers.bench_trivial)[mode]


MODES = ["none", "inline", "after_commit", "celery_amqp", "celery_amqp_now", "celery_amqp_outbox",
         "celery_redis", "tasks_db", "tasks_db_now", "null_now"]


def one_round(kind: str, mode: str, sends: int) -> float:
    receiver = receiver_for(kind, mode)
    if receiver is not None:
        post_save.connect(receiver, sender=Order, weak=False)
    try:
        times = []
        for number in range(sends):
            started = time.perf_counter()
            with transaction.atomic():
                Order.objects.create(number=number, note=f"bench|{mode}")
            times.append(time.perf_counter() - started)
        return statistics.median(times)
    finally:
        if receiver is not None:
            post_save.disconnect(receiver, sender=Order)


# Warm-up: connections to both brokers and the database, imports.
for mode in MODES:
    one_round("trivial", mode, 3)

results: dict[str, dict[str, list[float]]] = {"slow": {m: [] for m in MODES}, "trivial": {m: [] for m in MODES}}
for round_number in range(ROUNDS):
    # Rotate the order, so that every mode sees the same machine load.
    order = MODES[round_number % len(MODES):] + MODES[: round_number % len(MODES)]
    for mode in order:
        results["trivial"][mode].append(one_round("trivial", mode, TRIVIAL_SENDS))
        results["slow"][mode].append(one_round("slow", mode, SLOW_SENDS))
print(json.dumps(results))
