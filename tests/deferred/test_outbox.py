"""The outbox app: the row in the send's transaction, the publish after the
commit, the relay for the rest, and the migration matching the model.

On the "other" database: the session's relay process (started by the
outage and kill tests) relays "default" only, so these tests drive the relay
themselves."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from fastdispatch.outbox.models import OutboxMessage
from fastdispatch.outbox.relay import relay_pending
from fastdispatch.outbox.store import CLAIM_SECONDS

from .shop import receivers
from .shop.signals import order_placed

ENGINE = receivers.SWITCHABLE
DB = "other"
ROWS = OutboxMessage.objects.db_manager(DB)


@pytest.fixture
def signal(impl: ModuleType) -> Iterator[Any]:
    ENGINE.down = False
    ENGINE.accepted.clear()
    ROWS.all().delete()
    signal = order_placed(impl)
    signal.connect(receivers.switchable_outbox)
    yield signal
    signal.disconnect(receivers.switchable_outbox)
    ENGINE.down = False


def accepted_ids() -> list[str]:
    return [message["delivery_id"] for message in ENGINE.accepted]


def test_row_in_the_transaction_published_after_commit(signal: Any) -> None:
    with transaction.atomic(using=DB):
        [(_, response)] = signal.send(sender=None, value=1, using=DB)
        row = ROWS.get()
        assert row.delivery_id == response.delivery_id and accepted_ids() == []
        assert json.loads(row.message)["kwargs"]["value"] == ["json", 1]
    assert accepted_ids() == [response.delivery_id]
    assert not ROWS.exists()


def test_rollback_leaves_no_row(signal: Any) -> None:
    with transaction.atomic(using=DB):
        signal.send(sender=None, value=1, using=DB)
        transaction.set_rollback(True, using=DB)
    assert not ROWS.exists() and accepted_ids() == []


def test_broker_down_keeps_the_row_for_the_relay(signal: Any) -> None:
    ENGINE.down = True
    with transaction.atomic(using=DB):
        [(_, response)] = signal.send(sender=None, value=1, using=DB)
    row = ROWS.get()
    assert (row.attempts, row.last_error) == (1, "ConnectionError: the broker is down (on purpose)")
    assert row.available_at <= timezone.now()  # due for the relay at once
    result = relay_pending(DB)
    assert (result.sent, result.failed, result.engine_unavailable) == (0, 1, True)
    assert ROWS.get().attempts == 2
    ENGINE.down = False
    assert relay_pending(DB).sent == 1
    assert accepted_ids() == [response.delivery_id]
    assert not ROWS.exists()


def test_relay_leaves_claimed_rows_alone(signal: Any) -> None:
    """A row whose sender (or another relay) holds the claim is not taken
    until the claim runs out: then it is (the sender died)."""
    ENGINE.down = True
    with transaction.atomic(using=DB):
        signal.send(sender=None, value=1, using=DB)
    ENGINE.down = False
    ROWS.update(available_at=timezone.now() + timedelta(seconds=CLAIM_SECONDS))
    assert relay_pending(DB).sent == 0
    ROWS.update(available_at=timezone.now() - timedelta(seconds=1))
    assert relay_pending(DB).sent == 1 and len(accepted_ids()) == 1


def test_relay_command_once(signal: Any) -> None:
    ENGINE.down = True
    for value in range(3):
        with transaction.atomic(using=DB):
            signal.send(sender=None, value=value, using=DB)
    ENGINE.down = False
    out = io.StringIO()
    call_command("fastdispatch_relay", "--once", "--database", DB, stdout=out)
    assert "relayed 3, failed 0" in out.getvalue()
    assert [m["kwargs"]["value"][1] for m in ENGINE.accepted] == [0, 1, 2]  # in order


def test_relay_without_its_receiver_keeps_the_row(signal: Any) -> None:
    with transaction.atomic(using=DB):
        ENGINE.down = True
        signal.send(sender=None, value=1, using=DB)
    ENGINE.down = False
    ROWS.update(receiver="tests.deferred.shop.receivers:no_such_receiver")
    result = relay_pending(DB)
    row = ROWS.get()
    assert (result.sent, result.failed, result.engine_unavailable) == (0, 1, False)
    assert "no_such_receiver" in row.last_error and row.available_at > timezone.now()


def test_outbox_needs_the_app() -> None:
    from django.apps import apps

    assert apps.is_installed("fastdispatch.outbox")


def test_migration_matches_the_model() -> None:
    out = io.StringIO()
    call_command("makemigrations", "fastdispatch_outbox", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
