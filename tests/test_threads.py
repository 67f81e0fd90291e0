"""Sends running while other threads connect and disconnect."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from .helpers import CallableHandler, Model, returning, switch_interval


@pytest.fixture
def fast_switching() -> Iterator[None]:
    with switch_interval(1e-6):
        yield


def run_threads(targets: list[Callable[[], None]]) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as error:
                errors.append(error)

        return run

    threads = [threading.Thread(target=guarded(t)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()
    return errors


@pytest.mark.parametrize("use_caching", [False, True])
def test_send_during_concurrent_connect_and_disconnect(
    impl: ModuleType, use_caching: bool, fast_switching: None
) -> None:
    sig = impl.Signal(use_caching=use_caching)

    stable = returning("stable")

    sig.connect(stable)

    def churn() -> None:
        receivers = [CallableHandler("counter") for _ in range(5)]
        for _ in range(200):
            for r in receivers:
                sig.connect(r, sender=Model)
            for r in receivers:
                assert sig.disconnect(r, sender=Model) is True

    def send() -> None:
        for _ in range(500):
            responses = sig.send(Model)
            assert responses[0] == (stable, "stable")
            assert all(response in ("stable", "counter") for _, response in responses)
            assert len(responses) <= 11

    errors = run_threads([churn, churn, send, send])
    assert errors == []
    assert sig.send(Model) == [(stable, "stable")]
    assert len(sig.receivers) == 1
