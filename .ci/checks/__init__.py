"""The programs of fastdispatch's CI, as importable, typed, tested Python.

``.ci/run`` calls them through short shell drivers:

- ``memcheck`` (``.ci/memcheck.sh``): the compiled extension under
  ``python -X dev`` with ``PYTHONMALLOC=debug``, and ``memcheck_driver``
  under valgrind, judged by ``valgrind_report``.
- ``packaging_proof`` (``.ci/packaging.sh``): sdist and wheels built, their
  contents judged by ``distributions``, each installed and tested.

Run one from ``.ci/`` (so that this package is importable), e.g.
``cd .ci && python -m checks.memcheck``; the unit tests are in ``.ci/tests``.
Only the standard library is used: they run with the interpreter that runs CI.
"""
