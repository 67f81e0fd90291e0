"""Deferred receivers: after the transaction commits, or on a worker.

::

    from django.db.models.signals import post_save
    from django.dispatch import receiver
    from fastdispatch.deferred import after_commit, on_worker

    @receiver(post_save, sender=Order)
    @after_commit                       # in this process, after the commit
    def notify(sender, instance, created, **kwargs): ...

    @receiver(post_save, sender=Order)
    @on_worker(celery_app)              # on a Celery worker, enqueued after the commit
    def send_invoice(sender, instance, created, **kwargs): ...

    @receiver(post_save, sender=Order)
    @on_worker(celery_app, enqueue="outbox")   # nothing lost: see fastdispatch.outbox
    def bill(sender, instance, **kwargs): ...

Engines: a Celery app (or ``CeleryEngine(app, queue=...)``), and Django's
Tasks framework (``django.tasks``, or ``DjangoTasks(backend=..., queue_name=...)``).
Importing this package imports neither Django nor Celery; ``import
fastdispatch`` does not import this package.
"""

from __future__ import annotations

from ._celery import CeleryEngine
from ._delivery import Deferred, Delivery, current_delivery
from ._django_tasks import DjangoTasks
from ._engines import Engine
from ._receivers import AfterCommitReceiver, DeferredReceiver, WorkerReceiver, after_commit, on_worker

__all__ = [
    "AfterCommitReceiver",
    "CeleryEngine",
    "Deferred",
    "DeferredReceiver",
    "Delivery",
    "DjangoTasks",
    "Engine",
    "WorkerReceiver",
    "after_commit",
    "current_delivery",
    "on_worker",
]
