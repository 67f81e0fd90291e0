"""Django settings for the deferred-delivery tests, their workers and benchmarks.

Read from the environment, so the pytest process, the Celery workers, the
django.tasks database worker, the outbox relay and the sender scripts all see
the same two SQLite databases (files in FD_DB_DIR) and the same brokers:

- FD_DB_DIR: directory of default.sqlite3 and other.sqlite3 (required);
- FD_REDIS_URL, FD_AMQP_URL: the brokers the tests started (optional);
- FD_DELIVERY_LOG: the file receivers append one JSON line per delivery to;
- FD_INSTALL_FASTDISPATCH=1: swap fastdispatch into Django (the sender scripts
  and the Django TestCase run; the pytest process keeps Django's dispatcher).
"""

from __future__ import annotations

import os
from pathlib import Path

import django

_db_dir = Path(os.environ["FD_DB_DIR"])

SECRET_KEY = "fastdispatch-deferred-tests"
DEBUG = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "fastdispatch.outbox",
    "django_tasks",
    "django_tasks_db",
    "tests.deferred.shop",
]


def _sqlite(name: str) -> dict[str, object]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(_db_dir / f"{name}.sqlite3"),
        # Several processes share these files: wait for locks instead of
        # failing, and let readers and the writer work side by side (WAL).
        "OPTIONS": {
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        },
        "TEST": {"NAME": str(_db_dir / f"test_{name}.sqlite3")},
    }


DATABASES = {"default": _sqlite("default"), "other": _sqlite("other")}
# django-tasks-db's twenty migrations take seconds on every fresh database
# (each test process makes some): create its tables from the models instead.
# The outbox's own migration runs as a user's would.
MIGRATION_MODULES = {"django_tasks_database": None}

# django.tasks (Django 6) and the django-tasks backport (Django 5.2) read the
# same setting. "default" is the database backend of django-tasks-db (task rows
# in the default database, run by manage.py db_worker); "dummy" keeps what is
# enqueued in memory, for tests that only look at what was enqueued.
_dummy = (
    "django.tasks.backends.dummy.DummyBackend"
    if django.VERSION >= (6, 0)
    else "django_tasks.backends.dummy.DummyBackend"
)
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "fd_python", "fd_compiled", "fd_bench", "fd_throughput"],
    },
    "dummy": {"BACKEND": _dummy, "QUEUES": []},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_tasks_db": {"handlers": ["stderr"], "level": "INFO"},
        "fastdispatch": {"handlers": ["stderr"], "level": "INFO"},
    },
}
