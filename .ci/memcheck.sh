#!/usr/bin/env bash
# Memory checks of the compiled extension: the suite under -X dev with
# PYTHONMALLOC=debug, and a driver under valgrind. What is checked and how:
# .ci/checks/memcheck.py (its docstring).
#
# Usage: .ci/memcheck.sh PYTHON   (the interpreter with fastdispatch built in
#                                  place, pytest and Django installed)
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 PYTHON" >&2; exit 2; }
python=$(command -v "$1") || { echo "$0: no interpreter $1" >&2; exit 2; }
[[ $python == /* ]] || python=$PWD/$python
cd "$(dirname "$0")" # the checks package is importable from here
exec "$python" -B -m checks.memcheck
