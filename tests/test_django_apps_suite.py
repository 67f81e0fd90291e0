"""A wider set of Django's own test apps, the ones that exercise signals most
(``WIDE_APPS`` in ``tests/django_suite/run_django_tests.py``: model, m2m,
migrate, request, auth and setting signals, lazy-reference system checks...),
run with fastdispatch installed into Django, in one ``runtests.py`` run.

It takes a minute or more per implementation (marked ``slow``; ``-m "not
slow"`` leaves it out), so it runs for one implementation: the compiled one
(the pure-Python one without it, or with ``FASTDISPATCH_NO_EXTENSIONS=1``).
The run for the other one is also marked ``soak``: ``--run-soak`` runs it too
(``--run-soak -m slow``: the wider apps alone, for both). Its tests come from
Django's sdist (marked ``network``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from .django_suite import WIDE_APPS, assert_passed, format_counts, run_suite, wide_labels
from .helpers import IMPLEMENTATIONS, PRIMARY_IMPLEMENTATION


def send_frames(impl: ModuleType) -> int:
    """How many Python frames ``impl``'s ``Signal.send`` puts between its
    caller and a receiver (Django's: 1)."""
    signal = impl.Signal()
    depths: list[int] = []

    def receiver(**kwargs: object) -> None:
        frame = sys._getframe(1)
        depth = 0
        while frame is not None and frame.f_code is not caller.__code__:
            depth += 1
            frame = frame.f_back  # type: ignore[assignment]
        depths.append(depth)

    def caller() -> None:
        signal.send(sender=None)

    signal.connect(receiver)
    caller()
    return depths[0]


def known_failures(impl: ModuleType) -> dict[str, str]:
    """Django tests that fail with ``impl`` installed, and why."""
    failures = {}
    frames = send_frames(impl)
    if frames != 1:
        # Django's complex_setting_changed receiver (override_settings of
        # DATABASES and the like) warns with stacklevel=5, which counts the
        # one frame of Django's Signal.send.
        failures[
            "settings_tests.tests.TestComplexSettingOverride.test_complex_override_warning"
        ] = (
            f"a receiver's warnings.warn(stacklevel=N) counts Signal.send's frames: "
            f"Django's send is 1 Python frame, {impl.__name__}'s is {frames}"
        )
    return failures


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.parametrize(
    "implementation",
    [
        pytest.param(name, marks=() if name == PRIMARY_IMPLEMENTATION else pytest.mark.soak)
        for name in IMPLEMENTATIONS
    ],
)
def test_django_signal_heavy_apps(implementation: str, django_tests_dir: Path) -> None:
    """Django's signal-heavy test apps pass, except the known failures."""
    impl: ModuleType = IMPLEMENTATIONS[implementation]
    run = run_suite(impl, django_tests_dir, *wide_labels(django_tests_dir))
    counts = run.counts_by_app()
    print(f"{impl.__name__}: {run.status}; {run.seconds:.0f} s")
    print("tests by app (ran/ok/skipped/other):", format_counts(counts))
    assert_passed(run, impl, "signal-heavy apps", known_failures(impl))
    missing = sorted(app for app in WIDE_APPS if app.partition(".")[0] not in counts)
    assert not missing, f"no results for {missing}\n{run.tail()}"
    # (Python 3.12's "Ran N tests" leaves out tests of skipped classes, which
    # still print a "skipped" result: the results can outnumber N.)
    assert sum(sum(c.values()) for c in counts.values()) >= (run.ran or 0), run.tail()
