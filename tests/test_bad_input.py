"""Rejected input: the right error, and the signal is left exactly as it was."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import fastdispatch

from .helpers import SlotsCallable, returning

CALLABLE_MSG = "Signal receivers must be callable."
KWARGS_MSG = "Signal receivers must accept keyword arguments (**kwargs)."


@pytest.fixture(autouse=True)
def default_receiver_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Start and end each test with the default (None) and no django.conf."""
    monkeypatch.delitem(sys.modules, "django.conf", raising=False)
    fastdispatch.set_receiver_checks(None)
    try:
        yield
    finally:
        fastdispatch.set_receiver_checks(None)


def fake_django_conf(monkeypatch: pytest.MonkeyPatch, *, configured: bool, debug: bool) -> None:
    conf = types.ModuleType("django.conf")
    conf.settings = types.SimpleNamespace(configured=configured, DEBUG=debug)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "django.conf", conf)


class NoKwargs:
    def method(self, sender: object) -> None:
        pass

    def __call__(self, sender: object) -> None:
        pass


def no_kwargs(sender: object) -> None:
    pass


def make_signal_with_receiver(impl: ModuleType) -> tuple[Any, Any]:
    sig = impl.Signal()

    existing = returning("existing")

    sig.connect(existing)
    return sig, existing


def assert_unchanged(sig: Any, before: list[Any], existing: Any) -> None:
    assert sig.receivers == before
    assert sig.send(None) == [(existing, "existing")]
    assert sig.send_robust(None) == [(existing, "existing")]


# -- non-callable receivers ------------------------------------------------------------


@pytest.mark.parametrize("checks", [None, False, True])
@pytest.mark.parametrize("weak", [True, False])
def test_non_callable_receiver_is_always_rejected(impl: ModuleType, checks: bool | None, weak: bool) -> None:
    fastdispatch.set_receiver_checks(checks)
    sig, existing = make_signal_with_receiver(impl)
    before = sig.receivers
    for not_callable in (object(), type("Plain", (), {})(), "text", 42):
        with pytest.raises(TypeError, match=re.escape(CALLABLE_MSG)):
            sig.connect(not_callable, weak=weak)
        assert_unchanged(sig, before, existing)


def test_non_callable_receiver_is_rejected_with_a_sender_and_uid(impl: ModuleType) -> None:
    sig, existing = make_signal_with_receiver(impl)
    before = sig.receivers
    with pytest.raises(TypeError, match=re.escape(CALLABLE_MSG)):
        sig.connect(object(), sender=object(), dispatch_uid="uid")
    assert_unchanged(sig, before, existing)


# -- receivers without **kwargs ------------------------------------------------------------


@pytest.mark.parametrize(
    "make_receiver",
    [
        pytest.param(lambda: no_kwargs, id="function"),
        pytest.param(lambda: NoKwargs().method, id="bound-method"),
        pytest.param(lambda: NoKwargs(), id="callable-instance"),
        pytest.param(lambda: (lambda sender: None), id="lambda"),
    ],
)
def test_receiver_without_kwargs_rejected_when_checks_on(impl: ModuleType, make_receiver: Any) -> None:
    fastdispatch.set_receiver_checks(True)
    assert fastdispatch.receiver_checks_enabled() is True
    sig, existing = make_signal_with_receiver(impl)
    before = sig.receivers
    receiver = make_receiver()
    with pytest.raises(ValueError, match=re.escape(KWARGS_MSG)):
        sig.connect(receiver, weak=False)
    assert_unchanged(sig, before, existing)


def test_receiver_without_kwargs_rejected_by_receiver_decorator(impl: ModuleType) -> None:
    fastdispatch.set_receiver_checks(True)
    sig, existing = make_signal_with_receiver(impl)
    before = sig.receivers
    with pytest.raises(ValueError, match=re.escape(KWARGS_MSG)):
        impl.receiver(sig)(no_kwargs)
    assert_unchanged(sig, before, existing)


def test_receiver_with_kwargs_accepted_when_checks_on(impl: ModuleType) -> None:
    fastdispatch.set_receiver_checks(True)
    sig = impl.Signal()

    class WithKwargs:
        def method(self, sender: object, **kwargs: Any) -> str:
            return "method"

        def __call__(self, **kwargs: Any) -> str:
            return "instance"

    def function(sender: object, *args: Any, **kwargs: Any) -> str:
        return "function"

    obj = WithKwargs()
    sig.connect(function)
    sig.connect(obj.method)
    sig.connect(obj)
    assert sig.send(None) == [(function, "function"), (obj.method, "method"), (obj, "instance")]


def test_receiver_without_kwargs_rejected_under_django_debug(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_django_conf(monkeypatch, configured=True, debug=True)
    assert fastdispatch.receiver_checks_enabled() is True
    sig, existing = make_signal_with_receiver(impl)
    before = sig.receivers
    with pytest.raises(ValueError, match=re.escape(KWARGS_MSG)):
        sig.connect(no_kwargs)
    assert_unchanged(sig, before, existing)


@pytest.mark.parametrize(("configured", "debug"), [(True, False), (False, True), (False, False)])
def test_receiver_without_kwargs_accepted_without_django_debug(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch, configured: bool, debug: bool
) -> None:
    fake_django_conf(monkeypatch, configured=configured, debug=debug)
    assert fastdispatch.receiver_checks_enabled() is False
    sig = impl.Signal()
    sig.connect(no_kwargs)
    assert len(sig.receivers) == 1


def test_explicit_false_wins_over_django_debug(impl: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_django_conf(monkeypatch, configured=True, debug=True)
    fastdispatch.set_receiver_checks(False)
    assert fastdispatch.receiver_checks_enabled() is False
    sig = impl.Signal()
    sig.connect(no_kwargs)
    assert len(sig.receivers) == 1


@pytest.mark.parametrize("checks", [None, False])
def test_receiver_without_kwargs_accepted_when_checks_off(impl: ModuleType, checks: bool | None) -> None:
    fastdispatch.set_receiver_checks(checks)
    assert "django.conf" not in sys.modules
    assert fastdispatch.receiver_checks_enabled() is False
    sig = impl.Signal()
    sig.connect(no_kwargs)
    assert sig.has_listeners() is True
    # The receiver itself then fails when called, as any wrong call would.
    with pytest.raises(TypeError):
        sig.send(None)


def test_set_receiver_checks_rejects_non_bool(impl: ModuleType) -> None:
    fastdispatch.set_receiver_checks(True)
    with pytest.raises(TypeError):
        fastdispatch.set_receiver_checks("yes")  # type: ignore[arg-type]
    assert fastdispatch.receiver_checks_enabled() is True


# -- weak=True with a receiver that has no weak references ---------------------------


def test_weak_connect_of_non_weakrefable_callable_mentions_weak_false(impl: ModuleType) -> None:
    sig, existing = make_signal_with_receiver(impl)
    before = sig.receivers
    with pytest.raises(TypeError, match="weak=False"):
        sig.connect(SlotsCallable())
    assert_unchanged(sig, before, existing)


def test_weak_connect_of_method_of_non_weakrefable_instance_mentions_weak_false(
    impl: ModuleType,
) -> None:
    class Slotted:
        __slots__ = ()

        def method(self, **kwargs: Any) -> str:
            return "method"

    sig, existing = make_signal_with_receiver(impl)
    before = sig.receivers
    obj = Slotted()
    with pytest.raises(TypeError, match="weak=False"):
        sig.connect(obj.method)
    assert_unchanged(sig, before, existing)
    sig.connect(obj.method, weak=False)
    assert sig.send(None) == [(existing, "existing"), (obj.method, "method")]


def test_non_weakrefable_callable_works_with_weak_false(impl: ModuleType) -> None:
    sig = impl.Signal()
    instance = SlotsCallable()
    sig.connect(instance, weak=False)
    assert sig.send(None) == [(instance, "slots")]
    assert sig.disconnect(instance) is True


# -- unhashable dispatch_uid --------------------------------------------------------------


def test_unhashable_dispatch_uid_in_connect(impl: ModuleType) -> None:
    sig, existing = make_signal_with_receiver(impl)
    before = sig.receivers

    other = returning(None)

    with pytest.raises(TypeError, match="dispatch_uid"):
        sig.connect(other, dispatch_uid=["not", "hashable"])
    assert_unchanged(sig, before, existing)


def test_unhashable_dispatch_uid_in_disconnect(impl: ModuleType) -> None:
    sig, existing = make_signal_with_receiver(impl)
    before = sig.receivers
    with pytest.raises(TypeError, match="dispatch_uid"):
        sig.disconnect(dispatch_uid={"not": "hashable"})
    with pytest.raises(TypeError, match="dispatch_uid"):
        sig.disconnect(existing, dispatch_uid=["x"])
    assert_unchanged(sig, before, existing)


# -- assigning garbage to signal.receivers -----------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(5, id="int"),
        pytest.param([1, 2], id="list-of-ints"),
        pytest.param(None, id="None"),
        pytest.param("ab", id="str"),
        pytest.param([("key", None, None)], id="short-tuple"),
        pytest.param([([], None, None, False)], id="unhashable-key"),
    ],
)
@pytest.mark.parametrize("use_caching", [False, True])
def test_assigning_garbage_to_receivers(impl: ModuleType, garbage: Any, use_caching: bool) -> None:
    sig = impl.Signal(use_caching=use_caching)

    existing = returning("existing")

    sig.connect(existing)
    sig.send(None)
    before = sig.receivers
    with pytest.raises(TypeError):
        sig.receivers = garbage
    assert_unchanged(sig, before, existing)


# -- a named argument that clashes with signal= --------------------------------------------


def test_send_with_a_named_argument_called_signal(impl: ModuleType) -> None:
    # Django calls receiver(signal=self, sender=sender, **named): a duplicate
    # keyword is a TypeError, never a silent override.
    sig = impl.Signal()
    seen: list[object] = []

    def on_event(**kwargs: Any) -> None:
        seen.append(kwargs["signal"])

    sig.connect(on_event)
    with pytest.raises(TypeError):
        sig.send(None, signal="clash")
    assert seen == []
    [(receiver, response)] = sig.send_robust(None, signal="clash")
    assert receiver is on_event
    assert isinstance(response, TypeError)
    assert seen == []
