"""`make run`: bring the whole service up on this machine, with the demo network.

Production-like mode, when PostgreSQL (``DATABASE_URL``) and Redis (``REDIS_URL``) both answer:
the database is created if missing, migrated, seeded and the static files collected; then
Daphne, a Celery worker and Celery beat run as separate processes, as in production.

Embedded mode, otherwise (or when ``KIZUNA_EMBEDDED=1`` is set): a private PostgreSQL cluster in
``var/embedded-pg`` (``deploy/dev/embedded_pg.py``; ``KIZUNA_EMBEDDED_PGDATA`` moves it), started
here and reached over a Unix socket, so the same SQL runs as in production; an in-process
channel layer, and Celery tasks run in-process (see ``config/settings.py``), their periodic
ones (the notifications sweep, the audit seal) by a thread inside Daphne (``config/beat.py``);
only Daphne runs beside that PostgreSQL, and no Redis is needed.

Ctrl-C (SIGINT) or SIGTERM stops every process this script started, the private PostgreSQL
last. Each child runs in its own process group, so a child's own children (Celery's pool
workers) stop with it. ``PORT`` overrides the port 8000.

The defaults of ``DATABASE_URL`` and ``REDIS_URL`` come from ``deploy/dev/defaults.env``. This
script uses only the standard library plus psycopg and redis for the probes, and never imports
Django: the Django commands run in child processes with the chosen environment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from embedded_pg import EmbeddedPostgres, EmbeddedPostgresError

BASE_DIR = Path(__file__).resolve().parents[2]
DEFAULTS_FILE = Path(__file__).resolve().with_name("defaults.env")
HOST = "127.0.0.1"
PROBE_TIMEOUT = 2  # seconds: a service that does not answer this fast is taken as absent
STOP_GRACE = 10  # seconds a child gets to stop after SIGTERM before SIGKILL
EMBEDDED_DATABASE = "kizuna"
# Every queue of CELERY_TASK_ROUTES, and the default one: one worker consumes them all here.
WORKER_QUEUES = "celery,notify,routing,media"


def read_defaults(path: Path = DEFAULTS_FILE) -> dict[str, str]:
    """The KEY=value lines of deploy/dev/defaults.env."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


_DEFAULTS = read_defaults()
DEFAULT_DATABASE_URL = f"{_DEFAULTS['KIZUNA_DEV_POSTGRES']}/{_DEFAULTS['KIZUNA_DEV_DATABASE']}"
DEFAULT_REDIS_URL = _DEFAULTS["KIZUNA_DEV_REDIS_URL"]

# The same key logins that `manage.py seed_demo` prints (tests/deploy checks they exist).
DEMO_PASSWORD = "kizuna-demo"  # noqa: S105 (demo data, printed for logging in)
KEY_LOGINS = [
    ("dr.yamada", "主治医 / primary physician"),
    ("dr.sato", "副主治医 / secondary physician"),
    ("nurse.suzuki", "訪問看護師 / visiting nurse"),
    ("pharm.aoki", "薬剤師 / pharmacist"),
    ("coord.tanaka", "コーディネーター / network coordinator"),
    ("admin.kato", "組織管理者 / organization administrator (監査ログ)"),
]


def say(message: str = "") -> None:
    print(f"[run] {message}" if message else "", flush=True)


# --- probes ------------------------------------------------------------------------------


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}


def _libpq_url(url: str) -> str:
    """`url` as libpq reads it (it knows postgres:// and postgresql://, not pgsql://)."""
    scheme, rest = url.split("://", 1)
    return f"postgres://{rest}" if scheme == "pgsql" else url


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def probe_postgres(url: str) -> str | None:
    """None when PostgreSQL answers a real login (to the "postgres" database), else why not."""
    if urlsplit(url).scheme not in POSTGRES_SCHEMES:
        return f"DATABASE_URL is not a PostgreSQL URL ({urlsplit(url).scheme or 'none'})"
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        conninfo = _libpq_url(url)
        with psycopg.connect(conninfo, dbname="postgres", connect_timeout=PROBE_TIMEOUT) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"no login to PostgreSQL at {_where(url)}: {_first_line(exc)}"
    return None


def probe_redis(url: str) -> str | None:
    """None when Redis answers PING, else why not."""
    try:
        import redis
    except ImportError:
        return "the redis package is not installed"
    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=PROBE_TIMEOUT, socket_timeout=PROBE_TIMEOUT
        )
        client.ping()
        client.close()
    except Exception as exc:
        return f"Redis at {_where(url)} did not answer: {_first_line(exc)}"
    return None


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'a local socket'}:{parts.port or '?'}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def create_database_if_missing(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = _database_name(url)
    conninfo = _libpq_url(url)
    with psycopg.connect(conninfo, dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            say(f"database {name!r} exists")
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        say(f"created database {name!r}")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Without SO_REUSEADDR a port in TIME_WAIT would look taken though Daphne could use it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def wait_for_port(
    port: int,
    timeout: float,
    children: Sequence[subprocess.Popen[bytes]],
    stopping: Callable[[], bool] = lambda: False,
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stopping():
        if any(child.poll() is not None for child in children):
            return False
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return True
        time.sleep(0.2)
    return False


# --- processes ---------------------------------------------------------------------------


class Supervisor:
    """Starts children in their own process groups and stops all of them on the way out."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stopping = False

    def manage(self, *args: str) -> None:
        """Run `manage.py <args>` to completion; stop everything if it fails."""
        say("manage.py " + " ".join(args))
        proc = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            start_new_session=True,
        )
        self.children.append((f"manage.py {args[0]}", proc))
        while proc.poll() is None and not self.stopping:
            time.sleep(0.2)
        if self.stopping:
            raise Stop
        code = proc.returncode
        self.children.remove((f"manage.py {args[0]}", proc))
        if code != 0:
            say(f"manage.py {' '.join(args)} failed (exit {code})")
            raise SystemExit(code or 1)

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        if self.stopping:
            raise Stop
        say(f"starting {name}: {' '.join(argv)}")
        proc = subprocess.Popen(argv, cwd=BASE_DIR, env=self.env, start_new_session=True)
        self.children.append((name, proc))
        return proc

    def stop_all(self) -> None:
        self.stopping = True
        for name, proc in self.children:
            if proc.poll() is None:
                say(f"stopping {name} (pid {proc.pid})")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for name, proc in self.children:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop in {STOP_GRACE}s: killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # The process group outlives its leader when a grandchild lingers: clear it too.
        for _name, proc in self.children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    def watch(self) -> int:
        """Wait until a child exits by itself (an error: stop the rest) or a signal arrives."""
        while not self.stopping:
            for name, proc in self.children:
                code = proc.poll()
                if code is not None:
                    say(f"{name} exited (code {code}); stopping the others")
                    return code or 1
            time.sleep(0.5)
        return 0


class Stop(Exception):
    """Raised by the main flow, once it sees the stop flag, to unwind to the clean-up."""


def _tool(name: str) -> list[str]:
    """The virtualenv's console script for `name`, or `python -m name` when there is none."""
    script = Path(sys.executable).with_name(name)
    return [str(script)] if script.exists() else [sys.executable, "-m", name]


def choose_mode(environ: dict[str, str]) -> tuple[bool, str]:
    """(embedded, why) for the given environment."""
    if _truthy(environ.get("KIZUNA_EMBEDDED")):
        return True, "KIZUNA_EMBEDDED=1 is set"
    database_url = environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    reasons = [r for r in (probe_postgres(database_url), probe_redis(redis_url)) if r]
    if reasons:
        return True, "; ".join(reasons)
    return False, f"PostgreSQL at {_where(database_url)} and Redis at {_where(redis_url)} answer"


def child_environment(
    environ: dict[str, str], *, embedded: bool, embedded_url: str | None = None
) -> dict[str, str]:
    """The children's environment; in embedded mode `embedded_url` is the private cluster's."""
    env = dict(environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    env["PYTHONUNBUFFERED"] = "1"
    # The demo's second-factor shortcut (its accounts' current code on the sign-in page):
    # Django refuses it unless DJANGO_DEBUG is on, which `make run` leaves on.
    env.setdefault("KIZUNA_DEMO_SHOW_CODES", "1")
    if embedded:
        if embedded_url is None:
            raise ValueError("embedded mode needs the private cluster's URL")
        env["KIZUNA_EMBEDDED"] = "1"
        # The URL that did not answer (or any other) would defeat the point of the fallback.
        env["DATABASE_URL"] = embedded_url
    else:
        env["KIZUNA_EMBEDDED"] = "0"
        env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
        env.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    return env


def print_banner(port: int, embedded: bool) -> None:
    say()
    say(f"Kizuna is up ({'embedded' if embedded else 'production-like'} mode)")
    say(f"  open    http://{HOST}:{port}/login/")
    say(f"  logins  password for everyone: {DEMO_PASSWORD}")
    say("          second factor: the demo shows each account's current code on its")
    say("          second-factor page (KIZUNA_DEMO_SHOW_CODES, development only); the keys")
    say("          for an authenticator app: manage.py demo_second_factor")
    width = max(len(u) for u, _ in KEY_LOGINS)
    for username, role in KEY_LOGINS:
        say(f"          {username.ljust(width)}  {role}")
    say("  stop    Ctrl-C")
    say()


def main() -> int:
    environ = dict(os.environ)
    try:
        port = int(environ.get("PORT", "8000"))
    except ValueError:
        say(f"PORT must be a number, not {environ['PORT']!r}")
        return 2
    if not port_is_free(port):
        say(f"port {port} on {HOST} is already in use: stop what runs there, or set PORT=<port>")
        return 1

    embedded, why = choose_mode(environ)
    private_pg: EmbeddedPostgres | None = None
    if embedded:
        try:
            private_pg = EmbeddedPostgres.from_environment(environ, say=say)
        except EmbeddedPostgresError as exc:
            say(f"mode: EMBEDDED because {why}; but it cannot run: {exc}")
            return 1
        say(
            f"mode: EMBEDDED (a private PostgreSQL in {private_pg.data_dir}, in-process channel "
            f"layer and tasks, no Redis) because {why}"
        )
        env = child_environment(
            environ, embedded=True, embedded_url=private_pg.url(EMBEDDED_DATABASE)
        )
    else:
        say(f"mode: PRODUCTION-LIKE (PostgreSQL, Redis, Daphne + Celery worker + beat): {why}")
        env = child_environment(environ, embedded=False)

    supervisor = Supervisor(env)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Only a flag: the main flow polls it. Raising from a handler could unwind from the
        # middle of anything (a print, Popen's bookkeeping) and leave a child running.
        supervisor.stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    code = 0
    try:
        if private_pg is not None:
            private_pg.start()
            if supervisor.stopping:
                raise Stop
        create_database_if_missing(env["DATABASE_URL"])
        supervisor.manage("migrate", "--noinput")
        supervisor.manage("seed_demo")
        supervisor.manage("collectstatic", "--noinput", "-v", "0")
        daphne = supervisor.start(
            "daphne",
            # No `Server: Daphne` banner: it tells a scanner what to try.
            [
                *_tool("daphne"),
                "--no-server-name",
                "-b",
                HOST,
                "-p",
                str(port),
                "config.asgi:application",
            ],
        )
        if not embedded:
            celery = _tool("celery")
            # One worker on every queue (CELERY_TASK_ROUTES): the deadline sweeps run on
            # `routing`, notices on `notify`; production runs a worker per queue.
            supervisor.start(
                "celery worker",
                [*celery, "-A", "config", "worker", "-l", "info", "-Q", WORKER_QUEUES],
            )
            supervisor.start("celery beat", [*celery, "-A", "config", "beat", "-l", "info"])
        if wait_for_port(port, 60, [daphne], lambda: supervisor.stopping):
            print_banner(port, embedded)
        code = supervisor.watch()
        if supervisor.stopping:
            raise Stop
    except Stop:
        say("stopping (signal received)")
    except EmbeddedPostgresError as exc:
        say(f"the private PostgreSQL did not start: {exc}")
        code = 1
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        # Further signals must not interrupt the clean-up itself.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all()
        # Last: until now its clients (the children) may still have been talking to it.
        if private_pg is not None:
            private_pg.stop()
    say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
