"""Fixtures of the deferred-delivery tests.

Django is configured in this process with the test project
(``tests/deferred/project/settings.py``: two SQLite databases in a temporary
directory, the outbox app, django-tasks' database backend). Django's own
dispatcher stays as it is here (other tests compare fastdispatch with it);
the tests send fastdispatch signals of the implementation under test
(``impl``), and tests that need Django's model signals on fastdispatch run a
script in a fresh interpreter that calls ``fastdispatch.django.install()``.

Brokers and workers start on first use and stop at the end of the session:
``redis`` and ``rabbitmq`` are our own servers on free loopback ports;
``workers`` starts Celery workers, django-tasks' ``db_worker`` and the outbox
relay for an implementation ("python" workers run with
FASTDISPATCH_NO_EXTENSIONS=1), all appending to one delivery log.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("celery", reason="the deferred tests need the test extra (pip install -e '.[test]')")
pytest.importorskip("django_tasks_db", reason="the deferred tests need the test extra (pip install -e '.[test]')")

from . import services  # noqa: E402
from .environment import DB_DIR, DELIVERY_LOG, Workers  # noqa: E402

# -- Django, in this process ---------------------------------------------------------

from django.conf import settings  # noqa: E402

CONFIGURED_HERE = not settings.configured
if CONFIGURED_HERE:
    import django

    from .project import settings as project_settings

    settings.configure(**{name: getattr(project_settings, name) for name in dir(project_settings) if name.isupper()})
    django.setup()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CONFIGURED_HERE:
        return
    skip = pytest.mark.skip(
        reason="Django's settings were configured before tests/deferred/conftest.py could configure the test project"
    )
    for item in items:
        if "tests/deferred" in item.nodeid:
            item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session) -> None:
    from django.db import connections

    connections.close_all()
    if os.environ.get("FD_KEEP_DIR"):  # for a look at the workers' logs
        print(f"\ntests/deferred: kept {DB_DIR}")
    else:
        shutil.rmtree(DB_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def _migrated(request: pytest.FixtureRequest) -> None:
    from django.core.management import call_command

    with _db_unblocked(request):
        for alias in ("default", "other"):
            call_command("migrate", database=alias, run_syncdb=True, verbosity=0)


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _db_unblocked(request: pytest.FixtureRequest) -> Any:
    """pytest-django blocks database access outside its own fixtures: these
    tests manage their databases themselves."""
    if request.config.pluginmanager.hasplugin("django"):
        blocker = request.getfixturevalue("django_db_blocker")
        if blocker is not None:
            return blocker.unblock()
    return _Nothing()


@pytest.fixture(autouse=True)
def _database(request: pytest.FixtureRequest, _migrated: None) -> Iterator[None]:
    with _db_unblocked(request):
        yield


@pytest.fixture
def impl_name(impl: ModuleType) -> str:
    from .shop.signals import impl_name

    return impl_name(impl)


# -- brokers --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis(request: pytest.FixtureRequest) -> Iterator[services.Redis]:
    services.require_binary(services.redis_binary(), "redis-server")
    server = services.Redis(DB_DIR / "redis").start()
    from .project.celery_app import redis_app

    redis_app.conf.broker_url = server.url
    os.environ["FD_REDIS_URL"] = server.url
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rabbitmq(request: pytest.FixtureRequest) -> Iterator[services.RabbitMQ]:
    services.require_binary(services.rabbitmq_binary(), "rabbitmq-server")
    server = services.RabbitMQ(DB_DIR / "rabbitmq")
    try:
        server.start()
        from .project.celery_app import amqp_app

        amqp_app.conf.broker_url = server.url
        os.environ["FD_AMQP_URL"] = server.url
        yield server
    finally:
        server.close()


# -- workers ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def workers(request: pytest.FixtureRequest) -> Iterator[Workers]:
    pool = Workers(request)
    yield pool
    pool.stop()


@pytest.fixture
def delivery_log() -> Path:
    return DELIVERY_LOG
