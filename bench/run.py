"""`make bench`: the messaging benchmark against a real multi-process server.

It brings up its own stack, measures, writes the results and stops everything it started:

1. a private redis-server on a free port (never the machine's Redis on 6379);
2. a fresh PostgreSQL database (`kizuna_bench` by default), migrated, with the people,
   patients and threads of `bench.setup_data`;
3. N Daphne processes behind one address (`deploy/dev/cluster.py`), `DJANGO_DEBUG=0`, a bench
   secret key, ALLOWED_HOSTS 127.0.0.1;
4. clients (asyncio with `websockets` and `httpx`; OS threads for the throughput senders) that
   log in through the real login form (session cookie for the socket) and get API tokens from
   `/api/v1/auth/token/` (for HTTP).

Scenarios:
  (a) fan-out: 1 sender posts 300 messages at 20/s into a thread whose care team has L
      listening sockets (L = 20, then 100): delay from the sender's send to each listener's
      receipt, p50/p95/p99/max, and messages lost (expected 300 x L);
  (b) throughput: 8 senders in separate OS threads post as fast as their responses allow for
      20 s, each into its own patient's thread: accepted messages/s, p50/p99 send latency;
  (c) history: the newest 50 of a 5,000-message thread, 200 requests: p50/p99;
  (d) memory: peak of the summed RSS of the Daphne processes (sampled from /proc).

Results go to bench/results/<date>-messaging.json and bench/results/latest.md.
Run: `.venv/bin/python -m bench.run` (see `--help`); docs/bench.md explains the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.clients import api_token, login_session, open_socket, post_message
from bench.stack import (
    BASE_DIR,
    CpuMeter,
    RedisServer,
    RssSampler,
    drop_database,
    load_cluster,
    pids_named,
    recreate_database,
    run_python,
)

RESULTS = BASE_DIR / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/kizuna_bench"
# The benchmark's own servers sign nothing that outlives the run.
BENCH_SECRET_KEY = "bench-only-secret-key-not-for-production-0123456789abcdef"  # noqa: S105

SCENARIOS = ("fanout", "history", "throughput", "socket")

# Each target: what is measured, the target as written, and the test a measured value must pass.
TARGETS: dict[str, tuple[str, str, Callable[[float], bool]]] = {
    "fanout_100_p99_ms": ("fan-out p99 with 100 listeners", "< 50 ms", lambda v: v < 50),
    "fanout_100_lost": ("fan-out messages lost with 100 listeners", "0", lambda v: v == 0),
    "throughput_msgs_per_s": (
        "throughput over HTTP, accepted messages/s",
        ">= 1000",
        lambda v: v >= 1000,
    ),
    "throughput_socket_msgs_per_s": (
        "throughput over the socket, accepted messages/s",
        ">= 1000",
        lambda v: v >= 1000,
    ),
    "history_p50_ms": ("history (latest 50 of 5,000) p50", "< 10 ms", lambda v: v < 10),
}


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `values`; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2) if ms else 0.0,
    }


def machine() -> dict[str, Any]:
    mem_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def python_speed_ms() -> float:
    """A fixed pure-Python workload's time, best of 5, in ms. The machine's speed drifts (a
    shared host); this says how fast it was during a run, so runs compare fairly."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i % 7
        best = min(best, time.perf_counter() - start)
    return round(1000 * best, 1)


def loadavg() -> float:
    with open("/proc/loadavg", encoding="ascii") as f:
        return float(f.read().split()[0])


# --- scenarios -----------------------------------------------------------------------------


async def fanout(
    base: str,
    *,
    thread: int,
    sender_token: str,
    cookies: list[str],
    messages: int,
    rate: float,
    settle: float = 5.0,
) -> dict[str, Any]:
    """One sender at `rate`/s; each of len(cookies) sockets times every message's arrival."""
    sockets = await asyncio.gather(*(open_socket(base, c) for c in cookies))
    arrivals: list[dict[str, float]] = [{} for _ in sockets]
    duplicates = 0

    async def listen(i: int) -> None:
        nonlocal duplicates
        async for raw in sockets[i]:
            now = time.perf_counter()
            frame = json.loads(raw)
            if frame.get("type") == "message.new" and frame.get("thread") == thread:
                cid = frame["message"]["client_id"]
                if cid in arrivals[i]:
                    duplicates += 1
                else:
                    arrivals[i][cid] = now

    listeners = [asyncio.create_task(listen(i)) for i in range(len(sockets))]
    await asyncio.sleep(1.0)  # let every consumer join its group
    sent: dict[str, float] = {}
    send_latency: list[float] = []
    failures: list[str] = []
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:

        async def send(k: int) -> None:
            cid = str(uuid.uuid4())
            start = time.perf_counter()
            sent[cid] = start
            payload = {"client_id": cid, "body": f"一斉配信 {k}", "kind": "note"}
            try:
                answer = await post_message(http, base, sender_token, thread, payload)
                if answer.status_code != 201:
                    failures.append(f"HTTP {answer.status_code}")
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
            send_latency.append(time.perf_counter() - start)

        t0 = time.perf_counter()
        posts = []
        for k in range(messages):
            await asyncio.sleep(max(0.0, t0 + k / rate - time.perf_counter()))
            posts.append(asyncio.create_task(send(k)))
        await asyncio.gather(*posts)
        send_seconds = time.perf_counter() - t0

    expected = len(sent) * len(sockets)
    deadline = time.perf_counter() + settle
    while time.perf_counter() < deadline and sum(len(a) for a in arrivals) < expected:
        await asyncio.sleep(0.05)
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    delays = [t - sent[cid] for a in arrivals for cid, t in a.items() if cid in sent]
    received = sum(len(a) for a in arrivals)
    return {
        "listeners": len(sockets),
        "messages": messages,
        "rate_per_s": rate,
        "achieved_rate_per_s": round(messages / send_seconds, 1),
        "expected_deliveries": expected,
        "delivered": received,
        "lost": expected - received,
        "duplicates": duplicates,
        "post_failures": len(failures),
        "post_failure_examples": failures[:3],
        "delay": summary_ms(delays),
        "send_latency": summary_ms(send_latency),
    }


Window = dict[str, float]  # "warm": when the measured window opens, "end": when it closes
Tally = dict[str, Any]  # one sender's "latency" list and "accepted"/"failed" counts


def _run_senders(
    senders: list[tuple[str, int]],
    work: Any,
    *,
    seconds: float,
    warmup: float,
    name: str,
    cpu: CpuMeter | None = None,
) -> dict[str, Any]:
    """Run `work(i, credential, thread, tally, window, barrier)` for each sender in its own OS
    thread; all start together, and only whole sends inside the window count. `cpu`, when
    given, is read at the window's start and end."""
    barrier = threading.Barrier(len(senders) + 1)
    window: Window = {}
    tallies: list[Tally] = [{"latency": [], "accepted": 0, "failed": 0} for _ in senders]
    workers = [
        threading.Thread(
            target=work,
            args=(i, credential, thread, tallies[i], window, barrier),
            name=f"{name}-{i}",
        )
        for i, (credential, thread) in enumerate(senders)
    ]
    for w in workers:
        w.start()
    window["warm"] = time.perf_counter() + warmup
    window["end"] = window["warm"] + seconds
    barrier.wait()
    if cpu is not None:
        time.sleep(max(0.0, window["warm"] - time.perf_counter()))
        cpu.start()
        time.sleep(max(0.0, window["end"] - time.perf_counter()))
        cpu.stop()
    for w in workers:
        w.join()
    accepted = sum(t["accepted"] for t in tallies)
    done = accepted + sum(t["failed"] for t in tallies)
    return {
        **(cpu.per_unit(done) if cpu is not None else {}),
        "senders": len(senders),
        "seconds": seconds,
        "accepted": accepted,
        "failed": sum(t["failed"] for t in tallies),
        "accepted_per_s": round(accepted / seconds, 1),
        "latency": summary_ms([x for t in tallies for x in t["latency"]]),
    }


def _count(tally: Tally, window: Window, start: float, ok: bool) -> bool:
    """Count one send that began at `start`; False once the window has closed."""
    done = time.perf_counter()
    if done > window["end"]:
        return False
    tally["latency"].append(done - start)
    tally["accepted" if ok else "failed"] += 1
    return True


def throughput(
    base: str,
    *,
    senders: list[tuple[str, int]],
    seconds: float,
    warmup: float = 2.0,
    cpu: CpuMeter | None = None,
) -> dict[str, Any]:
    """Each (token, thread) sender in its own OS thread POSTs back to back for `seconds`."""

    def work(
        i: int, token: str, thread: int, tally: Tally, window: Window, barrier: threading.Barrier
    ) -> None:
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        url = f"{base}/api/v1/threads/{thread}/messages/"
        with httpx.Client(timeout=30, headers=headers) as http:
            barrier.wait()
            while time.perf_counter() < window["warm"]:  # connections and caches settle
                http.post(url, content=json.dumps({"client_id": str(uuid.uuid4()), "body": "w"}))
            while (start := time.perf_counter()) < window["end"]:
                payload = {"client_id": str(uuid.uuid4()), "body": f"送信 {i}", "kind": "note"}
                try:
                    answer = http.post(url, content=json.dumps(payload))
                    ok = answer.status_code == 201
                except httpx.HTTPError:
                    ok = False
                if not _count(tally, window, start, ok):
                    break

    return _run_senders(senders, work, seconds=seconds, warmup=warmup, name="sender", cpu=cpu)


def throughput_socket(
    base: str,
    *,
    senders: list[tuple[str, int]],
    seconds: float,
    warmup: float = 2.0,
    cpu: CpuMeter | None = None,
) -> dict[str, Any]:
    """Like `throughput`, over the live socket: each (cookie, thread) sender in its own OS
    thread (its own event loop and socket) sends a `post` frame and waits for its `ack`."""

    async def session(
        i: int, cookie: str, thread: int, tally: Tally, window: Window, barrier: threading.Barrier
    ) -> None:
        ws = await open_socket(base, cookie)

        async def post(body: str) -> bool:
            cid = str(uuid.uuid4())
            frame = {"type": "post", "thread": thread, "client_id": cid, "body": body}
            await ws.send(json.dumps(frame))
            while True:  # skip the live events (the sender is on the team, too)
                answer = json.loads(await ws.recv())
                if answer.get("client_id") == cid and answer.get("type") in ("ack", "error"):
                    return bool(answer["type"] == "ack" and answer.get("created"))

        try:
            await asyncio.to_thread(barrier.wait)
            while time.perf_counter() < window["warm"]:
                await post("w")
            while (start := time.perf_counter()) < window["end"]:
                ok = await post(f"送信 {i}")
                if not _count(tally, window, start, ok):
                    break
        finally:
            await ws.close()

    def work(*args: Any) -> None:
        asyncio.run(session(*args))

    return _run_senders(
        senders, work, seconds=seconds, warmup=warmup, name="socket-sender", cpu=cpu
    )


async def history(base: str, *, token: str, thread: int, requests: int) -> dict[str, Any]:
    """`requests` sequential GETs of the newest 50 messages of a long thread."""
    url = f"{base}/api/v1/threads/{thread}/messages/?limit=50"
    headers = {"Authorization": f"Token {token}"}
    latency: list[float] = []
    bad = 0
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        for _ in range(10):  # warm the connection and the server's caches
            await http.get(url)
        for _ in range(requests):
            start = time.perf_counter()
            answer = await http.get(url)
            latency.append(time.perf_counter() - start)
            body = answer.json() if answer.status_code == 200 else {}
            results = body.get("results", [])
            if len(results) != 50 or results[0]["seq"] != body.get("last_seq"):
                bad += 1
    return {"requests": requests, "bad_answers": bad, "latency": summary_ms(latency)}


async def log_everyone_in(base: str, data: dict[str, Any]) -> dict[str, Any]:
    """Session cookies for the listeners and the socket senders; tokens for the HTTP senders
    and the reader."""
    password = data["password"]
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(timeout=60) as http:

        async def cookie(username: str) -> str:
            async with gate:
                return await login_session(http, base, username, password)

        async def token(username: str) -> str:
            async with gate:
                return await api_token(http, base, username, password)

        cookies = await asyncio.gather(*(cookie(u) for u in data["fanout"]["listeners"]))
        sender = await token(data["fanout"]["sender"])
        senders = await asyncio.gather(*(token(s["user"]) for s in data["throughput"]))
        socket_senders = await asyncio.gather(*(cookie(s["user"]) for s in data["throughput"]))
        reader = await token(data["history"]["user"])
    return {
        "cookies": cookies,
        "sender": sender,
        "senders": senders,
        "socket_senders": socket_senders,
        "reader": reader,
    }


# --- profiling -----------------------------------------------------------------------------


class Profiler:
    """py-spy on one Daphne for a scenario, when `--profile` is given and py-spy exists."""

    def __init__(self, out_dir: Path | None) -> None:
        self.out_dir = out_dir
        self.exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, name: str, pid: int, seconds: float) -> None:
        if self.out_dir is None or not Path(self.exe).exists():
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                self.exe,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(self.out_dir / f"{name}.folded"),
                "--nonblocking",
                "--gil",  # only samples holding the GIL: where the CPU goes, not the waits
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


# --- results -------------------------------------------------------------------------------


def verdicts(results: dict[str, Any]) -> dict[str, Any]:
    """Each target whose scenario ran, with its value and whether it is met."""
    s = results["scenarios"]
    values: dict[str, float] = {}
    if results["config"]["listeners"] and f"fanout_{max(results['config']['listeners'])}" in s:
        # The targets are for 100 listeners; a shorter run is judged on its largest fan-out.
        fan = s[f"fanout_{max(results['config']['listeners'])}"]
        values["fanout_100_p99_ms"] = fan["delay"]["p99_ms"]
        values["fanout_100_lost"] = fan["lost"]
    if "throughput" in s:
        values["throughput_msgs_per_s"] = s["throughput"]["accepted_per_s"]
    if "throughput_socket" in s:
        values["throughput_socket_msgs_per_s"] = s["throughput_socket"]["accepted_per_s"]
    if "history" in s:
        values["history_p50_ms"] = s["history"]["latency"]["p50_ms"]
    return {
        key: {"what": what, "target": target, "value": values[key], "met": bool(check(values[key]))}
        for key, (what, target, check) in TARGETS.items()
        if key in values
    }


def write_markdown(results: dict[str, Any], path: Path) -> None:
    s = results["scenarios"]
    speed = results["python_speed_ms"]
    m = results["machine"]
    c = results["config"]
    lines = [
        "# Messaging benchmark: latest results",
        "",
        f"- Date: {results['date']}",
        f"- Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, "
        f"Python {m['python']}, Linux {m['kernel']}",
        f"- Server: {c['workers']} Daphne processes behind one socket (deploy/dev/cluster.py), "
        f"DJANGO_DEBUG=0, PostgreSQL, private Redis; clients on the same machine",
        f"- Command: `{results['command']}`",
        f"- Load average before / after: {results['loadavg_before']} / {results['loadavg_after']}",
        f"- Machine speed before / after: {speed['before']} / {speed['after']} ms for a fixed "
        "Python loop (`bench.run.python_speed_ms`; lower is faster)",
    ]
    if results.get("note"):
        lines.append(f"- Note: {results['note']}")
    lines += [
        "",
        "## Targets",
        "",
        "| target | goal | measured | met |",
        "|---|---|---|---|",
    ]
    for v in results["verdicts"].values():
        lines.append(
            f"| {v['what']} | {v['target']} | {v['value']} | {'yes' if v['met'] else '**no**'} |"
        )
    lines += [
        "",
        "## Figures",
        "",
        "| scenario | n | p50 ms | p95 ms | p99 ms | max ms | other |",
        "|---|---|---|---|---|---|---|",
    ]
    for listeners in c["listeners"]:
        if f"fanout_{listeners}" not in s:
            continue
        f = s[f"fanout_{listeners}"]
        d = f["delay"]
        lines.append(
            f"| fan-out delay, {f['listeners']} listeners, {f['messages']} msgs at "
            f"{f['rate_per_s']:g}/s | {d['n']} | {d['p50_ms']} | {d['p95_ms']} | {d['p99_ms']} | "
            f"{d['max_ms']} | lost {f['lost']} of {f['expected_deliveries']}, duplicates "
            f"{f['duplicates']}, failed posts {f['post_failures']} |"
        )
        sl = f["send_latency"]
        lines.append(
            f"| fan-out sender's POST, {f['listeners']} listeners | {sl['n']} | {sl['p50_ms']} | "
            f"{sl['p95_ms']} | {sl['p99_ms']} | {sl['max_ms']} | |"
        )
    for key, how in (("throughput", "HTTP POST"), ("throughput_socket", "socket post + ack")):
        if key not in s:
            continue
        t = s[key]
        tl = t["latency"]
        lines.append(
            f"| throughput, {how}, {t['senders']} senders, {t['seconds']:g} s | {tl['n']} | "
            f"{tl['p50_ms']} | {tl['p95_ms']} | {tl['p99_ms']} | {tl['max_ms']} | "
            f"**{t['accepted_per_s']} accepted/s**, {t['failed']} failed |"
        )
    if "history" in s:
        h = s["history"]
        hl = h["latency"]
        lines.append(
            f"| history, newest 50 of {c['history_messages']} | {hl['n']} | {hl['p50_ms']} | "
            f"{hl['p95_ms']} | {hl['p99_ms']} | {hl['max_ms']} | {h['bad_answers']} bad answers |"
        )
    costs = [
        (how, s[key])
        for key, how in (("throughput", "HTTP POST"), ("throughput_socket", "socket post + ack"))
        if "cpu_ms_per_unit" in s.get(key, {})
    ]
    if costs:
        lines += [
            "",
            "CPU time per accepted post in the throughput window (ms; /proc, all cores):",
            "",
            "| path | Daphne | PostgreSQL | Redis | clients | total | cores busy |",
            "|---|---|---|---|---|---|---|",
        ]
        for how, t in costs:
            c = t["cpu_ms_per_unit"]
            lines.append(
                f"| {how} | {c['daphne']} | {c['postgres']} | {c['redis']} | {c['clients']} | "
                f"{round(sum(c.values()), 3)} | {t['machine_busy_pct']}% |"
            )
    mem = s["memory"]
    lines += [
        "",
        f"Peak memory of the Daphne processes (sum of RSS, sampled every 0.2 s): "
        f"**{mem['peak_total_mib']} MiB** (per process peak: "
        f"{', '.join(str(v) for v in mem['peak_per_process_mib'])} MiB; by scenario: "
        + ", ".join(f"{k} {v} MiB" for k, v in mem["by_scenario_mib"].items())
        + ").",
        "",
        "docs/bench.md says what each scenario measures and how to read these figures.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


# --- main ----------------------------------------------------------------------------------


async def scenarios(base: str, data: dict[str, Any], args: argparse.Namespace, **hooks: Any) -> Any:
    say("logging in the clients (login form for sockets, API tokens for HTTP)")
    t = time.perf_counter()
    creds = await log_everyone_in(base, data)
    say(
        f"  {len(creds['cookies'])} sessions and {len(creds['senders']) + 2} tokens in "
        f"{time.perf_counter() - t:.1f}s"
    )
    sampler: RssSampler = hooks["sampler"]
    profiler: Profiler = hooks["profiler"]
    pid0: int = hooks["pid0"]
    sampler.mark("setup")
    out: dict[str, Any] = {}
    for listeners in args.listeners if "fanout" in args.only else []:
        say(f"fan-out: {listeners} listeners, {args.messages} messages at {args.rate:g}/s")
        if listeners == max(args.listeners):
            profiler.start(f"fanout_{listeners}", pid0, args.messages / args.rate)
        out[f"fanout_{listeners}"] = await fanout(
            base,
            thread=data["fanout"]["thread"],
            sender_token=creds["sender"],
            cookies=creds["cookies"][:listeners],
            messages=args.messages,
            rate=args.rate,
        )
        profiler.stop()
        sampler.mark(f"fanout_{listeners}")
        f = out[f"fanout_{listeners}"]
        say(f"  delay p50 {f['delay']['p50_ms']} p99 {f['delay']['p99_ms']} ms, lost {f['lost']}")
    if "history" in args.only:
        say(
            f"history: newest 50 of {data['history']['messages']}, {args.history_requests} requests"
        )
        out["history"] = await history(
            base,
            token=creds["reader"],
            thread=data["history"]["thread"],
            requests=args.history_requests,
        )
        sampler.mark("history")
        say(f"  p50 {out['history']['latency']['p50_ms']} ms")
    threads = [s["thread"] for s in data["throughput"]]
    for scenario, key, run, credentials, how in (
        ("throughput", "throughput", throughput, creds["senders"], "HTTP"),
        ("socket", "throughput_socket", throughput_socket, creds["socket_senders"], "the socket"),
    ):
        if scenario not in args.only:
            continue
        say(f"throughput over {how}: {len(threads)} senders for {args.seconds:g}s")
        profiler.start(key, pid0, args.seconds + 2)
        out[key] = await asyncio.to_thread(
            run,
            base,
            senders=list(zip(credentials, threads, strict=True)),
            seconds=args.seconds,
            cpu=hooks["cpu"],
        )
        profiler.stop()
        sampler.mark(key)
        cost = out[key]["cpu_ms_per_unit"]
        say(
            f"  {out[key]['accepted_per_s']} accepted/s; CPU ms per post: "
            + ", ".join(f"{k} {v}" for k, v in cost.items())
            + f"; cores {out[key]['machine_busy_pct']}% busy"
        )
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Kizuna messaging benchmark")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="Daphne processes")
    parser.add_argument(
        "--listeners",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[20, 100],
        help="fan-out listener counts, comma-separated",
    )
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="throughput duration")
    parser.add_argument("--history", type=int, default=5000, help="messages in the long thread")
    parser.add_argument("--history-requests", type=int, default=200)
    parser.add_argument(
        "--only",
        type=lambda v: set(v.split(",")),
        default=set(SCENARIOS),
        help=f"scenarios to run, comma-separated (default: all of {','.join(SCENARIOS)})",
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database")
    parser.add_argument("--profile", action="store_true", help="py-spy one Daphne per scenario")
    parser.add_argument("--note", default="", help="a remark stored with the results")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the Daphne processes (e.g. to try a fix)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = loadavg()
    speed_before = python_speed_ms()
    cluster_mod = load_cluster()
    logs = Path(tempfile.mkdtemp(prefix="kizuna-bench-"))
    redis = RedisServer(log_path=logs / "redis.log")
    cluster = None
    sampler = None
    code = 1
    try:
        redis.start()
        say(f"redis-server on port {redis.port}; logs in {logs}")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": BENCH_SECRET_KEY,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": redis.url,
            "KIZUNA_EMBEDDED": "0",
            # Every sender posts far faster than a person: limits this high are never met,
            # and each post still pays its rate check (teams.throttle), as in production.
            "KIZUNA_RATE_POST_PER_MINUTE": "100000000",
            "KIZUNA_RATE_POST_BURST": "100000000",
        }
        for item in args.env:
            name, _, value = item.partition("=")
            env[name] = value
        say(f"fresh database {args.database_url.rsplit('/', 1)[-1]}: create and migrate")
        recreate_database(args.database_url)
        run_python(["manage.py", "migrate", "--noinput", "-v", "0"], env)
        say("creating the bench data")
        data = json.loads(
            run_python(
                [
                    "-m",
                    "bench.setup_data",
                    "--listeners",
                    str(max(args.listeners)),
                    "--senders",
                    str(args.senders),
                    "--history",
                    str(args.history),
                ],
                env,
            )
        )
        cluster = cluster_mod.DaphneCluster(workers=args.workers, env=env, log_dir=logs)
        cluster.start()
        base = cluster.url
        say(f"{args.workers} Daphne processes at {base} (pids {cluster.pids})")
        sampler = RssSampler(pids=lambda: cluster.pids if cluster else [])
        sampler.start()
        profiler = Profiler(args.out / "profiles" if args.profile else None)
        out = asyncio.run(
            scenarios(
                base,
                data,
                args,
                sampler=sampler,
                profiler=profiler,
                pid0=cluster.pids[0],
                cpu=CpuMeter(
                    {
                        "daphne": lambda: cluster.pids if cluster else [],
                        "postgres": lambda: pids_named("postgres"),
                        "redis": lambda: [redis.proc.pid] if redis.proc else [],
                        "clients": lambda: [os.getpid()],
                    }
                ),
            )
        )
        sampler.stop()
        out["memory"] = {
            "peak_total_mib": round(sampler.peak_kib / 1024, 1),
            "peak_per_process_mib": [round(v / 1024, 1) for v in sampler.peak_per_pid.values()],
            "by_scenario_mib": {k: round(v / 1024, 1) for k, v in sampler.marks.items()},
        }
        now = dt.datetime.now().astimezone()
        results: dict[str, Any] = {
            "date": now.isoformat(timespec="seconds"),
            "command": shlex.join(["python", "-m", "bench.run", *(argv or sys.argv[1:])]),
            "machine": machine(),
            "loadavg_before": load_before,
            "python_speed_ms": {"before": speed_before, "after": python_speed_ms()},
            "loadavg_after": loadavg(),
            "note": args.note,
            "config": {
                "workers": args.workers,
                "listeners": args.listeners,
                "messages": args.messages,
                "rate_per_s": args.rate,
                "senders": args.senders,
                "throughput_seconds": args.seconds,
                "history_messages": args.history,
                "history_requests": args.history_requests,
                "extra_env": args.env,
                "scenarios": sorted(args.only),
            },
            "scenarios": out,
        }
        results["verdicts"] = verdicts(results)
        args.out.mkdir(parents=True, exist_ok=True)
        # A run of some scenarios (--only) must not replace the figures of a whole run.
        partial = "" if args.only >= set(SCENARIOS) else "-partial"
        json_path = args.out / f"{now:%Y-%m-%d}-messaging{partial}.json"
        json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        md_path = args.out / ("latest.md" if not partial else "partial.md")
        write_markdown(results, md_path)
        say(f"results: {json_path} and {md_path}")
        for v in results["verdicts"].values():
            say(
                f"  {v['what']}: {v['value']} (target {v['target']}) "
                f"{'met' if v['met'] else 'NOT met'}"
            )
        code = 0
    except Exception as exc:
        say(f"failed: {exc!r}")
        for log in sorted(logs.glob("daphne-*.log")):
            tail = log.read_text(errors="replace").splitlines()[-15:]
            say(f"--- {log.name} (tail)\n" + "\n".join(tail))
        raise
    finally:
        if sampler is not None:
            sampler.stop()
        if cluster is not None:
            cluster.stop()
        redis.stop()
        if not args.keep_db:
            with contextlib.suppress(Exception):
                drop_database(args.database_url)
        say(f"stopped everything; {time.perf_counter() - started:.0f}s in all")
    return code


if __name__ == "__main__":
    sys.exit(main())
