"""Unit tests of the CI programs in .ci/checks.

Run from the repository root: ``python -m pytest .ci/tests`` (any interpreter
with pytest; the driver's test also needs fastdispatch, and skips the
compiled half when the extension is not built).
"""

from __future__ import annotations

import sys
from pathlib import Path

# The checks package lives in .ci/, which is not itself importable by name.
CI = Path(__file__).resolve().parents[1]
if str(CI) not in sys.path:
    sys.path.insert(0, str(CI))
