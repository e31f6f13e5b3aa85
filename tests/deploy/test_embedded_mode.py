"""The embedded mode of `make run`, end to end: the real deploy/dev/run.py with its own private
PostgreSQL, driven over real HTTP and one WebSocket as a nurse of the demo network would, then
stopped with SIGTERM, after which no process it started may be left, PostgreSQL included.

The private cluster lives in a temporary folder (KIZUNA_EMBEDDED_PGDATA); the run makes it,
migrates and seeds it, so this test needs no database of pytest's and runs in the normal suite.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.deploy.dev_scripts import (
    BASE_DIR,
    RUN_PY,
    alive,
    descendants,
    free_port,
    load,
    port_accepts,
)
from tests.media import photos

LOGIN = "nurse.suzuki"
PASSWORD = "kizuna-demo"  # seed_demo's, for every demo login
READY_TIMEOUT = 90  # seconds for initdb, migrations, the demo data and collectstatic
STOP_TIMEOUT = 30


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


@pytest.fixture
def server() -> Iterator[Server]:
    # Not pytest's tmp_path: as root the cluster runs as the postgres user, who must be able
    # to reach its data directory, and pytest's base folder is private to root.
    base = Path(tempfile.mkdtemp(prefix="kizuna-embedded-"))
    base.chmod(0o755)
    data_dir = base / "pg"
    port = free_port()
    log = (base / "run.log").open("w+b")
    proc = subprocess.Popen(
        [sys.executable, str(RUN_PY)],
        cwd=BASE_DIR,
        env={
            **os.environ,
            "KIZUNA_EMBEDDED": "1",
            "KIZUNA_EMBEDDED_PGDATA": str(data_dir),
            "PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    running = Server(proc=proc, port=port, data_dir=data_dir, log=log)
    try:
        yield running
    finally:
        if proc.poll() is None:
            # A failed test: stop it as Ctrl-C would; only what ignores that is killed. Each
            # child of run.py has a process group of its own, so its group alone is not enough.
            children = descendants(proc.pid)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            for pid in children:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
        # Whatever happened above, never leave a PostgreSQL behind.
        cluster = load("embedded_pg").EmbeddedPostgres.from_environment(
            {"KIZUNA_EMBEDDED_PGDATA": str(data_dir)}, say=lambda _message: None
        )
        if cluster.initialized() and cluster.running():
            cluster.started = True
            cluster.stop()
        log.close()
        shutil.rmtree(base, ignore_errors=True)


def wait_until_up(server: Server) -> None:
    """Until run.py has printed its banner (after Daphne answers), or fail with its output."""
    deadline = time.monotonic() + READY_TIMEOUT
    while "Kizuna is up" not in server.output():
        assert server.proc.poll() is None, server.output()
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.3)


def log_in(client: httpx.Client) -> None:
    form = client.get("/login/")
    assert form.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None, form.text
    answer = client.post(
        "/login/",
        data={"username": LOGIN, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
    )
    assert answer.status_code == 302, answer.text
    assert answer.headers["location"] == "/"
    # The second factor, as a first look at the demo takes it: the demo's shortcut shows
    # the account's current code on the page (DEBUG only).
    held = client.get("/")
    assert held.status_code == 302
    assert held.headers["location"].startswith("/account/two-factor/")
    step = client.get(held.headers["location"])
    code = re.search(r'id="demo-code">.*?<strong>(\d{6})</strong>', step.text, re.S)
    assert code is not None, step.text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', step.text)
    assert token is not None
    passed = client.post(
        "/account/two-factor/",
        data={"code": code.group(1), "csrfmiddlewaretoken": token.group(1), "next": "/"},
    )
    assert passed.status_code == 302, passed.text
    assert client.get("/").status_code == 200


def api(client: httpx.Client, method: str, path: str, body: Any = None) -> httpx.Response:
    """An API call with the session cookie; writes carry the CSRF token, as the page does."""
    headers = {"X-CSRFToken": client.cookies["csrftoken"]} if method != "GET" else {}
    return client.request(method, path, json=body, headers=headers)


def post_over_the_socket(server: Server, client: httpx.Client, thread: int, body: str) -> None:
    """One post frame over /ws/: an ack, and the message back as `message.new`."""
    client_id = str(uuid.uuid4())
    headers = {"Cookie": f"sessionid={client.cookies['sessionid']}", "Origin": server.url}
    url = f"ws://127.0.0.1:{server.port}/ws/"
    with connect(url, additional_headers=headers, open_timeout=10) as socket:
        frame = {"type": "post", "thread": thread, "client_id": client_id, "body": body}
        socket.send(json.dumps(frame))
        seen: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 10
        while not {"ack", "message.new"} <= seen.keys() and time.monotonic() < deadline:
            event = json.loads(socket.recv(timeout=10))
            seen.setdefault(event["type"], event)
    assert seen["ack"]["created"] is True, seen
    assert seen["ack"]["client_id"] == client_id
    assert seen["message.new"]["message"]["body"] == body


def test_embedded_mode_serves_the_demo_on_its_own_postgres_and_stops_everything(server):
    wait_until_up(server)
    output = server.output()
    assert "mode: EMBEDDED" in output
    assert "private PostgreSQL started" in output
    # postmaster.pid: the server's pid on its first line.
    postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    assert alive(postmaster)

    marker = uuid.uuid4().hex[:10]
    body = f"訪問時の血圧 132/80、embedded {marker}"
    with httpx.Client(base_url=server.url, timeout=15) as client:
        log_in(client)

        threads = api(client, "GET", "/api/v1/threads/")
        assert threads.status_code == 200, threads.text
        thread = next(t for t in threads.json()["results"] if t["kind"] == "contact_book")
        thread_id, patient_id = thread["id"], thread["patient"]["id"]

        client_id = str(uuid.uuid4())
        posted = api(
            client,
            "POST",
            f"/api/v1/threads/{thread_id}/messages/",
            {"client_id": client_id, "body": body},
        )
        assert posted.status_code == 201, posted.text
        message = posted.json()
        assert message["seq"] == thread["last_seq"] + 1
        retried = api(
            client,
            "POST",
            f"/api/v1/threads/{thread_id}/messages/",
            {"client_id": client_id, "body": body},
        )
        assert retried.status_code == 200, retried.text
        assert retried.json()["id"] == message["id"]

        history = api(client, "GET", f"/api/v1/threads/{thread_id}/messages/")
        assert history.status_code == 200, history.text
        assert history.json()["last_seq"] == message["seq"]
        newest = {m["seq"]: m["body"] for m in history.json()["results"]}
        assert newest[message["seq"]] == body

        page = client.get(f"/patients/{patient_id}/")
        assert page.status_code == 200
        assert marker in page.text

        sync = api(
            client, "POST", "/api/v1/sync/", {"threads": {str(thread_id): message["seq"] - 1}}
        )
        assert sync.status_code == 200, sync.text
        missed = sync.json()["threads"][str(thread_id)]["messages"]
        assert [m["seq"] for m in missed] == [message["seq"]]

        found = api(client, "GET", f"/api/v1/search/?q={marker}")
        assert found.status_code == 200, found.text
        assert [r["message"]["id"] for r in found.json()["results"]] == [message["id"]]

        post_over_the_socket(server, client, thread_id, f"ソケットからの投稿 {marker}")

        # A photo: derivatives are made eagerly in the embedded mode (no worker to start).
        uploaded = client.post(
            "/api/v1/attachments/",
            data={"client_id": str(uuid.uuid4()), "patient": str(patient_id)},
            files={"file": ("photo.jpg", photos.jpeg(), "image/jpeg")},
            headers={"X-CSRFToken": client.cookies["csrftoken"]},
        )
        assert uploaded.status_code == 201, uploaded.text
        photo_id = uploaded.json()["id"]
        with_photo = api(
            client,
            "POST",
            f"/api/v1/threads/{thread_id}/messages/",
            {"client_id": str(uuid.uuid4()), "body": f"写真 {marker}", "attachments": [photo_id]},
        )
        assert with_photo.status_code == 201, with_photo.text
        assert with_photo.json()["attachments"][0]["state"] == "ready"
        thumb = client.get(f"/api/v1/attachments/{photo_id}/thumb/")
        assert thumb.status_code == 200
        assert thumb.headers["content-type"] == "image/jpeg"

    started = descendants(server.proc.pid) | {server.proc.pid, postmaster}
    started |= descendants(postmaster)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=STOP_TIMEOUT) == 0, server.output()

    deadline = time.monotonic() + 5  # an orphan is reaped by init a moment after it exits
    while (left := {pid for pid in started if alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, server.output()
    assert not port_accepts(server.port)
    assert not (server.data_dir / "postmaster.pid").exists()
    assert "stopping the private PostgreSQL" in server.output()
