"""Messages become notices: a new message for the thread's members, a mention, an urgent call.

Runs on the worker (`messaging.tasks.notify_message`), never in the post's request: the post
queues one task whatever the team's size. Keys make it idempotent: `message:<id>` for the new
or urgent message, `mention:<id>` for a person it @mentions (who then gets that one only).
Titles name the author, never the patient: they may show on a lock screen or in an e-mail.
Notices carry no message text either: a notice outlives the reader's place on the team, and
the thread (gated and audited) is where the text is read.
"""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from messaging.access import thread_member_ids
from messaging.models import Message, Priority, Thread
from notifications.models import Urgency
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
