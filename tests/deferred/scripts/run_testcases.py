"""Run tests/deferred/django_testcases.py with Django's own test runner, with
fastdispatch swapped into Django first (as manage.py would). Exit status: the
number of failures."""

from __future__ import annotations

import sys

import fastdispatch.django

fastdispatch.django.install()

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.test.utils import get_runner  # noqa: E402

runner = get_runner(settings)(verbosity=2)
sys.exit(runner.run_tests(["tests.deferred.django_testcases"]))
