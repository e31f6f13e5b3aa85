"""The benchmark's people, patients and threads, written into the (fresh) bench database.

Run by `bench.run` as `python -m bench.setup_data --listeners 100 ...` with DATABASE_URL set
to the bench database; prints one JSON object naming what the clients need (usernames,
thread ids). Everything is made with the project's factories and `contact_book_ensure`, as a
patient registered through the service would have it: a care team active today, consent on
record, a contact-book thread.

- fan-out: one patient whose team is the primary physician, one sender and `listeners`
  members (everyone on the team receives each message's live event);
- throughput: `senders` patients, each with its own sender, so posts are spread over threads
  (one thread's posts are serialised by its row lock by design);
- history: one patient whose contact book holds `history` messages, bulk-inserted with
  gap-free seqs 1..N and the thread's `last_seq` set to N, then ANALYZE (see below).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from bench.clients import totp_key  # noqa: E402
from messaging.models import Message, ReadState  # noqa: E402
from messaging.services import contact_book_ensure  # noqa: E402
from patients.models import CareRole, Patient  # noqa: E402
from teams.models import Organization, OrganizationKind, Profession, User  # noqa: E402
from tests.factories import (  # noqa: E402
    CareTeamMemberFactory,
    ConsentFactory,
    MembershipFactory,
    OrganizationFactory,
    PatientFactory,
    UserFactory,
)

PASSWORD = "kizuna-bench-pass"  # noqa: S105 (the benchmark's throwaway users)


def _team_patient(name: str, primary: User, members: list[User], clinic: Organization) -> Patient:
    patient = PatientFactory.create(name=name, managing_organization=clinic)
    ConsentFactory.create(patient=patient, recorded_by=primary)
    CareTeamMemberFactory.create(
        patient=patient, user=primary, role=CareRole.PRIMARY_PHYSICIAN, organization=clinic
    )
    for member in members:
        CareTeamMemberFactory.create(patient=patient, user=member, role=CareRole.VISITING_NURSE)
    return patient


def enrol(user: User) -> None:
    """The person's authenticator, with the key the benchmark's clients derive (totp_key)."""
    TOTPDevice.objects.create(user=user, name="authenticator", key=totp_key(user.username))


def build(*, listeners: int, senders: int, history: int) -> dict[str, Any]:
    hashed = make_password(PASSWORD)  # one Argon2 hash for everyone: hashing costs ~0.1 s each

    def users(prefix: str, n: int, profession: str = Profession.NURSE) -> list[User]:
        made = [
            UserFactory.create(
                username=f"{prefix}{i:03d}",
                display_name=f"ベンチ{prefix}{i}",
                profession=profession,
                password=hashed,
            )
            for i in range(n)
        ]
        for user in made:
            MembershipFactory.create(user=user, organization=station)
            enrol(user)
        return made

    with transaction.atomic():
        clinic = OrganizationFactory.create(
            name="ベンチ在宅クリニック", kind=OrganizationKind.CLINIC
        )
        station = OrganizationFactory.create(
            name="ベンチ訪問看護ステーション", kind=OrganizationKind.NURSING_STATION
        )
        primary = UserFactory.create(
            username="bench.doctor",
            display_name="ベンチ 医師",
            profession=Profession.PHYSICIAN,
            password=hashed,
        )
        MembershipFactory.create(user=primary, organization=clinic)
        enrol(primary)

        sender = users("bench.sender", 1)[0]
        listening = users("bench.l", listeners)
        fanout_patient = _team_patient("ベンチ 一斉", primary, [sender, *listening], clinic)
        fanout_thread = contact_book_ensure(fanout_patient)

        posting = users("bench.t", senders)
        throughput = []
        for i, user in enumerate(posting):
            patient = _team_patient(f"ベンチ 送信{i}", primary, [user], clinic)
            throughput.append({"user": user.username, "thread": contact_book_ensure(patient).pk})

        reader = users("bench.reader", 1)[0]
        history_patient = _team_patient("ベンチ 履歴", primary, [reader], clinic)
        history_thread = contact_book_ensure(history_patient)

    with transaction.atomic():
        # Gap-free seqs 1..N, as the service would have numbered them, and last_seq = N.
        Message.objects.bulk_create(
            (
                Message(
                    thread=history_thread,
                    seq=seq,
                    author=primary if seq % 3 else reader,
                    client_id=uuid.uuid4(),
                    body=f"訪問記録 {seq}: 血圧 128/76、SpO2 97%、食事は半量。様子を見ます。",
                )
                for seq in range(1, history + 1)
            ),
            batch_size=1000,
        )
        history_thread.last_seq = history
        history_thread.last_message_at = timezone.now()
        history_thread.save(update_fields=["last_seq", "last_message_at"])
        ReadState.objects.create(user=primary, thread=history_thread, last_read_seq=history)
        ReadState.objects.create(user=reader, thread=history_thread, last_read_seq=history - 10)

    # A production table has planner statistics (autovacuum's autoanalyze); a freshly
    # bulk-loaded one does not, and without them PostgreSQL reads all N rows of the thread
    # to sort them instead of walking the (thread, seq) index backwards.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    return {
        "password": PASSWORD,
        "fanout": {
            "thread": fanout_thread.pk,
            "sender": sender.username,
            "listeners": [u.username for u in listening],
        },
        "throughput": throughput,
        "history": {"thread": history_thread.pk, "user": reader.username, "messages": history},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create the benchmark's data.")
    parser.add_argument("--listeners", type=int, default=100)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--history", type=int, default=5000)
    args = parser.parse_args(argv)
    data = build(listeners=args.listeners, senders=args.senders, history=args.history)
    json.dump(data, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
