"""Connecting and disconnecting many receivers, and memory per receiver.

- connect 1,000 / 10,000 distinct weak function receivers to a fresh signal,
  then disconnect them all. Pedantic mode: each round gets a new signal
  (setup, not timed); 3 rounds, but 1 for django.dispatch at 10,000 (its
  connect scans every connected receiver, so 10,000 connects take seconds).
  The floor is a dict of weak references keyed by ``id``. With
  ``--benchmark-disable`` django.dispatch connects only 1,000 in both groups.
- memory: bytes that connecting 1,000 weak function receivers (and one send,
  which may build snapshots or caches) keeps allocated, per receiver, measured
  with tracemalloc. Not a timing: the value is stored in
  ``extra_info["bytes_per_receiver"]`` and ``report.py`` reports it.
"""

from __future__ import annotations

import pytest
from _contenders import ALL, Contender, in_group, make_function_receivers

MEMORY_RECEIVERS = 1000


@pytest.mark.parametrize("n", [1_000, 10_000])
@pytest.mark.parametrize("contender", ALL, indirect=True)
def test_connect_disconnect(benchmark, contender: Contender, n: int) -> None:
    in_group(benchmark, contender, 8000 + n // 1000, f"connect + disconnect {n:,} receivers", ALL)
    rounds = 1 if contender.key == "django" and n >= 10_000 else 3
    if benchmark.disabled and contender.key == "django":
        # --benchmark-disable (CI) runs each body once only to keep it working;
        # django.dispatch's quadratic connect would spend 5-10 s on 10,000.
        n = min(n, 1_000)
    receivers = make_function_receivers(n)

    def setup():
        return (contender.make(), receivers), {}

    connected, left = benchmark.pedantic(
        contender.connect_disconnect, setup=setup, rounds=rounds, iterations=1
    )
    assert (connected, left) == (n, 0)


@pytest.mark.parametrize("contender", ALL, indirect=True)
def test_memory_per_receiver(benchmark, contender: Contender) -> None:
    in_group(
        benchmark, contender, 9000,
        f"memory per connected weak receiver ({MEMORY_RECEIVERS:,} receivers)", ALL,
    )
    benchmark.extra_info["metric"] = "memory"
    receivers = make_function_receivers(MEMORY_RECEIVERS)
    per_receiver = benchmark.pedantic(
        contender.memory_per_receiver, args=(receivers,), rounds=1, iterations=1
    )
    benchmark.extra_info["bytes_per_receiver"] = per_receiver
    # A weak reference alone is 64+ bytes; a lot more means a leak.
    assert 32 <= per_receiver <= 4096, per_receiver
