"""Writing notices: the one entry point every app uses to tell a person something.

`notify` is called inside the transaction that makes its cause (a post, an escalation step, an
invitation), so the notice commits with it or not at all; delivery is queued after the commit.
"""

from __future__ import annotations

from django.db import transaction

from notifications.models import Notice, Urgency
from notifications.signals import notice_committed


def notify(
    recipient_id: int,
    *,
    kind: str,
    key: str,
    title: str,
    url: str,
    body: str = "",
    urgency: Urgency = Urgency.ROUTINE,
) -> Notice | None:
    """Write the notice for `recipient_id` unless one with `key` exists; returns the new notice,
    or None when it was already there (so a retried cause notifies once)."""
    notice, created = Notice.objects.get_or_create(
        recipient_id=recipient_id,
        key=key,
        defaults={"kind": kind, "title": title, "url": url, "body": body, "urgency": urgency},
    )
    if not created:
        return None
    notice_id = notice.pk
    transaction.on_commit(lambda: notice_committed.send(Notice, notice_id=notice_id))
    return notice
