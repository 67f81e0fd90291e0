"""Wrong uses of fastdispatch's API that ``mypy --strict`` must reject.

``.ci/packaging.sh`` (checks.packaging_proof, step 6) runs mypy on this file
against the installed wheel: mypy must fail, with an error on every line
marked below. If it does not, the package's types are not seen. Never run.
"""

from fastdispatch import Signal

count: int = Signal().send(sender=None)  # mypy must reject this line
Signal().connect("not callable")  # mypy must reject this line
