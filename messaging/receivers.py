"""How messaging reacts to what other apps (and its own services) announce.

The one place where messaging's reactions are connected (from `MessagingConfig.ready`):
- a new patient gets its contact book, in the same transaction;
- people who lost access to a patient have their sockets closed after the commit, so their
  screens resync and drop the threads they no longer see;
- emergency access (break glass) is announced in the patient's contact book;
- a confirmed referral's summary is the first message of the new patient's contact book;
- a user deactivated or with a new password has their sockets closed (`messaging.revocation`);
- web sessions that ended (logout, a device revoked, a password change, an administrator
  ending someone's access: `teams.signals.sessions_ended`) have their sockets closed after
  the commit;
- a new message that calls for a notice is handed to the Celery task, after its commit;
- notifications' live events (a new notice, notices read) go to the person's sockets, which
  messaging owns; its daily digest lists the person's unread threads (`unread_threads`);
- a photo whose derivatives are ready (`media.signals.attachment_ready`, after the commit)
  updates its message live on the team's screens (`attachments.ready`);
- the patient page shows the contact book and its requests, and home the unread counts and my
  open requests (`patients.panels`).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import pre_save
from django.utils import timezone

from media import signals as media_signals
from messaging import events, requests, selectors, services, signals, views
from messaging.models import Message, Request
from messaging.notices import thread_url
from messaging.publish import publish, revoke_on_commit, revoke_sessions_on_commit, send_to_users
from messaging.revocation import user_pre_save
from messaging.tasks import fire_step, notify_message
from messaging.web_selectors import (
    HomeUnread,
    ThreadPage,
    home_unread,
    thread_page,
    thread_page_since,
)
from notifications import signals as notification_signals
from notifications import sources as notification_sources
from patients import panels
from patients import signals as patient_signals
from patients.models import BreakGlassGrant, Patient
from teams import signals as team_signals
from teams.models import User

logger = logging.getLogger(__name__)

HANDOFF_WINDOW = dt.timedelta(hours=72)


def on_patient_created(sender: Any, *, patient: Patient, **kwargs: Any) -> None:
    services.contact_book_ensure(patient)


def on_access_ended(sender: Any, *, user_ids: list[int], **kwargs: Any) -> None:
    revoke_on_commit(user_ids, reason="access_changed")


def on_sessions_ended(
    sender: Any, *, user_id: int, session_tags: list[str] | None, **kwargs: Any
) -> None:
    revoke_sessions_on_commit(user_id, session_tags)


def on_break_glass_opened(sender: Any, *, grant: BreakGlassGrant, **kwargs: Any) -> None:
    services.announce_break_glass(grant)


def on_referral_confirmed(
    sender: Any, *, patient: Patient, author: User, text: str, **kwargs: Any
) -> None:
    services.announce_referral(patient, author=author, text=text)


def on_message_posted(sender: Any, *, message: Message, **kwargs: Any) -> None:
    """Queue the notice of a committed message; never raise.

    Runs after the commit: the message is stored, so a broker outage (Redis down: kombu's
    OperationalError) must not turn the post into an error. Logged, like a live event that
    could not be sent; notices are best-effort, and the thread itself loses nothing.
    """
    if not services.needs_notice(message):
        return
    try:
        notify_message.delay(message.pk)
    except Exception:
        logger.exception("notification of message %s not queued", message.pk)


def on_notice_live(
    sender: Any, *, user_ids: list[int], event: dict[str, Any], **kwargs: Any
) -> None:
    send_to_users(user_ids, event)


def unread_threads(user: User) -> list[notification_sources.UnreadItem]:
    return [
        notification_sources.UnreadItem(
            title=str(t),
            url=thread_url(t),
            unread=t.unread,  # type: ignore[attr-defined]
        )
        for t in selectors.unread_threads(user)
    ]


def on_attachment_ready(sender: Any, *, message_id: int | None, **kwargs: Any) -> None:
    """Send the message of a photo whose derivatives are ready to its thread's team; never
    raise (the photo is ready in the database, and a client that misses this resyncs)."""
    if message_id is None:
        return  # not posted yet: the post will carry the photo as it is then
    try:
        message = selectors.messages_base().select_related("thread").filter(pk=message_id).first()
        if message is None or message.deleted_at is not None:
            return
        selectors.attach_mentions([message])
        selectors.attach_read_by([message])
        selectors.attach_attachments([message])
        publish(message.thread, events.attachments_ready(message))
    except Exception:
        logger.exception("live event of the photos of message %s not sent", message_id)


def on_escalation_step_due(sender: Any, *, step_id: int, deadline: Any, **kwargs: Any) -> None:
    """Queue the task that fires a new escalation step at its deadline; never raise.

    Only a short wait goes to the broker as a countdown (a countdown past the Redis
    visibility timeout would be redelivered in a loop); a longer one, a lost task or a broker
    outage is the sweep's (`tasks.sweep_escalations`), which fires any step past its
    deadline. In embedded mode tasks run at once, before the deadline: the sweep fires it.
    """
    countdown = max(0.0, (deadline - timezone.now()).total_seconds())
    if countdown > settings.KIZUNA_ESCALATION_MAX_COUNTDOWN_SECONDS:
        return
    try:
        fire_step.apply_async((step_id,), countdown=countdown)
    except Exception:
        logger.exception("escalation step %s not queued; the sweep fires it", step_id)


def contact_book_panel(user: User, patient: Patient) -> ThreadPage:
    """The patient page's contact book (連絡帳): its newest messages, kept live by the page's
    thread scripts."""
    return thread_page(user, services.contact_book_ensure(patient))


def unread_panel(user: User, patient_ids: list[int]) -> HomeUnread:
    """Home's unread counts (threads urgent first, and per patient card), kept live by
    messaging/unread.js."""
    return home_unread(user, patient_ids)


def requests_panel(user: User, patient: Patient) -> dict[str, object]:
    """The patient page's requests (依頼): each with its replies and its urgent chain."""
    return views.requests_panel_context(user, services.contact_book_ensure(patient))


def my_requests(user: User, patient_ids: list[int]) -> list[Request]:
    """The home page's list: the open requests I must answer, oldest due first."""
    return list(requests.open_requests_for(user)[:50])


def handoff_thread(user: User, patient: Patient) -> ThreadPage:
    """The hand-off card's contact book: the messages of the last 72 hours."""
    return thread_page_since(
        user, services.contact_book_ensure(patient), since=timezone.now() - HANDOFF_WINDOW
    )


def connect() -> None:
    patient_signals.patient_created.connect(on_patient_created, dispatch_uid="kz-contact-book")
    patient_signals.access_ended.connect(on_access_ended, dispatch_uid="kz-access-ended")
    patient_signals.referral_confirmed.connect(on_referral_confirmed, dispatch_uid="kz-referral")
    patient_signals.break_glass_opened.connect(on_break_glass_opened, dispatch_uid="kz-break-glass")
    team_signals.sessions_ended.connect(on_sessions_ended, dispatch_uid="kz-sessions-ended")
    signals.message_posted.connect(on_message_posted, dispatch_uid="kz-notify")
    notification_signals.notice_live.connect(on_notice_live, dispatch_uid="kz-notice-live")
    notification_sources.register("threads", unread_threads)
    media_signals.attachment_ready.connect(on_attachment_ready, dispatch_uid="kz-photo-ready")
    signals.escalation_step_due.connect(on_escalation_step_due, dispatch_uid="kz-escalation")
    pre_save.connect(user_pre_save, sender=get_user_model(), dispatch_uid="kizuna-revoke")
    panels.register(panels.Panel("contact_book", contact_book_panel))
    panels.register_home(panels.HomePanel("unread", unread_panel))
    panels.register(panels.Panel("requests_panel", requests_panel))
    panels.register_home(panels.HomePanel("my_requests", my_requests))
    panels.register_handoff(panels.Panel("handoff_thread", handoff_thread))
