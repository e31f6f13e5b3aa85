"""`python -m bench.search`: message search on 100,000 messages (issue 15, item 7).

Target: p50 ≤ 50 ms for one page (20 hits) of `messaging.selectors.search`, as the search
page takes it: the gate, the folded match (kizuna_fold on both sides, the trigram index on
kizuna_fold(body)), newest first, and the audit rows of the page.

It makes its own database (`--database`, default kizuna_bench_search; dropped first with
`--fresh`), migrates it, writes 200 patients whose care team holds one nurse, and
100,000 messages spread over their contact books from a vocabulary of visit notes (written
in hiragana, katakana, half-width and full-width forms), then ANALYZE. The queries mix the
forms (ムクミ, ｶﾞｰｾﾞ, ＳｐＯ２ ...) and words not in the vocabulary. Each query runs once to
warm, then `--runs` times; the figures are per page taken.

DATABASE_URL names the server and credentials; the database name in it is replaced.
Results: printed, and bench/results/<date>-search.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

QUERIES = [
    "ムクミ",
    "むくみ",
    "ｶﾞｰｾﾞ",
    "ＳｐＯ２",
    "褥瘡",
    "発熱",
    "吸引",
    "たん",
    "服薬",
    "ふらつき",
    "転倒",
    "インスリン",
    "主治医",
    "血圧",
    "カテーテル",
    "存在しない言葉",
]
NOTES = [
    "両足のむくみが強い。",
    "ムクミは軽快傾向。",
    "ｶﾞｰｾﾞ交換を実施。",
    "仙骨部の褥瘡、ポケット縮小。",
    "ＳｐＯ２ 95%、酸素は継続。",
    "37.8℃の発熱あり、クーリング。",
    "夜間の吸引 3 回、たんは白色。",
    "服薬カレンダーの残薬を確認。",
    "歩行時のふらつきあり、転倒に注意。",
    "インスリン注射の手技を確認。",
    "主治医へ報告済み。",
    "血圧 128/76、脈拍 72。",
    "膀胱カテーテルの閉塞なし。",
    "食事は半量、水分 800ml。",
    "ご家族の介護負担が大きい。",
]


def _database_url(name: str) -> str:
    base = os.environ.get("DATABASE_URL", "postgres://kizuna:kizuna@127.0.0.1:5432/kizuna")
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/" + name))


def _recreate(name: str) -> None:
    import psycopg

    admin = _database_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _setup_django(name: str) -> None:
    os.environ["DATABASE_URL"] = _database_url(name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _populate(messages: int, patients: int) -> Any:
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from messaging.models import Message, Thread
    from messaging.services import contact_book_ensure
    from patients.models import CareRole
    from teams.models import OrganizationKind, Profession, User
    from tests.factories import (
        CareTeamMemberFactory,
        ConsentFactory,
        MembershipFactory,
        OrganizationFactory,
        PatientFactory,
        UserFactory,
    )

    call_command("migrate", verbosity=0)
    existing = User.objects.filter(username="bench.search.nurse").first()
    if existing is not None and Message.objects.count() >= messages:
        return existing
    rng = random.Random(15)  # noqa: S311 (sample text, not secrets)
    with transaction.atomic():
        clinic = OrganizationFactory.create(name="検索ベンチ診療所", kind=OrganizationKind.CLINIC)
        doctor = UserFactory.create(username="bench.search.doctor", profession=Profession.PHYSICIAN)
        nurse = UserFactory.create(username="bench.search.nurse", profession=Profession.NURSE)
        for user in (doctor, nurse):
            MembershipFactory.create(user=user, organization=clinic)
        threads: list[Thread] = []
        for i in range(patients):
            patient = PatientFactory.create(name=f"検索 患者{i}", managing_organization=clinic)
            ConsentFactory.create(patient=patient, recorded_by=doctor)
            CareTeamMemberFactory.create(
                patient=patient, user=doctor, role=CareRole.PRIMARY_PHYSICIAN, organization=clinic
            )
            CareTeamMemberFactory.create(
                patient=patient, user=nurse, role=CareRole.VISITING_NURSE, organization=clinic
            )
            threads.append(contact_book_ensure(patient))
    per_thread = messages // patients
    start = timezone.now() - dt.timedelta(days=365)
    for t_index, thread in enumerate(threads):
        rows = []
        for seq in range(1, per_thread + 1):
            body = " ".join(rng.sample(NOTES, 2))
            rows.append(
                Message(
                    thread=thread,
                    seq=seq,
                    author=doctor if seq % 2 else nurse,
                    client_id=uuid.uuid4(),
                    body=body,
                    created_at=start + dt.timedelta(minutes=seq * patients + t_index),
                )
            )
        with transaction.atomic():
            Message.objects.bulk_create(rows, batch_size=2000)
            thread.last_seq = per_thread
            thread.last_message_at = timezone.now()
            thread.save(update_fields=["last_seq", "last_message_at"])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE messaging_message")
    return nurse


def _measure(user: Any, runs: int, page: int) -> dict[str, Any]:
    from messaging.selectors import search

    per_query: dict[str, dict[str, float]] = {}
    all_ms: list[float] = []
    for q in QUERIES:
        list(search(user, q)[:page])  # warm
        times = []
        hits = 0
        for _ in range(runs):
            t0 = time.perf_counter()
            rows = search(user, q)[:page]
            times.append((time.perf_counter() - t0) * 1000)
            hits = len(rows)
        all_ms.extend(times)
        per_query[q] = {"p50_ms": round(statistics.median(times), 2), "hits": hits}
    ordered = sorted(all_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 2),
        "max_ms": round(ordered[-1], 2),
        "per_query": per_query,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="kizuna_bench_search")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--page", type=int, default=20)
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database")
    args = parser.parse_args(argv)
    if args.fresh:
        _recreate(args.database)
    _setup_django(args.database)
    t0 = time.perf_counter()
    user = _populate(args.messages, args.patients)
    setup_s = time.perf_counter() - t0

    from messaging.models import Message

    result = {
        "date": dt.datetime.now(dt.UTC).date().isoformat(),
        "messages": Message.objects.count(),
        "patients": args.patients,
        "runs_per_query": args.runs,
        "page": args.page,
        "setup_seconds": round(setup_s, 1),
        **_measure(user, args.runs, args.page),
    }
    out = Path(__file__).resolve().parent / "results" / f"{result['date']}-search.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
