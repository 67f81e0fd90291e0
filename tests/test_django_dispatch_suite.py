"""Django's own ``tests/dispatch`` and ``tests/signals`` suites, run with each
implementation installed into Django by ``fastdispatch.django.install()``.

The tests come from the sdist of the installed Django (downloaded into
``.django-sdist/`` on first use, see ``tests/django_suite/``: marked
``network``) and run through Django's ``tests/runtests.py`` in a subprocess
in which ``install()`` ran before Django created any signal, so Django's own
signals (``post_save``, ``setting_changed``...) are fastdispatch's too.
Skipped when Django is not installed or its sdist cannot be had (a failure
under ``--require-network``); a failed test or an install that did not hold
fails.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from .django_suite import assert_passed, run_suite


@pytest.mark.network
@pytest.mark.parametrize("app", ["dispatch", "signals"])
def test_django_suite(impl: ModuleType, app: str, django_tests_dir: Path) -> None:
    """Django's tests/dispatch (DispatcherTests, ReceiverTestCase...) and
    tests/signals (model signals, lazy senders, async receivers) pass."""
    assert_passed(run_suite(impl, django_tests_dir, app), impl, app)
