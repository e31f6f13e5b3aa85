"""Reads of notifications, always of the signed-in person's own notices."""

from __future__ import annotations

from django.db.models import QuerySet

from notifications.models import Notice, Preference
from teams.models import User


def notices_of(user: User) -> QuerySet[Notice]:
    return Notice.objects.filter(recipient=user).order_by("-created_at", "-id")


def unread_count(user_id: int) -> int:
    return Notice.objects.filter(recipient_id=user_id, read_at__isnull=True).count()


def preference_for(user: User) -> Preference:
    """The person's preferences; the defaults (unsaved) when they never changed them."""
    return Preference.objects.filter(user=user).first() or Preference(user=user)


def people_wanting(user_ids: list[int], urgency: str) -> set[int]:
    """Those of `user_ids` who want notices of this urgency through at least one channel (the
    defaults want every urgency)."""
    field = {"routine": "routine", "important": "important", "urgent": "urgent"}[urgency]
    silent = Preference.objects.filter(user_id__in=user_ids, **{f"{field}__len": 0})
    return set(user_ids) - set(silent.values_list("user_id", flat=True))
