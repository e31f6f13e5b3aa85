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
- the patient page shows the contact book, and home the unread counts (`patients.panels`).
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import pre_save

from messaging import selectors, services, signals
from messaging.models import Message
from messaging.notices import thread_url
from messaging.publish import revoke_on_commit, revoke_sessions_on_commit, send_to_users
from messaging.revocation import user_pre_save
from messaging.tasks import notify_message
from messaging.web_selectors import HomeUnread, ThreadPage, home_unread, thread_page
from notifications import signals as notification_signals
from notifications import sources as notification_sources
from patients import panels
from patients import signals as patient_signals
from patients.models import BreakGlassGrant, Patient
from teams import signals as team_signals
from teams.models import User

logger = logging.getLogger(__name__)


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


def contact_book_panel(user: User, patient: Patient) -> ThreadPage:
    """The patient page's contact book (連絡帳): its newest messages, kept live by the page's
    thread scripts."""
    return thread_page(user, services.contact_book_ensure(patient))


def unread_panel(user: User, patient_ids: list[int]) -> HomeUnread:
    """Home's unread counts (threads urgent first, and per patient card), kept live by
    messaging/unread.js."""
    return home_unread(user, patient_ids)


def connect() -> None:
    patient_signals.patient_created.connect(on_patient_created, dispatch_uid="kz-contact-book")
    patient_signals.access_ended.connect(on_access_ended, dispatch_uid="kz-access-ended")
    patient_signals.referral_confirmed.connect(on_referral_confirmed, dispatch_uid="kz-referral")
    patient_signals.break_glass_opened.connect(on_break_glass_opened, dispatch_uid="kz-break-glass")
    team_signals.sessions_ended.connect(on_sessions_ended, dispatch_uid="kz-sessions-ended")
    signals.message_posted.connect(on_message_posted, dispatch_uid="kz-notify")
    notification_signals.notice_live.connect(on_notice_live, dispatch_uid="kz-notice-live")
    notification_sources.register("threads", unread_threads)
    pre_save.connect(user_pre_save, sender=get_user_model(), dispatch_uid="kizuna-revoke")
    panels.register(panels.Panel("contact_book", contact_book_panel))
    panels.register_home(panels.HomePanel("unread", unread_panel))
