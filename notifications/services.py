"""Writing and delivering notices: `notify`, the one entry point every app uses to tell a
person something, and the delivery that works from the stored notice.

`notify` is called inside the transaction that makes its cause (a post, an escalation step, an
invitation), so the notice commits with it or not at all; delivery is queued after the commit.
Delivery is planned once per notice (`dispatch`: one `Delivery` per channel the person chose,
held until the end of quiet hours unless urgent), then each delivery is claimed by a
conditional update and sent (`attempt`), so two workers, a retried task and the sweep never
send one twice at the same time. Failures are retried with backoff from the database
(`next_attempt_at`), picked up by `sweep`, which also plans notices whose task was lost and
sends the held ones as one digest per person and channel.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import logging
from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import DomainError, NotFound
from notifications import channels, events, sources
from notifications.channels import Outgoing, SendFailed
from notifications.models import (
    Channel,
    Delivery,
    DeliveryState,
    Notice,
    Preference,
    PushSubscription,
    Urgency,
)
from notifications.selectors import preference_for, unread_count
from notifications.signals import notice_committed
from teams.models import User

logger = logging.getLogger(__name__)

# A claimed delivery whose worker died is claimed again after this long.
CLAIM_SECONDS = 120
# Retries: 30 s, 1, 2, 4, 8 min...; after MAX_ATTEMPTS the delivery is failed for good.
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600
MAX_ATTEMPTS = 6
# The sweep leaves a fresh notice to its own task for this long before planning it itself.
SWEEP_GRACE_SECONDS = 5
SWEEP_BATCH = 500


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


# --- delivery -----------------------------------------------------------------------------


def deliver(notice_id: int) -> list[str]:
    """Plan the notice's deliveries (once) and send those due now; returns their states."""
    return [attempt(delivery_id) for delivery_id in dispatch(notice_id)]


def dispatch(notice_id: int) -> list[int]:
    """Plan the deliveries of a notice, once: one row per channel the recipient wants for its
    urgency, held until the end of their quiet hours unless urgent (the app's own list and
    bell are never held). Returns the ids of its deliveries due now."""
    now = timezone.now()
    with transaction.atomic():
        notice = (
            Notice.objects.select_for_update()
            .select_related("recipient")
            .filter(pk=notice_id)
            .first()
        )
        if notice is None:
            return []
        if notice.dispatched_at is None:
            preference = preference_for(notice.recipient)
            # Someone whose account was ended is told nothing more (the notice stays listed).
            wanted = preference.channels_for(notice.urgency) if notice.recipient.is_active else []
            held_until = None
            if notice.urgency != Urgency.URGENT:
                held_until = preference.quiet_until(now)
            rows = []
            for channel in Channel.values:
                if channel not in wanted:
                    continue
                if held_until is not None and channel != Channel.IN_APP:
                    rows.append(
                        Delivery(
                            notice=notice,
                            channel=channel,
                            state=DeliveryState.HELD,
                            next_attempt_at=held_until,
                        )
                    )
                else:
                    rows.append(Delivery(notice=notice, channel=channel, next_attempt_at=now))
            Delivery.objects.bulk_create(rows, ignore_conflicts=True)
            notice.dispatched_at = now
            notice.save(update_fields=["dispatched_at"])
    return list(
        Delivery.objects.filter(
            notice_id=notice_id, state=DeliveryState.PENDING, next_attempt_at__lte=now
        ).values_list("pk", flat=True)
    )


def _backoff(attempts: int) -> datetime.timedelta:
    seconds = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, attempts - 1))
    return datetime.timedelta(seconds=seconds)


def _claim(delivery_id: int, now: datetime.datetime) -> bool:
    """Take one due delivery for sending: only one caller wins (a conditional update)."""
    due = Q(state__in=[DeliveryState.PENDING, DeliveryState.SENDING], next_attempt_at__lte=now)
    claimed = Delivery.objects.filter(due, pk=delivery_id).update(
        state=DeliveryState.SENDING,
        attempts=F("attempts") + 1,
        next_attempt_at=now + datetime.timedelta(seconds=CLAIM_SECONDS),
    )
    return claimed == 1


def attempt(delivery_id: int) -> str:
    """Send one delivery if it is due and nobody else is sending it; returns its state."""
    now = timezone.now()
    if not _claim(delivery_id, now):
        state = Delivery.objects.filter(pk=delivery_id).values_list("state", flat=True).first()
        return state or "gone"
    delivery = Delivery.objects.select_related("notice__recipient").get(pk=delivery_id)
    try:
        _send(delivery)
    except SendFailed as exc:
        return _failed(delivery, exc.reason, retry=exc.retry)
    except Exception as exc:
        logger.exception("delivery %s failed unexpectedly", delivery_id)
        return _failed(delivery, f"{type(exc).__name__}: {exc}", retry=True)
    Delivery.objects.filter(pk=delivery_id, state=DeliveryState.SENDING).update(
        state=DeliveryState.SENT, sent_at=timezone.now(), reason=""
    )
    return DeliveryState.SENT


def _failed(delivery: Delivery, reason: str, *, retry: bool) -> str:
    if retry and delivery.attempts < MAX_ATTEMPTS:
        state, when = DeliveryState.PENDING, timezone.now() + _backoff(delivery.attempts)
    else:
        state, when = DeliveryState.FAILED, timezone.now()
    Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING).update(
        state=state, next_attempt_at=when, reason=reason[:300]
    )
    logger.warning("delivery %s (%s) %s: %s", delivery.pk, delivery.channel, state, reason)
    return state


def _send(delivery: Delivery) -> None:
    notice = delivery.notice
    person = notice.recipient
    if delivery.channel == Channel.IN_APP:
        event = events.notice_new(notice, unread=unread_count(person.pk))
        channels.send_live([person.pk], event)
        return
    link = channels.absolute(notice.url)
    if delivery.channel == Channel.PUSH:
        channels.send_push(
            Outgoing(
                user_id=person.pk,
                title=notice.title,
                link=link,
                urgency=notice.urgency,
                tag=f"notice-{notice.pk}",
            )
        )
    elif delivery.channel == Channel.EMAIL:
        channels.send_email(person.email, f"[Kizuna] {notice.title}", _mail_text([notice]))
    elif delivery.channel == Channel.SMS:
        channels.send_sms(person.phone, f"Kizuna: {notice.title} {link}")
    else:
        raise SendFailed(f"unknown channel {delivery.channel}", retry=False)


def _mail_text(notices: list[Notice]) -> str:
    lines = [_("絆 Kizuna からのお知らせです。"), ""]
    for notice in notices:
        lines += [f"・{notice.title}", f"  {channels.absolute(notice.url)}"]
    lines += ["", _("内容は Kizuna にログインしてご確認ください。")]
    return "\n".join(lines)


# --- the sweep: lost tasks, retries, the end of quiet hours -------------------------------


def sweep() -> dict[str, int]:
    """Deliver what tasks did not: notices never planned (their task lost to a crash or a
    broker outage), deliveries due for a retry or left claimed by a dead worker, and held
    deliveries whose quiet hours ended (one digest per person and channel)."""
    now = timezone.now()
    grace = now - datetime.timedelta(seconds=SWEEP_GRACE_SECONDS)
    planned = 0
    lost = Notice.objects.filter(dispatched_at__isnull=True, created_at__lte=grace)
    for notice_id in lost.order_by("created_at").values_list("pk", flat=True)[:SWEEP_BATCH]:
        try:
            deliver(notice_id)
        except Exception:
            # One bad row must not hold up the others; it is tried again next sweep.
            logger.exception("sweep: notice %s not delivered", notice_id)
            continue
        planned += 1
    due = Delivery.objects.filter(
        state__in=[DeliveryState.PENDING, DeliveryState.SENDING], next_attempt_at__lte=now
    )
    attempted = 0
    for delivery_id in due.order_by("next_attempt_at").values_list("pk", flat=True)[:SWEEP_BATCH]:
        try:
            attempt(delivery_id)
        except Exception:
            logger.exception("sweep: delivery %s not attempted", delivery_id)
            continue
        attempted += 1
    digests = release_held(now)
    return {"planned": planned, "attempted": attempted, "digests": digests}


def release_held(now: datetime.datetime | None = None) -> int:
    """Send the deliveries held by quiet hours that have ended: one digest per person and
    channel. Returns how many digests went out."""
    now = now or timezone.now()
    with transaction.atomic():
        held = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("notice")
            .filter(state=DeliveryState.HELD, next_attempt_at__lte=now)
            .order_by("pk")[:SWEEP_BATCH]
        )
        if not held:
            return 0
        Delivery.objects.filter(pk__in=[d.pk for d in held]).update(
            state=DeliveryState.SENDING,
            attempts=F("attempts") + 1,
            next_attempt_at=now + datetime.timedelta(seconds=CLAIM_SECONDS),
        )
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    notice_of = {d.pk: d.notice_id for d in held}
    for d in held:
        groups[(d.notice.recipient_id, d.channel)].append(d.pk)
    sent = 0
    for (user_id, channel), ids in groups.items():
        notices = list(
            Notice.objects.filter(pk__in=[notice_of[i] for i in ids]).order_by("created_at")
        )
        try:
            _send_digest(user_id, channel, notices)
        except SendFailed as exc:
            # Each held delivery falls back to a normal retry of its own.
            for delivery in Delivery.objects.filter(pk__in=ids):
                _failed(delivery, exc.reason, retry=exc.retry)
            continue
        Delivery.objects.filter(pk__in=ids, state=DeliveryState.SENDING).update(
            state=DeliveryState.SENT, sent_at=timezone.now(), reason="digest"
        )
        sent += 1
    return sent


def _send_digest(user_id: int, channel: str, notices: list[Notice]) -> None:
    person = User.objects.get(pk=user_id)
    title = _("静かな時間帯のお知らせ %(count)s件") % {"count": len(notices)}
    link = channels.absolute("/notifications/")
    if channel == Channel.PUSH:
        channels.send_push(
            Outgoing(user_id=user_id, title=title, link=link, urgency="routine", tag="digest")
        )
    elif channel == Channel.EMAIL:
        channels.send_email(person.email, f"[Kizuna] {title}", _mail_text(notices))
    elif channel == Channel.SMS:
        channels.send_sms(person.phone, f"Kizuna: {title} {link}")
    else:
        raise SendFailed(f"channel {channel} is never held", retry=False)


# --- the daily digest of unread threads ---------------------------------------------------


def daily_digests(now: datetime.datetime | None = None) -> int:
    """E-mail each person who asked for it the threads they have unread, once a day, at
    their hour in their time zone. Returns how many e-mails went out."""
    now = now or timezone.now()
    sent = 0
    for preference in Preference.objects.filter(daily_digest=True).select_related("user"):
        local = now.astimezone(ZoneInfo(preference.time_zone))
        if local.hour < preference.digest_hour or preference.last_digest_on == local.date():
            continue
        # Claim today's digest: only one worker (or one run of the beat) sends it.
        claimed = (
            Preference.objects.filter(pk=preference.pk)
            .filter(Q(last_digest_on__isnull=True) | ~Q(last_digest_on=local.date()))
            .update(last_digest_on=local.date())
        )
        if not claimed or not preference.user.is_active:
            continue
        items = sources.unread_for(preference.user)
        if not items:
            continue
        lines = [_("未読のあるスレッドです。"), ""]
        lines += [
            _("・%(title)s（未読 %(count)s件）") % {"title": i.title, "count": i.unread}
            + f"\n  {channels.absolute(i.url)}"
            for i in items
        ]
        try:
            channels.send_email(preference.user.email, _("[Kizuna] 未読のまとめ"), "\n".join(lines))
        except SendFailed as exc:
            logger.warning("daily digest for %s not sent: %s", preference.user_id, exc.reason)
            continue
        sent += 1
    return sent


# --- reading ------------------------------------------------------------------------------


def mark_read(user: User, notice_id: Any) -> Notice:
    """Mark one of the user's notices read (again is fine); someone else's is not found."""
    try:
        pk = int(notice_id)
    except (TypeError, ValueError):
        raise NotFound from None
    notice = Notice.objects.filter(pk=pk, recipient=user).first()
    if notice is None:
        raise NotFound
    if notice.read_at is None:
        Notice.objects.filter(pk=pk, read_at__isnull=True).update(read_at=timezone.now())
        notice.refresh_from_db(fields=["read_at"])
        _announce_read(user.pk, [pk])
    return notice


def mark_all_read(user: User) -> int:
    ids = list(
        Notice.objects.filter(recipient=user, read_at__isnull=True).values_list("pk", flat=True)
    )
    if ids:
        Notice.objects.filter(pk__in=ids, read_at__isnull=True).update(read_at=timezone.now())
        _announce_read(user.pk, ids)
    return len(ids)


def _announce_read(user_id: int, ids: list[int]) -> None:
    transaction.on_commit(
        lambda: channels.send_live([user_id], events.notice_read(ids, unread=unread_count(user_id)))
    )


# --- preferences --------------------------------------------------------------------------


def update_preferences(user: User, data: dict[str, Any]) -> Preference:
    """Save the person's preferences from validated-shape `data` (any subset of the fields);
    refused values raise `DomainError` with field errors and change nothing."""
    preference = preference_for(user)
    errors: dict[str, list[str]] = {}
    for level in (Urgency.ROUTINE, Urgency.IMPORTANT, Urgency.URGENT):
        if level.value not in data:
            continue
        chosen = data[level.value]
        if not isinstance(chosen, list) or any(c not in Channel.values for c in chosen):
            errors[level.value] = [_("選べない通知方法が含まれています。")]
            continue
        setattr(preference, level.value, [c for c in Channel.values if c in chosen])
    if Channel.IN_APP not in preference.urgent:
        errors.setdefault("urgent", []).append(_("緊急のお知らせはアプリ内通知を外せません。"))
    if "time_zone" in data:
        try:
            ZoneInfo(str(data["time_zone"]))
            preference.time_zone = str(data["time_zone"])
        except (ZoneInfoNotFoundError, ValueError):
            errors["time_zone"] = [_("タイムゾーンが正しくありません。")]
    if "quiet_start" in data or "quiet_end" in data:
        start, end = data.get("quiet_start"), data.get("quiet_end")
        if (start is None) != (end is None):
            errors["quiet_end"] = [_("開始と終了の両方を指定するか、両方を空にしてください。")]
        elif start is not None and start == end:
            errors["quiet_end"] = [_("開始と終了が同じ時刻です。")]
        else:
            preference.quiet_start, preference.quiet_end = start, end
    if "daily_digest" in data:
        preference.daily_digest = bool(data["daily_digest"])
    if "digest_hour" in data:
        hour = data["digest_hour"]
        if not isinstance(hour, int) or isinstance(hour, bool) or not 0 <= hour <= 23:
            errors["digest_hour"] = [_("0から23までの整数で指定してください。")]
        else:
            preference.digest_hour = hour
    if errors:
        raise DomainError(_("設定を保存できませんでした。"), fields=errors)
    preference.save()
    return preference


# --- Web Push subscriptions ---------------------------------------------------------------

ENDPOINT_MAX = 1000


def _b64url(value: Any, size: int) -> bool:
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        return False
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return False
    return len(raw) == size


def subscribe_push(user: User, endpoint: Any, p256dh: Any, auth: Any) -> PushSubscription:
    """Keep this device's push subscription (the same endpoint again updates it; a device
    that changed hands moves to its new user). Bad input raises `DomainError`."""
    errors: dict[str, list[str]] = {}
    parts = urlsplit(endpoint) if isinstance(endpoint, str) else None
    if (
        parts is None
        or not 0 < len(endpoint) <= ENDPOINT_MAX
        or parts.scheme != "https"
        or not parts.hostname
        or parts.username
        or parts.password
        or any(ch.isspace() for ch in endpoint)
    ):
        errors["endpoint"] = [_("https で始まる正しいURLを指定してください。")]
    # An uncompressed P-256 public key (65 bytes) and a 16-byte secret (RFC 8291).
    if not _b64url(p256dh, 65):
        errors["p256dh"] = [_("鍵の形式が正しくありません。")]
    if not _b64url(auth, 16):
        errors["auth"] = [_("鍵の形式が正しくありません。")]
    if errors:
        raise DomainError(_("プッシュ通知を登録できませんでした。"), fields=errors)
    subscription, _created = PushSubscription.objects.update_or_create(
        endpoint=endpoint, defaults={"user": user, "p256dh": p256dh, "auth": auth}
    )
    return subscription


def unsubscribe_push(user: User, endpoint: Any) -> int:
    if not isinstance(endpoint, str):
        return 0
    deleted, _rows = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    return deleted
