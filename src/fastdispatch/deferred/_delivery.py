"""Deliveries: what ``send()`` returns for a deferred receiver, the record a
running receiver can read, and the two places where deferred work happens.

``invoke_receiver`` is the one function that calls a deferred receiver (after
commit in the sending process, or in a worker). ``enqueue`` is the one function
that hands a message to an engine (at send time, after commit, or from the
outbox relay). A tracer sees ``invoke_receiver``'s calls (kind "deferred");
an enqueue is part of the traced call of the deferred receiver's wrapper.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .. import _hooks

if TYPE_CHECKING:
    from ._engines import Engine

__all__ = [
    "Deferred",
    "Delivery",
    "Message",
    "current_delivery",
    "enqueue",
    "invoke_receiver",
    "new_delivery_id",
]

Mode = Literal["after_commit", "worker"]
Enqueue = Literal["on_commit", "now", "outbox"]

# What travels to a worker: JSON only. Keys: "fastdispatch" (format version),
# "delivery_id", "receiver" and "signal" (references), "sender", "kwargs".
Message = dict[str, Any]
MESSAGE_VERSION = 1


def new_delivery_id() -> str:
    return uuid.uuid4().hex


class Deferred:
    """What ``send()`` returns for a deferred receiver: the receiver did not run yet.

    ``mode`` is ``"after_commit"`` or ``"worker"``; ``using`` the database whose
    commit it waits for (None when it does not wait); ``enqueue`` how a worker
    receiver is enqueued (``"on_commit"``, ``"now"`` or ``"outbox"``);
    ``delivery_id`` the id the receiver sees in ``current_delivery().id``;
    ``task_id`` the engine's id for the task once known (Celery: the delivery
    id, known at once; django.tasks: set when the task is enqueued).
    """

    __slots__ = ("delivery_id", "engine", "enqueue", "mode", "receiver", "task_id", "using")

    def __init__(
        self,
        *,
        mode: Mode,
        receiver: str,
        delivery_id: str,
        using: str | None,
        enqueue: Enqueue | None = None,
        engine: str | None = None,
        task_id: str | None = None,
    ) -> None:
        self.mode = mode
        self.receiver = receiver
        self.delivery_id = delivery_id
        self.using = using
        self.enqueue = enqueue
        self.engine = engine
        self.task_id = task_id

    def __repr__(self) -> str:
        parts = [f"mode={self.mode!r}", f"receiver={self.receiver!r}"]
        if self.engine is not None:
            parts.append(f"engine={self.engine!r}")
        if self.enqueue is not None:
            parts.append(f"enqueue={self.enqueue!r}")
        parts += [f"using={self.using!r}", f"delivery_id={self.delivery_id!r}"]
        if self.mode == "worker":
            parts.append(f"task_id={self.task_id!r}")
        return f"<Deferred {' '.join(parts)}>"


@dataclass(frozen=True)
class Delivery:
    """The delivery a deferred receiver is running for: ``current_delivery()``.

    ``id`` is unique per delivery and the same on every attempt of it (a
    retry, or a message the outbox relay sent twice): a receiver that records
    the ids it has done can skip a repeat. ``attempt`` counts from 1 where the
    engine says (Celery's retries, django.tasks' ``context.attempt``).
    """

    id: str
    mode: Mode
    receiver: str
    signal: str | None = None
    attempt: int | None = None
    task_id: str | None = None


_current: contextvars.ContextVar[Delivery | None] = contextvars.ContextVar(
    "fastdispatch_current_delivery", default=None
)


def current_delivery() -> Delivery | None:
    """The delivery of the deferred receiver running now, or None outside one."""
    return _current.get()


def invoke_receiver(
    func: Callable[..., Any],
    delivery: Delivery,
    signal: object,
    sender: object,
    kwargs: Mapping[str, Any],
) -> Any:
    """Call a deferred receiver: the only place where one is called.

    A tracer installed for the signal (fastdispatch.tracing) sees the call as
    a one-receiver send of kind ``"deferred"``.
    """
    token = _current.set(delivery)
    try:
        return _hooks.run_deferred(signal, sender, dict(kwargs), func)
    finally:
        _current.reset(token)


def enqueue(engine: Engine, message: Message, *, fail_fast: bool = False) -> str | None:
    """Hand ``message`` to ``engine``: the only place where a delivery is enqueued.

    Returns the engine's task id when it has one. ``fail_fast`` asks the engine
    not to retry publishing (the outbox keeps the message and tries later).
    """
    return engine.enqueue(message, fail_fast=fail_fast)
