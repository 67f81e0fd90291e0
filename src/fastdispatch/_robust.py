"""Logging of receiver failures caught by ``send_robust``/``asend_robust``."""

from __future__ import annotations

import logging
import sys

_django_logger = logging.getLogger("django.dispatch")
_standalone_logger = logging.getLogger("fastdispatch")


def robust_logger() -> logging.Logger:
    """Django's ``django.dispatch`` logger inside a Django process, else ``fastdispatch``."""
    return _django_logger if "django" in sys.modules else _standalone_logger


def receiver_name(receiver: object) -> str:
    """The name Django logs (``__qualname__``), with a fallback for callable instances.

    Django raises ``AttributeError`` here for receivers without ``__qualname__``
    and loses every response of the send; we log the class name instead.
    """
    name = getattr(receiver, "__qualname__", None)
    if isinstance(name, str):
        return name
    return f"{type(receiver).__qualname__} instance"


def log_robust_failure(receiver: object, err: BaseException) -> None:
    robust_logger().error(
        "Error calling %s in Signal.send_robust() (%s)",
        receiver_name(receiver),
        err,
        exc_info=err,
    )
