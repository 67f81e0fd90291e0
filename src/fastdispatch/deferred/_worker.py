"""The worker's side: turn a message back into a receiver call.

Both engines' tasks call ``run_delivery``. It imports the receiver and the
signal by reference, re-fetches model instances, and calls the receiver
through ``invoke_receiver``. Exceptions propagate to the engine, whose own
retry and failure handling applies.
"""

from __future__ import annotations

from typing import Any

from ._delivery import MESSAGE_VERSION, Delivery, Message, invoke_receiver
from ._payload import decode_value
from ._receivers import resolve_worker_receiver
from ._references import import_reference

__all__ = ["run_delivery"]


def run_delivery(message: Message, *, attempt: int | None = None, task_id: str | None = None) -> None:
    """Run the receiver that ``message`` names, with its decoded arguments."""
    version = message.get("fastdispatch")
    if version != MESSAGE_VERSION:
        raise ValueError(
            f"fastdispatch cannot read this message (format {version!r}, this "
            f"worker reads format {MESSAGE_VERSION}): run the same fastdispatch "
            "version in senders and workers."
        )
    func, _ = resolve_worker_receiver(message["receiver"])
    signal = import_reference(message["signal"])
    sender = decode_value(message["sender"])
    kwargs: dict[str, Any] = {name: decode_value(value) for name, value in message["kwargs"].items()}
    delivery = Delivery(
        id=message["delivery_id"],
        mode="worker",
        receiver=message["receiver"],
        signal=message["signal"],
        attempt=attempt,
        task_id=task_id,
    )
    # The receiver's return value is not kept: an engine would have to store
    # it (django.tasks keeps JSON results), and receivers' responses are not
    # part of a signal's contract once deferred.
    invoke_receiver(func, delivery, signal, sender, kwargs)
