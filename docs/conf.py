"""Sphinx configuration for fastdispatch's documentation.

Build from a checkout, with the ``docs`` extra installed
(``pip install -e ".[docs]"``, or just ``pip install ".[docs]"``: the
package itself is read from ``src/``)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
    sphinx-build -W --keep-going -b doctest docs docs/_build/doctest
"""

from __future__ import annotations

import doctest
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# The pure-Python implementation, always, set before anything imports
# fastdispatch: it is the typed source that type checkers read, its docstrings
# and signatures are the reference (autodoc), and the docs then build the same
# with or without a compiled extension. Both implementations behave the same;
# the test suite checks that, not the docs.
os.environ["FASTDISPATCH_NO_EXTENSIONS"] = "1"

# The package from the checkout's src/ (installed or not), and the docs' own
# extension from _ext/.
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(DOCS / "_ext"))

import fastdispatch  # noqa: E402

if fastdispatch.COMPILED or Path(fastdispatch.__file__).parent != ROOT / "src" / "fastdispatch":
    raise RuntimeError(
        f"the docs must document the pure-Python fastdispatch in {ROOT / 'src'}; "
        f"imported {fastdispatch.__file__} (COMPILED={fastdispatch.COMPILED})"
    )

project = "fastdispatch"
author = "fastdispatch developers"
copyright = "fastdispatch developers"
release = fastdispatch.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "fastdispatch_docs",  # _ext/: tables rendered from the tests and benchmark reports
]

exclude_patterns = ["_build"]
# Every cross-reference must resolve (with -W, a broken one fails the build),
# except these type names in the signatures: the standard library's have no
# target without intersphinx (the build needs no network), and R, F and
# Connectable are the implementation's private TypeVars and protocol
# (``receiver`` returns what it decorates and takes anything with ``connect``).
nitpick_ignore_regex = [
    ("py:class", r"collections\.abc\.(Callable|Hashable|Iterable)"),
    ("py:class", r"fastdispatch\._\w+\.(R|F|Connectable)"),
]

# -- autodoc --------------------------------------------------------------------------------------
autodoc_member_order = "bysource"
# Django's documentation style: signatures with names and defaults only, the
# types listed with the description.
autodoc_typehints = "description"

# -- doctest ---------------------------------------------------------------------------------------
# Every ``>>>`` example on the pages (and in docstrings pulled in by autodoc)
# runs; ELLIPSIS is on for reprs with addresses (``<function f at 0x...>``).
doctest_test_doctest_blocks = "default"
# Sphinx's default also has IGNORE_EXCEPTION_DETAIL: without it, an example's
# exception message is checked too (the messages are part of the API).
doctest_default_flags = doctest.ELLIPSIS | doctest.DONT_ACCEPT_TRUE_FOR_1
# All pages' examples run in one process, page after page in name order.
# docs/django.rst calls fastdispatch.django.install() in that process, so a
# page whose examples import Django must call install() first too (in its
# testsetup), as a project would: if Django's dispatcher was used before,
# install() raises InstallError.

# Where the examples live (docs/django.rst runs docs/examples/mysite in a new
# process, with the package from src/).
doctest_global_setup = f"DOCS_DIR = {str(DOCS)!r}\nSRC_DIR = {str(ROOT / 'src')!r}"

# -- HTML ----------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"fastdispatch {release}"
html_static_path: list[str] = []
