"""manage.py fastdispatch_relay: send what the outbox holds to its engines."""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from ...models import OutboxMessage
from ...relay import relay_pending


class Command(BaseCommand):
    help = (
        "Relay deferred deliveries from the fastdispatch outbox to their engines "
        "(Celery, django.tasks). Runs until stopped (SIGTERM/SIGINT finish the "
        "current message), or with --once until nothing is due."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database",
            action="append",
            dest="databases",
            help="Database alias to relay from (repeatable). Default: every database with the outbox table.",
        )
        parser.add_argument("--once", action="store_true", help="Relay what is due, then exit.")
        parser.add_argument("--interval", type=float, default=0.5, help="Seconds between polls when idle (0.5).")
        parser.add_argument("--batch", type=int, default=100, help="Rows per database per poll (100).")

    def handle(self, *args: Any, **options: Any) -> None:
        databases = options["databases"] or [
            alias
            for alias in connections
            if OutboxMessage._meta.db_table in connections[alias].introspection.table_names()
        ]
        interval: float = options["interval"]
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        if not options["once"]:
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"fastdispatch_relay: relaying from {', '.join(databases) or 'no database'}")
        backoff = interval
        total = 0
        while not stopping:
            sent = failed = 0
            unavailable = False
            for alias in databases:
                result = relay_pending(alias, batch=options["batch"])
                sent += result.sent
                failed += result.failed
                unavailable = unavailable or result.engine_unavailable
            total += sent
            if sent or failed:
                self.stdout.write(f"relayed {sent}, failed {failed}")
            if options["once"] and (not sent or unavailable):
                break
            if unavailable:
                backoff = min(backoff * 2, 10.0)  # the broker is down: wait longer each time
            elif sent:
                backoff = interval
                continue  # more may be due: poll again at once
            else:
                backoff = interval
            time.sleep(backoff)
        self.stdout.write(f"fastdispatch_relay: stopped after relaying {total}")
