"""``asend`` from async code, with sync and with async receivers.

fastdispatch and django.dispatch only (blinker's ``send_async`` and psygnal
have a different model). Each round runs one ``asend`` to completion on a
shared event loop (``loop.run_until_complete``), so every contender, the floor
included, pays the same event-loop overhead. The floor is the hand-written
equivalent: sync receivers in one ``sync_to_async`` call, async receivers run
concurrently with ``asyncio.gather``.
"""

from __future__ import annotations

import pytest
from _contenders import (
    DJANGO_API_ONLY,
    SENDER,
    Contender,
    check_responses,
    in_group,
    make_coroutine_receivers,
    make_function_receivers,
)

N = 10


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("contender", DJANGO_API_ONLY, indirect=True)
def test_asend(benchmark, contender: Contender, loop, kind: str) -> None:
    order = 6000 if kind == "sync" else 7000
    in_group(benchmark, contender, order + N, f"asend, {N} {kind} receivers", DJANGO_API_ONLY)
    make = make_function_receivers if kind == "sync" else make_coroutine_receivers
    receivers = make(N)
    signal = contender.make()
    if contender.key == "floor":
        signal[:] = receivers
    else:
        for r in receivers:
            contender.connect(signal, r)
        assert contender.count(signal) == N

    run = loop.run_until_complete
    asend = contender.asend

    def one_asend():
        return run(asend(signal, SENDER))

    result = benchmark(one_asend)
    check_responses(result, N)
