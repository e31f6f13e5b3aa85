"""The ways a notice reaches a person: in-app (live), Web Push, e-mail and SMS/voice.

Each sender takes what it needs and either returns (sent) or raises `SendFailed`; a failure
says whether trying again could help (`retry`). Senders never write notices or deliveries
(services do); the one exception is Web Push dropping a subscription its push service says is
gone (404/410), which is the push service's answer, not a choice of ours.

What leaves Kizuna (push, e-mail, SMS) carries the notice's title and a link only, never its
body: a phone's lock screen and a mail provider are not places for a patient's details.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import send_mail
from django.utils.module_loading import import_string

from notifications.models import PushSubscription
from notifications.signals import notice_live

logger = logging.getLogger(__name__)


class SendFailed(Exception):
    """A channel could not deliver; `retry` is False when trying again cannot help."""

    def __init__(self, reason: str, *, retry: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason[:300]
        self.retry = retry


@dataclass(frozen=True)
class Outgoing:
    """What a channel sends: a title, an absolute link, and whom to."""

    user_id: int
    title: str
    link: str
    urgency: str
    tag: str  # Web Push tag: a newer push with the same tag replaces the older one


def absolute(path: str) -> str:
    return str(settings.KIZUNA_SITE_URL).rstrip("/") + path


# --- in-app -------------------------------------------------------------------------------


def send_live(user_ids: Sequence[int], event: dict[str, Any]) -> None:
    """Hand a live event to the people's sockets (messaging relays it: it owns /ws/)."""
    notice_live.send(sender=None, user_ids=list(user_ids), event=event)


# --- Web Push -----------------------------------------------------------------------------

PUSH_TIMEOUT = 10  # seconds per push service request
PUSH_TTL = 24 * 3600  # how long the push service keeps a push for an offline device


def push_configured() -> bool:
    return bool(settings.KIZUNA_VAPID_PRIVATE_KEY and settings.KIZUNA_VAPID_SUBJECT)


def send_push(message: Outgoing) -> int:
    """Push to every device of the person; returns how many took it. Subscriptions the push
    service says are gone (404, 410) are removed. Fails (to retry) only when no device took it
    and at least one failed for a reason that may pass."""
    from pywebpush import WebPushException, webpush

    if not push_configured():
        raise SendFailed("Web Push is not configured (KIZUNA_VAPID_*)", retry=False)
    subscriptions = list(PushSubscription.objects.filter(user_id=message.user_id))
    if not subscriptions:
        raise SendFailed("no push subscription", retry=False)
    payload = json.dumps(
        {"title": message.title, "url": message.link, "urgency": message.urgency,
         "tag": message.tag},
        ensure_ascii=False,
    )  # fmt: skip
    sent, failures = 0, []
    for sub in subscriptions:
        try:
            webpush(
                subscription_info={
                    "endpoint": sub.endpoint,
                    "keys": {"p256dh": sub.p256dh, "auth": sub.auth},
                },
                data=payload,
                vapid_private_key=settings.KIZUNA_VAPID_PRIVATE_KEY,
                vapid_claims={"sub": settings.KIZUNA_VAPID_SUBJECT},
                ttl=PUSH_TTL,
                timeout=PUSH_TIMEOUT,
                headers={"Urgency": "high" if message.urgency == "urgent" else "normal"},
            )
            sent += 1
        except WebPushException as exc:
            status = getattr(exc.response, "status_code", None)
            if status in (404, 410):
                logger.info("push subscription %s is gone (%s): removed", sub.pk, status)
                sub.delete()
            else:
                failures.append(f"{status or 'error'}: {str(exc)[:100]}")
        except Exception as exc:  # the push service unreachable, a bad key stored
            failures.append(f"{type(exc).__name__}: {str(exc)[:100]}")
    if sent:
        return sent
    if failures:
        raise SendFailed("; ".join(failures))
    raise SendFailed("every push subscription had expired", retry=False)


# --- e-mail -------------------------------------------------------------------------------


def send_email(address: str, subject: str, text: str) -> None:
    if not address:
        raise SendFailed("no e-mail address", retry=False)
    try:
        send_mail(subject, text, None, [address], fail_silently=False)
    except Exception as exc:  # SMTP down, refused: try again later
        raise SendFailed(f"{type(exc).__name__}: {str(exc)[:200]}") from exc


# --- SMS / voice --------------------------------------------------------------------------


class SmsSender(Protocol):
    """A provider of SMS or voice calls (settings.KIZUNA_SMS_SENDER names the class)."""

    def send(self, phone: str, text: str) -> None:
        """Send `text` to `phone`, or raise `SendFailed`."""


class LoggingSmsSender:
    """Writes the SMS to the log: the place a provider (Twilio, a Japanese carrier's API)
    plugs in, with the same interface."""

    def send(self, phone: str, text: str) -> None:
        logger.info("SMS to %s: %s", phone, text)


def send_sms(phone: str, text: str) -> None:
    if not phone:
        raise SendFailed("no phone number", retry=False)
    sender: SmsSender = import_string(settings.KIZUNA_SMS_SENDER)()
    sender.send(phone, text)
