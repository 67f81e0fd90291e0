"""Build script: the package, plus the compiled core when it can be built.

``FASTDISPATCH_NO_EXTENSIONS=1`` builds pure Python only (a py3-none-any
wheel). Without it, the Cython extension is built; if compiling fails (no C
compiler, say), the install still succeeds as pure Python and says so loudly.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NO_EXTENSIONS = os.environ.get("FASTDISPATCH_NO_EXTENSIONS", "") not in ("", "0")
CYTHON_SOURCE = os.path.join("csrc", "_dispatcher_c.pyx")


def announce(message):
    bar = "*" * 72
    print(f"\n{bar}\n{message}\n{bar}\n", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """Build the extension if possible; fall back to pure Python if not."""

    def run(self):
        try:
            super().run()
        except Exception as error:  # no compiler at all, and the like
            self._skipped(error)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as error:
            self._skipped(error)
        else:
            announce(f"fastdispatch: built the compiled extension {ext.name}.")

    def _skipped(self, error):
        announce(
            "fastdispatch: the compiled extension could not be built "
            f"({type(error).__name__}: {error}).\n"
            "Installing the pure-Python implementation instead: same behaviour, slower."
        )


def extensions():
    if NO_EXTENSIONS:
        announce("fastdispatch: FASTDISPATCH_NO_EXTENSIONS is set: pure-Python build.")
        return []
    from Cython.Build import cythonize

    # The source lives in csrc/; the module lands inside the package, next to
    # its pure-Python twin fastdispatch._dispatcher_py.
    extension = Extension("fastdispatch._dispatcher_c", [CYTHON_SOURCE])
    return cythonize([extension], compiler_directives={"language_level": "3"})


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
