"""What the deferred tests share besides fixtures: the implementations under
test, the temporary directory of the test project's databases and delivery
log, and the worker processes (tests/deferred/conftest.py has the fixtures).

Imported before Django is configured: the test project's settings read the
paths from the environment variables set here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ..helpers import IMPLEMENTATIONS
from . import services

# "python", then "compiled" when the extension imports. The heavy tests (a
# broker restart, killed senders) run once, on the last of these.
IMPLEMENTATIONS_UNDER_TEST = tuple(IMPLEMENTATIONS)

DB_DIR = Path(tempfile.mkdtemp(prefix="fastdispatch-deferred-"))
os.environ["FD_DB_DIR"] = str(DB_DIR)
DELIVERY_LOG = DB_DIR / "deliveries.jsonl"
os.environ["FD_DELIVERY_LOG"] = str(DELIVERY_LOG)


class Workers:
    """Worker processes, started on first use, one per (kind, implementation)."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.request = request
        self.started: dict[tuple[str, str], services.Process] = {}
        self.log = DELIVERY_LOG

    def env(self, impl: str) -> dict[str, str]:
        return services.project_env(DB_DIR, self.log, impl)

    def _get(self, key: tuple[str, str], start: Any) -> services.Process:
        process = self.started.get(key)
        if process is None or not process.alive():
            process = self.started[key] = start()
        return process

    def celery(self, broker: str, impl: str, pool: str = "prefork") -> services.Process:
        """A Celery worker on ``broker`` ("redis" or "amqp") for queue fd-<impl>,
        with ``pool``: the only worker on that queue (one of another pool is
        stopped first), so a test knows which pool runs its tasks."""
        self.request.getfixturevalue("redis" if broker == "redis" else "rabbitmq")
        kind = f"celery-{broker}-{pool}"
        for (other_kind, other_impl), process in self.started.items():
            if other_kind.startswith(f"celery-{broker}-") and other_impl == impl and other_kind != kind:
                process.stop()
        return self._get(
            (kind, impl),
            lambda: services.start_celery_worker(
                f"{broker}_app",
                f"fd-{impl}",
                self.env(impl),
                DB_DIR / f"celery-{broker}-{pool}-{impl}.log",
                pool=pool,
            ),
        )

    def db_worker(self, impl: str) -> services.Process:
        return self._get(
            ("db_worker", impl),
            lambda: services.start_db_worker(f"fd_{impl}", self.env(impl), DB_DIR / f"db_worker-{impl}.log"),
        )

    def relay(self) -> services.Process:
        """The outbox relay (it relays for every engine of the project)."""
        for broker in ("redis", "rabbitmq"):
            self.request.getfixturevalue(broker)
        return self._get(
            ("relay", "compiled"),
            lambda: services.start_relay(self.env("compiled"), DB_DIR / "relay.log"),
        )

    def stop(self) -> None:
        for process in self.started.values():
            process.stop()

    def log_tails(self, chars: int = 3000) -> str:
        """The end of every started worker's log, for a failure message."""
        return "\n".join(
            f"--- {process.name} ({'alive' if process.alive() else f'exited {process.exit_code()}'}) ---\n"
            f"{process.log()[-chars:]}"
            for process in self.started.values()
        )
