"""The environment switches of fastdispatch, read in one place.

Standard library only and free of package imports: ``setup.py`` loads this
file by path, before the package is built.
"""

from __future__ import annotations

import os


def flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to anything but "" or "0"."""
    return os.environ.get(name, "") not in ("", "0")


def extensions_disabled() -> bool:
    """``FASTDISPATCH_NO_EXTENSIONS``: use (or build) the pure-Python implementation."""
    return flag("FASTDISPATCH_NO_EXTENSIONS")


def extension_required() -> bool:
    """``FASTDISPATCH_REQUIRE_EXTENSION``: a failed compile is an error, not a fallback."""
    return flag("FASTDISPATCH_REQUIRE_EXTENSION")
