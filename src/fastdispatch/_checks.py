"""Argument checks for ``Signal.connect``/``disconnect``, shared by both implementations.

Every check runs before a signal is touched, so a rejected call leaves the
signal's receivers exactly as they were.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# None: follow Django's ``settings.DEBUG`` (if Django is configured);
# True/False: the user's explicit choice, see ``set_receiver_checks``.
_receiver_checks: bool | None = None


def set_receiver_checks(enabled: bool | None) -> None:
    """Turn the ``**kwargs`` receiver check on or off.

    ``True`` checks every receiver connected from now on (what Django does when
    ``settings.DEBUG`` is on), ``False`` never checks, and ``None`` (the default)
    follows Django's ``settings.DEBUG`` when Django is configured and does not
    check otherwise. Non-callable receivers are always rejected.
    """
    global _receiver_checks
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError(
            f"set_receiver_checks() takes True, False or None, not {enabled!r}."
        )
    _receiver_checks = enabled


def receiver_checks_enabled() -> bool:
    """Whether ``connect`` currently verifies that receivers accept ``**kwargs``."""
    if _receiver_checks is not None:
        return _receiver_checks
    # Never import Django here: if django.conf was not imported, settings
    # cannot have been configured, and standalone users pay nothing.
    conf = sys.modules.get("django.conf")
    if conf is None:
        return False
    settings = conf.settings
    return bool(settings.configured and settings.DEBUG)


def accepts_kwargs(receiver: object) -> bool:
    """Whether ``receiver`` can be called with arbitrary keyword arguments."""
    # Imported here: it is costly, and only DEBUG-mode connects need it.
    import inspect

    try:
        parameters = inspect.signature(receiver).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        # No introspectable signature (some builtins): we cannot prove it
        # wrong, so let the call itself decide.
        return True
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def check_receiver(receiver: object) -> None:
    """Reject receivers Django would reject, with Django's messages."""
    if not callable(receiver):
        raise TypeError("Signal receivers must be callable.")
    if receiver_checks_enabled() and not accepts_kwargs(receiver):
        raise ValueError("Signal receivers must accept keyword arguments (**kwargs).")


def check_dispatch_uid(dispatch_uid: object) -> None:
    """Receivers are indexed by their key, so a ``dispatch_uid`` must be hashable."""
    try:
        hash(dispatch_uid)
    except TypeError:
        raise TypeError(
            f"dispatch_uid must be hashable, but {type(dispatch_uid).__name__!r} "
            "is not; pass a string such as 'myapp.handlers.on_save'."
        ) from None


def not_weakrefable(receiver: object) -> TypeError:
    """The error for ``weak=True`` with a receiver that has no weak references."""
    return TypeError(
        f"Cannot connect {receiver!r} weakly: {type(receiver).__name__!r} objects "
        "cannot be weakly referenced. Pass weak=False to keep a strong reference "
        "(and disconnect it yourself when it is no longer needed)."
    )


def check_records(records: object) -> list[tuple[Any, Any, Any, Any]]:
    """Validate a value assigned to ``Signal.receivers``.

    Accepts what ``Signal.receivers`` returns (a list of
    ``(lookup_key, receiver_or_ref, sender_ref, is_async)`` tuples), which is
    what code like factory_boy's ``mute_signals`` saves and puts back.
    """
    items: list[Any] | None
    try:
        items = list(records)  # type: ignore[call-overload]
    except TypeError:
        items = None
    if items is not None:
        for item in items:
            if not (isinstance(item, tuple) and len(item) == 4):
                break
            try:
                hash(item[0])
            except TypeError:
                break
        else:
            return items
    raise TypeError(
        "Signal.receivers must be set to a list of (lookup_key, receiver, "
        "sender_ref, is_async) tuples, as read from Signal.receivers; "
        f"got {records!r}."
    )
