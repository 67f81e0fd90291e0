"""The deferred wrappers as receivers: connecting, lifetime, what send() returns,
and the receivers refused when they are wrapped (before any connect)."""

from __future__ import annotations

import functools
import gc
import subprocess
import sys
import textwrap
from types import ModuleType
from typing import Any

import pytest
from django.db import transaction

from fastdispatch.deferred import (
    AfterCommitReceiver,
    CeleryEngine,
    Deferred,
    DjangoTasks,
    WorkerReceiver,
    after_commit,
    on_worker,
)
from fastdispatch.deferred._django_tasks import tasks_framework

from . import services
from .project.celery_app import redis_app
from .shop import receivers
from .shop.signals import order_placed

ENGINE = DjangoTasks(backend="dummy")


def plain(sender: Any, **kwargs: Any) -> None:
    """A module-level receiver that is never connected as it is."""


def test_after_commit_response_says_deferred(impl: ModuleType) -> None:
    signal = impl.Signal()
    calls: list[dict[str, Any]] = []

    @after_commit
    def on_event(sender: Any, **kwargs: Any) -> str:
        calls.append(kwargs)
        return "ran"

    signal.connect(on_event)
    with transaction.atomic():
        responses = signal.send(sender="shop", value=1)
        assert calls == []
    [(receiver, response)] = responses
    assert receiver is on_event
    assert isinstance(on_event, AfterCommitReceiver)
    assert isinstance(response, Deferred)
    assert (response.mode, response.using, response.task_id) == ("after_commit", "default", None)
    assert response.receiver.endswith("on_event")
    assert "after_commit" in repr(response) and "ran" not in repr(response)
    assert [c["value"] for c in calls] == [1]


def test_worker_response_has_task_id(impl: ModuleType) -> None:
    signal = order_placed(impl)
    signal.connect(receivers.tasks_dummy_now)
    try:
        [(_, response)] = signal.send(sender=None, value=1)
    finally:
        signal.disconnect(receivers.tasks_dummy_now)
    assert isinstance(response, Deferred)
    assert (response.mode, response.enqueue, response.using) == ("worker", "now", None)
    assert response.engine == "django.tasks:dummy:default"
    results = tasks_framework().task_backends["dummy"].results
    assert response.task_id == str(results[-1].id)
    assert results[-1].args[0]["delivery_id"] == response.delivery_id


@pytest.mark.parametrize("wrap", ["after_commit", "on_worker"])
def test_weak_connect_survives_gc(impl: ModuleType, wrap: str) -> None:
    """post_save.connect(after_commit(f)) with weak=True: nobody else holds the
    wrapper, yet it lives as long as f."""
    signal = order_placed(impl)  # importable: a worker must find it
    if wrap == "after_commit":
        signal.connect(after_commit(receivers.record))
    else:
        signal.connect(on_worker(ENGINE, enqueue="now")(receivers.record))
    gc.collect()
    try:
        assert signal.has_listeners()
        [(receiver, response)] = signal.send(sender=None)
    finally:
        signal.disconnect(after_commit(receivers.record))
        signal.disconnect(on_worker(ENGINE, enqueue="now")(receivers.record))
    assert isinstance(receiver, (AfterCommitReceiver, WorkerReceiver))
    assert isinstance(response, Deferred)


def test_wrapper_lives_exactly_as_long_as_its_function(impl: ModuleType) -> None:
    signal = impl.Signal()

    def short_lived(sender: Any, **kwargs: Any) -> None:
        pass

    signal.connect(after_commit(short_lived))
    gc.collect()
    assert signal.has_listeners()
    del short_lived
    gc.collect()
    assert not signal.has_listeners()


def test_same_function_same_wrapper(impl: ModuleType) -> None:
    signal = impl.Signal()
    assert after_commit(receivers.record) is after_commit(receivers.record)
    assert on_worker(ENGINE)(receivers.record) is on_worker(DjangoTasks(backend="dummy"))(receivers.record)
    assert on_worker(ENGINE)(receivers.record) is not on_worker(ENGINE, enqueue="now")(receivers.record)
    signal.connect(after_commit(receivers.record))
    signal.connect(after_commit(receivers.record))
    assert len(signal.receivers) == 1
    assert signal.disconnect(after_commit(receivers.record))
    assert not signal.has_listeners()


def test_bound_method_after_commit_lives_with_its_instance(impl: ModuleType) -> None:
    signal = impl.Signal()
    seen: list[int] = []

    class Listener:
        def on_event(self, sender: Any, value: int, **kwargs: Any) -> None:
            seen.append(value)

    listener = Listener()
    signal.connect(after_commit(listener.on_event))
    gc.collect()
    signal.send(sender=None, value=1)  # autocommit: runs at once
    assert seen == [1]
    assert after_commit(listener.on_event) is after_commit(listener.on_event)
    del listener
    gc.collect()
    assert not signal.has_listeners()


def test_receiver_decorator_stacks(impl: ModuleType) -> None:
    signal = impl.Signal()
    seen: list[Any] = []

    @impl.receiver(signal, sender="shop")
    @after_commit
    def on_event(sender: Any, **kwargs: Any) -> None:
        seen.append(sender)

    gc.collect()
    signal.send(sender="other")
    signal.send(sender="shop")
    assert seen == ["shop"]
    assert isinstance(on_event, AfterCommitReceiver)
    assert on_event.__name__ == "on_event" and on_event.__wrapped__ is on_event.func


def test_decorators_in_the_wrong_order_are_refused(impl: ModuleType) -> None:
    """@on_worker above @receiver would connect the plain function (it would
    run inline): refused, with the fix."""
    signal = order_placed(impl)
    signal.connect(plain)
    try:
        with pytest.raises(TypeError, match=r"already connected to .*order_placed.* below @receiver"):
            on_worker(ENGINE)(plain)
        with pytest.raises(TypeError, match="already connected"):
            after_commit(plain)
    finally:
        signal.disconnect(plain)
    assert isinstance(on_worker(ENGINE)(plain), WorkerReceiver)


def test_calling_the_wrapper_directly_is_an_error() -> None:
    wrapper = after_commit(receivers.record)
    with pytest.raises(TypeError, match=r"deferred receiver: signals call it.*record\.func"):
        wrapper(sender=None)


def test_a_wrapper_cannot_be_wrapped_again() -> None:
    with pytest.raises(TypeError, match="already deferred"):
        on_worker(ENGINE)(after_commit(receivers.record))


# -- what a worker cannot import, refused at once -------------------------------------


def _nested() -> Any:
    def inner(sender: Any, **kwargs: Any) -> None:
        pass

    return inner


def _closure() -> Any:
    captured = 1

    def inner(sender: Any, **kwargs: Any) -> int:
        return captured

    return inner


class _Methods:
    def method(self, sender: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        pass


async def _async_receiver(sender: Any, **kwargs: Any) -> None:
    pass


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda: lambda sender, **kwargs: None, "is a lambda"),
        (_nested, "defined inside a function"),
        (_closure, "defined inside a function"),
        (lambda: _Methods().method, "is a bound method"),
        (lambda: _Methods(), "is a tests.deferred.test_wrappers._Methods object, not a function"),
        (lambda: functools.partial(plain, extra=1), "is a functools.partial object, not a function"),
        (lambda: print, "builtin_function_or_method object, not a function"),
        (lambda: _Methods, "is a class, not a function"),
    ],
    ids=["lambda", "nested", "closure", "bound-method", "callable-instance", "partial", "builtin", "class"],
)
def test_unimportable_receivers_are_refused_when_wrapped(impl: ModuleType, make: Any, why: str) -> None:
    signal = impl.Signal()
    func = make()
    with pytest.raises(TypeError) as raised:
        signal.connect(on_worker(ENGINE)(func))
    message = str(raised.value)
    assert why in message
    assert "must be a function defined with `def` at the top level of an importable module" in message
    assert "@on_worker(engine)" in message  # what to write instead
    assert not signal.has_listeners()


def test_async_receivers_are_refused() -> None:
    for decorate in (after_commit, on_worker(ENGINE)):
        with pytest.raises(TypeError, match="is an async function"):
            decorate(_async_receiver)


def test_function_of_main_script_is_refused(tmp_path: Any) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys
            os.environ["FD_DB_DIR"] = sys.argv[1]
            from fastdispatch.deferred import DjangoTasks, on_worker
            def handler(sender, **kwargs): pass
            try:
                on_worker(DjangoTasks(), enqueue="now")(handler)
            except TypeError as error:
                print(error)
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=services.ROOT,
    )
    assert "handler is defined in the __main__ script" in result.stdout, result.stdout + result.stderr


def test_after_commit_accepts_any_callable(impl: ModuleType) -> None:
    """after_commit runs in this process: closures and lambdas are fine."""
    signal = impl.Signal()
    seen: list[int] = []
    callback = after_commit(lambda sender, value, **kwargs: seen.append(value))
    signal.connect(callback)
    signal.send(sender=None, value=3)
    assert seen == [3]


# -- engines and options ---------------------------------------------------------------


def test_engine_must_be_an_engine() -> None:
    with pytest.raises(TypeError, match=r"needs an engine, not 'redis://'.*Celery app.*django.tasks"):
        on_worker("redis://")


def test_engine_forms() -> None:
    framework = tasks_framework()  # django.tasks, or django_tasks on Django 5.2
    assert on_worker(redis_app)(plain).engine is CeleryEngine.for_app(redis_app)
    assert on_worker(redis_app)(plain) is on_worker(CeleryEngine(redis_app))(plain)
    assert on_worker(framework)(plain).engine == DjangoTasks()


def test_enqueue_must_be_known() -> None:
    with pytest.raises(ValueError, match="enqueue must be one of 'on_commit', 'now', 'outbox'"):
        on_worker(ENGINE, enqueue="later")  # type: ignore[arg-type]


def test_django_tasks_has_no_retries() -> None:
    with pytest.raises(TypeError, match="Django's Tasks framework has none"):
        on_worker(ENGINE, retry_on=(ValueError,))
    with pytest.raises(TypeError, match="retry_on must be a tuple of exception classes"):
        on_worker(redis_app, retry_on=ValueError)  # type: ignore[arg-type]


def test_import_fastdispatch_imports_none_of_this() -> None:
    code = textwrap.dedent(
        """
        import sys
        before = set(sys.modules)
        import fastdispatch
        base = set(sys.modules)
        watched = ("fastdispatch.deferred", "fastdispatch.outbox", "django", "celery", "kombu")
        print(sorted(m for m in base - before if m.startswith(watched)))
        import fastdispatch.deferred
        added = set(sys.modules) - base
        print(sorted(m for m in added if m.startswith(("django", "celery", "kombu", "asyncio"))))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.splitlines() == ["[]", "[]"], result.stdout + result.stderr
