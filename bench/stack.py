"""The server side of a benchmark or fault run: a private Redis, a database, Daphne, RSS.

Nothing here touches the machine's own Redis on 6379: `RedisServer` starts a throw-away
`redis-server` on a free port (no persistence) and stops it, or kills it for a fault test.
The Daphne processes come from `deploy/dev/cluster.py` (loaded by path: `deploy/` is not a
package). Standard library plus psycopg; never imports Django.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parents[1]
CLUSTER_PATH = BASE_DIR / "deploy" / "dev" / "cluster.py"


def load_cluster() -> ModuleType:
    """`deploy/dev/cluster.py` as a module (cached in sys.modules as `kizuna_cluster`)."""
    name = "kizuna_cluster"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, CLUSTER_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- Redis -------------------------------------------------------------------------------


class RedisServer:
    """A private redis-server on 127.0.0.1:<port>, no persistence. Restartable on one port."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        argv = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(self.log_path) if self.log_path else "",
        ]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {self.proc.returncode}")
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL (a crash: everything in memory is gone) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


# --- PostgreSQL ----------------------------------------------------------------------------


def _pg_params(url: str, dbname: str | None = None) -> dict[str, Any]:
    parts = urlsplit(url)
    params: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
        "dbname": dbname or parts.path.lstrip("/") or "postgres",
        "connect_timeout": 5,
    }
    if parts.password:
        params["password"] = parts.password
    return params


def recreate_database(url: str) -> None:
    """Drop (ending its sessions) and create the database named in `url`: a clean slate."""
    import psycopg
    from psycopg import sql

    name = _pg_params(url)["dbname"]
    with psycopg.connect(**_pg_params(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = _pg_params(url)["dbname"]
    with psycopg.connect(**_pg_params(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def run_python(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    """Run `python <args>` in the project with `env`; its stdout, or RuntimeError."""
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"python {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


# --- memory --------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB from /proc (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return 0


@dataclass
class RssSampler:
    """Samples the summed RSS of a changing set of pids in a background thread."""

    pids: Callable[[], list[int]]  # the current pids
    interval: float = 0.2
    peak_kib: int = 0
    peak_per_pid: dict[int, int] = field(default_factory=dict)
    marks: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _window_peak: int = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> int:
        total = 0
        for pid in self.pids():
            kib = rss_kib(pid)
            total += kib
            self.peak_per_pid[pid] = max(self.peak_per_pid.get(pid, 0), kib)
        self.peak_kib = max(self.peak_kib, total)
        self._window_peak = max(self._window_peak, total)
        return total

    def mark(self, name: str) -> None:
        """Record the peak since the previous mark under `name` (a scenario's own peak)."""
        self.sample()
        self.marks[name] = self._window_peak
        self._window_peak = 0

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.sample()


# --- CPU -----------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of `pid` from /proc, in seconds (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            # The command name may hold spaces; the fields after its closing paren do not.
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def pids_named(name: str) -> list[int]:
    """Every process whose command name is `name` (e.g. each PostgreSQL backend)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text(encoding="ascii").strip() == name:
                    found.append(int(entry.name))
    return found


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over its cores."""
    with open("/proc/stat", encoding="ascii") as stat:
        ticks = [int(x) for x in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks) - idle) / CLOCK_TICKS, sum(ticks) / CLOCK_TICKS


@dataclass
class CpuMeter:
    """CPU time spent by each part of a run between two readings.

    Throughput on a shared machine drifts with the machine's speed; CPU time per post tells
    where the work goes and compares changes fairly. `groups` maps a part's name to a callable
    returning its current pids. PostgreSQL backends that ended between the readings are not
    counted, which is why the servers keep their connections.
    """

    groups: dict[str, Any]
    _start: dict[str, float] = field(default_factory=dict)
    _machine: tuple[float, float] = (0.0, 0.0)
    _spent: dict[str, float] = field(default_factory=dict)
    _busy_pct: float = 0.0

    def _read(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(pid) for pid in pids()) for name, pids in self.groups.items()}

    def start(self) -> None:
        self._start = self._read()
        self._machine = machine_busy_seconds()

    def stop(self) -> None:
        now = self._read()
        busy, total = machine_busy_seconds()
        self._spent = {name: now[name] - self._start.get(name, 0.0) for name in now}
        self._busy_pct = 100 * (busy - self._machine[0]) / max(total - self._machine[1], 1e-9)

    def per_unit(self, units: int) -> dict[str, Any]:
        """CPU ms per unit of work (`units` done between `start` and `stop`) for each part,
        and how busy the machine's cores were meanwhile."""
        return {
            "cpu_ms_per_unit": {
                name: round(1000 * s / max(units, 1), 3) for name, s in self._spent.items()
            },
            "machine_busy_pct": round(self._busy_pct, 1),
        }
