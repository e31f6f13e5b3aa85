"""Fault test: no message is lost or doubled when Redis and a Daphne process crash mid-run.

Its own redis-server (a free port, no persistence) and two Daphne processes on two ports
(each behind a socket held by `deploy/dev/cluster.py`, so a restarted process takes the same
address) serve the test database. 20 clients each keep a socket to one Daphne, follow the
web client's recovery rules (tests/load/client.py) and post 100 messages each into one
patient's contact book, retrying with the same client_id on any failure: half of them as the
web page does (over the socket while it is open, else HTTP), half over HTTP only. Midway Redis is
killed and restarted (empty), then one Daphne is killed with SIGKILL and restarted.

At the end every client catches up through the sync API; each must hold every message
exactly once in seq order, and the database exactly 2,000 messages with seqs 1..2000.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.clients import login_session
from bench.stack import RedisServer, load_cluster
from messaging.models import Message, Thread
from tests.load.client import RecoveringClient
from tests.load.conftest import LoadTeam

CLIENTS = 20
POSTS_EACH = 100
TOTAL = CLIENTS * POSTS_EACH
RUN_LIMIT = 180.0  # seconds for the clients' whole run: the test is bounded


def _tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return f"({path} missing)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


async def _drive(
    team: LoadTeam, password: str, redis: RedisServer, servers: list[Any]
) -> dict[str, Any]:
    bases = [s.url for s in servers]
    t0 = time.monotonic()
    deadline = t0 + RUN_LIMIT
    phases: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        cookies = []
        for i, user in enumerate(team.users):
            cookies.append(await login_session(http, bases[i % 2], user.username, password))
    clients = [
        RecoveringClient(
            name=user.username,
            bases=bases,
            home=i % 2,
            cookie=cookies[i],
            token=team.tokens[i],
            thread=team.thread.pk,
            via_socket=i % 4 < 2,  # each server has socket posters and HTTP posters
        )
        for i, user in enumerate(team.users)
    ]
    phases["logged_in"] = time.monotonic() - t0
    stop = asyncio.Event()
    listeners = [asyncio.create_task(c.listen(stop)) for c in clients]
    while any(c.stats.connects == 0 for c in clients) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)

    faults: dict[str, float] = {}

    def posted() -> int:
        return sum(len(c.posted) for c in clients)

    async def wait_posted(n: int) -> None:
        while posted() < n and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def inject_faults() -> None:
        await wait_posted(TOTAL * 3 // 10)
        faults["redis_killed_at_post"] = posted()
        phases["redis_killed"] = time.monotonic() - t0
        redis.kill()
        await asyncio.sleep(2.0)
        await asyncio.to_thread(redis.start)
        faults["redis_restarted_at_post"] = posted()
        await wait_posted(TOTAL * 6 // 10)
        faults["daphne_killed_at_post"] = posted()
        phases["daphne_killed"] = time.monotonic() - t0
        servers[1].kill(0)  # SIGKILL: in-flight requests and sockets die with it
        await asyncio.sleep(1.0)
        servers[1].start_worker(0)
        await asyncio.to_thread(servers[1].wait_ready, 60.0)
        faults["daphne_restarted_at_post"] = posted()
        phases["daphne_restarted"] = time.monotonic() - t0

    async def poster(client: RecoveringClient, http: httpx.AsyncClient) -> None:
        rng = random.Random(client.name)
        for k in range(POSTS_EACH):
            await client.post(http, f"{client.name} の連絡 {k}", deadline=deadline)
            await asyncio.sleep(rng.uniform(0.02, 0.12))

    limits = httpx.Limits(max_connections=100, max_keepalive_connections=40)
    async with httpx.AsyncClient(timeout=10, limits=limits) as http:
        fault_task = asyncio.create_task(inject_faults())
        try:
            await asyncio.gather(*(poster(c, http) for c in clients))
            phases["posted"] = time.monotonic() - t0
            await fault_task
            await asyncio.gather(
                *(c.catch_up(http, target=TOTAL, deadline=deadline) for c in clients)
            )
            phases["caught_up"] = time.monotonic() - t0
        finally:
            fault_task.cancel()
            stop.set()
            for task in listeners:
                task.cancel()
            await asyncio.gather(fault_task, *listeners, return_exceptions=True)
    return {"clients": clients, "faults": faults, "phases": phases}


@pytest.mark.load
# Committed data (the servers are other processes); also makes pytest-django set up the test
# database when the load tests run alone, and flushes it afterwards.
@pytest.mark.django_db(transaction=True)
def test_every_client_holds_every_message_once_in_order_after_redis_and_daphne_crash(
    load_team: LoadTeam, password: str, django_db_blocker: Any, tmp_path: Path
) -> None:
    # httpx logs every request at INFO: thousands of lines that hide the report.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    cluster = load_cluster()
    redis = RedisServer(log_path=tmp_path / "redis.log")
    servers: list[Any] = []
    try:
        redis.start()
        env = {
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "load-test-only-secret-key-0123456789abcdefghij",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": load_team.database_url,
            "REDIS_URL": redis.url,
            "KIZUNA_EMBEDDED": "0",
            # Pings re-add each socket to its group: after Redis comes back empty, sockets
            # that survived rejoin within this many seconds.
            "KIZUNA_WS_PING_SECONDS": "2",
            # 100 posts each as fast as they go: far over a person's rate (teams.throttle).
            "KIZUNA_RATE_POST_PER_MINUTE": "100000000",
            "KIZUNA_RATE_POST_BURST": "100000000",
        }
        for i in range(2):
            server = cluster.DaphneCluster(workers=1, env=env, log_dir=tmp_path / f"daphne{i}")
            servers.append(server)
            server.start()
        result = asyncio.run(_drive(load_team, password, redis, servers))
    except BaseException:
        for i in range(len(servers)):
            print(f"--- daphne{i}\n{_tail(tmp_path / f'daphne{i}' / 'daphne-0.log')}")
        raise
    finally:
        for server in servers:
            server.stop()
        redis.stop()

    clients: list[RecoveringClient] = result["clients"]
    faults = result["faults"]
    print(f"\nfaults at posts: {faults}")
    print("phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result["phases"].items()))
    totals = {
        name: sum(getattr(c.stats, name) for c in clients)
        for name in (
            "live",
            "resynced",
            "copies",
            "gaps",
            "gap_resyncs",
            "connects",
            "socket_posts",
            "http_posts",
            "post_retries",
        )
    }
    print("client totals: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    assert set(faults) == {
        "redis_killed_at_post",
        "redis_restarted_at_post",
        "daphne_killed_at_post",
        "daphne_restarted_at_post",
    }, faults

    with django_db_blocker.unblock():
        rows = list(
            Message.objects.filter(thread=load_team.thread)
            .order_by("seq")
            .values_list("seq", "client_id")
        )
        last_seq = Thread.objects.get(pk=load_team.thread.pk).last_seq
    expected = [(seq, str(cid)) for seq, cid in rows]
    assert len(rows) == TOTAL
    assert [seq for seq, _ in rows] == list(range(1, TOTAL + 1))
    assert last_seq == TOTAL
    posted = [cid for c in clients for cid in c.posted]
    assert len(posted) == TOTAL
    assert {cid for _, cid in expected} == set(posted)
    for c in clients:
        assert c.applied == expected, f"{c.name} holds {len(c.applied)} messages, not in order"
    for c in clients:  # each way of posting was exercised
        assert (c.stats.socket_posts > 0) == c.via_socket, c.name
        assert c.stats.http_posts > 0 or c.via_socket, c.name
    # The killed Daphne's clients lost their sockets and came back (reconnect -> resync).
    for c in clients[1::2]:
        assert c.stats.connects >= 2, f"{c.name} never reconnected"
