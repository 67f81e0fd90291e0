"""Real brokers and workers for the deferred-delivery tests and benchmarks.

Every process here is our own: a Redis or RabbitMQ server on a free loopback
port with its data in a temporary directory (never the system service), and
worker processes (``celery worker``, ``manage.py db_worker``,
``manage.py fastdispatch_relay``) started with the test project's settings.
Each one is stopped by whoever started it; ``stop()`` is idempotent.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]  # holds the tests package
LOOPBACK = "127.0.0.1"

# Debian's package for each server binary, for skip messages.
PACKAGES = {"redis-server": "redis-server", "rabbitmq-server": "rabbitmq-server"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=0.2).close()
        return True
    except OSError:
        return False


def wait_for(
    condition: Callable[[], object],
    timeout: float,
    what: str,
    interval: float = 0.05,
    details: Callable[[], str] | None = None,
) -> Any:
    """``condition()`` once it is true; ``TimeoutError`` after ``timeout``
    seconds, its message followed by ``details()`` (what a failure should show)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            message = f"timed out after {timeout:.0f}s waiting for {what}"
            raise TimeoutError(message if details is None else f"{message}; {details()}")
        time.sleep(interval)


def redis_binary() -> str | None:
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)), None
    )


def rabbitmq_binary() -> str | None:
    # Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user and its
    # /var/lib directory; the script behind it runs the node as we are.
    direct = "/usr/lib/rabbitmq/bin/rabbitmq-server"
    if os.access(direct, os.X_OK):
        return direct
    return shutil.which("rabbitmq-server")


def require_binary(binary: str | None, name: str) -> str:
    """``binary``, or skip naming the Debian package to install (under
    ``--require-services`` tests/conftest.py makes that skip a failure)."""
    if binary is not None:
        return binary
    package = PACKAGES[name]
    pytest.skip(f"{name} is not installed: apt-get install -y {package} (or run .ci/services.sh)")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


class Process:
    """A child process with its output in a log file."""

    def __init__(
        self, name: str, command: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT
    ) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log_path = log
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stop() reaches its children
            )
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_for_log(self, text: str, timeout: float) -> None:
        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited ({self.exit_code()}):\n{self.log()[-4000:]}")
            return text in self.log()

        wait_for(
            ready, timeout, f"{self.name} to log {text!r}",
            details=lambda: f"\n--- {self.name} log ---\n{self.log()[-4000:]}",
        )

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def signal_group(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signum)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 20) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.process.wait(10)
        # Children left in the group (a prefork pool) go too.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Redis:
    """``redis-server`` on a free loopback port, nothing saved to disk."""

    def __init__(self, directory: Path) -> None:
        binary = redis_binary()
        assert binary is not None
        self.port = free_port()
        self.url = f"redis://{LOOPBACK}:{self.port}/0"
        directory.mkdir(parents=True, exist_ok=True)
        command = [
            binary, "--port", str(self.port), "--bind", LOOPBACK,
            "--save", "", "--appendonly", "no", "--dir", str(directory),
        ]
        self.process = Process(
            "redis-server", command, dict(os.environ), directory / "redis.log", cwd=directory
        )

    def start(self) -> Redis:
        self.process.start()
        wait_for(lambda: port_open(self.port) or not self.process.alive(), 30, "redis-server")
        if not self.process.alive():
            raise RuntimeError(f"redis-server exited:\n{self.process.log()}")
        return self

    def stop(self) -> None:
        self.process.stop()


class RabbitMQ:
    """A RabbitMQ node of our own: its own node name, ports (AMQP, Erlang
    distribution, epmd), cookie, data and logs in ``directory``, listening on
    loopback only. ``stop()`` then ``start()`` restarts the same node with
    its data (durable queues and persistent messages survive)."""

    def __init__(self, directory: Path) -> None:
        binary = rabbitmq_binary()
        assert binary is not None
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = f"fdtest{self.port}@localhost"
        self.url = f"amqp://guest:guest@{LOOPBACK}:{self.port}//"
        for sub in ("mnesia", "log", "home"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        (directory / "enabled_plugins").write_text("[].\n")
        (directory / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = {LOOPBACK}:{self.port}\n"
            "log.console = false\n"
            "disk_free_limit.absolute = 10MB\n"
        )
        self.env = dict(
            os.environ,
            HOME=str(directory / "home"),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS=LOOPBACK,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS=LOOPBACK,
            RABBITMQ_MNESIA_BASE=str(directory / "mnesia"),
            RABBITMQ_LOG_BASE=str(directory / "log"),
            RABBITMQ_LOGS=str(directory / "log" / "rabbit.log"),
            RABBITMQ_PID_FILE=str(directory / "rabbit.pid"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(directory / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(directory / "rabbitmq"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(directory / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(directory / "rabbitmq-env.conf"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )
        self.process: Process | None = None
        self.starts = 0

    def start(self, timeout: float = 120) -> RabbitMQ:
        self.starts += 1
        self.process = Process(
            "rabbitmq-server",
            [self.binary],
            self.env,
            self.directory / f"server-{self.starts}.log",
            cwd=self.directory,
        ).start()
        wait_for(
            lambda: self._accepts_amqp() or not self.process_alive(), timeout, "RabbitMQ to accept AMQP", 0.2
        )
        if not self.process_alive():
            raise RuntimeError(f"rabbitmq-server exited:\n{self.process.log()[-4000:]}")
        return self

    def process_alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the node's own log (rabbit.log), for a failure message."""
        try:
            return (self.directory / "log" / "rabbit.log").read_text(errors="replace")[-chars:]
        except OSError as error:
            return f"(no log: {error})"

    def _accepts_amqp(self) -> bool:
        if not port_open(self.port):
            return False
        import kombu

        try:
            with kombu.Connection(self.url, connect_timeout=2) as connection:
                connection.connect()
            return True
        except Exception:
            return False

    def stop(self) -> None:
        """Stop the node (SIGTERM: a clean shutdown that keeps durable data)."""
        if self.process is None:
            return
        # The node closes its listener first and its client connections last:
        # it is down only once the Erlang VM (the pid in the pid file) is gone.
        pid_file = self.directory / "rabbit.pid"
        try:
            pid: int | None = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            pid = None
        if pid is not None and self.process.alive():
            try:
                os.kill(pid, signal.SIGTERM)
                wait_for(lambda: not _pid_alive(pid), 60, "the RabbitMQ node to exit", 0.05)
            except (ProcessLookupError, TimeoutError):
                pass
        self.process.stop()
        if pid is not None and _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not port_open(self.port), 30, "the AMQP port to close")

    def close(self) -> None:
        """Stop the node and the epmd it started."""
        self.stop()
        epmd = shutil.which("epmd") or next(
            iter(sorted(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"))), None
        )
        if epmd is not None:
            subprocess.run(
                [str(epmd), "-port", str(self.epmd_port), "-kill"],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=30,
                check=False,
            )


# -- the test project's processes ---------------------------------------------------


def project_env(db_dir: Path, log: Path, impl: str, **extra: str) -> dict[str, str]:
    """The environment of a process of the test project (a worker, the relay,
    a sender script) for implementation ``impl`` ("python" or "compiled")."""
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        DJANGO_SETTINGS_MODULE="tests.deferred.project.settings",
        FD_DB_DIR=str(db_dir),
        FD_DELIVERY_LOG=str(log),
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("FASTDISPATCH_NO_EXTENSIONS", None)
    if impl == "python":
        env["FASTDISPATCH_NO_EXTENSIONS"] = "1"
    env.update(extra)
    return env


def celery_worker(
    app: str, queue: str, env: dict[str, str], log: Path, *, concurrency: int = 1, pool: str = "prefork"
) -> Process:
    """``celery -A tests.deferred.project.celery_app:<app> worker`` on ``queue``.

    Celery's default pool (prefork) unless told, with heartbeats. Measured
    here on RabbitMQ: the solo pool takes messages published in a burst only
    every few seconds (every ten without heartbeats); prefork and threads take
    each within milliseconds. (tests/deferred/test_outage.py says why it runs
    the threads pool.)
    """
    command = [
        sys.executable, "-m", "celery", "-A", f"tests.deferred.project.celery_app:{app}", "worker",
        "-P", pool, "-c", str(concurrency), "-Q", queue,
        "-n", f"{queue}-{os.getpid()}-{free_port()}@localhost",
        "--without-gossip", "--without-mingle", "-l", "INFO",
    ]
    return Process(f"celery worker ({app}, {queue}, {pool})", command, env, log)


def start_celery_worker(*args: Any, timeout: float = 90, **kwargs: Any) -> Process:
    worker = celery_worker(*args, **kwargs).start()
    worker.wait_for_log(" ready.", timeout)
    return worker


def manage(command: Iterable[str], env: dict[str, str], log: Path, name: str) -> Process:
    return Process(name, [sys.executable, "-m", "django", *command], env, log)


def start_db_worker(queue: str, env: dict[str, str], log: Path, timeout: float = 90) -> Process:
    """django-tasks-db's ``manage.py db_worker`` on ``queue``."""
    worker = manage(
        ["db_worker", "--queue-name", queue, "--interval", "0.05", "--no-startup-delay"],
        env,
        log,
        f"db_worker ({queue})",
    ).start()
    worker.wait_for_log("Starting worker", timeout)
    return worker


def start_relay(env: dict[str, str], log: Path, timeout: float = 90) -> Process:
    """The outbox relay, for the default database (test_outbox.py drives a
    relay of its own on "other")."""
    relay = manage(
        ["fastdispatch_relay", "--interval", "0.1", "--database", "default"], env, log, "fastdispatch_relay"
    ).start()
    relay.wait_for_log("relaying from", timeout)
    return relay


# -- the delivery log ------------------------------------------------------------------


def read_log(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    # A line being written by a worker right now may be incomplete: skip it.
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


def wait_for_deliveries(
    path: Path, delivery_ids: Iterable[str], timeout: float = 90
) -> dict[str, list[dict[str, Any]]]:
    """Wait until every id in ``delivery_ids`` was delivered; return the lines by id."""
    wanted = set(delivery_ids)

    def done() -> dict[str, list[dict[str, Any]]] | None:
        found: dict[str, list[dict[str, Any]]] = {}
        for line in read_log(path):
            if line.get("event") == "delivered" and line.get("delivery_id") in wanted:
                found.setdefault(line["delivery_id"], []).append(line)
        return found if len(found) == len(wanted) else None

    def missing() -> str:
        seen = {line.get("delivery_id") for line in read_log(path)}
        return f"missing: {sorted(wanted - seen)}"

    return wait_for(done, timeout, f"{len(wanted)} deliveries", 0.05, details=missing)  # type: ignore[no-any-return]


class Sender:
    """scripts/send_orders.py, driven through its stdin (see its docstring)."""

    def __init__(self, scenario: str, base: int, env: dict[str, str], stderr_log: Path) -> None:
        self.stderr = open(stderr_log, "ab")  # noqa: SIM115 (open while the sender runs; close() closes it)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.deferred.scripts.send_orders", scenario, str(base)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            bufsize=1,
        )
        self.lines: list[dict[str, Any]] = []

    def command(self, text: str) -> list[dict[str, Any]]:
        """Run one command; return its transactions' lines (all it printed before it died)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        lines: list[dict[str, Any]] = []
        for raw in self.process.stdout:
            if raw.strip() == "done":
                break
            if raw.startswith("{"):
                lines.append(json.loads(raw))
        self.lines += lines
        return lines

    def close(self) -> int:
        if self.process.stdin is not None:
            try:
                self.process.stdin.close()  # ends the command loop
            except BrokenPipeError:
                pass
        try:
            code = self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()
        return code
