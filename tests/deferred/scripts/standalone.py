"""Send fastdispatch signals with deferred receivers in a process without
Django; prints one JSON object (what was sent, what failed, what was imported)."""

from __future__ import annotations

import json
import sys

from fastdispatch import Signal
from fastdispatch.deferred import after_commit, on_worker
from tests.deferred import standalone_app

report: dict[str, object] = {}
responses = standalone_app.order_placed.send(sender="shop", number=1)
report["sent"] = [{"delivery_id": r.delivery_id, "task_id": r.task_id, "mode": r.mode} for _, r in responses]

local = Signal()
local.connect(after_commit(standalone_app.on_order_placed))
try:
    local.send(sender="shop", number=2)
except RuntimeError as error:
    report["after_commit_error"] = str(error)
local.connect(on_worker(standalone_app.app)(standalone_app.on_order_placed))  # enqueue="on_commit"
try:
    local.send_robust(sender="shop", number=3)
    report["on_commit_error"] = str(local.send_robust(sender="shop", number=3)[-1][1])
except RuntimeError as error:
    report["on_commit_error"] = str(error)
# Celery itself imports the top of the django package when it is installed
# (to look for DJANGO_SETTINGS_MODULE); nothing here may set Django up.
report["django_used"] = sorted(m for m in ("django.conf", "django.db", "django.apps") if m in sys.modules)
report["compiled"] = __import__("fastdispatch").COMPILED
print(json.dumps(report))
