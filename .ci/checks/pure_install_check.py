"""Check an installed fastdispatch that must be the pure-Python one (the sdist
installed without a compiler): COMPILED is False, the import error of the
extension is kept in ``dispatcher.EXTENSION_IMPORT_ERROR``, and no
``_dispatcher_c*`` file was installed.

Run by ``checks.packaging_proof`` (step 5) with the interpreter of that
install, from a directory outside the source tree::

    cd /tmp && /path/to/venv/bin/python .../.ci/checks/pure_install_check.py

Exit status 0 when all three hold; the broken ones are printed otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path


def problems(compiled: object, import_error: object, package: Path) -> list[str]:
    """The broken rules for an install whose ``COMPILED`` is ``compiled``,
    ``EXTENSION_IMPORT_ERROR`` is ``import_error``, files are in ``package``."""
    found = []
    if compiled is not False:
        found.append(f"fastdispatch.COMPILED is {compiled!r}, not False")
    if import_error is None:
        found.append("fastdispatch.dispatcher.EXTENSION_IMPORT_ERROR is None")
    leftovers = sorted(p.name for p in package.glob("_dispatcher_c*"))
    if leftovers:
        found.append(f"compiled-module files installed in {package}: {leftovers}")
    return found


def main() -> int:
    import fastdispatch
    from fastdispatch import dispatcher

    error = dispatcher.EXTENSION_IMPORT_ERROR
    found = problems(fastdispatch.COMPILED, error, Path(fastdispatch.__file__).parent)
    if found:
        print("\n".join(f"pure-Python install: {problem}" for problem in found), file=sys.stderr)
        return 1
    print("pure-Python install works; extension import error:", error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
