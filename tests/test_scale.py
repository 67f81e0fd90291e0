"""Many receivers, and no memory growth from connect/disconnect cycles."""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from .helpers import Handler, Model, returning

N = 10_000
MAX_GROWTH = 64 * 1024  # bytes


class Numbered:
    """A distinct callable object per number (no weak references: weak=False)."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, **kwargs: Any) -> int:
        return self.n


@pytest.mark.parametrize("use_caching", [False, True])
def test_ten_thousand_receivers(impl: ModuleType, use_caching: bool) -> None:
    sig = impl.Signal(use_caching=use_caching)
    receivers = [Numbered(n) for n in range(N)]
    for r in receivers:
        sig.connect(r, weak=False)
    assert len(sig.receivers) == N
    responses = sig.send(Model)
    assert [response for _, response in responses] == list(range(N))
    assert all(got is r for (got, _), r in zip(responses, receivers))
    assert all(sig.disconnect(r) is True for r in receivers)
    assert sig.receivers == []
    assert sig.send(Model) == []


def test_ten_thousand_senders_each_with_a_receiver(impl: ModuleType) -> None:
    sig = impl.Signal(use_caching=True)
    senders = [Model() for _ in range(N // 10)]

    def on_event(sender: object, **kwargs: Any) -> object:
        return sender

    for sender in senders:
        sig.connect(on_event, sender=sender)
    assert all(sig.send(s) == [(on_event, s)] for s in senders)
    del senders, sender
    gc.collect()
    assert sig.has_listeners() is False
    assert sig.receivers == []


def traced_growth(cycle: Callable[[], None], iterations: int = N) -> int:
    """Memory still allocated after running ``cycle`` many times (after a warm-up)."""
    for _ in range(200):
        cycle()
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(iterations):
            cycle()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("use_caching", [False, True])
def test_connect_disconnect_same_function_does_not_grow_memory(impl: ModuleType, use_caching: bool) -> None:
    sig = impl.Signal(use_caching=use_caching)

    on_event = returning(None)

    def cycle() -> None:
        sig.connect(on_event)
        sig.send(Model)
        assert sig.disconnect(on_event) is True

    assert traced_growth(cycle) < MAX_GROWTH
    assert sig.receivers == []


@pytest.mark.parametrize("use_caching", [False, True])
def test_connect_disconnect_fresh_receivers_does_not_grow_memory(impl: ModuleType, use_caching: bool) -> None:
    sig = impl.Signal(use_caching=use_caching)

    def cycle() -> None:
        handler = Handler()
        sender = Model()

        on_event = returning(None)

        sig.connect(on_event)
        sig.connect(handler.method, sender=sender)
        sig.send(sender)
        assert sig.disconnect(on_event) is True
        assert sig.disconnect(handler.method, sender=sender) is True

    assert traced_growth(cycle, iterations=N // 4) < MAX_GROWTH
    assert sig.receivers == []


def test_weak_receivers_dying_without_disconnect_does_not_grow_memory(impl: ModuleType) -> None:
    sig = impl.Signal(use_caching=True)

    keeper = returning(None)

    sig.connect(keeper)

    def cycle() -> None:
        handler = Handler()
        sender = Model()
        sig.connect(handler.method)
        sig.connect(lambda **kwargs: None)  # dies at once
        sig.send(sender)

    assert traced_growth(cycle, iterations=N // 4) < MAX_GROWTH
    assert sig.has_listeners() is True
    assert len(sig.receivers) == 1


@pytest.mark.parametrize("use_caching", [False, True])
def test_disconnected_strong_receiver_is_freed(impl: ModuleType, use_caching: bool) -> None:
    sig = impl.Signal(use_caching=use_caching)

    on_event = returning("x")
    ref = weakref.ref(on_event)
    sig.connect(on_event, weak=False)
    sig.connect(on_event, sender=Model, weak=False)
    sig.send(Model)
    assert sig.disconnect(on_event) is True
    assert sig.disconnect(on_event, sender=Model) is True
    del on_event
    gc.collect()
    assert ref() is None


def test_disconnected_bound_method_instance_is_freed(impl: ModuleType) -> None:
    sig = impl.Signal(use_caching=True)
    handler = Handler()
    ref = weakref.ref(handler)
    sig.connect(handler.method, weak=False)
    sig.send(Model)
    assert sig.disconnect(handler.method) is True
    del handler
    gc.collect()
    assert ref() is None
