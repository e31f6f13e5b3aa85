"""Notices in the embedded mode, end to end: the real deploy/dev/run.py with its private
PostgreSQL and no Redis. The nurse @mentions the primary physician over the API; the task runs
in-process and the doctor's open socket gets `notice.new` with the count; the in-process beat
(config/beat.py) runs the sweep inside Daphne."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import httpx
from websockets.sync.client import connect

from tests.deploy.test_embedded_mode import PASSWORD, api, server, wait_until_up

__all__ = ["server"]  # the fixture, shared with test_embedded_mode

DOCTOR = "dr.yamada"
NURSE = "nurse.suzuki"


def log_in_as(client: httpx.Client, username: str) -> None:
    """The login form, then the second factor with the demo's code shown on the page."""
    form = client.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
    )
    assert answer.status_code == 302, answer.text
    step = client.get(client.get("/").headers["location"])
    code = re.search(r'id="demo-code">.*?<strong>(\d{6})</strong>', step.text, re.S)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', step.text)
    assert code is not None, step.text
    assert token is not None
    passed = client.post(
        "/account/two-factor/",
        data={"code": code.group(1), "csrfmiddlewaretoken": token.group(1), "next": "/"},
    )
    assert passed.status_code == 302, passed.text


def next_notice(socket: Any, kind: str, seconds: float = 15) -> dict[str, Any]:
    """The next `notice.new` of this kind (the in-process sweep may also be notifying the
    doctor of the demo's own messages, which were posted without a worker)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        if frame["type"] == "notice.new" and frame["notice"]["kind"] == kind:
            return dict(frame)
    raise AssertionError(f"no notice.new of kind {kind}")


def test_embedded_mode_delivers_a_mention_live_and_runs_the_sweep_in_process(server):
    wait_until_up(server)
    marker = uuid.uuid4().hex[:8]
    with (
        httpx.Client(base_url=server.url, timeout=15) as doctor,
        httpx.Client(base_url=server.url, timeout=15) as nurse,
    ):
        log_in_as(doctor, DOCTOR)
        log_in_as(nurse, NURSE)
        before = api(doctor, "GET", "/api/v1/notifications/unread-count/").json()["unread"]
        threads = api(nurse, "GET", "/api/v1/threads/").json()["results"]
        doctors_threads = {
            t["id"] for t in api(doctor, "GET", "/api/v1/threads/").json()["results"]
        }
        thread = next(
            t for t in threads if t["kind"] == "contact_book" and t["id"] in doctors_threads
        )

        headers = {"Cookie": f"sessionid={doctor.cookies['sessionid']}", "Origin": server.url}
        url = f"ws://127.0.0.1:{server.port}/ws/"
        with connect(url, additional_headers=headers, open_timeout=10) as socket:
            posted = api(
                nurse, "POST", f"/api/v1/threads/{thread['id']}/messages/",
                {"client_id": str(uuid.uuid4()), "body": f"@{DOCTOR} ご確認ください {marker}"},
            )  # fmt: skip
            assert posted.status_code == 201, posted.text
            event = next_notice(socket, "message.mention")
        assert event["notice"]["url"] == f"/patients/{thread['patient']['id']}/#thread"
        assert event["unread"] >= before + 1

        listed = api(doctor, "GET", "/api/v1/notifications/?unread=1").json()["results"]
        [mine] = [n for n in listed if n["id"] == event["notice"]["id"]]
        assert marker not in str(mine)  # the text stays in the (audited) thread

    # The first tick runs every interval task (the sweeps rescue the demo's own messages,
    # posted by seed_demo without a worker), then every 30 s.
    deadline = time.monotonic() + 90
    while "embedded beat: ran notifications-sweep" not in server.output():
        assert time.monotonic() < deadline, server.output()[-3000:]
        time.sleep(0.5)
