"""What travels to a worker: JSON, models as label and primary key, and clear
errors (before anything is enqueued) for what cannot travel."""

from __future__ import annotations

import datetime
import decimal
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from django.db import connections, transaction
from django.db.models.signals import post_delete

from fastdispatch.deferred import DjangoTasks, on_worker
from fastdispatch.deferred._django_tasks import tasks_framework
from fastdispatch.deferred._worker import run_delivery
from fastdispatch.outbox.models import OutboxMessage

from .services import read_log
from .shop import receivers
from .shop.models import Order
from .shop.signals import order_placed


class Importable:
    """A class that travels by reference."""


def dummy_results() -> list[Any]:
    return tasks_framework().task_backends["dummy"].results  # type: ignore[no-any-return]


@pytest.fixture
def send_now(impl: ModuleType) -> Iterator[Any]:
    """Send order_placed to record on the dummy backend at once; return the message."""
    signal = order_placed(impl)
    signal.connect(receivers.tasks_dummy_now)

    def send(sender: Any = None, **named: Any) -> dict[str, Any]:
        [(_, response)] = signal.send(sender=sender, **named)
        message = dummy_results()[-1].args[0]
        assert message["delivery_id"] == response.delivery_id
        return message  # type: ignore[no-any-return]

    yield send
    signal.disconnect(receivers.tasks_dummy_now)


def test_json_values_travel_as_json(send_now: Any) -> None:
    message = send_now(
        sender="shop", number=1, ratio=0.5, flag=True, nothing=None, text="é", items=(1, [2, 3]), meta={"a": {"b": [None]}}
    )
    assert json.loads(json.dumps(message)) == message
    kwargs = message["kwargs"]
    assert message["sender"] == ["json", "shop"]
    assert kwargs["items"] == ["json", [1, [2, 3]]]  # a tuple arrives as a list
    assert kwargs["meta"] == ["json", {"a": {"b": [None]}}]
    assert message["signal"].startswith("tests.deferred.shop.signals:order_placed_")
    assert message["receiver"] == "tests.deferred.shop.receivers:record"


def test_models_classes_and_sets(send_now: Any) -> None:
    order = Order.objects.create(number=3)
    message = send_now(sender=Order, instance=order, fields=frozenset({"b", "a"}), pks={2, 1}, kind=Importable)
    kwargs = message["kwargs"]
    assert message["sender"] == ["model_class", "shop.Order"]
    assert kwargs["instance"] == ["model", "shop.Order", str(order.pk), "default"]
    assert kwargs["fields"] == ["frozenset", ["a", "b"]]
    assert kwargs["pks"] == ["set", [1, 2]]
    assert kwargs["kind"] == ["class", "tests.deferred.test_payload:Importable"]


def test_round_trip_refetches_the_instance(send_now: Any, delivery_log: Any, impl: ModuleType) -> None:
    """The worker gets the row as it is when it runs, from the send's database."""
    order = Order.objects.using("other").create(number=4, note="at send")
    message = send_now(sender=Order, instance=order, using="other", pks={1})
    Order.objects.using("other").filter(pk=order.pk).update(note="after send")
    run_delivery(message, attempt=1, task_id="in-process")
    [line] = [entry for entry in read_log(delivery_log) if entry.get("delivery_id") == message["delivery_id"]]
    instance = line["kwargs"]["instance"]
    assert instance["db"] == "other" and instance["adding"] is False
    assert instance["fields"]["note"] == "after send"
    assert line["sender"] == {"class": "tests.deferred.shop.models.Order"}
    assert line["kwargs"]["pks"] == {"set": [1]}
    assert line["signal"] == {"signal": impl.__name__}
    assert (line["attempt"], line["mode"]) == (1, "worker")


def test_post_delete_gets_a_snapshot(delivery_log: Any) -> None:
    """After post_delete the row is gone: the worker gets an unsaved copy built
    from the field values at delete time (Django's dispatcher here; installed
    fastdispatch: test_model_signals.py)."""
    post_delete.connect(receivers.tasks_dummy_now, sender=Order)
    try:
        order = Order.objects.create(number=6, note="deleted")
        pk = order.pk
        order.delete()
    finally:
        post_delete.disconnect(receivers.tasks_dummy_now, sender=Order)
    message = dummy_results()[-1].args[0]
    assert message["kwargs"]["instance"][0] == "snapshot"
    run_delivery(message)
    [line] = [e for e in read_log(delivery_log) if e.get("delivery_id") == message["delivery_id"]]
    instance = line["kwargs"]["instance"]
    assert instance["pk"] == pk and instance["adding"] is True
    assert instance["fields"]["note"] == "deleted" and instance["fields"]["number"] == "6"


# -- what cannot travel ------------------------------------------------------------------

NAME = r"Cannot send tests\.deferred\.shop\.signals\.order_placed_\w+ to tests\.deferred\.shop\.receivers\.record on a worker: "
NOTHING = "Nothing was enqueued for this send."


@pytest.mark.parametrize(
    ("named", "expected"),
    [
        ({"when": datetime.datetime(2026, 1, 1)}, r"argument 'when' \(datetime\.datetime: .*\) is not JSON-serialisable"),
        ({"amount": decimal.Decimal("1.5")}, r"argument 'amount' \(decimal\.Decimal: Decimal\('1\.5'\)\) is not JSON"),
        ({"meta": {"at": object()}}, r"argument 'meta'\['at'\] \(builtins\.object: .*\) is not JSON-serialisable"),
        ({"items": [1, {2}]}, r"argument 'items'\[1\] \(builtins\.set: \{2\}\) is not JSON-serialisable"),
        ({"meta": {1: "x"}}, r"argument 'meta'\[1\] \(builtins\.int: 1\) is a dict key that is not a str"),
        ({"ratio": float("nan")}, r"argument 'ratio' \(builtins\.float: nan\) is not a finite number"),
        ({"instance": Order(number=1)}, r"argument 'instance' .* is a model instance without a primary key"),
        ({"kind": type("Local", (), {})}, r"argument 'kind' .* is a class that a worker cannot import"),
        ({"callback": print}, r"argument 'callback' \(builtins\.builtin_function_or_method: .*\) is not JSON"),
    ],
    ids=["datetime", "decimal", "nested", "set-in-list", "int-key", "nan", "unsaved", "local-class", "function"],
)
def test_not_serialisable_is_a_type_error_at_send(send_now: Any, named: dict[str, Any], expected: str) -> None:
    enqueued = len(dummy_results())
    with pytest.raises(TypeError, match=NAME + expected) as raised:
        send_now(sender=None, **named)
    assert NOTHING in str(raised.value)
    assert len(dummy_results()) == enqueued


def test_sender_must_travel_too(send_now: Any) -> None:
    with pytest.raises(TypeError, match=NAME + r"sender \(builtins\.object: .*\) is not JSON-serialisable"):
        send_now(sender=object())


def test_nothing_scheduled_in_any_mode(impl: ModuleType) -> None:
    """on_commit schedules no commit callback, outbox writes no row, now enqueues nothing."""
    signal = order_placed(impl)
    outbox_receiver = on_worker(DjangoTasks(backend="dummy"), enqueue="outbox")(receivers.record)
    for deferred in (receivers.tasks_dummy, outbox_receiver, receivers.tasks_dummy_now):
        signal.connect(deferred)
        enqueued, rows = len(dummy_results()), OutboxMessage.objects.count()
        try:
            with transaction.atomic():
                with pytest.raises(TypeError, match=NOTHING):
                    signal.send(sender=None, when=datetime.date.today())
                assert connections["default"].run_on_commit == []
                assert OutboxMessage.objects.count() == rows
        finally:
            signal.disconnect(deferred)
        assert len(dummy_results()) == enqueued


def test_several_worker_receivers_all_or_nothing(impl: ModuleType) -> None:
    """All receivers of a send get the same arguments: a bad one stops the
    first deferred receiver (send) or every one of them (send_robust), and
    nothing of that send is enqueued by any."""
    signal = order_placed(impl)
    first, second = receivers.tasks_dummy_now, on_worker(DjangoTasks(backend="dummy"), enqueue="now")(receivers.trivial)
    signal.connect(first)
    signal.connect(second)
    enqueued = len(dummy_results())
    try:
        with pytest.raises(TypeError, match=r"argument 'when'"):
            signal.send(sender=None, when=datetime.date.today())
        responses = signal.send_robust(sender=None, when=datetime.date.today())
        assert [type(response) for _, response in responses] == [TypeError, TypeError]
        assert len(dummy_results()) == enqueued
        signal.send(sender=None, when="2026-01-01")
        assert len(dummy_results()) == enqueued + 2
    finally:
        signal.disconnect(first)
        signal.disconnect(second)


def test_signal_a_worker_cannot_import(impl: ModuleType) -> None:
    local_signal = impl.Signal()
    local_signal.connect(receivers.tasks_dummy_now)
    with pytest.raises(TypeError, match=r"the signal is not an attribute of any importable module.*order_placed = Signal\(\)"):
        local_signal.send(sender=None)
