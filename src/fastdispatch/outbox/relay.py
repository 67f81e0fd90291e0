"""The relay: send what the outbox still holds, then delete it.

Any number of relays may run: each row is claimed with a conditional UPDATE
(its ``available_at`` moved forward only if no one else moved it), which works
on every database Django supports, SQLite included, without long transactions.
A row is deleted only after its engine accepted the message, so a relay that
dies mid-way leaves the row for the next one: at least once, never zero times.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from ..deferred._delivery import enqueue
from ..deferred._receivers import resolve_worker_receiver
from .models import OutboxMessage
from .store import CLAIM_SECONDS, _describe

__all__ = ["RelayResult", "relay_pending"]

_logger = logging.getLogger("fastdispatch.outbox")


@dataclass
class RelayResult:
    sent: int = 0
    failed: int = 0
    # The engine refused a publish: the broker is probably down; try later.
    engine_unavailable: bool = False


def relay_pending(using: str, *, batch: int = 100) -> RelayResult:
    """Publish up to ``batch`` rows of database ``using`` that are due."""
    result = RelayResult()
    rows = OutboxMessage.objects.using(using)
    now = timezone.now()
    due = list(rows.filter(available_at__lte=now).order_by("id").values_list("id", "available_at")[:batch])
    for row_id, available_at in due:
        claimed = rows.filter(pk=row_id, available_at=available_at).update(
            available_at=now + timedelta(seconds=CLAIM_SECONDS), attempts=F("attempts") + 1
        )
        if not claimed:
            continue  # another relay (or the sender) has it
        try:
            row = rows.get(pk=row_id)
        except OutboxMessage.DoesNotExist:
            continue
        try:
            message = json.loads(row.message)
            _, wrapper = resolve_worker_receiver(row.receiver, engine=message.get("engine"), enqueue="outbox")
            if wrapper is None:
                raise LookupError(f"{row.receiver} is not an on_worker() receiver in this process")
        except Exception as error:
            # Not the broker's fault: keep the row, retry it later, go on.
            _logger.error("Cannot relay outbox row %s (%s): %s", row_id, row.receiver, error)
            rows.filter(pk=row_id).update(
                available_at=now + timedelta(seconds=60), last_error=_describe(error)
            )
            result.failed += 1
            continue
        try:
            enqueue(wrapper.engine, message, fail_fast=True)
        except Exception as error:
            rows.filter(pk=row_id).update(available_at=timezone.now(), last_error=_describe(error))
            result.failed += 1
            result.engine_unavailable = True
            _logger.warning("Relay: %s refused outbox row %s (%s); will retry.", wrapper.engine.name, row_id, error)
            break  # the rest would fail the same way; the caller backs off
        rows.filter(pk=row_id).delete()
        result.sent += 1
    return result
