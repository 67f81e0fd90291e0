"""How send/send_robust take their arguments and pass them on.

The compiled implementation reads the caller's vectorcall arguments directly
(no keyword dict), so the argument handling Python does for a ``def`` method
is checked here for both implementations.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any

import pytest

SENDS = ["send", "send_robust"]


def echo(**kwargs: Any) -> dict[str, Any]:
    return kwargs


@pytest.mark.parametrize("method", SENDS)
def test_sender_positional_or_keyword(impl: ModuleType, method: str) -> None:
    signal = impl.Signal()
    signal.connect(echo)
    send = getattr(signal, method)
    assert send("S", a=1) == send(sender="S", a=1) == [
        (echo, {"signal": signal, "sender": "S", "a": 1})
    ]


@pytest.mark.parametrize("method", SENDS)
def test_keywords_reach_receivers_in_call_order(impl: ModuleType, method: str) -> None:
    signal = impl.Signal()
    signal.connect(echo)
    [(_, received)] = getattr(signal, method)(z=1, sender=None, a=2, m=3)
    assert list(received) == ["signal", "sender", "z", "a", "m"]
    assert received == {"signal": signal, "sender": None, "z": 1, "a": 2, "m": 3}


@pytest.mark.parametrize("method", SENDS)
def test_many_keywords(impl: ModuleType, method: str) -> None:
    # More than fit in the compiled implementation's on-stack argument vector.
    named = {f"k{i}": i for i in range(40)}
    signal = impl.Signal()
    signal.connect(echo)
    for _ in range(3):  # also with the cached keyword names of the last send
        [(_, received)] = getattr(signal, method)("S", **named)
        assert received == {"signal": signal, "sender": "S", **named}


@pytest.mark.parametrize("method", SENDS)
def test_changing_keywords_between_sends(impl: ModuleType, method: str) -> None:
    signal = impl.Signal()
    signal.connect(echo)
    send = getattr(signal, method)
    assert send(None, a=1)[0][1] == {"signal": signal, "sender": None, "a": 1}
    assert send(None, b=2)[0][1] == {"signal": signal, "sender": None, "b": 2}
    assert send(None)[0][1] == {"signal": signal, "sender": None}
    assert send(sender=None, a=1, b=2)[0][1] == {
        "signal": signal,
        "sender": None,
        "a": 1,
        "b": 2,
    }


@pytest.mark.parametrize("method", SENDS)
@pytest.mark.parametrize("connected", [False, True])
def test_argument_errors(impl: ModuleType, method: str, connected: bool) -> None:
    signal = impl.Signal()
    if connected:
        signal.connect(echo)
    send = getattr(signal, method)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'sender'"):
        send()
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'sender'"):
        send(a=1)
    with pytest.raises(TypeError, match="takes 2 positional arguments but 3 were given"):
        send(1, 2)
    with pytest.raises(TypeError, match="got multiple values for argument 'sender'"):
        send(1, sender=2)
    assert signal.receivers == ([] if not connected else signal.receivers)


@pytest.mark.parametrize("method", SENDS)
def test_signal_keyword_is_rejected_like_django(impl: ModuleType, method: str) -> None:
    # Django calls receiver(signal=self, sender=sender, **named): a "signal"
    # keyword makes that call fail, for send and send_robust alike (the
    # TypeError comes from the call itself, before the receiver runs).
    calls = []

    def receiver(**kwargs: Any) -> None:
        calls.append(kwargs)

    signal = impl.Signal()
    signal.connect(receiver)
    if method == "send":
        with pytest.raises(TypeError, match="multiple values for keyword argument 'signal'"):
            signal.send(None, signal="mine")
    else:
        [(_, error)] = signal.send_robust(None, signal="mine")
        assert isinstance(error, TypeError)
        assert "multiple values for keyword argument 'signal'" in str(error)
    assert calls == []
    # Without receivers there is no call, hence no error (as in Django).
    assert impl.Signal().send(None, signal="mine") == []


def test_send_signature(impl: ModuleType) -> None:
    parameters = inspect.signature(impl.Signal.send).parameters
    assert list(parameters)[-2:] == ["sender", "named"]
    assert parameters["named"].kind is inspect.Parameter.VAR_KEYWORD


@pytest.mark.parametrize("method", SENDS)
def test_bound_method_receivers_get_the_same_arguments(impl: ModuleType, method: str) -> None:
    class Listener:
        def on(self, **kwargs: Any) -> tuple[Listener, dict[str, Any]]:
            return self, kwargs

    listener = Listener()
    signal = impl.Signal()
    signal.connect(listener.on)
    [(receiver, (instance, received))] = getattr(signal, method)("S", a=1)
    assert receiver == listener.on
    assert instance is listener
    assert received == {"signal": signal, "sender": "S", "a": 1}
