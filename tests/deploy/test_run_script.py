"""`deploy/dev/run.py` (what `make run` calls): mode choice, port check, start and clean stop.

The end-to-end test starts the script in embedded mode on a free port with its own SQLite file,
waits for the login page, sends SIGINT and checks that everything it started is gone. It takes
about 15-30 s (migrations, the demo data, collectstatic) and runs in the normal suite.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType

from messaging.management.commands import seed_demo

BASE_DIR = Path(__file__).resolve().parents[2]
RUN_PY = BASE_DIR / "deploy" / "dev" / "run.py"


def load_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kizuna_dev_run", RUN_PY)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port() -> int:
    # A port nobody listens on: bound, then released, and nothing else takes it that quickly.
    return free_port()


def script_env(tmp_path: Path, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KIZUNA_EMBEDDED="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'kizuna.sqlite3'}",
        PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    return env


def get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_run_script_lists_the_same_key_logins_as_seed_demo():
    run = load_run()

    assert [u for u, _ in run.KEY_LOGINS] == [u for u, _ in seed_demo.KEY_LOGINS]
    assert run.DEMO_PASSWORD == seed_demo.DEMO_PASSWORD


def test_embedded_mode_is_forced_by_kizuna_embedded():
    embedded, why = load_run().choose_mode({"KIZUNA_EMBEDDED": "1"})

    assert embedded
    assert "KIZUNA_EMBEDDED" in why


def test_embedded_mode_is_chosen_when_postgres_and_redis_do_not_answer():
    port = closed_port()
    environ = {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/kizuna",
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
    }

    embedded, why = load_run().choose_mode(environ)

    assert embedded
    assert "PostgreSQL" in why
    assert "Redis" in why


def test_embedded_children_never_get_a_postgres_url():
    env = load_run().child_environment(
        {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/kizuna"}, embedded=True
    )

    assert env["KIZUNA_EMBEDDED"] == "1"
    assert env["DATABASE_URL"].startswith("sqlite:///")


def test_port_in_use_is_reported_clearly(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = subprocess.run(
            [sys.executable, str(RUN_PY)],
            cwd=BASE_DIR,
            env=script_env(tmp_path, port),
            capture_output=True,
            text=True,
            timeout=30,
        )

    assert result.returncode == 1
    assert f"port {port}" in result.stdout
    assert "already in use" in result.stdout


def test_run_script_serves_the_login_page_and_stops_everything_on_sigint(tmp_path):
    port = free_port()
    log = (tmp_path / "run.log").open("w+b")
    proc = subprocess.Popen(
        [sys.executable, str(RUN_PY)],
        cwd=BASE_DIR,
        env=script_env(tmp_path, port),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            status = get_status(f"http://127.0.0.1:{port}/login/")
            if status == 200:
                break
            time.sleep(0.5)
        # Daphne answers a moment before run.py prints its banner: wait for the banner too.
        banner_deadline = time.monotonic() + 15
        while True:
            log.seek(0)
            output = log.read().decode(errors="replace")
            if "kizuna-demo" in output or time.monotonic() > banner_deadline:
                break
            time.sleep(0.2)
        assert status == 200, output
        assert "EMBEDDED" in output
        assert f"http://127.0.0.1:{port}/" in output
        assert "kizuna-demo" in output

        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)

        assert code == 0
        assert not port_accepts(port)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
