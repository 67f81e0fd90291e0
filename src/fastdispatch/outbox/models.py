"""One row per delivery that is waiting to be handed to its engine."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone


class OutboxMessage(models.Model):
    """A deferred delivery written in the send's transaction.

    ``available_at`` is when a relay may take it: a little in the future when
    it is written (the sending process publishes it itself right after the
    commit), pushed forward while a relay holds it, and back to now when a
    publish fails. ``attempts`` counts publish attempts.
    """

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    delivery_id: models.CharField[str, str] = models.CharField(max_length=32, unique=True)
    receiver: models.CharField[str, str] = models.CharField(max_length=300)
    message: models.TextField[str, str] = models.TextField(help_text="The delivery, as JSON.")
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(default=timezone.now)
    available_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(db_index=True)
    attempts: models.PositiveIntegerField[int, int] = models.PositiveIntegerField(default=0)
    last_error: models.TextField[str, str] = models.TextField(blank=True, default="")

    class Meta:
        db_table = "fastdispatch_outbox"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.receiver} ({self.delivery_id})"
