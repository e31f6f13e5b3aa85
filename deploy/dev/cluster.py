"""N Daphne processes behind ONE address: the launcher owns the listening socket.

The launcher creates and binds one TCP socket, and starts N `daphne --fd <n>` processes that
inherit it; each process accepts from the same socket, so the kernel spreads connections
over them, with no proxy in between. Because the socket belongs to the launcher, a Daphne that
dies (or is killed) can be restarted on the same address while the others keep serving, and
connections that arrive meanwhile wait in the socket's backlog instead of being refused.

Used by the messaging benchmark (`bench/`) and the fault test (`tests/load/`), and from the
command line for a quick multi-process server:

    .venv/bin/python deploy/dev/cluster.py --workers 2 --port 8000

(the environment — DATABASE_URL, REDIS_URL, DJANGO_* — is passed through to every Daphne).
Ctrl-C or SIGTERM stops every process it started. Standard library only; never imports Django.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import IO

BASE_DIR = Path(__file__).resolve().parents[2]
APPLICATION = "config.asgi:application"
STOP_GRACE = 10.0  # seconds a Daphne gets after SIGTERM before SIGKILL
BACKLOG = 2048  # connections waiting to be accepted (e.g. while a worker restarts)


def daphne_path() -> str:
    """The virtualenv's daphne next to the running interpreter, else the one on PATH."""
    here = Path(sys.executable).with_name("daphne")
    if here.exists():
        return str(here)
    fallback = BASE_DIR / ".venv" / "bin" / "daphne"
    return str(fallback) if fallback.exists() else "daphne"


def listen_socket(host: str, port: int, backlog: int = BACKLOG) -> socket.socket:
    """A bound, listening, inheritable TCP socket (port 0: a free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A port in TIME_WAIT after an earlier run must not make the bind fail.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class DaphneCluster:
    """`workers` Daphne processes sharing one listening socket at `host:port`.

    Each Daphne runs in its own session (process group), so `stop` also reaches anything it
    started. Logs go to `log_dir/daphne-<i>.log` when `log_dir` is given, else are discarded.
    """

    def __init__(
        self,
        *,
        workers: int,
        host: str = "127.0.0.1",
        port: int = 0,
        env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.host = host
        self.env = dict(env if env is not None else os.environ)
        self.env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        self.env["PYTHONUNBUFFERED"] = "1"
        self.log_dir = log_dir
        self.extra_args = list(extra_args or [])
        self.sock = listen_socket(host, port)
        self.port = int(self.sock.getsockname()[1])
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * workers
        self._logs: list[IO[bytes] | None] = [None] * workers
        self._log_starts: list[int] = [0] * workers  # log size when each worker last started

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p is not None and p.poll() is None]

    def _argv(self) -> list[str]:
        fd = self.sock.fileno()
        # No `Server: Daphne` banner: it tells a scanner what to try.
        return [daphne_path(), "--fd", str(fd), "--no-server-name", *self.extra_args, APPLICATION]

    def start_worker(self, index: int) -> subprocess.Popen[bytes]:
        """Start (or restart) worker `index` on the shared socket; `wait_ready` waits for it."""
        old = self._logs[index]
        if old is not None:
            old.close()
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            path = self.log_dir / f"daphne-{index}.log"
            log: IO[bytes] | None = open(path, "ab")  # noqa: SIM115
            self._log_starts[index] = path.stat().st_size
        else:
            log = None
        self._logs[index] = log
        proc = subprocess.Popen(
            self._argv(),
            cwd=BASE_DIR,
            env=self.env,
            pass_fds=[self.sock.fileno()],
            stdout=log if log is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[index] = proc
        return proc

    def start(self, ready_timeout: float = 60.0) -> None:
        for i in range(self.workers):
            self.start_worker(i)
        self.wait_ready(ready_timeout)

    def wait_ready(self, timeout: float = 60.0, path: str = "/login/") -> None:
        """Wait until the address answers and every worker has started listening.

        One answer proves only one worker: with logs, each worker's "Listening on" line (written
        since its last start) is awaited too, for at most 15 s more.
        """
        deadline = time.monotonic() + timeout
        while True:
            for i, proc in enumerate(self.procs):
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"daphne worker {i} exited with code {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}{path}", timeout=2) as response:
                    if response.status < 500:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"daphne cluster did not answer at {self.url} in {timeout}s")
            time.sleep(0.2)
        # Twisted logs "Listening on" once a worker has adopted the socket (Django loaded).
        # Only logs at INFO show it; without the line, the answer above has to do.
        if self.log_dir is None:
            return
        line_deadline = min(deadline, time.monotonic() + 15)
        while time.monotonic() < line_deadline:
            if all(self._started_listening(i) for i in range(self.workers)):
                return
            time.sleep(0.2)

    def _started_listening(self, index: int) -> bool:
        assert self.log_dir is not None
        path = self.log_dir / f"daphne-{index}.log"
        if not path.exists():
            return False
        with open(path, "rb") as log:
            log.seek(self._log_starts[index])
            return b"Listening on" in log.read()

    def kill(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to worker `index`'s process group and reap it (for fault tests)."""
        proc = self.procs[index]
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_GRACE)

    def stop(self) -> None:
        """SIGTERM every worker, SIGKILL what is left after the grace, close the socket."""
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for proc in self.procs:
            if proc is None:
                continue
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            # A grandchild may outlive its leader: clear the whole group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for log in self._logs:
            if log is not None:
                log.close()
        self._logs = [None] * self.workers
        self.sock.close()

    def __enter__(self) -> DaphneCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Stop(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workers", "-n", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", "-p", type=int, default=8000)
    parser.add_argument("--log-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    cluster = DaphneCluster(
        workers=args.workers, host=args.host, port=args.port, log_dir=args.log_dir
    )
    code = 0
    try:
        cluster.start()
        print(f"[cluster] {args.workers} daphne workers at {cluster.url} (pids {cluster.pids})")
        while True:
            for i, proc in enumerate(cluster.procs):
                if proc is not None and proc.poll() is not None:
                    print(f"[cluster] worker {i} exited ({proc.returncode}); stopping")
                    return proc.returncode or 1
            time.sleep(0.5)
    except _Stop:
        pass
    except RuntimeError as exc:
        print(f"[cluster] {exc}", file=sys.stderr)
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cluster.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
