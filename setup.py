"""Build script: the package, plus the compiled core when it can be built.

``FASTDISPATCH_NO_EXTENSIONS=1`` builds pure Python only (a py3-none-any
wheel). Without it, the Cython extension is built; if compiling fails (no C
compiler, say), the install still succeeds as pure Python and says so loudly.
"""

import importlib.util
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _load_env():
    # The package's one reader of its environment switches, loaded by path:
    # the package itself is not importable before it is built.
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src", "fastdispatch", "_env.py")
    spec = importlib.util.spec_from_file_location("_fastdispatch_env", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_env = _load_env()
NO_EXTENSIONS = _env.extensions_disabled()
# For developers and CI: a failed compile is an error, not a fallback (a stale
# extension from an earlier build would otherwise go on being tested).
REQUIRE_EXTENSION = _env.extension_required()
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
        if REQUIRE_EXTENSION:
            raise error
        announce(
            "fastdispatch: the compiled extension could not be built "
            f"({type(error).__name__}: {error}).\n"
            "Installing the pure-Python implementation instead: same behaviour, slower."
        )
        # Nothing compiled, so the wheel is pure Python: tag it py3-none-any
        # (not cpXY-cpXY-<platform> without its extension). bdist_wheel chose
        # its tag before building; this runs before it installs and names it.
        self.extensions = []
        self.distribution.ext_modules = []
        bdist_wheel = self.distribution.command_obj.get("bdist_wheel")
        if bdist_wheel is not None:
            bdist_wheel.root_is_pure = True


def extensions():
    if NO_EXTENSIONS:
        announce("fastdispatch: FASTDISPATCH_NO_EXTENSIONS is set: pure-Python build.")
        return []
    from Cython.Build import cythonize

    # The source lives in csrc/; the module lands inside the package, next to
    # its pure-Python twin fastdispatch._dispatcher_py.
    extension = Extension(
        "fastdispatch._dispatcher_c",
        [CYTHON_SOURCE],
        include_dirs=["csrc"],  # fastdispatch_helpers.h
        depends=[os.path.join("csrc", "fastdispatch_helpers.h")],
    )
    return cythonize([extension], compiler_directives={"language_level": "3"})


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
