"""The two implementations expose the same surface, introspectable on both.

- the same public names, module and ``Signal`` (and the same attributes on
  an instance), with the same signatures as ``inspect.signature`` reads them;
- ``inspect.signature`` works on every public method and function of the
  compiled module (``help()`` and IDEs rely on it);
- the methods a subclass may override (``fastdispatch._signal``'s docstring)
  take effect the same way on both.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import sys
from types import ModuleType
from typing import Any

import pytest

from fastdispatch import _dispatcher_py, _signal

from .helpers import IMPLEMENTATIONS

# Names a module defines for type checkers only (pure Python).
_TYPING_ONLY = {"TYPE_CHECKING", "annotations"}


def _public(names: list[str]) -> set[str]:
    return {n for n in names if not n.startswith("_")} - _TYPING_ONLY


def _signal_api(cls: type) -> set[str]:
    """Every attribute of the class but dunders and Cython's vtable."""
    return {n for n in dir(cls) if not (n.startswith("__") and n.endswith("__"))}


def _parameters(obj: Any, *, drop_first: bool) -> list[tuple[str, Any, Any]]:
    """Names, kinds and defaults, as inspect reads them (annotations aside:
    the compiled module has none)."""
    params = list(inspect.signature(obj).parameters.values())
    if drop_first:
        # self: positional-only in a C method's text signature.
        params = params[1:]
    return [(p.name, p.kind, p.default) for p in params]


def _compiled() -> ModuleType:
    if "compiled" not in IMPLEMENTATIONS:
        pytest.skip("the compiled extension is not available")
    return IMPLEMENTATIONS["compiled"]


def test_the_modules_expose_the_same_public_names() -> None:
    compiled = _compiled()
    assert compiled.__all__ == _dispatcher_py.__all__
    assert _public(dir(compiled)) == _public(dir(_dispatcher_py))
    for name in ("_make_id", "NONE_ID", "NO_RECEIVERS", "receiver"):
        # Shared, not twins: the very same objects.
        assert getattr(compiled, name) is getattr(_signal, name)
        assert getattr(_dispatcher_py, name) is getattr(_signal, name)


def test_signal_has_the_same_attributes_on_both() -> None:
    compiled = _compiled()
    assert _signal_api(compiled.Signal) == _signal_api(
        _dispatcher_py.Signal
    ) | {
        # C fields of the compiled core show on the class (as descriptors);
        # the pure core sets them on the instance.
        "_dead_receivers",
        "_records",
        "sender_receivers_cache",
        "use_caching",
    }
    compiled_signal, pure_signal = compiled.Signal(), _dispatcher_py.Signal()
    # _snapshot is internal to each core (a C field the compiled one hides).
    assert _signal_api(type(compiled_signal)) | set(vars(compiled_signal)) | {
        "_snapshot"
    } == _signal_api(type(pure_signal)) | set(vars(pure_signal))


def test_send_path_helpers_are_not_methods(impl: ModuleType) -> None:
    # A subclass cannot override what the send path uses internally, so it
    # cannot be honoured by one implementation and ignored by the other.
    for name in ("_records_for", "_filter", "_snapshot_locked", "_current_snapshot"):
        assert not hasattr(impl.Signal, name)


PUBLIC_METHODS = [
    "__init__",
    "connect",
    "disconnect",
    "has_listeners",
    "send",
    "send_robust",
    "asend",
    "asend_robust",
    "_live_receivers",
]


@pytest.mark.parametrize("name", PUBLIC_METHODS)
def test_compiled_methods_have_the_pure_signatures(name: str) -> None:
    compiled = _compiled()
    compiled_method = getattr(compiled.Signal, name)
    pure_method = getattr(_dispatcher_py.Signal, name)
    assert _parameters(compiled_method, drop_first=True) == _parameters(
        pure_method, drop_first=True
    )
    # Bound, as help(signal.send) and IDEs show them.
    assert _parameters(
        getattr(compiled.Signal(), name), drop_first=False
    ) == _parameters(getattr(_dispatcher_py.Signal(), name), drop_first=False)


def test_every_public_callable_of_the_compiled_module_has_a_signature() -> None:
    compiled = _compiled()
    checked = []
    for name in sorted(_public(dir(compiled))):
        value = getattr(compiled, name)
        if not callable(value):
            continue
        if isinstance(value, type):
            for attr in sorted(_signal_api(value)):
                member = inspect.getattr_static(value, attr)
                if attr.startswith("_") and attr not in PUBLIC_METHODS:
                    continue
                if callable(member) or isinstance(member, (staticmethod, classmethod)):
                    inspect.signature(getattr(value, attr))  # raises if it cannot
                    checked.append(f"{name}.{attr}")
        else:
            assert _parameters(value, drop_first=False) == _parameters(
                getattr(_dispatcher_py, name), drop_first=False
            )
            checked.append(name)
    assert "Signal.connect" in checked and "Signal.send" in checked
    assert "receiver" in checked


@pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="Python 3.10's inspect reads the pure core's __new__(*args, **kwargs) "
    "before __init__ for the class itself",
)
def test_the_signal_class_signature_is_its_init(impl: ModuleType) -> None:
    assert _parameters(impl.Signal, drop_first=False) == [
        ("use_caching", inspect.Parameter.POSITIONAL_OR_KEYWORD, False),
        ("providing_args", inspect.Parameter.KEYWORD_ONLY, None),
    ]


def test_compiled_docstrings_match_the_pure_ones() -> None:
    compiled = _compiled()
    for name in PUBLIC_METHODS[1:]:
        compiled_doc = inspect.getdoc(getattr(compiled.Signal, name)) or ""
        pure_doc = inspect.getdoc(getattr(_dispatcher_py.Signal, name)) or ""
        assert pure_doc, name
        # embedsignature may put the signature line first.
        assert compiled_doc.endswith(pure_doc), name
    assert compiled.Signal.__doc__ == _dispatcher_py.Signal.__doc__


# -- overriding ----------------------------------------------------------------


def on_anything(sender: object, **kwargs: Any) -> str:
    return "called"


def test_overriding_connect_and_disconnect(impl: ModuleType) -> None:
    calls: list[str] = []

    class Audited(impl.Signal):  # type: ignore[name-defined,misc]
        def connect(self, receiver: Any, *args: Any, **kwargs: Any) -> None:
            calls.append("connect")
            super().connect(receiver, *args, **kwargs)

        def disconnect(self, *args: Any, **kwargs: Any) -> bool:
            calls.append("disconnect")
            return bool(super().disconnect(*args, **kwargs))

    sig = Audited()
    impl.receiver(sig)(on_anything)  # the decorator goes through connect
    assert sig.send(None) == [(on_anything, "called")]
    assert sig.disconnect(on_anything)
    assert calls == ["connect", "disconnect"]


@pytest.mark.parametrize("use_caching", [False, True])
def test_overriding_live_receivers_reaches_every_send(
    impl: ModuleType, use_caching: bool
) -> None:
    seen: list[object] = []

    class Watched(impl.Signal):  # type: ignore[name-defined,misc]
        def _live_receivers(self, sender: object) -> Any:
            seen.append(sender)
            return super()._live_receivers(sender)

    sig = Watched(use_caching=use_caching)
    sig.connect(on_anything)

    class Sender:
        pass

    assert sig.send(Sender) == [(on_anything, "called")]
    assert sig.send_robust(Sender) == [(on_anything, "called")]
    assert sig.has_listeners(Sender)
    assert asyncio.run(sig.asend(Sender)) == [(on_anything, "called")]
    assert asyncio.run(sig.asend_robust(Sender)) == [(on_anything, "called")]
    assert seen == [Sender] * 5


def test_overriding_log_robust_failure(impl: ModuleType) -> None:
    logged: list[tuple[object, BaseException]] = []

    class Quiet(impl.Signal):  # type: ignore[name-defined,misc]
        def _log_robust_failure(self, receiver: Any, err: Exception) -> None:
            logged.append((receiver, err))

    def failing(sender: object, **kwargs: Any) -> None:
        raise ValueError("no")

    sig = Quiet()
    sig.connect(failing)
    [(_, sync_error)] = sig.send_robust(None)
    [(_, async_error)] = asyncio.run(sig.asend_robust(None))
    assert logged == [(failing, sync_error), (failing, async_error)]


def test_overriding_clear_dead_receivers(impl: ModuleType) -> None:
    cleared: list[int] = []

    class Counting(impl.Signal):  # type: ignore[name-defined,misc]
        def _clear_dead_receivers(self) -> None:
            if self._dead_receivers:
                cleared.append(1)
            super()._clear_dead_receivers()

    def short_lived(sender: object, **kwargs: Any) -> None:
        pass

    sig = Counting()
    sig.connect(short_lived)
    del short_lived
    gc.collect()
    assert sig.send(None) == []
    assert cleared == [1]
    assert sig.receivers == []


def test_overriding_send(impl: ModuleType) -> None:
    class Loud(impl.Signal):  # type: ignore[name-defined,misc]
        def send(self, sender: object, **named: Any) -> Any:
            return [("loud", r) for _, r in super().send(sender, **named)]

    sig = Loud()
    sig.connect(on_anything)
    assert sig.send(None) == [("loud", "called")]


def test_a_subclass_that_skips_init_is_still_a_working_signal(impl: ModuleType) -> None:
    class Careless(impl.Signal):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            pass  # forgets super().__init__()

    sig = Careless()
    sig.connect(on_anything)
    assert sig.send(None) == [(on_anything, "called")]
    assert sig.use_caching is False


def test_robust_failures_are_logged_on_the_default_path(
    impl: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    def failing(sender: object, **kwargs: Any) -> None:
        raise ValueError("boom")

    sig = impl.Signal()
    sig.connect(failing)
    with caplog.at_level(logging.ERROR):
        sig.send_robust(None)
    assert "Error calling" in caplog.text
