"""``fastdispatch.muted``: muting scoped to the current thread or task."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from fastdispatch import _hooks, muted


@pytest.fixture(autouse=True)
def nothing_left_muted() -> Iterator[None]:
    yield
    assert _hooks.MUTED.get() == ()
    assert not _hooks.active, "a test left a muted() block on"


def first(sender: object, **kwargs: Any) -> str:
    return "first"


def second(sender: object, **kwargs: Any) -> str:
    return "second"


async def async_one(sender: object, **kwargs: Any) -> str:
    return "async"


def connected(impl: ModuleType, *receivers: Any, **kwargs: Any) -> Any:
    sig = impl.Signal(**kwargs)
    for receiver in receivers:
        sig.connect(receiver)
    return sig


@pytest.mark.parametrize("use_caching", [False, True])
def test_a_muted_signal_calls_nobody_and_comes_back(
    impl: ModuleType, use_caching: bool
) -> None:
    sig = connected(impl, first, async_one, use_caching=use_caching)
    everyone = [(first, "first"), (async_one, "async")]
    assert sig.send(object) == everyone
    cache_before = dict(sig.sender_receivers_cache)
    receivers_before = sig.receivers
    with muted(sig) as block:
        assert isinstance(block, muted)
        assert sig.send(object) == []
        assert sig.send_robust(object) == []
        assert sig.send_then_raise(object) == []
        assert asyncio.run(sig.asend(object)) == []
        assert asyncio.run(sig.asend_robust(object)) == []
        assert not sig.has_listeners(object)
        # Nothing about the signal changed.
        assert sig.receivers == receivers_before
        assert dict(sig.sender_receivers_cache) == cache_before
    assert sig.send(object) == everyone
    assert sig.has_listeners(object)


def test_several_signals(impl: ModuleType) -> None:
    a, b, c = (connected(impl, first) for _ in range(3))
    with muted(a, b):
        assert a.send(None) == [] and b.send(None) == []
        assert c.send(None) == [(first, "first")]
    assert a.send(None) == [(first, "first")]


def test_chosen_receivers_by_receiver_or_dispatch_uid(impl: ModuleType) -> None:
    sig = connected(impl, first)
    sig.connect(second, dispatch_uid="second-uid")
    sig.connect(async_one)
    with muted(sig, receivers=[first]):
        assert sig.send(None) == [(second, "second"), (async_one, "async")]
    with muted(sig, receivers=["second-uid", async_one]):
        assert sig.send(None) == [(first, "first")]
    with muted(sig, receivers=[second]):  # by the receiver, though it has a uid
        assert sig.send(None) == [(first, "first"), (async_one, "async")]
    with muted(sig, receivers=first):  # a single receiver
        assert [r for r, _ in sig.send(None)] == [second, async_one]


def test_blocks_nest_and_restore_exactly(impl: ModuleType) -> None:
    sig = connected(impl, first, second)
    with muted(sig, receivers=[first]):
        with muted(sig, receivers=[second]):
            assert sig.send(None) == []
            with muted(sig):
                assert sig.send(None) == []
            assert sig.send(None) == []
        assert sig.send(None) == [(second, "second")]
    assert sig.send(None) == [(first, "first"), (second, "second")]


def test_as_a_decorator_of_sync_and_async_functions(impl: ModuleType) -> None:
    sig = connected(impl, first)

    @muted(sig)
    def quiet() -> Any:
        return sig.send(None)

    @muted(sig)
    async def quiet_async() -> Any:
        return await sig.asend(None)

    assert quiet() == [] and asyncio.run(quiet_async()) == []
    assert quiet.__name__ == "quiet"
    assert sig.send(None) == [(first, "first")]


def test_other_threads_keep_receiving(impl: ModuleType) -> None:
    sig = connected(impl, first)
    entered, checked = threading.Event(), threading.Event()
    elsewhere: list[Any] = []

    def other_thread() -> None:
        entered.wait(5)
        elsewhere.append(sig.send(None))
        checked.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with muted(sig):
        entered.set()
        assert checked.wait(5)
        assert sig.send(None) == []
    thread.join(5)
    assert elsewhere == [[(first, "first")]]


def test_other_tasks_keep_receiving(impl: ModuleType) -> None:
    sig = connected(impl, first)

    async def main() -> list[Any]:
        inside = asyncio.Event()
        release = asyncio.Event()

        async def muted_task() -> Any:
            with muted(sig):
                inside.set()
                await release.wait()
                return await sig.asend(None)

        async def other_task() -> Any:
            await inside.wait()
            try:
                return await sig.asend(None)
            finally:
                release.set()

        return await asyncio.gather(muted_task(), other_task())

    assert asyncio.run(main()) == [[], [(first, "first")]]


def test_factory_boy_mute_signals_alone_and_mixed(impl: ModuleType) -> None:
    from factory.django import mute_signals

    sig = connected(impl, first, second)
    with mute_signals(sig):
        assert sig.send(None) == []
    assert sig.send(None) == [(first, "first"), (second, "second")]
    with muted(sig, receivers=[first]):
        with mute_signals(sig):
            assert sig.send(None) == []
        assert sig.send(None) == [(second, "second")]
    with mute_signals(sig):
        with muted(sig):
            assert sig.send(None) == []
        assert sig.send(None) == []
    assert sig.send(None) == [(first, "first"), (second, "second")]


def test_bad_input_is_refused_and_changes_nothing(impl: ModuleType) -> None:
    sig = connected(impl, first)
    with pytest.raises(TypeError, match=r"at least one signal"):
        muted()
    with pytest.raises(TypeError, match=r"takes fastdispatch signals, not 'post_save'"):
        muted("post_save")
    with pytest.raises(TypeError, match="exactly one signal"):
        muted(sig, connected(impl), receivers=[first])
    with pytest.raises(TypeError, match="at least one receiver"):
        muted(sig, receivers=[])
    block = muted(sig, receivers=[second])
    with pytest.raises(ValueError, match=r"is not connected to .*so it cannot be muted"):
        with block:
            pass  # pragma: no cover
    with pytest.raises(ValueError, match="is not connected"):
        with muted(sig, receivers=["no-such-uid"]):
            pass  # pragma: no cover
    with pytest.raises(ValueError, match="is not connected"):
        with muted(sig, receivers=[["unhashable"]]):
            pass  # pragma: no cover
    assert sig.send(None) == [(first, "first")]
    assert sig.receivers and len(sig.receivers) == 1


def test_a_task_made_inside_a_block_is_muted_only_while_it_lasts(impl: ModuleType) -> None:
    # Whether or not another block is active elsewhere (which keeps the
    # hooked send path on), the outcome is the same.
    sig, other = connected(impl, first), connected(impl, second)

    async def main(keep_hooks_on: bool) -> list[Any]:
        release = asyncio.Event()
        seen: list[Any] = []

        async def later() -> None:
            seen.append(await sig.asend(None))  # inside the block: muted
            await release.wait()
            seen.append(await sig.asend(None))  # after it: not

        with muted(sig):
            task = asyncio.create_task(later())
            await asyncio.sleep(0)
        blocks = [muted(other)] if keep_hooks_on else []
        for block in blocks:
            block.__enter__()
        try:
            release.set()
            await task
        finally:
            for block in blocks:
                block.__exit__(None, None, None)
        return seen

    for keep_hooks_on in (False, True):
        assert asyncio.run(main(keep_hooks_on)) == [[], [(first, "first")]], keep_hooks_on
