"""Deferred receivers inside Django's TestCase and TransactionTestCase.

Run by Django's test runner (scripts/run_testcases.py, via
test_model_signals.py), not by pytest: the name does not start with test_.
TestCase wraps each test in a transaction that is rolled back, so after-commit
work never runs unless the test asks with captureOnCommitCallbacks.
"""

from __future__ import annotations

from django.db import transaction
from django.test import TestCase, TransactionTestCase

from fastdispatch.deferred import Deferred
from fastdispatch.deferred._django_tasks import tasks_framework

from .shop import model_receivers
from .shop.models import Order


def enqueued() -> int:
    return len(tasks_framework().task_backends["dummy"].results)


class DeferredInTestCase(TestCase):
    databases = {"default", "other"}

    def setUp(self) -> None:
        model_receivers.after_commit_calls.clear()

    def test_nothing_runs_without_capture(self) -> None:
        before = enqueued()
        Order.objects.create(number=1)
        self.assertEqual(model_receivers.after_commit_calls, [])
        self.assertEqual(enqueued(), before)

    def test_capture_without_execute(self) -> None:
        with self.captureOnCommitCallbacks() as callbacks:
            Order.objects.create(number=2)
        self.assertEqual(len(callbacks), 2)  # after_commit, and on_worker's enqueue
        self.assertEqual(model_receivers.after_commit_calls, [])
        for callback in callbacks:
            callback()
        self.assertEqual([c["number"] for c in model_receivers.after_commit_calls], [2])

    def test_capture_with_execute(self) -> None:
        before = enqueued()
        with self.captureOnCommitCallbacks(execute=True):
            Order.objects.create(number=3)
        self.assertEqual([c["number"] for c in model_receivers.after_commit_calls], [3])
        self.assertEqual(enqueued(), before + 1)

    def test_capture_on_the_other_database(self) -> None:
        with self.captureOnCommitCallbacks(using="default", execute=True) as on_default:
            with self.captureOnCommitCallbacks(using="other", execute=True) as on_other:
                Order.objects.using("other").create(number=4)
        self.assertEqual((len(on_default), len(on_other)), (0, 2))
        self.assertEqual(model_receivers.after_commit_calls, [{"number": 4, "created": True, "using": "other"}])

    def test_send_returns_deferred(self) -> None:
        from django.db.models.signals import post_save

        responses = post_save.send(sender=Order, instance=Order.objects.create(number=5), created=False, using="default")
        deferred = [response for _, response in responses if isinstance(response, Deferred)]
        self.assertEqual(sorted(d.mode for d in deferred), ["after_commit", "worker"])


class DeferredInTransactionTestCase(TransactionTestCase):
    databases = {"default", "other"}

    def test_real_commit_and_rollback(self) -> None:
        model_receivers.after_commit_calls.clear()
        with transaction.atomic():
            Order.objects.create(number=6)
            transaction.set_rollback(True)
        with transaction.atomic():
            Order.objects.create(number=7)
        self.assertEqual([c["number"] for c in model_receivers.after_commit_calls], [7])
