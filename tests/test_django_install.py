"""``fastdispatch.django.install()``: every Django signal on fastdispatch.

Each test runs its code in a fresh interpreter (see
``tests/django_suite/project.py``): the install is for the whole process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .helpers import IMPLEMENTATIONS

pytest.importorskip(
    "django",
    reason="Django is not installed (pip install django to run these; CI does)",
)

from .django_suite import run_captured  # noqa: E402
from .django_suite.project import (  # noqa: E402
    MIGRATE,
    PRELUDE,
    environment,
    implementation_name,
    run_python,
    write_project,
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout
    return result.stdout


def _prelude(impl: ModuleType) -> str:
    return PRELUDE.format(implementation=implementation_name(impl.__name__))


def _run_installed(project: Path, impl: ModuleType, *code: str) -> str:
    """Run ``code`` in the project after installing ``impl``; its output (it must succeed)."""
    return _ok(run_python(project, _prelude(impl), *code))


def test_every_django_signal_is_a_fastdispatch_signal(
    impl: ModuleType, project: Path
) -> None:
    out = _run_installed(
        project,
        impl,
        f"""
        import importlib
        import django
        import django.dispatch
        import django.dispatch.dispatcher
        import fastdispatch.django
        from {impl.__name__} import Signal as Core

        fastdispatch.django.install(implementation={implementation_name(impl.__name__)!r})  # again
        assert fastdispatch.django.is_installed()
        assert django.dispatch.Signal is django.dispatch.dispatcher.Signal
        assert issubclass(django.dispatch.Signal, Core)
        expected = {{
            "django.core.signals": ["request_started", "request_finished",
                                    "got_request_exception", "setting_changed"],
            "django.db.backends.signals": ["connection_created"],
            "django.db.models.signals": [
                "class_prepared", "pre_init", "post_init", "pre_save", "post_save",
                "pre_delete", "post_delete", "m2m_changed", "pre_migrate", "post_migrate",
            ],
            "django.contrib.auth.signals": ["user_logged_in", "user_login_failed",
                                            "user_logged_out"],
            "django.test.signals": ["template_rendered"],
            "django.utils.autoreload": ["autoreload_started", "file_changed"],
        }}
        if django.VERSION >= (6, 0):
            expected["django.tasks.signals"] = ["task_enqueued", "task_finished",
                                                "task_started"]
        report = fastdispatch.django.accelerated_signals(import_django=True)
        for module_name, names in expected.items():
            module = importlib.import_module(module_name)
            for name in names:
                signal = getattr(module, name)
                assert isinstance(signal, Core), (module_name, name, type(signal))
                assert report[f"{{module_name}}.{{name}}"] is True, (module_name, name)
        assert all(report.values()), report
        # django.test.signals.setting_changed is django.core.signals's.
        from django.test import signals as test_signals
        from django.core import signals as core_signals
        assert test_signals.setting_changed is core_signals.setting_changed

        # A third-party signal defined afterwards.
        from fdapp.signals import pizza_done
        assert isinstance(pizza_done, Core)
        assert fastdispatch.django.accelerated_signals()["fdapp.signals.pizza_done"]
        print("ok", len(report))
        """,
    )
    assert out.strip().startswith("ok")


def test_model_signals_with_lazy_senders(impl: ModuleType, project: Path) -> None:
    _run_installed(
        project,
        impl,
        MIGRATE,
        """
        from django.db.models import signals
        from django.apps import apps
        from fdapp.models import Pizza, Topping

        seen = []

        def on_init(sender, instance, **kwargs):
            seen.append(("post_init", sender.__name__))

        def on_save(sender, instance, created, **kwargs):
            seen.append(("post_save", sender.__name__, created))

        def on_m2m(sender, action, **kwargs):
            seen.append(("m2m_changed", action))

        def on_delete(sender, **kwargs):
            seen.append(("post_delete", sender.__name__))

        # "app_label.ModelName" senders, as Django documents them.
        signals.post_init.connect(on_init, sender="fdapp.Pizza")
        signals.post_save.connect(on_save, sender="fdapp.Pizza")
        signals.m2m_changed.connect(on_m2m, sender=Pizza.toppings.through)
        signals.post_delete.connect(on_delete, sender="fdapp.Topping")

        pizza = Pizza.objects.create(name="margherita")
        Topping(name="unsaved")  # no post_init receiver for Topping
        topping = Topping.objects.create(name="basil")
        pizza.toppings.add(topping)
        topping.delete()
        assert seen == [
            ("post_init", "Pizza"),
            ("post_save", "Pizza", True),
            ("m2m_changed", "pre_add"),
            ("m2m_changed", "post_add"),
            ("post_delete", "Topping"),
        ], seen
        seen.clear()
        list(Pizza.objects.all())
        assert seen == [("post_init", "Pizza")], seen

        # (Django returns None for a lazy sender, even when it resolves.)
        signals.post_init.disconnect(on_init, sender="fdapp.Pizza")
        assert not signals.post_init.has_listeners(Pizza)
        Pizza(name="x")
        assert seen == [("post_init", "Pizza")], seen

        # A lazy sender whose model comes later: pending until then.
        signals.pre_save.connect(on_save, sender="fdapp.Later")
        assert ("fdapp", "later") in apps._pending_operations
        """,
    )


def test_lazy_reference_check_keeps_signals_E001(impl: ModuleType, project: Path) -> None:
    """Django's system check names a model signal connected to a missing model
    (signals.E001), as with Django's own dispatcher."""
    out = _run_installed(
        project,
        impl,
        """
        from django.apps import apps
        from django.core.checks.model_checks import _check_lazy_references
        from django.db.models import signals

        def on_save(sender, **kwargs):
            pass

        signals.post_save.connect(on_save, sender="fdapp.Missing")
        signals.pre_delete.connect(on_save, sender="nowhere.Model")
        errors = _check_lazy_references(apps)
        for error in errors:
            print(error.id, error.msg)
        assert sorted(e.id for e in errors) == ["signals.E001", "signals.E001"], errors
        """,
    )
    assert (
        "The function 'on_save' was connected to the 'post_save' signal with a lazy "
        "reference to the sender 'fdapp.missing', but app 'fdapp' doesn't provide "
        "model 'missing'." in out
    )
    assert "'pre_delete' signal with a lazy reference to the sender 'nowhere.model'" in out


def test_make_id_patch_reaches_the_installed_signal(
    impl: ModuleType, project: Path
) -> None:
    """Django's tests patch ``django.dispatch.dispatcher._make_id``."""
    _run_installed(
        project,
        impl,
        f"""
        from unittest import mock
        import {impl.__name__} as impl
        from django.dispatch import Signal
        from django.dispatch.dispatcher import _make_id

        original = impl._make_id
        assert _make_id is original
        calls = []

        def make_id(target):
            calls.append(target)
            return original(target)

        def receiver(**kwargs):
            pass

        signal = Signal()
        with mock.patch("django.dispatch.dispatcher._make_id", make_id):
            assert impl._make_id is make_id
            signal.connect(receiver)
        assert calls == [receiver], calls
        assert impl._make_id is original
        """,
    )


@pytest.mark.parametrize("debug", [True, False])
def test_receiver_checks_follow_settings_debug(
    impl: ModuleType, tmp_path: Path, debug: bool
) -> None:
    project = write_project(tmp_path, debug=debug)
    out = _run_installed(
        project,
        impl,
        """
        from django.dispatch import Signal

        def no_kwargs(sender):
            pass

        signal = Signal()
        try:
            signal.connect(no_kwargs)
        except ValueError as error:
            print("rejected:", error)
        else:
            print("accepted")
        try:
            signal.connect(42)
        except TypeError as error:
            print("rejected:", error)
        """,
    )
    if debug:
        assert "rejected: Signal receivers must accept keyword arguments (**kwargs)." in out
    else:
        assert "accepted" in out
    assert "rejected: Signal receivers must be callable." in out


def test_send_robust_logs_on_django_dispatch_logger(impl: ModuleType, project: Path) -> None:
    out = _run_installed(
        project,
        impl,
        """
        import logging
        from django.dispatch import Signal

        records = []

        class Collect(logging.Handler):
            def emit(self, record):
                records.append(record)

        logging.getLogger("django.dispatch").addHandler(Collect())

        def fails(sender, **kwargs):
            raise ValueError("boom")

        signal = Signal()
        signal.connect(fails)
        [(receiver, response)] = signal.send_robust(sender=None)
        assert isinstance(response, ValueError)
        [record] = records
        assert record.name == "django.dispatch", record.name
        assert record.levelno == logging.ERROR
        assert record.exc_info[1] is response
        print(record.getMessage())
        """,
    )
    assert "Error calling fails in Signal.send_robust() (boom)" in out


MANAGE_PY = """\
#!/usr/bin/env python
import os
import sys

import fastdispatch.django

fastdispatch.django.install()


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fdproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
"""

def test_manage_py_wsgi_py_asgi_py(project: Path) -> None:
    """The documented first lines of manage.py, wsgi.py and asgi.py."""
    (project / "manage.py").write_text(MANAGE_PY)
    for kind in ("wsgi", "asgi"):
        (project / "fdproject" / f"{kind}.py").write_text(
            "import os\n\n"
            "import fastdispatch.django\n\n"
            "fastdispatch.django.install()\n\n"
            f"from django.core.{kind} import get_{kind}_application  # noqa: E402\n\n"
            'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fdproject.settings")\n'
            f"application = get_{kind}_application()\n"
        )
    check = (
        "import fastdispatch.django; "
        "report = fastdispatch.django.accelerated_signals(import_django=True); "
        "assert report and all(report.values()), report; "
        "print('accelerated', len(report))"
    )
    result = run_captured(
        [sys.executable, "manage.py", "shell", "-c", check],
        cwd=project, env=environment(project), timeout=120,
    )
    assert result.returncode == 0, result.stdout
    assert "accelerated" in result.stdout
    for kind in ("wsgi", "asgi"):
        _ok(
            run_python(
                project,
                f"""
                from fdproject.{kind} import application
                import fastdispatch.django
                assert fastdispatch.django.is_installed()
                report = fastdispatch.django.accelerated_signals()
                assert report["django.core.signals.request_started"] is True
                assert all(report.values()), report
                """,
            )
        )


def test_install_after_django_raises_and_names_modules(
    impl: ModuleType, project: Path
) -> None:
    """Signals created before install() would stay Django's: an error, never
    a half-swap."""
    out = _ok(
        run_python(
            project,
            f"""
            import django
            django.setup()  # creates Django's signals with Django's Signal
            import django.dispatch
            import fastdispatch.django

            stock = django.dispatch.Signal
            try:
                fastdispatch.django.install(implementation={implementation_name(impl.__name__)!r})
            except fastdispatch.django.InstallError as error:
                print(error)
            else:
                raise AssertionError("no error")
            # Nothing changed.
            assert django.dispatch.Signal is stock
            assert django.dispatch.dispatcher.Signal is stock
            assert not fastdispatch.django.is_installed()
            report = fastdispatch.django.accelerated_signals()
            assert report["django.db.models.signals.post_save"] is False
            assert not any(report.values())
            """,
        )
    )
    assert "django.db.models.signals: class_prepared, m2m_changed, post_delete" in out
    assert "django.core.signals: got_request_exception" in out
    assert "django.contrib.auth.signals: user_logged_in" in out
    assert "first lines of manage.py, wsgi.py and asgi.py" in out
    assert "settings.py is too late" in out
    assert "-p fastdispatch.django" in out


def test_install_after_importing_only_the_dispatcher(project: Path) -> None:
    """Nothing was created with Django's class yet: install() goes ahead."""
    _ok(
        run_python(
            project,
            """
            import django.dispatch
            from django.dispatch import receiver  # Django's decorator: fine
            import fastdispatch.django
            fastdispatch.django.install()
            import django
            django.setup()
            from django.db.models.signals import post_save
            assert isinstance(post_save, fastdispatch.Signal)
            assert all(fastdispatch.django.accelerated_signals().values())

            @receiver(post_save)
            def on_save(sender, **kwargs):
                pass

            assert post_save.has_listeners()
            """,
        )
    )


def test_install_refuses_when_code_holds_djangos_signal_class(project: Path) -> None:
    """A module that imported Django's Signal class could create signals (or
    patch the class, as sentry-sdk does) behind install()'s back."""
    out = _ok(
        run_python(
            project,
            """
            import sys, types
            from django.dispatch import Signal
            holder = types.ModuleType("thirdparty.hooks")
            holder.Signal = Signal
            sys.modules["thirdparty.hooks"] = holder

            class Widget:
                changed = Signal()  # not bound to a module-level name

            import fastdispatch.django
            try:
                fastdispatch.django.install()
            except fastdispatch.django.InstallError as error:
                print(error)
            else:
                raise AssertionError("no error")
            """,
        )
    )
    assert "thirdparty.hooks: Signal (class)" in out
    assert "(not bound to a module-level name): <django.dispatch.dispatcher.Signal" in out


@pytest.mark.skipif(
    "compiled" not in IMPLEMENTATIONS,
    reason="switching to the compiled implementation needs the compiled extension",
)
def test_install_cannot_switch_implementation(project: Path) -> None:
    out = _ok(
        run_python(
            project,
            """
            import fastdispatch.django
            fastdispatch.django.install(implementation="python")
            assert fastdispatch.django.installed_implementation() == "python"
            try:
                fastdispatch.django.install(implementation="compiled")
            except fastdispatch.django.InstallError as error:
                print(error)
            fastdispatch.django.install(implementation="python")
            fastdispatch.django.install()  # whatever is installed
            assert fastdispatch.django.installed_implementation() == "python"
            try:
                fastdispatch.django.install(implementation="cython")
            except ValueError as error:
                print(error)
            """,
        )
    )
    assert "installed with the python implementation" in out
    assert "implementation must be" in out


def test_importing_the_module_installs_nothing(project: Path) -> None:
    _ok(
        run_python(
            project,
            """
            import fastdispatch.django
            import django
            django.setup()
            import django.dispatch
            assert not fastdispatch.django.is_installed()
            assert django.dispatch.Signal.__module__ == "django.dispatch.dispatcher"
            """,
        )
    )


# -- packages that reach into the dispatcher ------------------------------------


def test_factory_boy_mute_signals(impl: ModuleType, project: Path) -> None:
    pytest.importorskip("factory", reason="factory_boy is not installed")
    _run_installed(
        project,
        impl,
        MIGRATE,
        """
        import factory
        from factory.django import DjangoModelFactory, mute_signals
        from django.db.models import signals
        from fdapp.models import Pizza

        seen = []

        def on_pre_save(sender, instance, **kwargs):
            seen.append(("pre_save", instance.name))

        def on_post_save(sender, instance, **kwargs):
            seen.append(("post_save", instance.name))

        signals.pre_save.connect(on_pre_save, sender=Pizza)
        signals.post_save.connect(on_post_save, sender=Pizza)

        class PizzaFactory(DjangoModelFactory):
            class Meta:
                model = Pizza
            name = factory.Sequence(lambda n: f"pizza{n}")

        PizzaFactory(name="loud")
        with mute_signals(signals.pre_save, signals.post_save):
            PizzaFactory(name="quiet")
            assert signals.post_save.receivers == []

        @mute_signals(signals.post_save)
        def make():
            return PizzaFactory(name="half")

        make()
        PizzaFactory(name="loud again")
        assert seen == [
            ("pre_save", "loud"), ("post_save", "loud"),
            ("pre_save", "half"),
            ("pre_save", "loud again"), ("post_save", "loud again"),
        ], seen
        assert len(signals.post_save.receivers) == 1
        assert Pizza.objects.count() == 4
        """,
    )


def test_sentry_sdk_sees_every_send(impl: ModuleType, project: Path) -> None:
    """sentry-sdk's Django integration replaces ``Signal._live_receivers`` on
    ``django.dispatch.Signal`` to time each receiver: it must see every send."""
    pytest.importorskip("sentry_sdk", reason="sentry-sdk is not installed")
    out = _run_installed(
        project,
        impl,
        """
        import sentry_sdk
        from sentry_sdk.integrations.django import DjangoIntegration
        from sentry_sdk.transport import Transport
        from django.dispatch import Signal
        from django.db.models import signals
        from fdapp.models import Pizza

        envelopes = []

        class Capture(Transport):
            def capture_envelope(self, envelope):
                envelopes.append(envelope)

        sentry_sdk.init(
            dsn="https://public@sentry.invalid/1",
            integrations=[DjangoIntegration(signals_spans=True)],
            default_integrations=False,
            traces_sample_rate=1.0,
            transport=Capture,
        )
        wrapped = Signal._live_receivers
        assert wrapped.__name__ == "_sentry_live_receivers", wrapped

        calls = []

        def first(sender, **kwargs):
            calls.append("first")
            return 1

        class Listener:
            def method(self, sender, **kwargs):
                calls.append("method")
                return 2

        listener = Listener()
        done = Signal()
        done.connect(first)
        done.connect(listener.method)
        signals.post_init.connect(first, sender=Pizza)

        with sentry_sdk.start_transaction(name="signals"):
            for _ in range(3):
                assert [r for _, r in done.send(sender=None)] == [1, 2]
            assert [r for _, r in done.send_robust(sender=None)] == [1, 2]
            Pizza(name="a")
            Pizza(name="b")
        sentry_sdk.flush()
        spans = [
            span["description"]
            for envelope in envelopes
            for item in envelope.items
            if item.type == "transaction"
            for span in item.payload.json["spans"]
            if span["op"] == "event.django"
        ]
        print(spans)
        assert calls == ["first", "method"] * 4 + ["first"] * 2, calls
        assert len(spans) == 10, spans
        assert spans.count("__main__.first") == 6, spans
        assert spans.count("__main__.Listener.method") == 4, spans
        """,
    )
    assert "__main__.first" in out


def test_overriding_and_patching_live_receivers(impl: ModuleType, project: Path) -> None:
    """A subclass that overrides ``_live_receivers``, and a patch of it on
    ``django.dispatch.Signal``, see every send of model signals too."""
    _run_installed(
        project,
        impl,
        """
        from unittest import mock
        from django.dispatch import Signal
        from django.db.models import signals
        from fdapp.models import Pizza

        seen = []

        class Timed(Signal):
            def _live_receivers(self, sender):
                sync, async_ = super()._live_receivers(sender)
                seen.append(("override", len(sync)))
                return sync, async_

        def receiver(sender, **kwargs):
            return "r"

        timed = Timed()
        timed.connect(receiver)
        assert timed.send(sender=None) == [(receiver, "r")]
        assert timed.send_robust(sender=None) == [(receiver, "r")]
        assert seen == [("override", 1)] * 2, seen

        original = Signal._live_receivers

        def patched(self, sender):
            sync, async_ = original(self, sender)
            seen.append(("patched", type(self).__name__))
            return [lambda **kw: (r(**kw), "wrapped")[1] for r in sync], async_

        signals.post_init.connect(receiver, sender=Pizza)
        seen.clear()
        with mock.patch.object(Signal, "_live_receivers", patched):
            Pizza(name="a")
            [(_, response)] = signals.post_init.send(sender=Pizza, instance=None)
            assert response == "wrapped"
        assert seen == [("patched", "ModelSignal")] * 2, seen
        seen.clear()
        Pizza(name="b")
        assert seen == [], seen
        """,
    )


# -- the pytest plugin ----------------------------------------------------------

PYTEST_TEST = """\
import django.dispatch
import fastdispatch.django
from django.db.models.signals import post_save


def test_installed():
    assert fastdispatch.django.is_installed()
    assert fastdispatch.django.installed_implementation() == {implementation!r}
    report = fastdispatch.django.accelerated_signals(import_django=True)
    assert report["django.db.models.signals.post_save"] is True
    assert all(report.values()), report
"""


def _pytest(
    project: Path, *args: str, python_impl: bool = False
) -> subprocess.CompletedProcess[str]:
    env = environment(project)
    env.pop("PYTEST_ADDOPTS", None)
    if python_impl:  # what makes install() pick the pure-Python implementation
        env["FASTDISPATCH_NO_EXTENSIONS"] = "1"
    return run_captured(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=project,
        env=env,
        timeout=300,
    )


def test_pytest_plugin_with_pytest_django(impl: ModuleType, project: Path) -> None:
    """``addopts = -p fastdispatch.django`` installs before pytest-django sets
    Django up (from DJANGO_SETTINGS_MODULE in the ini file)."""
    pytest.importorskip("pytest_django", reason="pytest-django is not installed")
    name = implementation_name(impl.__name__)
    (project / "test_signals_installed.py").write_text(
        PYTEST_TEST.format(implementation=name)
    )
    (project / "pytest.ini").write_text(
        "[pytest]\nDJANGO_SETTINGS_MODULE = fdproject.settings\n"
        "addopts = -p fastdispatch.django\n"
    )
    result = _pytest(project, python_impl=name == "python")
    assert result.returncode == 0, result.stdout
    assert "1 passed" in result.stdout


def test_pytest_plugin_header_and_plain_django(project: Path) -> None:
    """Without pytest-django too (settings configured by a conftest.py)."""
    (project / "conftest.py").write_text(
        "import django\n\n\ndef pytest_configure(config):\n    django.setup()\n"
    )
    (project / "test_signals_installed.py").write_text(
        PYTEST_TEST.format(implementation="compiled").replace(
            "    assert fastdispatch.django.installed_implementation() == 'compiled'\n", ""
        )
    )
    result = _pytest(project, "-p", "fastdispatch.django", "-p", "no:django")
    assert result.returncode == 0, result.stdout
    assert "1 passed" in result.stdout
    result = _pytest(project, "-p", "fastdispatch.django", "-p", "no:django", "-v")
    assert "fastdispatch.django: django.dispatch runs on fastdispatch" in result.stdout


def test_pytest_plugin_too_late_is_an_error(project: Path) -> None:
    """Loaded from a conftest.py after Django was set up: pytest fails loudly."""
    pytest.importorskip("pytest_django", reason="pytest-django is not installed")
    (project / "pytest.ini").write_text("[pytest]\nDJANGO_SETTINGS_MODULE = fdproject.settings\n")
    (project / "conftest.py").write_text('pytest_plugins = ["fastdispatch.django"]\n')
    (project / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    result = _pytest(project)
    assert result.returncode != 0, result.stdout
    assert "InstallError" in result.stdout
    assert "-p fastdispatch.django" in result.stdout
