"""The sending process is killed with SIGKILL right after a commit.

A Django process with fastdispatch installed saves orders with three
post_save receivers on workers: enqueue="outbox" (Celery on RabbitMQ, relayed
by manage.py fastdispatch_relay), enqueue="now" on django.tasks' database
backend (the task row is in the transaction), and Celery after commit. Some
transactions roll back. Then:

- three runs end with a transaction whose first commit callback kills the
  process: after the COMMIT, before any other callback, so before any
  after-commit enqueue or publish;
- one run is killed by this test at an arbitrary moment while it sends.

The no-loss modes must deliver every committed order (the database says which
committed) and nothing else; "on_commit" loses what it had not enqueued.

Runs once per session, on one implementation (the compiled one, or the
pure-Python one when that is all there is): four sender processes and their
relay and worker deliveries take about a minute.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import ModuleType

import pytest

from . import counting, services
from .environment import DB_DIR, IMPLEMENTATIONS_UNDER_TEST, Workers

pytestmark = pytest.mark.services

BASE = 700_000
NO_LOSS = ("outbox", "tasks_now")


# Once, on the compiled implementation when it is there (the module docstring
# says why): not a skip of the other, which --require-services would fail.
@pytest.mark.parametrize("impl", [IMPLEMENTATIONS_UNDER_TEST[-1]], indirect=True)
def test_sender_killed_after_commit(
    impl: ModuleType, impl_name: str, rabbitmq: services.RabbitMQ, workers: Workers, delivery_log: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    workers.celery("amqp", impl_name)
    workers.db_worker(impl_name)
    workers.relay()
    env = workers.env(impl_name)
    started = time.monotonic()
    killed_after_commit: list[int] = []
    rolled_back: list[int] = []
    for run in range(3):
        sender = services.Sender("kill", BASE + run * 1000, env, DB_DIR / f"kill-sender-{run}.log")
        sender.command(f"commit run{run} 4")
        rolled_back += [line["number"] for line in sender.command(f"rollback run{run} 2")]
        sender.command(f"commit run{run} 3")
        [line] = sender.command(f"kill run{run}")
        killed_after_commit.append(line["number"])
        assert sender.close() == -signal.SIGKILL

    sender = services.Sender("kill", BASE + 3000, env, DB_DIR / "kill-sender-loop.log")
    assert sender.process.stdin is not None
    sender.process.stdin.write("loop loop\n")
    sender.process.stdin.flush()
    time.sleep(4)  # sending, one transaction after another
    sender.process.send_signal(signal.SIGKILL)
    assert sender.close() == -signal.SIGKILL

    all_committed: set[int] = set().union(*counting.committed(BASE, 10_000).values())
    sent_in = time.monotonic() - started

    def deliveries() -> counting.Deliveries:
        return counting.Deliveries(delivery_log, BASE, 10_000, mode_from_receiver=True)

    def by_mode(found: counting.Deliveries, mode: str) -> list[int]:
        return [n for (m, _), numbers in found.by_key.items() if m == mode for n in numbers]

    # The relay takes a dead sender's outbox rows once their claim runs out.
    def missing() -> dict[str, list[int]]:
        found = deliveries()
        gaps = {mode: sorted(all_committed - set(by_mode(found, mode))) for mode in NO_LOSS}
        return {mode: numbers for mode, numbers in gaps.items() if numbers}

    services.wait_for(
        lambda: not missing(),
        180,
        "every committed order to be delivered by the no-loss modes",
        0.2,
        details=lambda: f"not delivered: {missing()}\n{workers.log_tails()}",
    )
    delivered_in = time.monotonic() - started - sent_in
    time.sleep(3)
    found = deliveries()
    loop_committed = {n for n in all_committed if n >= BASE + 3000}
    rows = []
    for mode in ("outbox", "tasks_now", "on_commit"):
        got = by_mode(found, mode)
        rows.append((mode, str(len(all_committed)), str(len(set(got) & all_committed)),
                     str(len(all_committed - set(got))), str(len(got) - len(set(got))),
                     str(len(set(got) - all_committed))))
    with capsys.disabled():
        print(f"\n\nSender killed after commit ({impl_name}): 3 runs killed by their own commit callback, "
              f"1 run killed from outside after {len(loop_committed)} commits; "
              f"{len(rolled_back)} transactions rolled back")
        print(counting.table(rows, ("mode", "committed", "delivered", "lost", "duplicates", "not committed")))
        print(f"sending took {sent_in:.1f}s; "
              f"the no-loss modes had delivered everything {delivered_in:.1f}s later\n")

    assert set(killed_after_commit) <= all_committed  # the commits did happen
    assert not set(rolled_back) & all_committed
    for mode in NO_LOSS:
        got = set(by_mode(found, mode))
        assert got == all_committed, (
            f"{mode}: lost {sorted(all_committed - got)}, extra {sorted(got - all_committed)}"
        )
    on_commit = set(by_mode(found, "on_commit"))
    assert on_commit <= all_committed
    assert not on_commit & set(killed_after_commit)  # killed before its enqueue: lost
    assert not found.wrong_row
