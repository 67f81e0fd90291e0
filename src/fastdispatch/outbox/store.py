"""The sending side of the outbox: write in the transaction, publish after it.

``store_message`` runs inside the send, so the row is part of the send's
transaction. ``publish_after_commit`` runs as that transaction's commit
callback: it hands the message to the engine once, without retrying, and
deletes the row. If it cannot (broker down), the row stays and the relay
sends it; if the process dies first, the relay sends it once its claim
(``CLAIM_SECONDS``) runs out.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from django.db.models import F
from django.utils import timezone

from ..deferred._delivery import Message, enqueue
from ..deferred._engines import Engine
from .models import OutboxMessage

__all__ = ["CLAIM_SECONDS", "publish_after_commit", "store_message"]

_logger = logging.getLogger("fastdispatch.outbox")

CLAIM_SECONDS = 10.0
"""How long a relay leaves a row alone while its sender (or another relay)
publishes it."""


def _require_installed() -> None:
    from django.apps import apps

    if not apps.is_installed("fastdispatch.outbox"):
        raise RuntimeError(
            'on_worker(enqueue="outbox") needs the outbox app: add "fastdispatch.outbox" '
            "to INSTALLED_APPS and run manage.py migrate (on every database that sends)."
        )


def store_message(message: Message, using: str) -> int:
    """Write ``message`` to the outbox of database ``using``; return the row id."""
    _require_installed()
    row = OutboxMessage.objects.using(using).create(
        delivery_id=message["delivery_id"],
        receiver=message["receiver"],
        message=json.dumps(message),
        available_at=timezone.now() + timedelta(seconds=CLAIM_SECONDS),
    )
    return int(row.pk)


def publish_after_commit(row_id: int, using: str, engine: Engine, message: Message) -> None:
    """Commit callback: publish once, delete on success, leave to the relay otherwise."""
    rows = OutboxMessage.objects.using(using).filter(pk=row_id)
    try:
        enqueue(engine, message, fail_fast=True)
    except Exception as error:
        _logger.warning(
            "Could not publish %s to %s after commit (%s); it stays in the outbox of %r "
            "and manage.py fastdispatch_relay will send it.",
            message["receiver"],
            engine.name,
            error,
            using,
        )
        try:
            rows.update(available_at=timezone.now(), attempts=F("attempts") + 1, last_error=_describe(error))
        except Exception:
            pass  # the claim runs out by itself; the relay sends it then
        return
    try:
        rows.delete()
    except Exception as error:
        # Published but still in the table: the relay will publish it again,
        # which at-least-once delivery allows (receivers are idempotent).
        _logger.warning("Published %s but could not delete outbox row %s: %s", message["receiver"], row_id, error)


def _describe(error: BaseException) -> str:
    text: Any = f"{type(error).__qualname__}: {error}"
    return str(text)[:2000]
