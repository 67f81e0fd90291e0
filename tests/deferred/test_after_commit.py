"""after_commit: runs after the send's transaction commits, in this process."""

from __future__ import annotations

import gc
import logging
from types import ModuleType
from typing import Any

import pytest
from django.db import connections, transaction
from django.db.models.signals import post_save
from django.test import TestCase

from fastdispatch.deferred import Deferred, after_commit, current_delivery
from fastdispatch.deferred._django_tasks import tasks_framework

from .shop import receivers
from .shop.models import Order
from .shop.signals import order_placed


class Calls:
    """A receiver that records its calls, wrapped with after_commit."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

        def on_event(sender: Any, **kwargs: Any) -> None:
            delivery = current_delivery()
            self.calls.append({"sender": sender, "delivery": delivery, **kwargs})

        self.func = on_event
        self.receiver = after_commit(on_event)

    def values(self) -> list[Any]:
        return [call.get("value") for call in self.calls]


@pytest.fixture
def calls(impl: ModuleType) -> tuple[Any, Calls]:
    signal = impl.Signal()
    recorder = Calls()
    signal.connect(recorder.receiver)
    gc.collect()  # held weakly: it must survive this
    return signal, recorder


def test_runs_after_commit(calls: tuple[Any, Calls]) -> None:
    signal, recorder = calls
    with transaction.atomic():
        [(_, response)] = signal.send(sender="shop", value=1)
        assert recorder.calls == []
    assert recorder.values() == [1]
    call = recorder.calls[0]
    assert call["sender"] == "shop" and call["signal"] is signal
    assert call["delivery"].mode == "after_commit"
    assert call["delivery"].id == response.delivery_id
    assert current_delivery() is None


def test_never_runs_after_rollback(calls: tuple[Any, Calls]) -> None:
    signal, recorder = calls
    with pytest.raises(RuntimeError), transaction.atomic():  # noqa: PT012 (the raise at its end rolls back)
        signal.send(sender=None, value=1)
        raise RuntimeError("roll back")
    with transaction.atomic():
        signal.send(sender=None, value=2)
        transaction.set_rollback(True)
    assert recorder.calls == []


def test_savepoint_rollback_discards_only_its_sends(calls: tuple[Any, Calls]) -> None:
    signal, recorder = calls
    with transaction.atomic():
        signal.send(sender=None, value="before")
        try:
            with transaction.atomic():  # a savepoint
                signal.send(sender=None, value="in savepoint")
                raise ValueError("roll back the savepoint")
        except ValueError:
            pass
        signal.send(sender=None, value="after")
    assert recorder.values() == ["before", "after"]


def test_nested_atomics_wait_for_the_outermost(calls: tuple[Any, Calls]) -> None:
    signal, recorder = calls
    with transaction.atomic():
        with transaction.atomic():
            with transaction.atomic():
                signal.send(sender=None, value=1)
            assert recorder.calls == []
        assert recorder.calls == []
        with transaction.atomic(savepoint=False):
            signal.send(sender=None, value=2)
    assert recorder.values() == [1, 2]


def test_rolled_back_outer_block_discards_committed_savepoint(calls: tuple[Any, Calls]) -> None:
    signal, recorder = calls
    with transaction.atomic():
        with transaction.atomic():
            signal.send(sender=None, value=1)
        transaction.set_rollback(True)
    assert recorder.calls == []


def test_runs_at_once_in_autocommit(calls: tuple[Any, Calls]) -> None:
    signal, recorder = calls
    [(_, response)] = signal.send(sender=None, value=1)
    assert recorder.values() == [1]
    assert isinstance(response, Deferred)


def test_follows_the_database_of_the_send(calls: tuple[Any, Calls]) -> None:
    signal, recorder = calls
    with transaction.atomic(using="other"):
        with transaction.atomic(using="default"):
            [(_, response)] = signal.send(sender=None, value="other", using="other")
            signal.send(sender=None, value="default")
        # default committed: its send ran; the send on "other" still waits.
        assert recorder.values() == ["default"]
        assert response.using == "other"
    assert recorder.values() == ["default", "other"]
    assert recorder.calls[1]["using"] == "other"


def test_rollback_of_the_sends_database_discards_it(calls: tuple[Any, Calls]) -> None:
    signal, recorder = calls
    with transaction.atomic(using="default"):
        with transaction.atomic(using="other"):
            signal.send(sender=None, value=1, using="other")
            transaction.set_rollback(True, using="other")
    assert recorder.calls == []


def test_other_database_in_autocommit_runs_at_once(calls: tuple[Any, Calls]) -> None:
    """A transaction on default does not delay a send that names "other"."""
    signal, recorder = calls
    with transaction.atomic(using="default"):
        signal.send(sender=None, value=1, using="other")
        assert recorder.values() == [1]


def test_exception_is_logged_and_other_callbacks_run(
    impl: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    signal = impl.Signal()
    ran: list[str] = []

    def failing(sender: Any, **kwargs: Any) -> None:
        raise ValueError("receiver failed")

    def second(sender: Any, **kwargs: Any) -> None:
        ran.append("second")

    signal.connect(after_commit(failing))
    signal.connect(after_commit(second))
    with caplog.at_level(logging.ERROR, logger="django.dispatch"), transaction.atomic():
        signal.send(sender=None)
        transaction.on_commit(lambda: ran.append("plain on_commit"))
    assert ran == ["second", "plain on_commit"]
    [record] = [r for r in caplog.records if r.name == "django.dispatch"]
    assert record.getMessage() == (
        "Error calling tests.deferred.test_after_commit.test_exception_is_logged_and_other_callbacks_run"
        ".<locals>.failing after commit (receiver failed)"
    )
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_exception_in_autocommit_is_logged_not_raised(
    impl: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    signal = impl.Signal()

    def failing(sender: Any, **kwargs: Any) -> None:
        raise ValueError("receiver failed")

    signal.connect(after_commit(failing))
    with caplog.at_level(logging.ERROR, logger="django.dispatch"):
        [(_, response)] = signal.send(sender=None)
    assert isinstance(response, Deferred)
    assert any("failing after commit (receiver failed)" in r.getMessage() for r in caplog.records)


def test_capture_on_commit_callbacks(calls: tuple[Any, Calls]) -> None:
    """What TestCase does: the test runs inside an atomic block that is rolled
    back, so commit callbacks run only through captureOnCommitCallbacks."""
    signal, recorder = calls
    with transaction.atomic():
        with TestCase.captureOnCommitCallbacks() as callbacks:
            signal.send(sender=None, value=1)
        assert len(callbacks) == 1 and recorder.calls == []
        callbacks[0]()
        assert recorder.values() == [1]
        with TestCase.captureOnCommitCallbacks(execute=True):
            signal.send(sender=None, value=2)
        assert recorder.values() == [1, 2]
        transaction.set_rollback(True)
    assert recorder.values() == [1, 2]


def test_model_instance_is_passed_as_is(impl: ModuleType) -> None:
    """In this process nothing is serialised: the receiver gets the very object."""
    signal = impl.Signal()
    got: list[Any] = []

    def on_event(sender: Any, instance: Any, **kwargs: Any) -> None:
        got.append(instance)

    signal.connect(after_commit(on_event))
    with transaction.atomic():
        order = Order.objects.create(number=1)
        signal.send(sender=Order, instance=order, when=object())
    assert got == [order] and got[0] is order


def test_django_model_signal_connect() -> None:
    """Django's ModelSignal.connect (its own signature) takes the wrapper as is.
    (Django's own dispatcher in this process; with fastdispatch installed:
    test_model_signals.py.)"""
    got: list[Any] = []

    def on_save(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
        got.append((instance.number, created, kwargs["using"]))

    post_save.connect(after_commit(on_save), sender="shop.Order")
    gc.collect()
    try:
        with transaction.atomic(using="other"):
            Order.objects.using("other").create(number=5)
            assert got == []
        assert got == [(5, True, "other")]
    finally:
        post_save.disconnect(after_commit(on_save), sender="shop.Order")
    assert not post_save.has_listeners(Order)


def test_bad_argument_for_a_worker_receiver_stops_the_whole_send(impl: ModuleType) -> None:
    """An after_commit receiver before a worker receiver: a bad argument for the
    worker fails the send at the first deferred receiver, so nothing of that
    send is delivered, even in autocommit (where after_commit runs at once)."""
    signal = order_placed(impl)
    recorder = Calls()
    signal.connect(recorder.receiver)
    signal.connect(receivers.tasks_dummy)
    results = tasks_framework().task_backends["dummy"].results
    enqueued = len(results)
    try:
        with pytest.raises(TypeError, match=r"argument 'when' .* is not JSON-serialisable"):
            signal.send(sender=None, value=1, when=object())
        responses = signal.send_robust(sender=None, value=1, when=object())
        assert [type(r) for _, r in responses] == [TypeError, TypeError]
        with transaction.atomic():
            with pytest.raises(TypeError):
                signal.send(sender=None, value=2, when=object())
            assert connections["default"].run_on_commit == []
        assert recorder.calls == [] and len(results) == enqueued
        signal.send(sender=None, value=3)  # good arguments: both deliver
        assert recorder.values() == [3] and len(results) == enqueued + 1
    finally:
        signal.disconnect(recorder.receiver)
        signal.disconnect(receivers.tasks_dummy)


def test_a_tracer_sees_the_send_and_then_the_deferred_call(calls: tuple[Any, Calls]) -> None:
    from fastdispatch import tracing

    signal, recorder = calls
    events: list[tuple[str, str, Any]] = []

    class Recorder(tracing.Tracer):
        def send_started(self, send: tracing.SendTrace) -> None:
            events.append(("send", send.kind, send.named.get("value")))

        def receiver_ended(self, call: tracing.ReceiverCall) -> None:
            events.append(("receiver", call.info.name, call.result))

    tracing.set_tracer(Recorder(), signal=signal)
    try:
        with transaction.atomic():
            [(_, deferred)] = signal.send(sender="shop", value=7)
            assert events == [("send", "send", 7), ("receiver", events[1][1], deferred)]
        assert recorder.values() == [7]
    finally:
        tracing.set_tracer(None, signal=signal)
    # After the commit: the receiver itself, as a one-receiver send.
    name = f"{__name__}.Calls.__init__.<locals>.on_event"
    assert events[2:] == [("send", "deferred", 7), ("receiver", name, None)]
