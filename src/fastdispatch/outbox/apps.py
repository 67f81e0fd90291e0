from __future__ import annotations

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "fastdispatch.outbox"
    label = "fastdispatch_outbox"
    verbose_name = "fastdispatch outbox"
    default_auto_field = "django.db.models.BigAutoField"
