"""``send_then_raise``/``asend_then_raise``: every receiver runs, then one
ExceptionGroup of all the failures."""

from __future__ import annotations

import asyncio
import sys
from types import ModuleType
from typing import Any

import pytest

# Not run in several threads at once (pytest-run-parallel): its receivers record calls in one module-level list.
pytestmark = pytest.mark.thread_unsafe(reason="its receivers record calls in one module-level list")

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

calls: list[str] = []


def ok(sender: object, **kwargs: Any) -> str:
    calls.append("ok")
    return "ok"


def bad_value(sender: object, **kwargs: Any) -> None:
    calls.append("bad_value")
    raise ValueError("bad value")


def bad_key(sender: object, **kwargs: Any) -> None:
    calls.append("bad_key")
    raise KeyError("bad key")


async def async_ok(sender: object, **kwargs: Any) -> str:
    calls.append("async_ok")
    return "async ok"


async def async_bad(sender: object, **kwargs: Any) -> None:
    calls.append("async_bad")
    raise RuntimeError("async bad")


def notes(error: BaseException) -> list[str]:
    return list(getattr(error, "__notes__", []))


class Order:
    pass


@pytest.fixture(autouse=True)
def clear_calls() -> None:
    calls.clear()


def test_without_failures_it_returns_what_send_returns(impl: ModuleType) -> None:
    sig = impl.Signal()
    for receiver in (ok, async_ok):
        sig.connect(receiver)
    assert sig.send_then_raise(Order, x=1) == sig.send(Order, x=1)
    assert sig.send_then_raise(Order) == [(ok, "ok"), (async_ok, "async ok")]
    assert impl.Signal().send_then_raise(None) == []


def test_every_receiver_runs_then_all_failures_are_raised(impl: ModuleType) -> None:
    sig = impl.Signal()
    for receiver in (bad_value, ok, bad_key, async_ok, async_bad):
        sig.connect(receiver)
    with pytest.raises(ExceptionGroup) as raised:
        sig.send_then_raise(Order)
    assert calls == ["bad_value", "ok", "bad_key", "async_ok", "async_bad"]
    group = raised.value
    assert str(group) == "3 of 5 receivers raised (3 sub-exceptions)"
    value_error, key_error, runtime_error = group.exceptions
    assert isinstance(value_error, ValueError)
    assert isinstance(key_error, KeyError)
    assert isinstance(runtime_error, RuntimeError)
    assert notes(value_error) == [
        f"raised by receiver {__name__}.bad_value (sender {__name__}.Order)"
    ]
    assert notes(runtime_error) == [
        f"raised by receiver {__name__}.async_bad (sender {__name__}.Order)"
    ]
    assert value_error.__traceback__ is not None


def test_asend_then_raise(impl: ModuleType) -> None:
    sig = impl.Signal()
    for receiver in (ok, bad_value, async_bad, async_ok):
        sig.connect(receiver)
    with pytest.raises(ExceptionGroup) as raised:
        asyncio.run(sig.asend_then_raise(None))
    assert sorted(calls) == ["async_bad", "async_ok", "bad_value", "ok"]
    assert [type(e) for e in raised.value.exceptions] == [ValueError, RuntimeError]
    assert notes(raised.value.exceptions[0]) == [f"raised by receiver {__name__}.bad_value"]
    sig.disconnect(bad_value)
    sig.disconnect(async_bad)
    assert asyncio.run(sig.asend_then_raise(None)) == [(ok, "ok"), (async_ok, "async ok")]


class Stop(BaseException):
    pass


def test_a_base_exception_is_not_collected(impl: ModuleType) -> None:
    def stop(sender: object, **kwargs: Any) -> None:
        raise Stop

    sig = impl.Signal()
    sig.connect(bad_value)
    sig.connect(stop)
    sig.connect(ok)
    with pytest.raises(Stop):
        sig.send_then_raise(None)
    assert calls == ["bad_value"]  # stop ended it; ok never ran


def test_an_exception_returned_is_a_response_not_a_failure(impl: ModuleType) -> None:
    error = ValueError("returned, not raised")

    def returns_error(sender: object, **kwargs: Any) -> ValueError:
        return error

    sig = impl.Signal()
    sig.connect(returns_error)
    assert sig.send_then_raise(None) == [(returns_error, error)]
