"""`make bench-media`: the photo benchmark (issue 12, item 8) against the real stack.

It brings up its own stack, measures, writes the results and stops everything it started:
a private redis-server, a fresh PostgreSQL database (`kizuna_bench_media`), one Daphne
process (as `make bench` does, `DJANGO_DEBUG=0`) and one Celery worker on the `media` queue
(`-P solo`: one photo at a time per worker process), photos stored under a temporary
MEDIA_ROOT. Uploaders sign in for an API token and upload through `POST /api/v1/attachments/`.

Photos: a 12-megapixel (4000 × 3000) JPEG and HEIC made here (never downloaded), with a
camera's EXIF (rotation 6, GPS, serial), textured like a photo rather than pure noise.

Scenarios:
  (a) latency: one uploader sends the JPEG `--uploads` times, one after another, then the
      HEIC `--heic-uploads` times: the answer's time p50/p99, and the time from the request
      until both derivatives are ready (polled every 20 ms on `GET /api/v1/attachments/{id}/`);
  (b) throughput: 4 uploaders in OS threads upload the JPEG for `--seconds`: uploads/s, p50/p99;
  (c) memory: peak RSS of the Daphne process and of the worker process (sampled from /proc).

Results: bench/results/<date>-media.json and bench/results/media.md.
Run: `.venv/bin/python -m bench.media` (see `--help`); docs/bench.md explains the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.clients import api_token
from bench.run import BENCH_SECRET_KEY, machine, percentile, say
from bench.stack import (
    BASE_DIR,
    RedisServer,
    RssSampler,
    drop_database,
    load_cluster,
    recreate_database,
    run_python,
)

RESULTS = BASE_DIR / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://kizuna:kizuna@127.0.0.1:5432/kizuna_bench_media"
TARGETS: dict[str, tuple[str, str, Callable[[float], bool]]] = {
    "jpeg_p50_ms": ("12 MP JPEG upload answered, p50", "<= 300 ms", lambda v: v <= 300),
    "jpeg_ready_p50_ms": ("derivatives ready after a JPEG upload, p50", "<= 2000 ms",
                          lambda v: v <= 2000),
    "worker_peak_mib": ("peak worker memory", "<= 300 MB", lambda v: v <= 300),
}  # fmt: skip


def make_photos(width: int = 4000, height: int = 3000) -> dict[str, bytes]:
    """A 12 MP JPEG and HEIC with a camera's metadata: a gradient, a fractal and some grain."""
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    gradient = Image.linear_gradient("L").resize((width, height))
    fractal = Image.effect_mandelbrot((width, height), (-2.0, -1.2, 1.0, 1.2), 60)
    grain = Image.blend(gradient, Image.effect_noise((width, height), 24), 0.25)
    picture = Image.merge("RGB", (gradient, fractal, grain))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (35.0, 40.0, 12.5), 3: "E", 4: (139.0, 45.0, 3.0)}
    exif.get_ifd(0x8769)[0xA431] = "BENCH-SERIAL"
    exif.get_ifd(0x8769)[0x9003] = "2026:12:01 10:00:00"
    jpeg, heic = io.BytesIO(), io.BytesIO()
    picture.save(jpeg, "JPEG", quality=90, exif=exif.tobytes())
    picture.save(heic, "HEIF", quality=60, exif=exif.tobytes())
    return {"jpeg": jpeg.getvalue(), "heic": heic.getvalue()}


def upload(http: httpx.Client, base: str, token: str, patient: int, data: bytes) -> httpx.Response:
    return http.post(
        f"{base}/api/v1/attachments/",
        headers={"Authorization": f"Token {token}"},
        data={"client_id": str(uuid.uuid4()), "patient": str(patient), "body_site": "sacrum"},
        files={"file": ("photo", data, "application/octet-stream")},
    )


def wait_ready(http: httpx.Client, base: str, token: str, photo: str, timeout: float = 60) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        answer = http.get(
            f"{base}/api/v1/attachments/{photo}/", headers={"Authorization": f"Token {token}"}
        )
        state = answer.json().get("state")
        if state == "ready":
            return
        if state == "failed":
            raise RuntimeError(f"derivatives of {photo} failed")
        time.sleep(0.02)
    raise RuntimeError(f"derivatives of {photo} not ready within {timeout} s")


def latency(
    base: str, token: str, patient: int, data: bytes, n: int, sampler: RssSampler, name: str
) -> dict[str, Any]:
    answered: list[float] = []
    ready: list[float] = []
    with httpx.Client(timeout=60) as http:
        for _ in range(n):
            start = time.perf_counter()
            answer = upload(http, base, token, patient, data)
            answered.append((time.perf_counter() - start) * 1000)
            if answer.status_code != 201:
                raise RuntimeError(f"upload: HTTP {answer.status_code} {answer.text[:200]}")
            wait_ready(http, base, token, answer.json()["id"])
            ready.append((time.perf_counter() - start) * 1000)
    sampler.mark(name)
    return {
        "uploads": n,
        "bytes": len(data),
        "answer_p50_ms": round(percentile(answered, 50), 1),
        "answer_p99_ms": round(percentile(answered, 99), 1),
        "ready_p50_ms": round(percentile(ready, 50), 1),
        "ready_p99_ms": round(percentile(ready, 99), 1),
    }


def throughput(
    base: str, uploaders: list[tuple[str, int]], data: bytes, seconds: float
) -> dict[str, Any]:
    times: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def run(token: str, patient: int) -> None:
        with httpx.Client(timeout=60) as http:
            while time.perf_counter() < stop:
                start = time.perf_counter()
                answer = upload(http, base, token, patient, data)
                took = (time.perf_counter() - start) * 1000
                with lock:
                    if answer.status_code == 201:
                        times.append(took)
                    else:
                        errors.append(answer.status_code)

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=u) for u in uploaders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {
        "uploaders": len(uploaders),
        "seconds": round(elapsed, 1),
        "uploads": len(times),
        "uploads_per_s": round(len(times) / elapsed, 2),
        "p50_ms": round(percentile(times, 50), 1) if times else None,
        "p99_ms": round(percentile(times, 99), 1) if times else None,
        "errors": errors[:10],
    }


async def tokens_and_patients(base: str, data: dict[str, Any]) -> list[tuple[str, int]]:
    out = []
    async with httpx.AsyncClient(timeout=30) as http:
        for entry in data["throughput"]:
            token = await api_token(http, base, entry["user"], data["password"])
            thread = await http.get(
                f"{base}/api/v1/threads/{entry['thread']}/",
                headers={"Authorization": f"Token {token}"},
            )
            out.append((token, int(thread.json()["patient"]["id"])))
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--uploads", type=int, default=20, help="JPEG uploads in (a)")
    parser.add_argument("--heic-uploads", type=int, default=5, help="HEIC uploads in (a)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of (b)")
    parser.add_argument("--uploaders", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--note", default="")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    logs = Path(tempfile.mkdtemp(prefix="kizuna-bench-media-"))
    media_root = logs / "media"
    media_root.mkdir()
    redis = RedisServer(log_path=logs / "redis.log")
    cluster = None
    worker: subprocess.Popen[bytes] | None = None
    daphne_rss = worker_rss = None
    try:
        say("making the 12 MP photos")
        photos = make_photos()
        redis.start()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": BENCH_SECRET_KEY,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": redis.url,
            "CELERY_BROKER_URL": redis.url,
            "KIZUNA_EMBEDDED": "0",
            "MEDIA_ROOT": str(media_root),
            # Uploads far faster than a person's: the limit is never met, its check still paid.
            "KIZUNA_RATE_UPLOAD_PER_MINUTE": "100000000",
            "KIZUNA_RATE_UPLOAD_BURST": "100000000",
        }
        say(f"fresh database {args.database_url.rsplit('/', 1)[-1]}: create and migrate")
        recreate_database(args.database_url)
        run_python(["manage.py", "migrate", "--noinput", "-v", "0"], env)
        data = json.loads(
            run_python(
                ["-m", "bench.setup_data", "--listeners", "1", "--senders",
                 str(args.uploaders), "--history", "10"],
                env,
            )
        )  # fmt: skip
        cluster = load_cluster().DaphneCluster(workers=1, env=env, log_dir=logs)
        cluster.start()
        base = cluster.url
        celery = str(BASE_DIR / ".venv" / "bin" / "celery")
        with open(logs / "worker.log", "wb") as log:
            worker = subprocess.Popen(
                [celery, "-A", "config", "worker", "-l", "warning", "-P", "solo", "-Q", "media",
                 "--without-gossip", "--without-mingle", "-n", "bench-media@%h"],
                cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        running = worker
        daphne_rss = RssSampler(pids=lambda: cluster.pids if cluster else [])
        worker_rss = RssSampler(pids=lambda: [running.pid])
        daphne_rss.start()
        worker_rss.start()
        uploaders = asyncio.run(tokens_and_patients(base, data))
        say(f"Daphne at {base}, worker pid {worker.pid}; warming up")
        latency(base, uploaders[0][0], uploaders[0][1], photos["jpeg"], 2, daphne_rss, "warmup")
        say(f"(a) {args.uploads} JPEG uploads, one at a time")
        jpeg = latency(base, *uploaders[0], photos["jpeg"], args.uploads, daphne_rss, "jpeg")
        say(f"(a) {args.heic_uploads} HEIC uploads, one at a time")
        heic = latency(base, *uploaders[0], photos["heic"], args.heic_uploads, daphne_rss, "heic")
        say(f"(b) {len(uploaders)} uploaders for {args.seconds:.0f} s")
        through = throughput(base, uploaders, photos["jpeg"], args.seconds)
        daphne_rss.stop()
        worker_rss.stop()
        figures = {
            "jpeg": jpeg,
            "heic": heic,
            "throughput": through,
            "memory": {
                "daphne_peak_mib": round(daphne_rss.peak_kib / 1024, 1),
                "worker_peak_mib": round(worker_rss.peak_kib / 1024, 1),
            },
        }
        values = {
            "jpeg_p50_ms": jpeg["answer_p50_ms"],
            "jpeg_ready_p50_ms": jpeg["ready_p50_ms"],
            "worker_peak_mib": figures["memory"]["worker_peak_mib"],
        }
        now = dt.datetime.now().astimezone()
        results = {
            "date": now.isoformat(timespec="seconds"),
            "command": shlex.join(["python", "-m", "bench.media", *(argv or sys.argv[1:])]),
            "machine": machine(),
            "note": args.note,
            "figures": figures,
            "verdicts": {
                key: {
                    "what": what,
                    "target": target,
                    "value": values[key],
                    "met": test(values[key]),
                }
                for key, (what, target, test) in TARGETS.items()
            },
        }
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{now:%Y-%m-%d}-media.json").write_text(
            json.dumps(results, indent=2, ensure_ascii=False) + "\n"
        )
        say(json.dumps(figures, ensure_ascii=False))
        for v in results["verdicts"].values():
            verdict = "met" if v["met"] else "NOT met"
            say(f"  {v['what']}: {v['value']} (target {v['target']}) {verdict}")
        return 0
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
        if cluster is not None:
            cluster.stop()
        redis.stop()
        try:
            drop_database(args.database_url)
        except Exception as exc:
            say(f"database not dropped: {exc!r}")
        shutil.rmtree(logs / "media", ignore_errors=True)
        say(f"stopped everything; {time.perf_counter() - started:.0f}s in all; logs in {logs}")


if __name__ == "__main__":
    sys.exit(main())
