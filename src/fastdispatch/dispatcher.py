"""The dispatcher, as ``django.dispatch.dispatcher`` names it.

Picks the compiled implementation (``fastdispatch._dispatcher_c``) unless
``FASTDISPATCH_NO_EXTENSIONS`` is set or the extension cannot be imported, in
which case the pure-Python one (``fastdispatch._dispatcher_py``) is used. Both
define the same names and behave the same.
"""

from __future__ import annotations

from ._env import extensions_disabled

TYPE_CHECKING = False

__all__ = ["COMPILED", "NONE_ID", "NO_RECEIVERS", "Signal", "receiver"]

NO_EXTENSIONS: bool = extensions_disabled()
"""True when ``FASTDISPATCH_NO_EXTENSIONS`` asks for the pure-Python implementation."""

EXTENSION_IMPORT_ERROR: ImportError | None = None
"""Why the compiled extension could not be imported, if it could not."""

if TYPE_CHECKING:
    # Type checkers read the typed pure-Python source.
    from ._dispatcher_py import NO_RECEIVERS, NONE_ID, Signal, _make_id, receiver

    COMPILED: bool
elif NO_EXTENSIONS:
    from ._dispatcher_py import NO_RECEIVERS, NONE_ID, Signal, _make_id, receiver

    COMPILED = False
else:
    try:
        from ._dispatcher_c import NO_RECEIVERS, NONE_ID, Signal, _make_id, receiver

        COMPILED = True
    except ImportError as error:
        EXTENSION_IMPORT_ERROR = error
        from ._dispatcher_py import NO_RECEIVERS, NONE_ID, Signal, _make_id, receiver

        COMPILED = False
