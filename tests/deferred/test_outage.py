"""The broker is stopped while sends happen, then started again.

A Django process with fastdispatch installed saves orders, one transaction per
order and per mode, before, during and after a RabbitMQ outage. What each mode
does:

- on_commit (Celery after commit): the commit succeeds; the enqueue after it
  fails and is logged; those deliveries are lost.
- now (Celery during the send): the enqueue fails inside the transaction, the
  save raises, the transaction rolls back: nothing committed, and the request
  sees the error. With the broker up, "now" has the tutorials' race: the
  worker may run the task before the sender commits, not find the row, and
  fail (DoesNotExist); counted here too.
- outbox: the commit succeeds with its outbox row; the relay delivers every
  one of them once the broker is back.
- tasks_now (django.tasks, database backend): no broker at all; unaffected.

Runs once per session, on one implementation (a RabbitMQ restart costs tens
of seconds): the compiled one, or the pure-Python one when that is all there
is (the FASTDISPATCH_NO_EXTENSIONS=1 run).
"""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType

import pytest

from . import counting, services
from .environment import DB_DIR, IMPLEMENTATIONS_UNDER_TEST, Workers

pytestmark = pytest.mark.services

BASE = 500_000
PER_PHASE = 5
PHASES = ("before", "outage", "after")
MODES = ("on_commit", "now", "outbox", "tasks_now")


# Once, on the compiled implementation when it is there (the module docstring
# says why): not a skip of the other, which --require-services would fail.
@pytest.mark.parametrize("impl", [IMPLEMENTATIONS_UNDER_TEST[-1]], indirect=True)
def test_broker_outage(
    impl: ModuleType,
    impl_name: str,
    rabbitmq: services.RabbitMQ,
    workers: Workers,
    delivery_log: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Celery's threads pool, not prefork: after the broker restart a prefork
    # worker here once took a task and never ran it (its log ended with
    # "received" for the whole wait, in 1 of 10 runs of tests/deferred), and
    # its queue stalled with it while the relay had published the outbox rows.
    # An engine's hang, not a lost delivery: docs/deferred.rst tells users.
    workers.celery("amqp", impl_name, pool="threads")
    workers.db_worker(impl_name)
    workers.relay()
    sender = services.Sender("outage", BASE, workers.env(impl_name), DB_DIR / "outage-sender.log")
    try:
        sender.command(f"commit before {PER_PHASE}")
        sender.command("rollback before 1")
        rabbitmq.stop()
        started = time.monotonic()
        outage_lines = sender.command(f"commit outage {PER_PHASE}")
        sender.command("rollback outage 1")
        outage_seconds = time.monotonic() - started
        rabbitmq.start()
        sender.command(f"commit after {PER_PHASE}")
        sender.command("rollback after 1")
    finally:
        assert sender.close() == 0

    committed = counting.committed(BASE)

    def missing() -> dict[tuple[str, str], list[int]]:
        delivered = counting.Deliveries(delivery_log, BASE)
        gaps = {
            (mode, phase): sorted(committed[(mode, phase)] - set(delivered.get((mode, phase))))
            for mode in ("outbox", "tasks_now")
            for phase in PHASES
        }
        return {key: numbers for key, numbers in gaps.items() if numbers}

    # The no-loss modes deliver everything committed, the relay included.
    services.wait_for(
        lambda: not missing(),
        180,
        "the outbox and the task backend to deliver everything committed",
        0.2,
        details=lambda: (
            f"not delivered: {missing()}\n{workers.log_tails()}\n--- rabbitmq ---\n{rabbitmq.log_tail()}"
        ),
    )
    time.sleep(3)  # stragglers of the lossy modes, if any, would arrive now
    delivered = counting.Deliveries(delivery_log, BASE)
    now_failures = {
        line["task_id"]
        for line in services.read_log(delivery_log)
        if line.get("event") == "celery_failure"
        and "NowOrder matching query does not exist" in line.get("message", "")
    }

    rows = []
    for mode in MODES:
        for phase in PHASES:
            done, got = committed.get((mode, phase), set()), delivered.get((mode, phase))
            rows.append((mode, phase, str(len(done)), str(len(set(got))), str(len(done - set(got))),
                         str(len(got) - len(set(got)))))
    with capsys.disabled():
        print(f"\n\nBroker outage ({impl_name}): {PER_PHASE} orders per mode and phase, "
              f"RabbitMQ down for {outage_seconds:.1f}s of sends")
        print(counting.table(rows, ("mode", "phase", "committed", "delivered", "lost", "duplicates")))
        errors = sorted({line["error"].split(":")[0] for line in outage_lines if line["error"]})
        print(f"errors the sender saw during the outage: {errors}")
        print("'now' tasks that ran before their commit or after a rollback and failed (DoesNotExist): "
              f"{len(now_failures)}")
        print("tasks of rolled-back transactions that ran on another row with the same primary key: "
              f"{dict(delivered.wrong_row)}\n")

    rolled_back = {line["number"] for line in sender.lines if line["committed"] is False}
    assert not rolled_back & delivered.numbers(), "a rolled-back or failed transaction was delivered"
    # Only "now" ever runs a task whose transaction rolled back.
    assert set(delivered.wrong_row) <= {"now"}
    for phase in PHASES:
        for mode in ("outbox", "tasks_now"):
            assert len(committed[(mode, phase)]) == PER_PHASE
            assert set(delivered.get((mode, phase))) == committed[(mode, phase)]
    # The lossy modes behave as documented.
    assert committed.get(("now", "outage"), set()) == set()  # every save raised and rolled back
    assert len(committed[("on_commit", "outage")]) == PER_PHASE
    assert set(delivered.get(("on_commit", "outage"))) < committed[("on_commit", "outage")]  # lost
    for phase in ("before", "after"):
        assert set(delivered.get(("on_commit", phase))) == committed[("on_commit", phase)]
    # Every "now" message is accounted for: delivered, or it never succeeded
    # because the worker ran it before the commit (or after a rollback: one
    # per phase with the broker up) and did not find the row, or found
    # another row that reused the rolled-back primary key. A message can run
    # more than once (at least once: a failed run whose acknowledgement the
    # stopping broker never got is run again), so count messages, not runs.
    now_lost = sum(
        len(committed[("now", phase)] - set(delivered.get(("now", phase)))) for phase in ("before", "after")
    )
    never_succeeded = (now_failures | delivered.wrong_row_ids["now"]) - delivered.ids["now"]
    assert len(never_succeeded) == now_lost + 2
