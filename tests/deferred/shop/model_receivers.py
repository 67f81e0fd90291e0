"""Receivers of Django's model signals, written as a project writes them.

Imported only by processes that swapped fastdispatch into Django
(scripts/model_signals.py, the Django TestCase run): the pytest process
keeps Django's own dispatcher and does not connect these.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from fastdispatch.deferred import DjangoTasks, after_commit, on_worker

from .models import Order

DUMMY = DjangoTasks(backend="dummy")  # keeps what is enqueued, for inspection

after_commit_calls: list[dict[str, Any]] = []


@receiver(post_save, sender=Order)
@after_commit
def order_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    after_commit_calls.append({"number": instance.number, "created": created, "using": kwargs["using"]})


@receiver(post_save, sender="shop.Order")  # Django's lazy "app_label.Model" sender
@on_worker(DUMMY)
def order_saved_on_worker(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    from .receivers import record

    record(sender, instance=instance, created=created, **kwargs)


def order_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    from .receivers import record

    record(sender, instance=instance, **kwargs)


# Signal.connect with a wrapper and Django's own keyword arguments.
post_delete.connect(on_worker(DUMMY, enqueue="now")(order_deleted), sender=Order, dispatch_uid="order-deleted")
