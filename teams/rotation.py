"""The network's on-call rotation (当番表) and the physicians' availability.

A coordinator of a network sets, month by month, who is on call each day and which hospital
backs them up (`OnCallDay`). A month is saved whole: every day exactly once, or the save is
refused with the dates that are missing (gaps) or given twice (overlaps), and nothing changes.
A day's duty runs from 09:00 to 09:00 the next day (Asia/Tokyo); the month view marks each
day as a weekday night, a weekend or a Japanese public holiday (`jpholiday`).

Availability: a person's leave periods (`LeavePeriod`) and their "off duty now" switch
(`User.off_duty`). The escalation of urgent requests (messaging.escalation) asks
`is_available` before it asks anyone, and `on_call_at` for the network's physician of the
moment.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jpholiday
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_record
from config.errors import DomainError, Forbidden, NotFound
from teams.models import LeavePeriod, Network, OnCallDay, Organization, OrganizationKind, User

ON_CALL_DAY_STARTS = dt.time(9, 0)


def duty_date(at: dt.datetime) -> dt.date:
    """The rotation's day whose duty covers the instant `at` (09:00 to 09:00, Tokyo)."""
    local = timezone.localtime(at)
    return local.date() if local.time() >= ON_CALL_DAY_STARTS else local.date() - dt.timedelta(1)


def day_kind(day: dt.date) -> str:
    """ "holiday" (a Japanese public holiday), "weekend" or "weeknight"."""
    if jpholiday.is_holiday(day):
        return "holiday"
    if day.weekday() >= 5:
        return "weekend"
    return "weeknight"


DAY_KIND_LABELS = {"holiday": "祝日", "weekend": "土日", "weeknight": "平日夜間"}


# --- reads ---------------------------------------------------------------------------------


def networks_of_organization(organization_id: int | None) -> list[Network]:
    if organization_id is None:
        return []
    return list(Network.objects.filter(organizations=organization_id).order_by("id"))


def on_call_at(network_ids: Iterable[int], at: dt.datetime) -> OnCallDay | None:
    """The rotation's day in force at `at` in the first of `network_ids` that has one."""
    ids = list(network_ids)
    day = duty_date(at)
    rows = {
        row.network_id: row
        for row in OnCallDay.objects.filter(network_id__in=ids, date=day).select_related(
            "physician", "backup_hospital__emergency_contact"
        )
    }
    return next((rows[i] for i in ids if i in rows), None)


def unavailable_reason(user: User, at: dt.datetime) -> str:
    """Why `user` cannot be asked at `at` ("" when they can): inactive, off duty, on leave."""
    if not user.is_active:
        return _("利用停止中")
    if user.off_duty:
        return _("現在対応不可")
    today = timezone.localtime(at).date()
    if LeavePeriod.objects.filter(user=user, starts_on__lte=today, ends_on__gte=today).exists():
        return _("休暇中")
    return ""


def is_coordinator(user: User, network: Network) -> bool:
    return network.coordinators.filter(pk=user.pk).exists()


def _network_for(user: User, network_id: Any) -> Network:
    """The network, for one of its coordinators; NotFound for anyone else."""
    try:
        pk = int(network_id)
    except (TypeError, ValueError):
        raise NotFound from None
    network = Network.objects.filter(pk=pk).first()
    if network is None or not user.is_active:
        raise NotFound
    if not is_coordinator(user, network):
        # Members of the network's organizations see the month; only coordinators edit it.
        if not user.memberships.filter(organization__networks=network, is_active=True).exists():
            raise NotFound
        raise Forbidden(_("当番表を編集できるのはネットワークのコーディネーターです。"))
    return network


def _month(value: Any) -> tuple[int, int]:
    try:
        year, month = (int(part) for part in str(value).split("-"))
        dt.date(year, month, 1)
    except (TypeError, ValueError):
        raise DomainError(
            _("月が不正です。"), fields={"month": [_("YYYY-MM の形で指定してください。")]}
        ) from None
    return year, month


def month_days(year: int, month: int) -> list[dt.date]:
    return [dt.date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]


@dataclass(frozen=True)
class MonthDay:
    date: dt.date
    kind: str
    holiday_name: str
    entry: OnCallDay | None


def month_view(user: User, network_id: Any, month: Any) -> tuple[Network, list[MonthDay]]:
    """Every day of the month with its kind and its row (None: a gap), for a coordinator of
    the network or a member of one of its organizations."""
    try:
        network = _network_for(user, network_id)
    except Forbidden:
        network = Network.objects.get(pk=int(network_id))
    year, mon = _month(month)
    days = month_days(year, mon)
    rows = {
        r.date: r
        for r in OnCallDay.objects.filter(network=network, date__in=days).select_related(
            "physician", "backup_hospital"
        )
    }
    return network, [
        MonthDay(d, day_kind(d), jpholiday.is_holiday_name(d) or "", rows.get(d)) for d in days
    ]


# --- writes --------------------------------------------------------------------------------


def _ranges(days: list[dt.date]) -> str:
    return "、".join(d.isoformat() for d in sorted(days))


def rotation_set_month(
    user: User, *, network_id: Any, month: Any, days: Iterable[Mapping[str, Any]]
) -> list[OnCallDay]:
    """Replace the network's rotation for `month` with `days` ({date, physician,
    backup_hospital}). Every day of the month exactly once, each physician an active physician
    of one of the network's organizations, each hospital a hospital; else `DomainError` naming
    the dates, and nothing is changed."""
    network = _network_for(user, network_id)
    year, mon = _month(month)
    wanted = month_days(year, mon)
    errors: dict[str, list[str]] = {}
    parsed: list[tuple[dt.date, int, int | None]] = []
    for i, item in enumerate(days):
        try:
            day = dt.date.fromisoformat(str(item.get("date")))
            physician = int(item.get("physician"))  # type: ignore[arg-type]
            hospital_raw = item.get("backup_hospital")
            hospital = None if hospital_raw in (None, "") else int(hospital_raw)
        except (TypeError, ValueError, AttributeError):
            errors.setdefault("days", []).append(_("%(i)d行目が不正です。") % {"i": i + 1})
            continue
        parsed.append((day, physician, hospital))
    counts = Counter(day for day, _p, _h in parsed)
    outside = [d for d in counts if d not in wanted]
    gaps = [d for d in wanted if d not in counts]
    overlaps = [d for d, n in counts.items() if n > 1]
    if outside:
        errors.setdefault("days", []).append(
            _("%(month)sではない日付があります: %(dates)s")
            % {"month": f"{year}-{mon:02d}", "dates": _ranges(outside)}
        )
    if gaps:
        errors.setdefault("gaps", []).append(
            _("当番のいない日があります: %(dates)s") % {"dates": _ranges(gaps)}
        )
    if overlaps:
        errors.setdefault("overlaps", []).append(
            _("当番が重複している日があります: %(dates)s") % {"dates": _ranges(overlaps)}
        )
    physicians = {
        u.pk: u
        for u in User.objects.filter(
            pk__in={p for _d, p, _h in parsed},
            is_active=True,
            profession="physician",
            memberships__organization__networks=network,
            memberships__is_active=True,
        ).distinct()
    }
    bad = sorted({d for d, p, _h in parsed if p not in physicians})
    if bad:
        errors.setdefault("physician", []).append(
            _("ネットワークの医師ではない当番があります: %(dates)s") % {"dates": _ranges(bad)}
        )
    hospitals = set(
        Organization.objects.filter(
            pk__in={h for _d, _p, h in parsed if h is not None}, kind=OrganizationKind.HOSPITAL
        ).values_list("pk", flat=True)
    )
    bad_h = sorted({d for d, _p, h in parsed if h is not None and h not in hospitals})
    if bad_h:
        errors.setdefault("backup_hospital", []).append(
            _("病院ではない後方支援病院があります: %(dates)s") % {"dates": _ranges(bad_h)}
        )
    if errors:
        raise DomainError(_("当番表を保存できません。"), fields=errors)
    with transaction.atomic():
        OnCallDay.objects.filter(network=network, date__in=wanted).delete()
        rows = OnCallDay.objects.bulk_create(
            OnCallDay(
                network=network, date=d, physician_id=p, backup_hospital_id=h, updated_by=user
            )
            for d, p, h in sorted(parsed)
        )
        audit_record(
            user,
            AuditAction.UPDATE,
            obj=network,
            detail=f"on-call rotation {year}-{mon:02d}",
        )
    return rows


def off_duty_set(user: User, *, off_duty: Any) -> User:
    """Turn one's own "off duty now" switch on or off."""
    if not isinstance(off_duty, bool):
        raise DomainError(
            _("入力が不正です。"), fields={"off_duty": [_("true か false で指定してください。")]}
        )
    User.objects.filter(pk=user.pk).update(off_duty=off_duty)
    user.off_duty = off_duty
    audit_record(user, AuditAction.UPDATE, obj=user, detail=f"off_duty={off_duty}")
    return user


def leave_add(user: User, *, starts_on: Any, ends_on: Any, note: Any = "") -> LeavePeriod:
    """Record a leave period of one's own (inclusive dates, not ending in the past)."""
    try:
        start = dt.date.fromisoformat(str(starts_on))
        end = dt.date.fromisoformat(str(ends_on))
    except ValueError:
        raise DomainError(
            _("日付が不正です。"), fields={"starts_on": [_("YYYY-MM-DD で指定してください。")]}
        ) from None
    if end < start:
        raise DomainError(
            _("終了日が開始日より前です。"), fields={"ends_on": [_("開始日以降にしてください。")]}
        )
    if end < timezone.localdate():
        raise DomainError(
            _("終了日が過去です。"), fields={"ends_on": [_("今日以降にしてください。")]}
        )
    text = str(note or "")[:200]
    with transaction.atomic():
        leave = LeavePeriod.objects.create(user=user, starts_on=start, ends_on=end, note=text)
        audit_record(user, AuditAction.CREATE, obj=leave, detail=f"{start}–{end}")
    return leave


def leave_delete(user: User, leave_id: Any) -> None:
    try:
        pk = int(leave_id)
    except (TypeError, ValueError):
        raise NotFound from None
    with transaction.atomic():
        deleted, _n = LeavePeriod.objects.filter(pk=pk, user=user).delete()
        if not deleted:
            raise NotFound
        audit_record(user, AuditAction.DELETE, object_type="teams.leaveperiod", object_id=str(pk))
