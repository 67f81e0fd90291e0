"""The little of Django that deferring needs, imported only when used."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "database_alias",
    "django_installed",
    "is_snapshot_signal",
    "on_commit",
    "require_django_settings",
]


def django_installed() -> bool:
    return "django" in sys.modules or importlib.util.find_spec("django") is not None


def require_django_settings(what: str, instead: str = "") -> None:
    """Raise a clear error if Django's settings (and so its databases) are not set up."""
    conf = sys.modules.get("django.conf")
    if conf is None or not conf.settings.configured:
        raise RuntimeError(
            f"{what} waits for a Django database transaction to commit, but Django's "
            "settings are not configured in this process (set DJANGO_SETTINGS_MODULE "
            f"and call django.setup(), as manage.py does){instead}."
        )


def database_alias(named: Mapping[str, Any]) -> str:
    """The database a send names (model signals pass ``using``), else the default."""
    using = named.get("using")
    if isinstance(using, str) and using:
        return using
    from django.db import DEFAULT_DB_ALIAS

    return DEFAULT_DB_ALIAS


def on_commit(callback: Callable[[], None], using: str) -> None:
    """``transaction.on_commit``: after the outermost atomic block of ``using``
    commits, never if it (or an enclosing savepoint) rolls back, at once in
    autocommit. ``callback`` catches and logs its own exceptions."""
    from django.db import transaction

    transaction.on_commit(callback, using=using)


def is_snapshot_signal(signal: object) -> bool:
    """``pre_delete``/``post_delete``: the row is gone when a worker runs."""
    signals = sys.modules.get("django.db.models.signals")
    return signals is not None and (signal is signals.pre_delete or signal is signals.post_delete)
