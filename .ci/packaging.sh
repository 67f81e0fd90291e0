#!/usr/bin/env bash
# Packaging proof: sdist and wheels built, their contents checked, each
# installed and tested, the sdist installed without a compiler, mypy on a user
# module, cibuildwheel's identifiers. What is checked and how:
# .ci/checks/packaging_proof.py (its docstring).
#
# Usage: .ci/packaging.sh [PYTHON]   (default python3; 3.11+ for cibuildwheel)
# KEEP_WORK=1 keeps the work directory (wheels, logs) for inspection.
set -euo pipefail
python=$(command -v "${1:-python3}") || { echo "$0: no interpreter ${1:-python3}" >&2; exit 2; }
[[ $python == /* ]] || python=$PWD/$python
cd "$(dirname "$0")" # the checks package is importable from here
exec "$python" -B -m checks.packaging_proof
