"""Tracing hooks (fastdispatch.tracing), on both implementations."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from fastdispatch import _hooks, _info, tracing

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

# Not run in several threads at once (pytest-run-parallel): installs the process-wide tracer.
pytestmark = pytest.mark.thread_unsafe(reason="installs the process-wide tracer")


class Recorder(tracing.Tracer):
    """Records every hook call as a tuple."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def send_started(self, send: tracing.SendTrace) -> None:
        self.events.append(("send_started", send.kind, send.sender, dict(send.named)))

    def send_ended(self, send: tracing.SendTrace) -> None:
        assert isinstance(send.elapsed_ns, int) and send.elapsed_ns >= 0
        self.events.append(("send_ended", send.kind, send.responses, send.error))

    def receiver_started(self, call: tracing.ReceiverCall) -> None:
        self.events.append(("receiver_started", call.info.name))

    def receiver_ended(self, call: tracing.ReceiverCall) -> None:
        assert isinstance(call.elapsed_ns, int) and call.elapsed_ns >= 0
        self.events.append(("receiver_ended", call.info.name, call.result, call.error))


@pytest.fixture(autouse=True)
def no_tracer_left() -> Iterator[None]:
    yield
    tracing.set_tracer(None)
    assert not _hooks.active, "a test left a hook on"


def first(sender: object, **kwargs: Any) -> str:
    return "first"


def second(sender: object, value: int = 0, **kwargs: Any) -> int:
    return value * 2


def failing(sender: object, **kwargs: Any) -> None:
    raise ValueError("failing failed")


async def async_one(sender: object, **kwargs: Any) -> str:
    await asyncio.sleep(0)
    return "async"


NAME = f"{__name__}."


class Sender:
    pass


def test_a_send_reports_each_receiver_in_order(impl: ModuleType) -> None:
    sig = impl.Signal()
    sig.connect(first)
    sig.connect(second)
    recorder = Recorder()
    tracing.set_tracer(recorder)
    responses = sig.send(Sender, value=21)
    assert responses == [(first, "first"), (second, 42)]
    assert recorder.events == [
        ("send_started", "send", Sender, {"value": 21}),
        ("receiver_started", NAME + "first"),
        ("receiver_ended", NAME + "first", "first", None),
        ("receiver_started", NAME + "second"),
        ("receiver_ended", NAME + "second", 42, None),
        ("send_ended", "send", responses, None),
    ]


def test_the_receiver_info_is_computed_at_connect(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    described: list[object] = []
    original = _info.describe_receiver

    def counting(receiver: object) -> Any:
        described.append(receiver)
        return original(receiver)

    monkeypatch.setattr(_info, "describe_receiver", counting)
    sig = impl.Signal()
    sig.connect(first, sender=Sender, dispatch_uid="the-uid")
    infos: list[_info.ReceiverInfo] = []

    class Infos(tracing.Tracer):
        def receiver_started(self, call: tracing.ReceiverCall) -> None:
            infos.append(call.info)

    tracing.set_tracer(Infos())
    for _ in range(50):
        sig.send(Sender)
    assert described == [first]  # once, at connect
    assert infos[0] == _info.ReceiverInfo(
        NAME + "first", __name__, "the-uid", f"{NAME}Sender", False, True
    )
    assert all(info is infos[0] for info in infos)


def test_an_exception_ends_the_send_and_is_reported(impl: ModuleType) -> None:
    sig = impl.Signal()
    sig.connect(failing)
    sig.connect(first)
    recorder = Recorder()
    tracing.set_tracer(recorder)
    with pytest.raises(ValueError, match="failing failed") as raised:
        sig.send(None)
    assert recorder.events == [
        ("send_started", "send", None, {}),
        ("receiver_started", NAME + "failing"),
        ("receiver_ended", NAME + "failing", None, raised.value),
        ("send_ended", "send", None, raised.value),
    ]


def test_send_robust_is_traced_and_still_logs(
    impl: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    sig = impl.Signal()
    sig.connect(failing)
    sig.connect(first)
    recorder = Recorder()
    tracing.set_tracer(recorder)
    with caplog.at_level(logging.ERROR):
        responses = sig.send_robust(None)
    error = responses[0][1]
    assert isinstance(error, ValueError) and responses[1] == (first, "first")
    assert recorder.events[2] == ("receiver_ended", NAME + "failing", None, error)
    assert recorder.events[-1] == ("send_ended", "send_robust", responses, None)
    assert "Error calling failing in Signal.send_robust()" in caplog.text


def test_a_signal_tracer_and_the_global_one_are_both_told(impl: ModuleType) -> None:
    traced, other = impl.Signal(), impl.Signal()
    traced.connect(first)
    other.connect(first)
    mine, everyone = Recorder(), Recorder()
    order: list[str] = []

    class Named(tracing.Tracer):
        def __init__(self, name: str) -> None:
            self.name = name

        def send_started(self, send: tracing.SendTrace) -> None:
            order.append(self.name)

    assert tracing.set_tracer(mine, signal=traced) is None
    assert tracing.get_tracer(signal=traced) is mine
    other.send(None)
    assert mine.events == []
    traced.send(None)
    assert [e[0] for e in mine.events] == [
        "send_started",
        "receiver_started",
        "receiver_ended",
        "send_ended",
    ]
    tracing.set_tracer(everyone)
    other.send(None)
    assert len(everyone.events) == 4 and len(mine.events) == 4
    tracing.set_tracer(Named("global"))
    tracing.set_tracer(Named("signal"), signal=traced)
    traced.send(None)
    assert order == ["global", "signal"]
    tracing.set_tracer(None, signal=traced)
    assert tracing.get_tracer(signal=traced) is None


def test_sends_that_reach_no_receiver_are_not_traced(impl: ModuleType) -> None:
    empty, cached = impl.Signal(), impl.Signal(use_caching=True)
    cached.connect(first, sender=Sender)
    recorder = Recorder()
    tracing.set_tracer(recorder)
    assert empty.send(None) == []
    assert cached.send(object) == []  # a sender nobody listens to
    assert cached.send(object) == []  # now known to the cache
    assert recorder.events == []
    assert cached.send(Sender) == [(first, "first")]
    assert recorder.events[0][0] == "send_started"


def test_async_sends_and_async_receivers_are_traced(impl: ModuleType) -> None:
    sig = impl.Signal()
    sig.connect(first)
    sig.connect(async_one)
    recorder = Recorder()
    tracing.set_tracer(recorder)
    expected_names = [NAME + "first", NAME + "async_one"]
    for kind, run in [
        ("send", lambda: sig.send(None)),
        ("send_robust", lambda: sig.send_robust(None)),
        ("asend", lambda: asyncio.run(sig.asend(None))),
        ("asend_robust", lambda: asyncio.run(sig.asend_robust(None))),
    ]:
        recorder.events.clear()
        assert run() == [(first, "first"), (async_one, "async")]
        assert recorder.events[0][:2] == ("send_started", kind)
        assert [e[1] for e in recorder.events if e[0] == "receiver_ended"] == expected_names
        assert recorder.events[-1][:2] == ("send_ended", kind)


CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="none")


class SetsCurrent(tracing.Tracer):
    """Makes the receiver's name current while its code runs (as an
    OpenTelemetry tracer makes its span current)."""

    def __init__(self) -> None:
        self.entered = 0

    def receiver_context(self, call: tracing.ReceiverCall) -> Any:
        self.entered += 1

        @contextlib.contextmanager
        def current() -> Iterator[None]:
            token = CURRENT.set(call.info.name)
            try:
                yield
            finally:
                CURRENT.reset(token)

        return current()


seen_by_receivers: list[tuple[str, str]] = []


def sync_sees(sender: object, **kwargs: Any) -> None:
    seen_by_receivers.append(("sync_sees", CURRENT.get()))


async def async_a(sender: object, **kwargs: Any) -> None:
    for _ in range(3):
        seen_by_receivers.append(("async_a", CURRENT.get()))
        await asyncio.sleep(0)


async def async_b(sender: object, **kwargs: Any) -> None:
    for _ in range(3):
        seen_by_receivers.append(("async_b", CURRENT.get()))
        await asyncio.sleep(0)


def test_the_receiver_context_covers_only_that_receiver(impl: ModuleType) -> None:
    sig = impl.Signal()
    for receiver in (sync_sees, async_a, async_b):
        sig.connect(receiver)
    tracer = SetsCurrent()
    tracing.set_tracer(tracer)
    seen_by_receivers.clear()
    asyncio.run(sig.asend(None))
    # The two async receivers interleave in one shared context, yet each
    # sees only its own value, at every step.
    assert sorted(set(seen_by_receivers)) == [
        ("async_a", NAME + "async_a"),
        ("async_b", NAME + "async_b"),
        ("sync_sees", NAME + "sync_sees"),
    ]
    assert [name for name, _ in seen_by_receivers][1:3] == ["async_a", "async_b"]
    assert tracer.entered >= 1 + 2 * 4  # once for sync, per step for async
    assert CURRENT.get() == "none"


def test_a_failing_tracer_never_breaks_a_send(
    impl: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(tracing.Tracer):
        def receiver_started(self, call: tracing.ReceiverCall) -> None:
            raise RuntimeError("tracer bug")

    sig = impl.Signal()
    sig.connect(first)
    tracing.set_tracer(Broken())
    with caplog.at_level(logging.ERROR, logger="fastdispatch.tracing"):
        assert sig.send(None) == [(first, "first")]
    assert "Tracer hook" in caplog.text and "tracer bug" in caplog.text


def test_an_overridden_live_receivers_is_traced_through(impl: ModuleType) -> None:
    # sentry-sdk wraps every receiver this way: its wrappers must run.
    import functools

    wrapped_calls: list[str] = []

    class Patched(impl.Signal):  # type: ignore[name-defined,misc]
        def _live_receivers(self, sender: object) -> Any:
            sync_receivers, async_receivers = super()._live_receivers(sender)

            def wrap(receiver: Any) -> Any:
                @functools.wraps(receiver)
                def wrapper(*args: Any, **kwargs: Any) -> Any:
                    wrapped_calls.append(receiver.__name__)
                    return receiver(*args, **kwargs)

                return wrapper

            return [wrap(r) for r in sync_receivers], async_receivers

    sig = Patched()
    sig.connect(first)
    recorder = Recorder()
    tracing.set_tracer(recorder)
    [(_, response)] = sig.send(None)
    assert response == "first" and wrapped_calls == ["first"]
    assert ("receiver_ended", NAME + "first", "first", None) in recorder.events


@pytest.mark.parametrize(
    "bad",
    [object(), 42, print, "tracer"],
    ids=["object", "int", "function", "str"],
)
def test_a_tracer_without_hooks_is_rejected_and_changes_nothing(
    impl: ModuleType, bad: object
) -> None:
    sig = impl.Signal()
    installed = Recorder()
    tracing.set_tracer(installed)
    with pytest.raises(TypeError, match=r"must be a fastdispatch\.tracing\.Tracer"):
        tracing.set_tracer(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"must be a fastdispatch\.tracing\.Tracer"):
        tracing.set_tracer(bad, signal=sig)  # type: ignore[arg-type]
    assert tracing.get_tracer() is installed
    assert tracing.get_tracer(signal=sig) is None


def test_set_tracer_for_something_that_is_not_a_signal() -> None:
    with pytest.raises(TypeError, match="takes a fastdispatch signal"):
        tracing.set_tracer(Recorder(), signal="post_save")
    assert not _hooks.active


def test_no_tracer_means_no_hook_flag(impl: ModuleType) -> None:
    from fastdispatch import _dispatcher_py

    previous = tracing.set_tracer(Recorder())
    assert previous is None and _hooks.active and _dispatcher_py._hooks_active
    tracing.set_tracer(None)
    assert not _hooks.active and not _dispatcher_py._hooks_active


def test_hooks_for_another_signal_leave_this_one_on_its_own_path(impl: ModuleType) -> None:
    """A tracer or a muted() block for one signal turns the hooks on, but a
    send of another signal takes its core's own path: the receiver is not
    called from the hooks' Python loop, and nothing is traced for it."""
    from fastdispatch import muted

    def hooks_frame_above() -> bool:
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == _hooks.__file__:
                return True
            frame = frame.f_back  # type: ignore[assignment]
        return False

    def where(sender: object, **kwargs: Any) -> bool:
        return hooks_frame_above()

    plain, traced, silenced = impl.Signal(), impl.Signal(), impl.Signal()
    for signal in (plain, traced, silenced):
        signal.connect(where)
    recorder = Recorder()
    tracing.set_tracer(recorder, signal=traced)
    try:
        with muted(silenced):
            assert _hooks.active
            assert plain.send(Sender) == [(where, False)]
            assert plain.send_robust(Sender) == [(where, False)]
            assert asyncio.run(plain.asend(Sender)) == [(where, False)]
            assert plain.has_listeners(Sender)
            assert silenced.send(Sender) == [] and not silenced.has_listeners(Sender)
            assert traced.send(Sender) == [(where, True)]
    finally:
        tracing.set_tracer(None, signal=traced)
    assert [event[0] for event in recorder.events] == [
        "send_started", "receiver_started", "receiver_ended", "send_ended"
    ]


def test_slow_receiver_log(impl: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    import time

    def slow(sender: object, **kwargs: Any) -> None:
        time.sleep(0.02)

    sig = impl.Signal()
    sig.connect(first)
    sig.connect(slow)
    tracing.set_tracer(tracing.SlowReceiverLog(threshold=0.01))
    with caplog.at_level(logging.WARNING, logger="fastdispatch.slow"):
        sig.send(Sender)
    [message] = [r.getMessage() for r in caplog.records if r.name == "fastdispatch.slow"]
    assert message.startswith(f"Slow receiver {NAME}test_slow_receiver_log.<locals>.slow: ")
    assert f"sender {NAME}Sender" in message
    with pytest.raises(TypeError, match="number of seconds"):
        tracing.SlowReceiverLog(threshold=-1)


def test_tracers_combine(impl: ModuleType) -> None:
    sig = impl.Signal()
    sig.connect(first)
    a, b = Recorder(), Recorder()
    tracing.set_tracer([a, b])
    sig.send(None)
    assert a.events == b.events and len(a.events) == 4


class KeepsData(tracing.Tracer):
    """Keeps its own state in ``data``, as a span-making tracer does."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[tuple[Any, Any]] = []

    def send_started(self, send: tracing.SendTrace) -> None:
        assert send.data is None
        send.data = f"{self.name}-send"

    def receiver_started(self, call: tracing.ReceiverCall) -> None:
        assert call.data is None
        call.data = f"{self.name}-{call.info.name}"

    def receiver_ended(self, call: tracing.ReceiverCall) -> None:
        self.seen.append((call.send.data, call.data))

    def send_ended(self, send: tracing.SendTrace) -> None:
        self.seen.append((send.data, None))


def test_combined_tracers_keep_their_own_data(impl: ModuleType) -> None:
    sig = impl.Signal()
    sig.connect(first)
    outer, own = KeepsData("global"), KeepsData("own")
    tracing.set_tracer(outer)
    tracing.set_tracer(own, signal=sig)
    try:
        sig.send(None)
    finally:
        tracing.set_tracer(None, signal=sig)
    assert outer.seen == [("global-send", f"global-{NAME}first"), ("global-send", None)]
    assert own.seen == [("own-send", f"own-{NAME}first"), ("own-send", None)]


def test_send_then_raise_reports_its_group_as_the_error(impl: ModuleType) -> None:
    sig = impl.Signal()
    sig.connect(failing)
    recorder = Recorder()
    tracing.set_tracer(recorder)
    with pytest.raises(BaseExceptionGroup) as raised:
        sig.send_then_raise(None)
    kind, responses, error = recorder.events[-1][1:]
    assert kind == "send_then_raise" and error is raised.value
    assert responses is not None and responses[0][0] is failing


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), True, "1", -1])
def test_slow_receiver_log_takes_a_finite_number(bad: object) -> None:
    with pytest.raises(TypeError, match="takes a finite number of seconds"):
        tracing.SlowReceiverLog(threshold=bad)  # type: ignore[arg-type]
