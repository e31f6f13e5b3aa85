"""`python manage.py seed_demo_conferences`: the demo network's monthly case review.

Run after `seed_demo` (`make run` does): the network's 事例検討会 on the third Thursday of
each month at 19:00 (Asia/Tokyo), online, organized by the demo's primary physician with
every organization of the network invited and his first patient on the agenda, so the
calendar shows a filled month. Scheduled through `conferences.services` like any other
(its checks, its invitation notices). Run again, it leaves a series that still has meetings
ahead as it is, and schedules a new year once the old one is over.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from conferences import selectors, services
from conferences.models import Conference, ConferenceKind
from messaging.management.commands.seed_demo import NETWORK_NAME
from patients.models import CareRole, CareTeamMember
from teams.models import Network, User

ORGANIZER = "dr.yamada"
TITLE = "中央区在宅医療ネットワーク 月例事例検討会"
TOKYO = ZoneInfo("Asia/Tokyo")


def third_thursday_at_19(today: dt.date) -> dt.datetime:
    """19:00 Tokyo on the third Thursday of this month, or of the next if it has passed."""
    year, month = today.year, today.month
    for _ in range(2):
        first = dt.date(year, month, 1)
        day = first + dt.timedelta(days=(3 - first.weekday()) % 7 + 14)
        if day >= today:
            return dt.datetime.combine(day, dt.time(19), tzinfo=TOKYO)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise AssertionError("unreachable")  # pragma: no cover


def seed_demo_conferences() -> Conference:
    organizer = User.objects.filter(username=ORGANIZER).first()
    network = Network.objects.filter(name=NETWORK_NAME).first()
    if organizer is None or network is None:
        raise CommandError("先に manage.py seed_demo を実行してください。")
    existing = (
        Conference.objects.filter(organizer=organizer, title=TITLE, cancelled_at__isnull=True)
        .prefetch_related("changes")
        .order_by("-starts_at")
        .first()
    )
    if existing is not None and selectors.next_occurrence(existing) is not None:
        return existing
    patient = (
        CareTeamMember.objects.filter(
            user=organizer, role=CareRole.PRIMARY_PHYSICIAN, end_date__isnull=True
        )
        .order_by("patient_id")
        .values_list("patient_id", flat=True)
        .first()
    )
    start = third_thursday_at_19(timezone.localdate())
    with transaction.atomic():
        return services.schedule_conference(
            organizer,
            kind=ConferenceKind.CASE_REVIEW,
            title=TITLE,
            starts_at=start,
            ends_at=start + dt.timedelta(minutes=90),
            time_zone="Asia/Tokyo",
            recurrence_rule="FREQ=MONTHLY;BYDAY=3TH;COUNT=12",
            is_online=True,
            organizations=list(network.organizations.values_list("pk", flat=True)),
            agenda=[
                {
                    "patient": patient,
                    "presenter": organizer.pk,
                    "question": "在宅での看取りに向けた家族支援と多職種の役割分担",
                }
            ]
            if patient
            else [],
        )


class Command(BaseCommand):
    help = "デモ用の月例事例検討会(毎月第3木曜日 19:00)を用意します。"

    def handle(self, *args: Any, **options: Any) -> None:
        conference = seed_demo_conferences()
        self.stdout.write(
            self.style.SUCCESS(f"デモの会議を用意しました: {conference.title} (#{conference.pk})")
        )
