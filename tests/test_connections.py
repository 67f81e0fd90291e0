"""``Signal.connections()`` and ``Signal.connected_to()``."""

from __future__ import annotations

import gc
from types import ModuleType
from typing import Any

import pytest

from fastdispatch import Connection


def function(sender: object, **kwargs: Any) -> str:
    return "function"


async def coroutine_function(sender: object, **kwargs: Any) -> str:
    return "async"


class Listener:
    def method(self, sender: object, **kwargs: Any) -> str:
        return "method"


class Callable:
    def __call__(self, sender: object, **kwargs: Any) -> str:
        return "callable"


class Order:
    pass


class Invoice:
    pass


def test_each_connection_is_described(impl: ModuleType) -> None:
    sig = impl.Signal()
    listener, instance = Listener(), Callable()
    sig.connect(function)
    sig.connect(listener.method, sender=Order)
    sig.connect(instance, weak=False, dispatch_uid="strong-uid")
    sig.connect(coroutine_function, sender=Invoice)
    assert sig.connections() == [
        Connection(function, None, None, True, False, f"{__name__}.function"),
        Connection(listener.method, Order, None, True, False, f"{__name__}.Listener.method"),
        Connection(instance, None, "strong-uid", False, False, f"{__name__}.Callable instance"),
        Connection(
            coroutine_function, Invoice, None, True, True, f"{__name__}.coroutine_function"
        ),
    ]
    # Django's private records are left exactly as they are.
    assert [len(r) for r in sig.receivers] == [4, 4, 4, 4]
    assert sig.receivers[2][0] == ("strong-uid", impl.NONE_ID)


def test_filtered_by_sender(impl: ModuleType) -> None:
    sig = impl.Signal()
    sig.connect(function)
    sig.connect(Listener.method, sender=Order, weak=False)
    sig.connect(coroutine_function, sender=Invoice)
    assert [c.name.rsplit(".", 1)[1] for c in sig.connections(sender=Order)] == [
        "function",
        "method",
    ]
    assert [c.receiver for c in sig.connections(sender=None)] == [function]
    assert len(sig.connections()) == 3


def test_a_dead_receiver_is_listed_without_its_receiver(impl: ModuleType) -> None:
    sig = impl.Signal()

    def short_lived(sender: object, **kwargs: Any) -> None:
        pass

    sig.connect(short_lived)
    del short_lived
    gc.collect()
    [connection] = sig.connections()
    assert connection.receiver is None
    assert connection.name.endswith("<locals>.short_lived")
    sig.send(None)  # cleans up
    assert sig.connections() == []


def test_records_restored_from_elsewhere_are_listed(impl: ModuleType) -> None:
    sig = impl.Signal()
    sig.connect(function, dispatch_uid="uid")
    sig.connect(Listener.method, weak=False)
    saved = sig.receivers
    other = impl.Signal()
    other.receivers = saved  # as factory_boy's mute_signals restores them
    names = [c.name for c in other.connections()]
    assert names == [f"{__name__}.function", f"{__name__}.Listener.method"]
    assert [c.dispatch_uid for c in other.connections()] == ["uid", None]


def test_the_record_is_read_by_name(impl: ModuleType) -> None:
    sig = impl.Signal()
    sig.connect(function)
    [connection] = sig.connections()
    assert connection._asdict() == {
        "receiver": function,
        "sender": None,
        "dispatch_uid": None,
        "weak": True,
        "is_async": False,
        "name": f"{__name__}.function",
    }
    with pytest.raises(TypeError, match="read by name"):
        _receiver, *_rest = connection  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        connection.name = "other"  # type: ignore[misc]
    assert hash(connection) == hash(sig.connections()[0])


def test_connected_to_holds_a_lambda_for_the_block(impl: ModuleType) -> None:
    sig = impl.Signal()
    seen: list[object] = []
    with sig.connected_to(lambda sender, **kwargs: seen.append(sender)) as receiver:
        gc.collect()  # strong for the block's duration
        sig.send(Order)
        assert sig.connections()[0].receiver is receiver
    sig.send(Invoice)
    assert seen == [Order] and sig.receivers == []


def test_connected_to_disconnects_when_the_block_raises(impl: ModuleType) -> None:
    sig = impl.Signal()
    with pytest.raises(ZeroDivisionError):  # noqa: PT012 (the block under test raises at its end)
        with sig.connected_to(function, sender=Order):
            assert sig.send(Order) == [(function, "function")]
            1 / 0  # noqa: B018 (raises inside the block)
    assert sig.receivers == [] and sig.send(Order) == []


def test_connected_to_leaves_an_earlier_connection_alone(impl: ModuleType) -> None:
    sig = impl.Signal()
    sig.connect(function)
    with sig.connected_to(function):
        assert sig.send(None) == [(function, "function")]
    assert sig.send(None) == [(function, "function")]


def test_connected_to_rejects_bad_input_before_the_block(impl: ModuleType) -> None:
    sig = impl.Signal()
    with pytest.raises(TypeError, match="Signal receivers must be callable"):
        sig.connected_to(object())
    with pytest.raises(TypeError, match="dispatch_uid must be hashable"):
        sig.connected_to(function, dispatch_uid=["unhashable"])
    assert sig.receivers == []


def test_a_mock_receiver_is_described_without_recursing(impl: ModuleType) -> None:
    # Django's settings_tests connect a Mock: every attribute exists on it,
    # "func", "args" and "keywords" (the look of a functools.partial) included.
    from unittest import mock

    sig = impl.Signal()
    spy = mock.Mock()
    sig.connect(spy)
    [connection] = sig.connections()
    assert connection.name == "unittest.mock.Mock instance"
    sig.send(None, value=1)
    spy.assert_called_once_with(signal=sig, sender=None, value=1)


def test_a_partial_receiver_is_named_after_its_function(impl: ModuleType) -> None:
    import functools

    sig = impl.Signal()
    partial = functools.partial(function)
    sig.connect(partial, weak=False)
    assert sig.connections()[0].name == f"functools.partial({__name__}.function)"
