"""Messages become notices: a new message for the thread's members, a mention, an urgent call.

Runs on the worker (`messaging.tasks.notify_message`), never in the post's request: the post
queues one task whatever the team's size. Keys make it idempotent: `message:<id>` for the new
or urgent message, `mention:<id>` for a person it @mentions (who then gets that one only).
A message whose task was lost (the broker down at the post) is found by the sweep
(`rescue_lost`, beat every 30 s): the message row is the outbox of its notices.
Titles name the author, never the patient: they may show on a lock screen or in an e-mail.
Notices carry no message text either: a notice outlives the reader's place on the team, and
the thread (gated and audited) is where the text is read.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from messaging.access import thread_member_ids
from messaging.models import Message, Priority, Thread
from notifications.models import Notice, Urgency
from notifications.selectors import people_wanting
from notifications.services import notify


def thread_url(thread: Thread) -> str:
    if thread.patient_id is not None:
        return reverse("patient-detail", args=[thread.patient_id]) + "#thread"
    return reverse("home")


def message_notices(message_id: int) -> int:
    """Write the notices of one message (once per person and key); returns how many were new."""
    message = (
        Message.objects.select_related("thread", "author")
        .filter(pk=message_id, deleted_at__isnull=True)
        .first()
    )
    if message is None:
        return 0
    thread = message.thread
    recipients = [uid for uid in thread_member_ids(thread) if uid != message.author_id]
    if not recipients:
        return 0
    mentioned = set(message.mentions.values_list("pk", flat=True))
    author = str(message.author)
    url = thread_url(thread)
    urgency = Urgency(message.priority if message.priority in Priority.values else "routine")
    # Routine messages reach only the people who want routine notices at all.
    plain = set(recipients) - mentioned
    if urgency == Urgency.ROUTINE:
        plain &= people_wanting(list(plain), Urgency.ROUTINE)
    written = 0
    with transaction.atomic():
        for uid in recipients:
            if uid in mentioned:
                notice = notify(
                    uid,
                    kind="message.mention",
                    key=f"mention:{message.pk}",
                    title=_("%(author)sさんがあなたをメンションしました") % {"author": author},
                    url=url,
                    urgency=Urgency.URGENT if urgency == Urgency.URGENT else Urgency.IMPORTANT,
                )
            elif uid in plain:
                if urgency == Urgency.URGENT:
                    title = _("緊急: %(author)sさんからのメッセージ") % {"author": author}
                    kind = "message.urgent"
                else:
                    title = _("%(author)sさんの新しいメッセージ") % {"author": author}
                    kind = "message.new"
                notice = notify(
                    uid,
                    kind=kind,
                    key=f"message:{message.pk}",
                    title=title,
                    url=url,
                    urgency=urgency,
                )
            else:
                continue
            written += notice is not None
    return written


# --- the sweep: messages whose notify task was lost ----------------------------------------

# A message's task is given this long before the sweep writes its notices itself, and the
# sweep looks this far back (among the newest RESCUE_SCAN messages, by the primary key).
RESCUE_GRACE = datetime.timedelta(seconds=10)
RESCUE_WINDOW = datetime.timedelta(minutes=15)
RESCUE_SCAN = 1000


def lost_message_ids(now: datetime.datetime | None = None) -> list[int]:
    """Recent live messages with no notice at all under their keys: their task never ran (the
    broker was down when they were posted, or a worker died holding it). A message nobody is
    to be told about is looked at again until it leaves the window, at no harm."""
    now = now or timezone.now()
    message_key = Concat(Value("message:"), Cast(OuterRef("pk"), output_field=CharField()))
    mention_key = Concat(Value("mention:"), Cast(OuterRef("pk"), output_field=CharField()))
    noticed = Notice.objects.filter(Q(key=message_key) | Q(key=mention_key))
    newest = Message.objects.order_by("-pk").values("pk")[:RESCUE_SCAN]
    return list(
        Message.objects.filter(
            pk__in=Subquery(newest),
            created_at__gte=now - RESCUE_WINDOW,
            created_at__lte=now - RESCUE_GRACE,
            deleted_at__isnull=True,
        )
        .filter(~Exists(noticed))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def rescue_lost(now: datetime.datetime | None = None) -> int:
    """Write the notices of messages whose task was lost; returns how many were new."""
    return sum(message_notices(message_id) for message_id in lost_message_ids(now))
