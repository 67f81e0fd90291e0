"""Bad input, in one table: what the user gets, and the signal's state after.

``ROWS`` is the table of the README section "Bad input": each row is one bad
input, what fastdispatch does with it (the error type and message, or what
it accepts instead), what django.dispatch does, and whether the signal is
left unchanged. Each row is a test, for both implementations, on an uncached
and a cached signal that already has receivers (one for any sender, one for a
model class, a strong one) and a populated cache. "Unchanged" means: the same
``receivers`` records, the same responses to ``send`` and ``send_robust`` from
``None`` and from the model class, and the same ``has_listeners`` answers. The
few rows that do change the signal (the input is accepted, or Django's
partial connect) say what changed; the test checks that change, undoes it,
and then the state must be the one before.

``markdown_table()`` renders the table; ``PYTHONPATH=src python -m
tests.test_bad_input_table`` prints it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

import fastdispatch
from fastdispatch import _hooks, tracing

from .helpers import Model, RaisingHash, SlotsCallable, Unhashable


class Slotted:
    __slots__ = ()

    def method(self, **kwargs: Any) -> str:
        return "method"


class CollidingEq:
    """Hashes like the string "uid" but cannot be compared."""

    def __hash__(self) -> int:
        return hash("uid")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq failed")


class RaisingFunc:
    """Callable whose ``__func__`` attribute raises (a broken proxy)."""

    def __call__(self, **kwargs: Any) -> str:
        return "proxy"

    @property
    def __func__(self) -> Any:
        raise RuntimeError("__func__ failed")


def no_kwargs(sender: object) -> str:
    return "no kwargs"


def other(**kwargs: Any) -> str:
    return "other"


def never_connected(**kwargs: Any) -> str:
    return "never"


@dataclass(frozen=True)
class Row:
    id: str
    bad_input: str  # the README's first column
    call: Callable[[Any, ModuleType], Any]
    # "raises" (with error and message), "returns" (with result) or "warns"
    outcome: str
    error: type[BaseException] | None = None
    message: str = ""  # a regular expression the message must match
    shown: str = ""  # what the user gets, as the README says it (markdown)
    result: Any = None
    django: str = ""  # what django.dispatch does (README column)
    checks: bool | None = None  # set_receiver_checks() for this row
    # For a row that changes the signal: what it changed (README column) and
    # how the test checks and undoes it (must return True), before comparing
    # the state with the one before the call.
    changed: str = ""
    undo: Callable[[Any], bool] | None = None


CALLABLE = "Signal receivers must be callable."
KWARGS = "Signal receivers must accept keyword arguments (**kwargs)."
WEAK = (
    "Cannot connect <...> weakly: '{name}' objects cannot be weakly referenced. "
    "Pass weak=False to keep a strong reference (and disconnect it yourself "
    "when it is no longer needed)."
)
UID = (
    "dispatch_uid must be hashable, but 'list' is not; pass a string such as "
    "'myapp.handlers.on_save'."
)


def _receiver_list(sig: Any, impl: ModuleType) -> Any:
    return impl.receiver([sig, "not a signal"])(other)


ROWS: list[Row] = [
    # -- receivers ----------------------------------------------------------------------
    Row(
        "non-callable",
        "non-callable receiver: `connect(object())`, `connect(None)`, `connect(42)`",
        lambda sig, impl: _each_raises([lambda x=x: sig.connect(x) for x in (object(), None, 42)]),
        "raises", TypeError, re.escape(CALLABLE), f"`TypeError: {CALLABLE}`",
        django="this error only when `settings.DEBUG` is on; otherwise "
        "`TypeError: cannot create weak reference to 'object' object` (`'NoneType'`, `'int'`)",
    ),
    Row(
        "non-callable-strong",
        "non-callable receiver with `weak=False`, a sender and a `dispatch_uid`",
        lambda sig, impl: sig.connect("text", sender=Model, weak=False, dispatch_uid="uid"),
        "raises", TypeError, re.escape(CALLABLE), f"`TypeError: {CALLABLE}`",
        django="accepted unless `settings.DEBUG` is on; every send for that sender then fails",
    ),
    Row(
        "no-kwargs-checks-on",
        "receiver without `**kwargs`, checks on (Django's `settings.DEBUG`, or `fastdispatch.set_receiver_checks(True)`)",
        lambda sig, impl: sig.connect(no_kwargs),
        "raises", ValueError, re.escape(KWARGS), f"`ValueError: {KWARGS}`",
        django="the same (when `settings.DEBUG` is on)",
        checks=True,
    ),
    Row(
        "no-kwargs-decorator",
        "the same through the `@receiver(signal)` decorator",
        lambda sig, impl: impl.receiver(sig)(no_kwargs),
        "raises", ValueError, re.escape(KWARGS), f"`ValueError: {KWARGS}`",
        django="the same (when `settings.DEBUG` is on)",
        checks=True,
    ),
    Row(
        "no-kwargs-checks-off",
        "receiver without `**kwargs`, checks off (the default outside `DEBUG`)",
        lambda sig, impl: (sig.connect(no_kwargs), sig.send(None)),
        "raises", TypeError, r"unexpected keyword argument 'signal'",
        "the connect succeeds; the send raises `TypeError: no_kwargs() got an unexpected keyword argument 'signal'`",
        django="the same",
        checks=False,
        changed="the receiver is connected (every send fails until it is disconnected)",
        undo=lambda sig: sig.disconnect(no_kwargs),
    ),
    Row(
        "not-weakrefable",
        "receiver without weak references with `weak=True` (an instance of a class with `__slots__`)",
        lambda sig, impl: sig.connect(SlotsCallable()),
        "raises", TypeError,
        r"Cannot connect .* weakly: 'SlotsCallable' objects cannot be weakly referenced\. Pass weak=False",
        f"`TypeError: {WEAK.format(name='SlotsCallable')}`",
        django="`TypeError: cannot create weak reference to 'SlotsCallable' object`",
    ),
    Row(
        "not-weakrefable-method",
        "bound method of an instance without weak references, `weak=True`",
        lambda sig, impl: sig.connect(Slotted().method),
        "raises", TypeError,
        r"Cannot connect .* weakly: 'method' objects cannot be weakly referenced\. Pass weak=False",
        f"`TypeError: {WEAK.format(name='method')}`",
        django="`TypeError: cannot create weak reference to 'Slotted' object`",
    ),
    Row(
        "raising-func",
        "receiver whose `__func__` attribute raises (a broken proxy object)",
        lambda sig, impl: sig.connect(RaisingFunc()),
        "raises", RuntimeError, r"__func__ failed",
        "the attribute's own exception (here `RuntimeError: __func__ failed`)",
        django="the same",
    ),
    # -- dispatch_uid ---------------------------------------------------------------------
    Row(
        "uid-unhashable-connect",
        "unhashable `dispatch_uid` in `connect`: `dispatch_uid=['a']`",
        lambda sig, impl: sig.connect(other, dispatch_uid=["a"]),
        "raises", TypeError, re.escape(UID), f"`TypeError: {UID}`",
        django="accepted (then compared with `==` by every connect)",
    ),
    Row(
        "uid-unhashable-disconnect",
        "unhashable `dispatch_uid` in `disconnect`: `dispatch_uid={'a': 1}`",
        lambda sig, impl: sig.disconnect(dispatch_uid={"a": 1}),
        "raises", TypeError, r"dispatch_uid must be hashable, but 'dict' is not",
        "`TypeError: " + UID.replace("'list'", "'dict'") + "`",
        django="returns `False`",
    ),
    Row(
        "uid-falsy-unhashable",
        "falsy unhashable `dispatch_uid` (`[]`, `{}`)",
        lambda sig, impl: (sig.connect(other, dispatch_uid=[]), sig.disconnect(other, dispatch_uid={})),
        "returns", result=(None, True),
        shown="accepted: like Django's `if dispatch_uid:`, it means no `dispatch_uid` (the receiver is keyed by itself)",
        django="the same",
    ),
    Row(
        "uid-hash-raises",
        "`dispatch_uid` whose `__hash__` raises",
        lambda sig, impl: sig.connect(other, dispatch_uid=RaisingHash(ValueError, "hash failed")),
        "raises", ValueError, r"hash failed",
        "the `__hash__`'s own exception (here `ValueError: hash failed`)",
        django="accepted (never hashed)",
    ),
    Row(
        "uid-eq-raises",
        "`dispatch_uid` whose `__eq__` raises, with the hash of a connected `dispatch_uid`",
        lambda sig, impl: sig.connect(other, dispatch_uid=CollidingEq()),
        "raises", RuntimeError, r"eq failed",
        "the `__eq__`'s own exception (here `RuntimeError: eq failed`)",
        django="the same",
    ),
    # -- senders ----------------------------------------------------------------------------
    Row(
        "sender-unhashable",
        "unhashable sender (`__hash__ = None`) in connect, send, `has_listeners`, disconnect; cached or not",
        lambda sig, impl: _unhashable_sender_round(sig),
        "returns", result=[[(other, "other")], True, True, False],
        shown="accepted: works like any sender (senders are identified by `id()`, never hashed)",
        django="`TypeError: unhashable type` from every `send` (even uncached: `{}.get(sender)`)",
    ),
    Row(
        "sender-none-cached",
        "`use_caching=True` with sender `None` and senders without weak references "
        "(`object()`, ints, strings), and `has_listeners()`",
        lambda sig, impl: [len(sig.send(s)) for s in (None, object(), 7, "text")] + [sig.has_listeners()],
        "returns", result=[2, 2, 2, 2, True],
        shown="accepted: works; such senders are not cached",
        django="`TypeError: cannot create weak reference to 'NoneType' object` (`'object'`, `'int'`, `'str'`)",
    ),
    # -- send -------------------------------------------------------------------------------
    Row(
        "send-no-sender",
        "`send()` without a sender",
        lambda sig, impl: sig.send(),
        "raises", TypeError,
        r"send\(\) (missing 1 required positional argument: 'sender'|takes exactly 1 positional argument \(0 given\))",
        "`TypeError: send() missing 1 required positional argument: 'sender'` (Python's own message for the call)",
        django="the same",
    ),
    Row(
        "send-robust-no-sender",
        "`send_robust()` without a sender",
        lambda sig, impl: sig.send_robust(),
        "raises", TypeError,
        r"send_robust\(\) (missing 1 required positional argument: 'sender'|takes exactly 1 positional argument \(0 given\))",
        "`TypeError: send_robust() missing 1 required positional argument: 'sender'`",
        django="the same",
    ),
    Row(
        "asend-no-sender",
        "`asend()` without a sender",
        lambda sig, impl: sig.asend(),
        "raises", TypeError,
        r"asend\(\) (missing 1 required positional argument: 'sender'|takes exactly 1 positional argument \(0 given\))",
        "`TypeError` from the call itself, before any `await` (compiled: `asend() takes exactly 1 positional argument (0 given)`)",
        django="the same (`Signal.asend() missing 1 required positional argument: 'sender'`)",
    ),
    Row(
        "send-extra-positional",
        "`send(None, None)`",
        lambda sig, impl: sig.send(None, None),
        "raises", TypeError,
        r"send\(\) takes (2 positional arguments but 3 were given|exactly 1 positional argument \(2 given\))",
        "`TypeError: send() takes 2 positional arguments but 3 were given`",
        django="the same",
    ),
    Row(
        "send-sender-twice",
        "`send(None, sender=1)`",
        lambda sig, impl: sig.send(None, sender=1),
        "raises", TypeError, r"send\(\) got multiple values for argument 'sender'",
        "`TypeError: send() got multiple values for argument 'sender'`",
        django="the same",
    ),
    Row(
        "send-named-signal",
        "a named argument called `signal`: `send(None, signal=1)`",
        lambda sig, impl: sig.send(None, signal=1),
        "raises", TypeError, r"got multiple values for keyword argument 'signal'",
        "`TypeError: existing() got multiple values for keyword argument 'signal'` from the first receiver "
        "(compiled: `function() got ...`); `send_robust` returns it as every receiver's response",
        django="the same",
    ),
    Row(
        "send-non-str-keyword",
        "non-string keyword: `send(None, **{1: 2})`",
        lambda sig, impl: sig.send(None, **{1: 2}),
        "raises", TypeError, r"keywords must be strings", "`TypeError: keywords must be strings`",
        django="the same",
    ),
    # -- disconnect -----------------------------------------------------------------------------
    Row(
        "disconnect-never-connected",
        "`disconnect` of a receiver never connected, connected for another sender, or of an unknown `dispatch_uid`",
        lambda sig, impl: [
            sig.disconnect(never_connected),
            sig.disconnect(never_connected, sender=Model),
            sig.disconnect(existing, sender=object()),
            sig.disconnect(dispatch_uid="never"),
        ],
        "returns", result=[False, False, False, False],
        shown="`False`, no error",
        django="the same",
    ),
    Row(
        "disconnect-nothing",
        "`disconnect()` with no arguments",
        lambda sig, impl: sig.disconnect(),
        "returns", result=False,
        shown="`False`, no error",
        django="the same",
    ),
    # -- wrong types and arities ------------------------------------------------------------------
    Row(
        "connect-no-receiver",
        "`connect()` without a receiver",
        lambda sig, impl: sig.connect(),
        "raises", TypeError,
        r"connect\(\) (missing 1 required positional argument: 'receiver'|takes at least 1 positional argument \(0 given\))",
        "`TypeError` (Python's own message for the call; compiled: "
        "`connect() takes at least 1 positional argument (0 given)`)",
        django="the same (`Signal.connect() missing 1 required positional argument: 'receiver'`)",
    ),
    Row(
        "connect-too-many",
        "`connect(receiver, None, True, 'uid', 'extra')`",
        lambda sig, impl: sig.connect(other, None, True, "uid", "extra"),
        "raises", TypeError,
        r"connect\(\) takes (from 2 to 5 positional arguments but 6 were given|at most 4 positional arguments \(5 given\))",
        "`TypeError` (compiled: `connect() takes at most 4 positional arguments (5 given)`)",
        django="the same (`Signal.connect() takes from 2 to 5 positional arguments but 6 were given`)",
    ),
    Row(
        "connect-unknown-keyword",
        "`connect(receiver, bogus=1)`",
        lambda sig, impl: sig.connect(other, bogus=1),
        "raises", TypeError, r"connect\(\) got an unexpected keyword argument 'bogus'",
        "`TypeError: connect() got an unexpected keyword argument 'bogus'`",
        django="the same",
    ),
    Row(
        "weak-not-bool",
        "`weak=` not a bool: `weak=None`",
        lambda sig, impl: (sig.connect(other, weak=None, dispatch_uid="a"), sig.receivers[-1][1] is other),
        "returns", result=(None, True),
        shown="accepted: its truth value is used (`None`, `0`, `''`: strong; `'no'`: weak)",
        django="the same",
        changed="connected, strongly",
        undo=lambda sig: sig.disconnect(dispatch_uid="a"),
    ),
    Row(
        "has-listeners-arity",
        "`has_listeners(None, None)`",
        lambda sig, impl: sig.has_listeners(None, None),
        "raises", TypeError,
        r"has_listeners\(\) takes (from 1 to 2 positional arguments but 3 were given|at most 1 positional argument \(2 given\))",
        "`TypeError` (compiled: `has_listeners() takes at most 1 positional argument (2 given)`)",
        django="the same (`Signal.has_listeners() takes from 1 to 2 positional arguments but 3 were given`)",
    ),
    Row(
        "signal-arity",
        "`Signal(False, 2)`",
        lambda sig, impl: type(sig)(False, 2),
        "raises", TypeError,
        r"__init__\(\) takes (from 1 to 2 positional arguments but 3 were given|at most 1 positional argument \(2 given\))",
        "`TypeError` (compiled: `__init__() takes at most 1 positional argument (2 given)`)",
        django="the same (`Signal.__init__() takes from 1 to 2 positional arguments but 3 were given`)",
    ),
    Row(
        "signal-unknown-keyword",
        "`Signal(bogus=1)`",
        lambda sig, impl: type(sig)(bogus=1),
        "raises", TypeError, r"__init__\(\) got an unexpected keyword argument 'bogus'",
        "`TypeError: __init__() got an unexpected keyword argument 'bogus'`",
        django="the same",
    ),
    Row(
        "providing-args",
        "`Signal(providing_args=['a'])` (removed in Django 4.0)",
        lambda sig, impl: type(sig)(providing_args=["a"]).providing_args,
        "warns", DeprecationWarning, r"providing_args argument is deprecated",
        "`DeprecationWarning: The providing_args argument is deprecated (Django removed it in 4.0)...`; "
        "stored as `signal.providing_args`",
        result={"a"},
        django="`TypeError: Signal.__init__() got an unexpected keyword argument 'providing_args'`",
    ),
    Row(
        "receivers-garbage",
        "assigning something else than records to `signal.receivers`: `signal.receivers = [1, 2]`",
        lambda sig, impl: setattr(sig, "receivers", [1, 2]),
        "raises", TypeError,
        r"Signal\.receivers must be set to a list of \(lookup_key, receiver, sender_ref, is_async\) tuples",
        "`TypeError: Signal.receivers must be set to a list of (lookup_key, receiver, sender_ref, is_async) "
        "tuples, as read from Signal.receivers; got [1, 2].`",
        django="accepted; every later send fails",
    ),
    Row(
        "decorator-not-a-signal",
        "`@receiver('not a signal')`",
        lambda sig, impl: impl.receiver("not a signal")(other),
        "raises", AttributeError, r"'str' object has no attribute 'connect'",
        "`AttributeError: 'str' object has no attribute 'connect'`",
        django="the same",
    ),
    Row(
        "decorator-list-with-non-signal",
        "`@receiver([signal, 'not a signal'])`",
        _receiver_list,
        "raises", AttributeError, r"'str' object has no attribute 'connect'",
        "`AttributeError: 'str' object has no attribute 'connect'`",
        django="the same, with the same partial connect",
        changed="**the receiver is connected to the signals listed before the bad one**",
        undo=lambda sig: sig.disconnect(other),
    ),
    # -- tracing, muting, temporary connections (fastdispatch only) ----------------------
    Row(
        "tracer-not-a-tracer",
        "a tracer that is not a `Tracer`: `tracing.set_tracer(object(), signal=signal)`, "
        "`set_tracer(print)`",
        lambda sig, impl: tracing.set_tracer(object(), signal=sig),
        "raises", TypeError, r"A tracer must be a fastdispatch\.tracing\.Tracer",
        "`TypeError: A tracer must be a fastdispatch.tracing.Tracer (subclass it and override "
        "the hooks you need); <...> has no callable send_started, send_ended, receiver_started, "
        "receiver_ended, receiver_context.`; no tracer changes",
        django="(fastdispatch only)",
    ),
    Row(
        "tracer-for-a-non-signal",
        "`tracing.set_tracer(tracer, signal='post_save')`",
        lambda sig, impl: tracing.set_tracer(tracing.Tracer(), signal="post_save"),
        "raises", TypeError, r"set_tracer\(signal=\.\.\.\) takes a fastdispatch signal, not 'post_save'",
        "`TypeError: set_tracer(signal=...) takes a fastdispatch signal, not 'post_save'.`",
        django="(fastdispatch only)",
    ),
    Row(
        "mute-not-a-signal",
        "`muted('post_save')`, `muted()`",
        lambda sig, impl: _each_raises([lambda: fastdispatch.muted("post_save")]),
        "raises", TypeError, r"muted\(\) takes fastdispatch signals, not 'post_save'",
        "`TypeError: muted() takes fastdispatch signals, not 'post_save'.` "
        "(`muted()`: `TypeError: muted() takes at least one signal: muted(post_save).`)",
        django="(fastdispatch only)",
    ),
    Row(
        "mute-unknown-receiver",
        "`with muted(signal, receivers=[never_connected])` (or an unknown `dispatch_uid`)",
        lambda sig, impl: _enter(fastdispatch.muted(sig, receivers=[never_connected])),
        "raises", ValueError, r"is not connected to .*, so it cannot be muted",
        "`ValueError: muted(): <function never_connected> is not connected to <Signal>, so it "
        "cannot be muted; pass receivers (or dispatch_uids) that are connected to it.` when the "
        "block starts; nothing is muted",
        django="(fastdispatch only)",
    ),
    Row(
        "connected-to-non-callable",
        "`signal.connected_to(object())`",
        lambda sig, impl: sig.connected_to(object()),
        "raises", TypeError, re.escape(CALLABLE), f"`TypeError: {CALLABLE}` before the block runs",
        django="(fastdispatch only)",
    ),
    Row(
        "set-receiver-checks-not-bool",
        "`fastdispatch.set_receiver_checks('yes')`",
        lambda sig, impl: fastdispatch.set_receiver_checks("yes"),  # type: ignore[arg-type]
        "raises", TypeError, r"set_receiver_checks\(\) takes True, False or None, not 'yes'",
        "`TypeError: set_receiver_checks() takes True, False or None, not 'yes'.`",
        django="(fastdispatch only)",
    ),
]


def _enter(context: Any) -> None:
    with context:
        pass  # pragma: no cover (entering raises)


def _each_raises(calls: list[Callable[[], Any]]) -> None:
    """Run each call; each must raise the same error; raise the last one."""
    errors: list[BaseException] = []
    for call in calls:
        try:
            call()
        except Exception as error:
            errors.append(error)
    assert len(errors) == len(calls), "a call did not raise"
    assert len({(type(e), str(e)) for e in errors}) == 1, errors
    raise errors[-1]


def _unhashable_sender_round(sig: Any) -> list[Any]:
    sender = Unhashable()
    sig.connect(other, sender=sender)
    responses = [r for r in sig.send(sender) if r[0] is other]
    listening = sig.has_listeners(sender)
    disconnected = sig.disconnect(other, sender=sender)
    again = sig.disconnect(other, sender=sender)
    return [responses, listening, disconnected, again]


# -- the test ----------------------------------------------------------------------------------


def existing(**kwargs: Any) -> str:
    return "existing"


def for_model(**kwargs: Any) -> str:
    return "for_model"


class Strong:
    def __call__(self, **kwargs: Any) -> str:
        return "strong"


STRONG = Strong()


def populated(impl: ModuleType, use_caching: bool) -> Any:
    sig = impl.Signal(use_caching=use_caching)
    sig.connect(existing)
    sig.connect(for_model, sender=Model)
    sig.connect(STRONG, weak=False, dispatch_uid="uid")
    sig.send(Model)  # populates the cache
    return sig


def state(sig: Any) -> tuple[Any, ...]:
    return (
        sig.receivers,
        sig.send(None),
        sig.send(Model),
        sig.send_robust(Model),
        sig.has_listeners(),
        sig.has_listeners(Model),
    )


@pytest.fixture(autouse=True)
def default_receiver_checks() -> Iterator[None]:
    fastdispatch.set_receiver_checks(None)
    try:
        yield
    finally:
        fastdispatch.set_receiver_checks(None)


@pytest.mark.parametrize("use_caching", [False, True], ids=["uncached", "cached"])
@pytest.mark.parametrize("row", [pytest.param(row, id=row.id) for row in ROWS])
def test_bad_input(impl: ModuleType, row: Row, use_caching: bool) -> None:
    assert not _hooks.active
    if row.checks is not None:
        fastdispatch.set_receiver_checks(row.checks)
    sig = populated(impl, use_caching)
    before = state(sig)
    if row.outcome == "raises":
        assert row.error is not None
        with pytest.raises(row.error, match=row.message):
            row.call(sig, impl)
    elif row.outcome == "warns":
        assert row.error is not None and issubclass(row.error, Warning)
        with pytest.warns(row.error, match=row.message):
            result = row.call(sig, impl)
        assert result == row.result
    else:
        assert row.call(sig, impl) == row.result
    if row.undo is not None:
        assert row.undo(sig) is True, "the change the row documents did not happen"
    assert state(sig) == before
    keys = [record[0] for record in sig.receivers]
    assert len(keys) == len(set(keys))
    # No tracer installed and nothing muted by the refused call.
    assert not _hooks.active and _hooks.MUTED.get() == ()
    assert tracing.get_tracer() is None and tracing.get_tracer(signal=sig) is None


SAME_AS_DJANGO = [row for row in ROWS if row.django.startswith("the same")]


@pytest.mark.parametrize("row", [pytest.param(row, id=row.id) for row in SAME_AS_DJANGO])
def test_django_column_says_the_same(impl: ModuleType, row: Row, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the table says django.dispatch does "the same", it does: the
    same error type (messages name ``Signal.send()`` where ours may say
    ``send()``), or the same result."""
    pytest.importorskip("django")
    from django import dispatch
    from django.conf import settings

    if not settings.configured:
        settings.configure(DEBUG=False)
    monkeypatch.setattr(settings, "DEBUG", bool(row.checks))
    outcomes = []
    for module in (impl, dispatch):
        sig = populated(module, use_caching=False)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                result = row.call(sig, module)
        except Exception as error:
            outcomes.append(("raises", type(error)))
        else:
            outcomes.append(("returns", result))
    assert outcomes[0] == outcomes[1], outcomes


def markdown_table() -> str:
    assert len({row.id for row in ROWS}) == len(ROWS)
    lines = [
        "| bad input | what you get | signal state | django.dispatch |",
        "|---|---|---|---|",
    ]
    for row in ROWS:
        assert row.shown and row.django, row.id
        lines.append(f"| {row.bad_input} | {row.shown} | {row.changed or 'unchanged'} | {row.django} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(markdown_table())
