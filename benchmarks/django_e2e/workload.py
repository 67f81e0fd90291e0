"""One process of the end-to-end benchmark: Django model workloads, timed.

Run by ``run.py`` (which is the command to use); by hand::

    python benchmarks/django_e2e/workload.py --mode stock
    python benchmarks/django_e2e/workload.py --mode compiled --scale 0.01

``--mode stock`` runs on Django's own dispatcher; ``compiled``/``python`` call
``fastdispatch.django.install()`` with that implementation first, before
Django is imported, as a project's manage.py would. The process prints one
JSON object: for each workload, the seconds of each repetition.

The workloads (Django configured with ``DEBUG=False`` and an in-memory SQLite
database; ``Book`` has five fields):

- ``init``: ``Book(...)`` 100,000 times, no receivers (``pre_init`` and
  ``post_init`` are still sent for every instance);
- ``init_post_init``: the same with one ``post_init`` receiver for ``Book``,
  a bound method, connected the way ImageField and field trackers
  (django-model-utils' FieldTracker) connect theirs;
- ``load_post_init``: ``list(Book.objects.all())`` over 100,000 rows, with
  that receiver;
- ``save``: ``Book(...).save()`` 10,000 times in one transaction, with a
  ``pre_save`` and a ``post_save`` receiver (plain functions, ``sender=Book``).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

WORKLOADS = ("init", "init_post_init", "load_post_init", "save")
SIZES = {"init": 100_000, "init_post_init": 100_000, "load_post_init": 100_000, "save": 10_000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["stock", "compiled", "python"], required=True)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each workload")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the workload sizes (tests: 0.001)"
    )
    parser.add_argument(
        "--clock", choices=["cpu", "wall"], default="cpu",
        help="cpu: time.process_time(), this process's CPU time (the default: on "
        "a shared machine, waiting for a CPU is not counted); wall: time.perf_counter()",
    )
    options = parser.parse_args(argv)

    if options.mode != "stock":
        import fastdispatch.django

        fastdispatch.django.install(implementation=options.mode)

    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        INSTALLED_APPS=[],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        USE_TZ=False,
    )
    django.setup()

    import datetime

    import django.dispatch
    from django.db import connection, models, transaction
    from django.db.models.signals import post_init, post_save, pre_save

    class Book(models.Model):
        title = models.CharField(max_length=100)
        author = models.CharField(max_length=100)
        pages = models.IntegerField(default=0)
        rating = models.FloatField(default=0.0)
        published = models.DateField(null=True)

        class Meta:
            app_label = "e2e"

    with connection.schema_editor() as editor:
        editor.create_model(Book)

    class Tracker:
        """Remembers the loaded title, as a field tracker does."""

        def __init__(self) -> None:
            self.count = 0

        def initialize(self, sender: Any, instance: Book, **kwargs: Any) -> None:
            instance._loaded_title = instance.__dict__.get("title")  # type: ignore[attr-defined]
            self.count += 1

    saved: list[int] = [0, 0]

    def before_save(sender: Any, instance: Book, **kwargs: Any) -> None:
        if not instance.author:
            instance.author = "anonymous"
        saved[0] += 1

    def after_save(sender: Any, instance: Book, created: bool, **kwargs: Any) -> None:
        saved[1] += created

    day = datetime.date(2020, 1, 1)
    n_init = max(1, int(SIZES["init"] * options.scale))
    n_load = max(1, int(SIZES["load_post_init"] * options.scale))
    n_save = max(1, int(SIZES["save"] * options.scale))
    tracker = Tracker()

    def init() -> None:
        for i in range(n_init):
            Book(title="Dune", author="Frank Herbert", pages=i, rating=4.5, published=day)

    def load() -> None:
        books = list(Book.objects.all())
        assert len(books) == n_load

    def save() -> None:
        with transaction.atomic():
            for i in range(n_save):
                Book(title="Emma", author="", pages=i, rating=3.0, published=day).save()

    clock = time.process_time if options.clock == "cpu" else time.perf_counter

    def timed(body: Callable[[], None]) -> list[float]:
        times = []
        for _ in range(options.repeat):
            gc.collect()
            start = clock()
            body()
            times.append(clock() - start)
        return times

    results: dict[str, list[float]] = {}
    results["init"] = timed(init)

    post_init.connect(tracker.initialize, sender=Book)
    results["init_post_init"] = timed(init)
    assert tracker.count == n_init * options.repeat

    post_init.disconnect(tracker.initialize, sender=Book)
    Book.objects.bulk_create(
        Book(title=f"Book {i}", author="Someone", pages=i, rating=1.0, published=day)
        for i in range(n_load)
    )
    post_init.connect(tracker.initialize, sender=Book)
    tracker.count = 0
    results["load_post_init"] = timed(load)
    assert tracker.count == n_load * options.repeat

    post_init.disconnect(tracker.initialize, sender=Book)
    Book.objects.all().delete()
    pre_save.connect(before_save, sender=Book)
    post_save.connect(after_save, sender=Book)
    results["save"] = timed(save)
    assert saved == [n_save * options.repeat] * 2, saved

    signal_class = django.dispatch.Signal
    print(
        json.dumps(
            {
                "mode": options.mode,
                "clock": options.clock,
                "signal_class": f"{signal_class.__module__}.{signal_class.__qualname__}",
                "post_save_class_mro": [c.__module__ for c in type(post_save).__mro__],
                "django": django.__version__,
                "python": platform.python_version(),
                "sizes": {"init": n_init, "init_post_init": n_init,
                          "load_post_init": n_load, "save": n_save},
                "results": results,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
