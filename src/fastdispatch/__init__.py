"""fastdispatch: Django's signal dispatcher, same API, compiled hot path.

    from fastdispatch import Signal, receiver

    pizza_done = Signal()

    @receiver(pizza_done)
    def on_pizza_done(sender, **kwargs): ...

    pizza_done.send(sender=None, toppings=["cheese"])
"""

from __future__ import annotations

from ._checks import receiver_checks_enabled, set_receiver_checks
from ._info import Connection, ReceiverInfo
from ._muting import muted
from .dispatcher import COMPILED, NO_RECEIVERS, NONE_ID, Signal, receiver

__version__ = "0.1.0"

__all__ = [
    "COMPILED",
    "Connection",
    "NONE_ID",
    "NO_RECEIVERS",
    "ReceiverInfo",
    "Signal",
    "__version__",
    "muted",
    "receiver",
    "receiver_checks_enabled",
    "set_receiver_checks",
]
