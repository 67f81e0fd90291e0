"""``send`` and ``send_robust``: the dispatch hot path.

Groups (one comparison each, every contender doing the same work):

- send with 0, 1, 10, 100 weak function receivers (0 = a signal nobody
  listens to: the cost of a send that does nothing);
- send with 1, 10, 100 weak bound-method receivers (one listener object each);
- ``use_caching=True`` with 50 receivers, each connected for a different
  sender class, sending for one of them (Django's model signals);
- ``use_caching=True`` with the same 50 receivers, sending for a sender class
  nobody listens to (``pre_init``/``post_init`` on most models);
- ``send_robust`` with 10 function receivers.

The sender-specific groups have no psygnal (it has no per-sender receivers);
blinker indexes receivers by sender natively, so it takes part there without
any ``use_caching``. ``send_robust`` is Django's API only.
"""

from __future__ import annotations

import pytest
from _contenders import (
    ALL,
    DJANGO_API_ONLY,
    SENDER,
    WITH_SENDERS,
    Contender,
    check_responses,
    in_group,
    make_function_receivers,
    make_method_receivers,
    make_sender_classes,
)

SENDER_SPECIFIC = 50
"""Receivers in the use_caching groups, each for its own sender class."""


def _connected(
    contender: Contender, receivers: list, senders: list | None = None, *, use_caching: bool = False
):
    """A signal of ``contender`` with ``receivers`` connected (``receivers[i]``
    for ``senders[i]`` when given). The floor's "signal" is filled by the caller."""
    signal = contender.make(use_caching=use_caching)
    if contender.key != "floor":
        for i, r in enumerate(receivers):
            contender.connect(signal, r, None if senders is None else senders[i])
        assert contender.count(signal) == len(receivers)
    return signal


@pytest.mark.parametrize("n", [0, 1, 10, 100])
@pytest.mark.parametrize("contender", ALL, indirect=True)
def test_send_functions(benchmark, contender: Contender, n: int) -> None:
    name = "send, no receivers" if n == 0 else f"send, {n} function receiver{'s' * (n > 1)}"
    in_group(benchmark, contender, 1000 + n, name, ALL)
    receivers = make_function_receivers(n)
    signal = _connected(contender, receivers)
    if contender.key == "floor":
        signal[:] = receivers
    fn, args, kwargs = contender.send_call(signal, SENDER)
    result = benchmark(fn, *args, **kwargs)
    contender.check_send(signal, SENDER, result, n)


@pytest.mark.parametrize("n", [1, 10, 100])
@pytest.mark.parametrize("contender", ALL, indirect=True)
def test_send_bound_methods(benchmark, contender: Contender, n: int) -> None:
    in_group(
        benchmark, contender, 2000 + n,
        f"send, {n} bound-method receiver{'s' * (n > 1)}", ALL,
    )
    listeners, methods = make_method_receivers(n)
    # Connected from fresh bound-method objects (which die at once), as
    # `signal.connect(self.on_event)` does: the dispatcher must hold them weakly.
    signal = _connected(contender, [listener.on_signal for listener in listeners])
    if contender.key == "floor":
        signal[:] = methods
    fn, args, kwargs = contender.send_call(signal, SENDER)
    result = benchmark(fn, *args, **kwargs)
    contender.check_send(signal, SENDER, result, n)
    assert len(listeners) == n  # kept alive until here


@pytest.mark.parametrize("contender", WITH_SENDERS, indirect=True)
def test_send_cached_one_sender(benchmark, contender: Contender) -> None:
    in_group(
        benchmark, contender, 3000,
        f"send (use_caching), 1 of {SENDER_SPECIFIC} sender-specific receivers",
        WITH_SENDERS,
    )
    senders = make_sender_classes(SENDER_SPECIFIC)
    receivers = make_function_receivers(SENDER_SPECIFIC)
    target = senders[SENDER_SPECIFIC // 2]
    signal = _connected(contender, receivers, senders, use_caching=True)
    if contender.key == "floor":
        signal[:] = [r for r, s in zip(receivers, senders) if s is target]
    fn, args, kwargs = contender.send_call(signal, target)
    result = benchmark(fn, *args, **kwargs)
    contender.check_send(signal, target, result, 1)
    assert result[0][0] is receivers[SENDER_SPECIFIC // 2]


@pytest.mark.parametrize("contender", WITH_SENDERS, indirect=True)
def test_send_cached_unheard_sender(benchmark, contender: Contender) -> None:
    in_group(
        benchmark, contender, 4000,
        f"send (use_caching), sender nobody listens to ({SENDER_SPECIFIC} sender-specific receivers)",
        WITH_SENDERS,
    )
    senders = make_sender_classes(SENDER_SPECIFIC)
    receivers = make_function_receivers(SENDER_SPECIFIC)
    (unheard,) = make_sender_classes(1, prefix="Unheard")
    signal = _connected(contender, receivers, senders, use_caching=True)
    fn, args, kwargs = contender.send_call(signal, unheard)
    result = benchmark(fn, *args, **kwargs)
    contender.check_send(signal, unheard, result, 0)
    # The same signal still reaches a sender that has a receiver.
    if contender.key != "floor":
        fn, args, kwargs = contender.send_call(signal, senders[0])
        contender.check_send(signal, senders[0], fn(*args, **kwargs), 1)


@pytest.mark.parametrize("contender", DJANGO_API_ONLY, indirect=True)
def test_send_robust(benchmark, contender: Contender) -> None:
    n = 10
    in_group(benchmark, contender, 5000 + n, f"send_robust, {n} function receivers", DJANGO_API_ONLY)
    receivers = make_function_receivers(n)
    signal = _connected(contender, receivers)
    if contender.key == "floor":
        signal[:] = receivers
    fn, args, kwargs = contender.robust_call(signal, SENDER)
    result = benchmark(fn, *args, **kwargs)
    check_responses(result, n)
