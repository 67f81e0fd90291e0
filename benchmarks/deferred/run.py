"""Benchmark of deferred receivers: the request path, the cost per send, and
worker throughput. One run, every number from it; ratios, not limits.

From the repository root (redis-server and rabbitmq-server installed, e.g. by
.ci/services.sh; the test extra installed)::

    python benchmarks/deferred/run.py                      # ~3-4 minutes
    python benchmarks/deferred/run.py --rounds 1 --slow-sends 2 --trivial-sends 5 --messages 20   # smoke run

1. The request path: a Django view's work, one transaction that saves an
   Order, with one post_save receiver that takes 50 ms, inline against the
   same receiver deferred in each mode. Time from the start of the
   transaction to the end of its commit callbacks (what the request waits
   for), median per round, median of the rounds.
2. The cost per send: the same with a receiver that does nothing, minus the
   same save with no receiver at all.
3. Worker throughput: N trivial deliveries enqueued while no worker runs,
   then one worker, or two worker processes (Celery: ``-P prefork -c 1`` and
   ``-c 2``; django-tasks: one and two ``db_worker`` processes), time from
   the first delivery to the last.

The sender runs in its own process with fastdispatch (compiled) installed
into Django; brokers, workers and the relay are our own processes on
loopback (tests/deferred/services.py). Writes ``results.md`` next to this
script (or ``--output``) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

DESCRIPTIONS = {
    "none": "no receiver",
    "inline": "inline (an ordinary receiver)",
    "after_commit": "`@after_commit` (same process, after the commit)",
    "celery_amqp": "`@on_worker(app)`: Celery on RabbitMQ, after commit",
    "celery_amqp_now": "`@on_worker(app, enqueue=\"now\")`: Celery on RabbitMQ, at once",
    "celery_amqp_outbox": "`@on_worker(app, enqueue=\"outbox\")`: outbox row, published after commit",
    "celery_redis": "`@on_worker(app)`: Celery on Redis, after commit",
    "tasks_db": "`@on_worker(DjangoTasks())`: database task backend, after commit",
    "tasks_db_now": "`@on_worker(DjangoTasks(), enqueue=\"now\")`: task row in the transaction",
    "null_now": "fastdispatch's own part: `@on_worker` with an engine that drops the message",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--slow-sends", type=int, default=10, help="saves per round with the 50 ms receiver")
    parser.add_argument("--trivial-sends", type=int, default=100, help="saves per round with the trivial receiver")
    parser.add_argument("--messages", type=int, default=1000, help="deliveries per throughput measurement")
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument("--from-json", type=Path, help="only render the report of an earlier run's results.json")
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        throughput = {engine: {int(n): v for n, v in by.items()} for engine, by in saved["throughput"].items()}
        report = render(saved["request_times"], throughput, argparse.Namespace(**saved["args"]), saved["load"])
        args.output.write_text(report)
        print(report)
        return

    directory = Path(tempfile.mkdtemp(prefix="fastdispatch-deferred-bench-"))
    os.environ["FD_DB_DIR"] = str(directory)
    os.environ["FD_DELIVERY_LOG"] = str(directory / "deliveries.jsonl")
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.deferred.project.settings"
    os.environ.pop("FASTDISPATCH_NO_EXTENSIONS", None)

    from tests.deferred import services

    redis = services.Redis(directory / "redis").start()
    rabbitmq = services.RabbitMQ(directory / "rabbitmq").start()
    os.environ["FD_REDIS_URL"], os.environ["FD_AMQP_URL"] = redis.url, rabbitmq.url
    processes: list[Any] = []
    try:
        import django

        django.setup()
        from django.core.management import call_command

        for alias in ("default", "other"):
            call_command("migrate", database=alias, run_syncdb=True, verbosity=0)
        env = services.project_env(directory, directory / "deliveries.jsonl", "compiled")
        # The outbox mode publishes after commit itself; the relay only takes
        # what that could not send. Nothing consumes the benchmark queues yet.
        processes.append(services.start_relay(env, directory / "relay.log"))
        sender = subprocess.run(
            [sys.executable, str(HERE / "workload.py"), str(args.rounds), str(args.slow_sends), str(args.trivial_sends)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=3600,
        )
        if sender.returncode != 0:
            sys.exit(f"workload.py failed:\n{sender.stdout}\n{sender.stderr}")
        request_times = json.loads(sender.stdout.splitlines()[-1])
        throughput = measure_throughput(services, env, directory, args.messages)
    finally:
        for process in processes:
            process.stop()
        rabbitmq.close()
        redis.stop()
    load = os.getloadavg()[0]
    report = render(request_times, throughput, args, load)
    args.output.write_text(report)
    saved_args = {k: getattr(args, k) for k in ("rounds", "slow_sends", "trivial_sends", "messages")}
    args.output.with_suffix(".json").write_text(
        json.dumps({"request_times": request_times, "throughput": throughput, "args": saved_args, "load": load}, indent=1)
    )
    print(report)


def measure_throughput(services: Any, env: dict[str, str], directory: Path, messages: int) -> dict[str, dict[int, float]]:
    """Deliveries per second of a trivial receiver, one and two worker processes."""
    from tests.deferred.project.celery_app import amqp_app, redis_app
    from tests.deferred.shop import receivers
    from tests.deferred.shop.signals import order_placed_compiled

    amqp_app.conf.broker_url = os.environ["FD_AMQP_URL"]
    redis_app.conf.broker_url = os.environ["FD_REDIS_URL"]
    results: dict[str, dict[int, float]] = {}
    for engine in ("celery_amqp", "celery_redis", "tasks_db_now"):
        results[engine] = {}
        wrapper = receivers.bench_throughput[engine]
        for workers in (1, 2):
            log = directory / f"throughput-{engine}-{workers}.jsonl"
            # Enqueued by real sends (autocommit: after-commit enqueues at
            # once), while no worker consumes the queue.
            order_placed_compiled.connect(wrapper)
            try:
                for number in range(messages):
                    order_placed_compiled.send(sender="bench", number=number)
            finally:
                order_placed_compiled.disconnect(wrapper)
            worker_env = dict(env, FD_DELIVERY_LOG=str(log))
            started: list[Any] = []
            try:
                if engine == "tasks_db_now":
                    for index in range(workers):
                        started.append(services.start_db_worker("fd_throughput", worker_env, directory / f"dbw-{workers}-{index}.log"))
                else:
                    app = "amqp_app" if engine == "celery_amqp" else "redis_app"
                    started.append(services.start_celery_worker(
                        app, receivers.THROUGHPUT_QUEUE, worker_env, directory / f"celery-{engine}-{workers}.log", concurrency=workers))
                services.wait_for(lambda: len(services.read_log(log)) >= messages, 600, f"{messages} deliveries", 0.2)
            finally:
                for process in started:
                    process.stop()
            stamps = sorted(line["at"] for line in services.read_log(log))
            results[engine][workers] = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    return results


def render(
    request_times: dict[str, dict[str, list[float]]], throughput: dict[str, dict[int, float]], args: Any, load: float
) -> str:
    import celery
    import django

    def median(kind: str, mode: str) -> float:
        return statistics.median(request_times[kind][mode])

    lines = [
        "# Deferred receivers: benchmark",
        "",
        f"One run of `python benchmarks/deferred/run.py --rounds {args.rounds} --slow-sends {args.slow_sends} "
        f"--trivial-sends {args.trivial_sends} --messages {args.messages}`: CPython {platform.python_version()}, "
        f"Django {django.get_version()}, Celery {celery.__version__}, fastdispatch compiled, SQLite (WAL) "
        f"databases, RabbitMQ and Redis of our own on loopback; a shared 2-core VM, load average "
        f"{load:.1f} at the end. Medians of {args.rounds} rounds.",
        "",
        "## The request path: a post_save receiver that takes 50 ms",
        "",
        "Time to save one Order in its own transaction, commit callbacks included (what the request waits for).",
        "",
        "| receiver | request time | inline / this (times faster) |",
        "|---|---:|---:|",
    ]
    inline = median("slow", "inline")
    for mode in DESCRIPTIONS:
        if mode == "none":
            continue
        value = median("slow", mode)
        lines.append(f"| {DESCRIPTIONS[mode]} | {value * 1000:.2f} ms | {inline / value:.1f}x |")
    lines += [
        "",
        f"(No receiver at all: {median('slow', 'none') * 1000:.2f} ms.) `@after_commit` moves the work after the "
        "commit but not out of the request: Django runs commit callbacks in the thread that commits.",
        "",
        "## The cost per send",
        "",
        "A receiver that does nothing: time per save, and what each mode adds to a save with no receiver.",
        "",
        "| receiver | time per save | added per send | this / a save without receiver |",
        "|---|---:|---:|---:|",
    ]
    base = median("trivial", "none")
    for mode in DESCRIPTIONS:
        if mode == "none":
            continue
        value = median("trivial", mode)
        added = value - base
        lines.append(f"| {DESCRIPTIONS[mode]} | {value * 1e6:.0f} µs | {added * 1e6:.0f} µs | {value / base:.1f}x |")
    lines += [
        "",
        f"(No receiver: {base * 1e6:.0f} µs per save.) The trivial receiver appends a line to a file, inline or "
        "in a worker. On RabbitMQ the app publishes with confirms (`confirm_publish`): the broker answers once a "
        "persistent message is safe, which is most of its cost here.",
        "",
        f"## Worker throughput: {args.messages} trivial deliveries",
        "",
        "| engine | 1 worker process | 2 worker processes | 2 / 1 |",
        "|---|---:|---:|---:|",
    ]
    names = {
        "celery_amqp": "Celery on RabbitMQ (`-P prefork -c 1`, `-c 2`)",
        "celery_redis": "Celery on Redis (`-P prefork -c 1`, `-c 2`)",
        "tasks_db_now": "django.tasks, database backend (1 and 2 `db_worker` processes, SQLite)",
    }
    for engine, by_workers in throughput.items():
        one, two = by_workers[1], by_workers[2]
        lines.append(f"| {names[engine]} | {one:.0f}/s | {two:.0f}/s | {two / one:.2f}x |")
    lines += [
        "",
        "The receiver re-fetches nothing and appends one line to a file; a delivery's cost is the engine's: "
        "fetching, decoding, importing the receiver by reference, acknowledging. Two worker processes share "
        "the 2 cores with the broker, the database and whatever else runs on this shared machine: the 2 / 1 "
        "ratio moves a lot from one run to the next.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
