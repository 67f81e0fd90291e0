"""A throwaway Django project for the ``fastdispatch.django`` tests.

``install()`` changes ``django.dispatch`` for the whole process and cannot be
undone, while other tests compare fastdispatch with Django's own dispatcher in
the pytest process. So every test that installs runs its code in a fresh
interpreter: ``run_python(code)`` runs it with a small project on the path
(settings module ``fdproject.settings``, app ``fdapp`` with a few models) and
returns the completed process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import fastdispatch

from .run_django_tests import run_captured

SETTINGS = """\
SECRET_KEY = "fastdispatch-tests"
DEBUG = {debug}
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "fdapp",
]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING_CONFIG = None
"""

MODELS = """\
from django.db import models


class Topping(models.Model):
    name = models.CharField(max_length=50)


class Pizza(models.Model):
    name = models.CharField(max_length=50)
    toppings = models.ManyToManyField(Topping)
"""

SIGNALS = """\
from django.dispatch import Signal

pizza_done = Signal()
"""

# What a manage.py/wsgi.py does first, then Django's setup.
PRELUDE = """\
import fastdispatch.django
fastdispatch.django.install(implementation={implementation!r})

import django
django.setup()
"""

MIGRATE = """\
from django.core.management import call_command
call_command("migrate", run_syncdb=True, verbosity=0)
"""


def write_project(root: Path, *, debug: bool = False) -> Path:
    """Write the project under ``root``; return the folder to put on sys.path."""
    (root / "fdproject").mkdir(parents=True, exist_ok=True)
    (root / "fdproject" / "__init__.py").write_text("")
    (root / "fdproject" / "settings.py").write_text(SETTINGS.format(debug=debug))
    (root / "fdapp").mkdir(exist_ok=True)
    (root / "fdapp" / "__init__.py").write_text("")
    (root / "fdapp" / "models.py").write_text(MODELS)
    (root / "fdapp" / "signals.py").write_text(SIGNALS)
    return root


def environment(root: Path) -> dict[str, str]:
    package_root = str(Path(fastdispatch.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(root), package_root, *filter(None, [env.get("PYTHONPATH")])]
    )
    env["DJANGO_SETTINGS_MODULE"] = "fdproject.settings"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("FASTDISPATCH_NO_EXTENSIONS", None)
    return env


def run_python(
    root: Path, *code: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the pieces of ``code`` (each dedented) one after the other in a
    fresh interpreter inside the project, warnings as errors."""
    source = "\n".join(textwrap.dedent(piece) for piece in code)
    return run_captured(
        [sys.executable, "-X", "dev", "-W", "error", "-c", source],
        cwd=root,
        env=environment(root),
        timeout=timeout,
    )


def implementation_name(impl_module_name: str) -> str:
    return {
        "fastdispatch._dispatcher_c": "compiled",
        "fastdispatch._dispatcher_py": "python",
    }[impl_module_name]
