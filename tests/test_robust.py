"""send_robust: exceptions become responses and are logged; send propagates."""

from __future__ import annotations

import logging
import sys
import types
from types import ModuleType, TracebackType
from typing import Any

import pytest

from .helpers import Boom, Stop, recording


@pytest.fixture
def standalone(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``django`` module imported: failures go to the ``fastdispatch`` logger."""
    monkeypatch.delitem(sys.modules, "django", raising=False)


def error_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_send_propagates_and_stops_at_the_failing_receiver(impl: ModuleType) -> None:
    sig = impl.Signal()
    calls: list[str] = []

    def fails(**kwargs: Any) -> None:
        raise Boom("boom")

    # send raises at fails: their answers are never seen.
    before, after = recording(calls, "before"), recording(calls, "after")
    for r in (before, fails, after):
        sig.connect(r)
    with pytest.raises(Boom, match="boom"):
        sig.send(None)
    assert calls == ["before"]


def test_send_robust_returns_the_exception_and_calls_later_receivers(
    impl: ModuleType, caplog: pytest.LogCaptureFixture, standalone: None
) -> None:
    sig = impl.Signal()
    error = Boom("this")

    def before(val: str, **kwargs: Any) -> str:
        return val

    def fails(val: str, **kwargs: Any) -> None:
        raise error

    def after(val: str, **kwargs: Any) -> str:
        return val * 2

    for r in (before, fails, after):
        sig.connect(r)
    result = sig.send_robust(None, val="x")
    assert result == [(before, "x"), (fails, error), (after, "xx")]
    assert result[1][1] is error
    assert isinstance(error.__traceback__, TracebackType)


def test_send_robust_logs_the_failure(
    impl: ModuleType, caplog: pytest.LogCaptureFixture, standalone: None
) -> None:
    sig = impl.Signal()

    def fails(val: str, **kwargs: Any) -> None:
        raise ValueError("this")

    sig.connect(fails)
    with caplog.at_level(logging.ERROR, logger="fastdispatch"):
        result = sig.send_robust(sender=None, val="test")
    err = result[0][1]
    assert isinstance(err, ValueError)
    assert err.args == ("this",)
    [record] = error_records(caplog)
    assert record.name == "fastdispatch"
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        f"Error calling {fails.__qualname__} in Signal.send_robust() (this)"
    )
    assert "test_send_robust_logs_the_failure.<locals>.fails" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError
    assert record.exc_info[1] is err
    assert record.exc_info[2] is err.__traceback__


def test_send_robust_logs_on_django_dispatch_inside_django(
    impl: ModuleType, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in for "Django is imported"; nothing of Django is needed.
    monkeypatch.setitem(sys.modules, "django", types.ModuleType("django"))
    sig = impl.Signal()

    def fails(**kwargs: Any) -> None:
        raise Boom("inside django")

    sig.connect(fails)
    result = sig.send_robust(None)
    assert isinstance(result[0][1], Boom)
    [record] = error_records(caplog)
    assert record.name == "django.dispatch"
    assert record.getMessage().endswith("in Signal.send_robust() (inside django)")


def test_send_robust_logs_each_failure(
    impl: ModuleType, caplog: pytest.LogCaptureFixture, standalone: None
) -> None:
    sig = impl.Signal()

    def first(**kwargs: Any) -> None:
        raise Boom("one")

    def second(**kwargs: Any) -> None:
        raise KeyError("two")

    sig.connect(first)
    sig.connect(second)
    result = sig.send_robust(None)
    assert [type(response) for _, response in result] == [Boom, KeyError]
    messages = [r.getMessage() for r in error_records(caplog)]
    assert messages == [
        f"Error calling {first.__qualname__} in Signal.send_robust() (one)",
        f"Error calling {second.__qualname__} in Signal.send_robust() ('two')",
    ]


def test_send_robust_failing_bound_method_is_logged_by_qualname(
    impl: ModuleType, caplog: pytest.LogCaptureFixture, standalone: None
) -> None:
    class Owner:
        def fails(self, **kwargs: Any) -> None:
            raise Boom("method")

    sig = impl.Signal()
    owner = Owner()
    sig.connect(owner.fails)
    [(receiver, response)] = sig.send_robust(None)
    assert receiver == owner.fails
    assert isinstance(response, Boom)
    [record] = error_records(caplog)
    assert record.getMessage() == (
        f"Error calling {Owner.fails.__qualname__} in Signal.send_robust() (method)"
    )


def test_send_robust_failing_callable_instance_without_qualname(
    impl: ModuleType, caplog: pytest.LogCaptureFixture, standalone: None
) -> None:
    class FailingCallable:
        def __call__(self, **kwargs: Any) -> None:
            raise Boom("instance")

    def after(**kwargs: Any) -> str:
        return "after"

    sig = impl.Signal()
    instance = FailingCallable()
    assert not hasattr(instance, "__qualname__")
    sig.connect(instance)
    sig.connect(after)
    result = sig.send_robust(None)
    assert result[0][0] is instance
    assert isinstance(result[0][1], Boom)
    assert result[1] == (after, "after")
    [record] = error_records(caplog)
    assert "FailingCallable" in record.getMessage()
    assert record.getMessage().endswith("in Signal.send_robust() (instance)")
    assert record.exc_info is not None and record.exc_info[1] is result[0][1]


def test_send_robust_does_not_catch_base_exceptions(impl: ModuleType) -> None:
    sig = impl.Signal()
    calls: list[str] = []

    def stops(**kwargs: Any) -> None:
        raise Stop()

    after = recording(calls, "after")  # never called: its answer is never seen

    sig.connect(stops)
    sig.connect(after)
    with pytest.raises(Stop):
        sig.send_robust(None)
    assert calls == []


def test_send_robust_does_not_catch_keyboard_interrupt(impl: ModuleType) -> None:
    sig = impl.Signal()

    def interrupted(**kwargs: Any) -> None:
        raise KeyboardInterrupt

    sig.connect(interrupted)
    with pytest.raises(KeyboardInterrupt):
        sig.send_robust(None)


def test_send_robust_without_failures_logs_nothing(
    impl: ModuleType, caplog: pytest.LogCaptureFixture, standalone: None
) -> None:
    sig = impl.Signal()

    def fine(**kwargs: Any) -> str:
        return "fine"

    sig.connect(fine)
    with caplog.at_level(logging.DEBUG):
        assert sig.send_robust(None) == [(fine, "fine")]
    assert caplog.records == []


def test_exception_class_returned_by_a_receiver_is_just_a_response(
    impl: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    sig = impl.Signal()
    error = Boom("returned, not raised")

    def returns_error(**kwargs: Any) -> Boom:
        return error

    sig.connect(returns_error)
    assert sig.send(None) == [(returns_error, error)]
    assert sig.send_robust(None) == [(returns_error, error)]
    assert error_records(caplog) == []
