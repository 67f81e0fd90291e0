#!/usr/bin/env bash
# The gates: ruff, cython-lint, mypy --strict, and coverage of the package and
# of the .pyx (a line-tracing build, in a copy of the tree with its own virtual
# environment). What is checked and how: .ci/checks/gates.py (its docstring).
#
# Usage: .ci/gates.sh [PYTHON]   (default python3.11; it must be 3.11)
# KEEP_WORK=1 keeps the work directory (virtual environments, the copy, logs).
set -euo pipefail
python=$(command -v "${1:-python3.11}") || { echo "$0: no interpreter ${1:-python3.11}" >&2; exit 2; }
[[ $python == /* ]] || python=$PWD/$python
cd "$(dirname "$0")" # the checks package is importable from here
exec "$python" -B -m checks.gates
