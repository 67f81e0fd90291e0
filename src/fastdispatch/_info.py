"""What is known about a connected receiver, computed once when it connects.

``ReceiverInfo`` is what tracers are given for each receiver call;
``Connection`` is one row of ``Signal.connections()``. Both are small
immutable records read by name: new fields are only ever added at the end.
(Plain classes with ``__slots__`` rather than dataclasses, which would import
``inspect`` with ``fastdispatch``.)
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterator
    from typing import Any

__all__ = ["Connection", "ReceiverInfo", "describe_receiver", "describe_sender"]


class _Record:
    """Immutable, compared and printed by its fields, in declaration order."""

    __slots__: tuple[str, ...] = ()

    def __init__(self, *values: Any) -> None:
        if len(values) != len(self.__slots__):
            raise TypeError(
                f"{type(self).__name__} takes {len(self.__slots__)} values, got {len(values)}"
            )
        for name, value in zip(self.__slots__, values):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def _asdict(self) -> dict[str, Any]:
        """The fields as a dict, in order."""
        return dict(zip(self.__slots__, self._values()))

    def __iter__(self) -> Iterator[Any]:
        # Not a tuple: unpacking would break when a field is added.
        raise TypeError(f"{type(self).__name__} is read by name, not unpacked")


class ReceiverInfo(_Record):
    """A connected receiver, described when it connected.

    - ``name``: a readable, qualified name (``"myapp.handlers.on_save"``);
    - ``module``: the receiver's module, or None;
    - ``dispatch_uid``: as given to ``connect``, or None;
    - ``sender``: the sender it was connected for, described
      (``"myapp.Order"``), or None for any sender;
    - ``is_async``: whether it is an async receiver;
    - ``weak``: whether the signal holds it weakly.
    """

    __slots__ = ("name", "module", "dispatch_uid", "sender", "is_async", "weak")
    name: str
    module: str | None
    dispatch_uid: Hashable | None
    sender: str | None
    is_async: bool
    weak: bool


class Connection(_Record):
    """One connection of a signal, as ``Signal.connections()`` lists it.

    - ``receiver``: the receiver, or None if it (or its sender) died;
    - ``sender``: the sender it listens to, or None for any sender;
    - ``dispatch_uid``: as given to ``connect``, or None;
    - ``weak``: whether the signal holds the receiver weakly;
    - ``is_async``: whether it is an async receiver;
    - ``name``: the receiver's readable, qualified name.

    Read fields by name: new ones are only ever added at the end.
    """

    __slots__ = ("receiver", "sender", "dispatch_uid", "weak", "is_async", "name")
    receiver: Callable[..., Any] | None
    sender: object
    dispatch_uid: Hashable | None
    weak: bool
    is_async: bool
    name: str


def _qualified(obj: object) -> tuple[str, str | None]:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(qualname, str):
        qualname = getattr(obj, "__name__", None)
    if not isinstance(qualname, str):
        kind = type(obj)
        return f"{kind.__module__}.{kind.__qualname__} instance", kind.__module__
    if not isinstance(module, str):
        return qualname, None
    return f"{module}.{qualname}", module


def describe_receiver(receiver: object) -> tuple[str, str | None]:
    """``(name, module)`` of a receiver: functions, bound methods, partials,
    callable instances. Never fails: anything else is named by its type."""
    functools = sys.modules.get("functools")  # no partial exists without it
    if functools is not None and isinstance(receiver, functools.partial):
        inner, module = describe_receiver(receiver.func)
        return f"functools.partial({inner})", module
    try:
        return _qualified(receiver)
    except Exception:  # an object whose attributes misbehave
        kind = type(receiver)
        return f"{kind.__module__}.{kind.__qualname__} instance", kind.__module__


def describe_sender(sender: object) -> str | None:
    """A short description of a sender: a Django model's label, a class's
    qualified name, or the type of an instance. Never fails."""
    if sender is None:
        return None
    try:
        return _describe_sender(sender)
    except Exception:  # an object whose attributes misbehave
        kind = type(sender)
        return f"{kind.__module__}.{kind.__qualname__} instance"


def _describe_sender(sender: object) -> str:
    meta = getattr(sender, "_meta", None)
    label = getattr(meta, "label", None)
    if isinstance(sender, type) and isinstance(label, str):
        return label
    if isinstance(sender, type):
        return _qualified(sender)[0]
    if isinstance(sender, (str, int, float)):
        return repr(sender)
    kind = type(sender)
    return f"{kind.__module__}.{kind.__qualname__} instance"


def receiver_info(
    receiver: object,
    sender: object,
    dispatch_uid: Hashable | None,
    is_async: bool,
    weak: bool,
) -> ReceiverInfo:
    name, module = describe_receiver(receiver)
    return ReceiverInfo(
        name, module, dispatch_uid or None, describe_sender(sender), is_async, weak
    )
