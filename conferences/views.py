"""The conference pages: the calendar (month and list), the conference page, the schedule
form, and the iCalendar downloads.

Thin, like the rest: reads through `conferences.selectors`, writes through
`conferences.services`. A conference the reader is not invited to is the 404 page, exactly
like one that does not exist; an invitee asking for the organizer's actions gets the 403 page
with the reason. Bad input comes back on the form with status 400.
"""

from __future__ import annotations

import calendar as monthcal
import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conferences import ical, recurrence, selectors, services
from conferences.access import ROOM_MARGIN
from conferences.forms import MinutesForm, ScheduleForm
from conferences.models import Rsvp
from config.errors import DomainError, NotFound
from config.web import not_found
from teams.identity import signed_in

LIST_DAYS = 60


def _month(value: str | None) -> dt.date:
    today = timezone.localdate()
    if value:
        try:
            year, month = (int(part) for part in value.split("-", 1))
            if 2000 <= year <= 2100 and 1 <= month <= 12:
                return dt.date(year, month, 1)
        except ValueError:
            pass
    return today.replace(day=1)


@login_required
@require_GET
def calendar_page(request: HttpRequest) -> HttpResponse:
    """The month grid (Sunday first) and, below it, the list of the next 60 days."""
    user = signed_in(request)
    first = _month(request.GET.get("month"))
    tz = timezone.get_current_timezone()
    weeks = monthcal.Calendar(firstweekday=6).monthdatescalendar(first.year, first.month)
    start = dt.datetime.combine(weeks[0][0], dt.time(), tzinfo=tz)
    end = dt.datetime.combine(weeks[-1][-1] + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    dated = selectors.occurrences_for(user, after=start, before=end)
    by_day: dict[dt.date, list[selectors.Dated]] = {}
    for d in dated:
        by_day.setdefault(timezone.localtime(d.occurrence.starts_at).date(), []).append(d)
    now = timezone.now()
    upcoming = selectors.occurrences_for(
        user, after=now - dt.timedelta(hours=2), before=now + dt.timedelta(days=LIST_DAYS)
    )
    previous = (first - dt.timedelta(days=1)).replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    context: dict[str, Any] = {
        "month": first,
        "weeks": [[(day, by_day.get(day, [])) for day in week] for week in weeks],
        "weekdays": ["日", "月", "火", "水", "木", "金", "土"],
        "previous": f"{previous:%Y-%m}",
        "following": f"{following:%Y-%m}",
        "upcoming": upcoming,
        "today": timezone.localdate(),
        "feed_url": None,
    }
    return render(request, "conferences/calendar.html", context)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def schedule_page(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    if request.method != "POST":
        form = ScheduleForm(user, initial={"kind": "case_review", "is_online": True})
        return render(request, "conferences/schedule.html", {"form": form})
    form = ScheduleForm(user, request.POST)
    if form.is_valid():
        tz = recurrence.zone("Asia/Tokyo")
        start, end = form.moments(tz)
        data = form.cleaned_data
        try:
            rule = recurrence.build_rule(
                data["repeat"], start, tz, until=data.get("until"), count=data.get("count")
            )
            conference = services.schedule_conference(
                user,
                kind=data["kind"],
                title=data["title"],
                starts_at=start,
                ends_at=end,
                time_zone="Asia/Tokyo",
                recurrence_rule=rule,
                is_online=data["is_online"],
                place=data["place"],
                external_url=data["external_url"],
                invitees=data["invitees"],
                organizations=data["organizations"],
                agenda=form.agenda(),
            )
        except DomainError as exc:
            form.add_domain_errors(exc)
        else:
            messages.success(request, _("会議を登録し、招待を送りました。"))
            return redirect("conference-detail", conference_id=conference.pk)
    form.mark_invalid_fields()
    return render(request, "conferences/schedule.html", {"form": form}, status=400)


def _detail(
    request: HttpRequest,
    conference_id: int,
    *,
    occurrence: Any = None,
    status: int = 200,
    minutes_forms: dict[int, MinutesForm] | None = None,
    error: str = "",
) -> HttpResponse:
    user = signed_in(request)
    try:
        page = selectors.conference_page(
            user, conference_id, occurrence=occurrence or request.GET.get("occurrence")
        )
    except NotFound:
        return not_found(request)
    except DomainError:
        page = selectors.conference_page(user, conference_id)
    now = timezone.now()
    current = page.current
    room_open = bool(
        current
        and not current.cancelled
        and current.starts_at - ROOM_MARGIN <= now <= current.ends_at + ROOM_MARGIN
    )
    people = [i.user for i in page.invitees] + [page.conference.organizer]
    forms_by_item = minutes_forms or {}
    rows = []
    for row in page.agenda:
        form = forms_by_item.get(row.item.pk)
        if form is None and page.is_organizer and row.visible and current is not None:
            existing = next(
                (m for m in row.minutes if current and m.occurrence == current.key), None
            )
            initial = (
                {"summary": existing.summary, "decisions": existing.decisions} if existing else {}
            )
            form = MinutesForm(people, initial=initial, prefix=f"m{row.item.pk}")
        rows.append((row, form))
    attendance = (
        services.attendance_log(user, conference_id, occurrence=current.key)
        if page.is_organizer and current is not None
        else []
    )
    context = {
        "page": page,
        "attendance": attendance,
        "conference": page.conference,
        "current": current,
        "room_open": room_open,
        "minutes_allowed": bool(current and now >= current.starts_at - ROOM_MARGIN),
        "agenda_rows": rows,
        "rsvp_choices": Rsvp.choices,
        "rsvp_labels": dict(Rsvp.choices),
        "error": error,
        "tz_name": page.conference.time_zone,
    }
    return render(request, "conferences/detail.html", context, status=status)


@login_required
@require_GET
def conference_detail(request: HttpRequest, conference_id: int) -> HttpResponse:
    return _detail(request, conference_id)


def _back(conference_id: int, occurrence: str) -> HttpResponse:
    url = reverse("conference-detail", args=[conference_id])
    return redirect(f"{url}?occurrence={occurrence}" if occurrence else url)


def _act(request: HttpRequest, conference_id: int, done: str, action: Any) -> HttpResponse:
    occurrence = request.POST.get("occurrence", "")
    try:
        action(signed_in(request), occurrence)
    except NotFound:
        return not_found(request)
    except DomainError as exc:
        words = "; ".join(str(m) for ms in exc.fields.values() for m in ms) or exc.message
        return _detail(request, conference_id, occurrence=occurrence, status=400, error=words)
    messages.success(request, done)
    return _back(conference_id, occurrence)


@login_required
@require_POST
def rsvp(request: HttpRequest, conference_id: int) -> HttpResponse:
    return _act(
        request,
        conference_id,
        _("回答しました。"),
        lambda user, occ: services.rsvp_answer(
            user, conference_id, occurrence=occ, answer=request.POST.get("rsvp")
        ),
    )


@login_required
@require_POST
def occurrence_cancel(request: HttpRequest, conference_id: int) -> HttpResponse:
    return _act(
        request,
        conference_id,
        _("この回を中止し、全員に知らせました。"),
        lambda user, occ: services.occurrence_cancel(user, conference_id, occurrence=occ),
    )


@login_required
@require_POST
def occurrence_online(request: HttpRequest, conference_id: int) -> HttpResponse:
    return _act(
        request,
        conference_id,
        _("この回をオンライン開催に変更し、全員に知らせました。"),
        lambda user, occ: services.occurrence_go_online(user, conference_id, occurrence=occ),
    )


@login_required
@require_POST
def occurrence_move(request: HttpRequest, conference_id: int) -> HttpResponse:
    return _act(
        request,
        conference_id,
        _("この回の日時を変更し、全員に知らせました。"),
        lambda user, occ: services.occurrence_move(
            user,
            conference_id,
            occurrence=occ,
            starts_at=request.POST.get("starts_at"),
            ends_at=request.POST.get("ends_at"),
        ),
    )


@login_required
@require_POST
def minutes_save(request: HttpRequest, conference_id: int, item_id: int) -> HttpResponse:
    user = signed_in(request)
    occurrence = request.POST.get("occurrence", "")
    try:
        page = selectors.conference_page(user, conference_id)
    except NotFound:
        return not_found(request)
    people = [i.user for i in page.invitees] + [page.conference.organizer]
    form = MinutesForm(people, request.POST, prefix=f"m{item_id}")
    if form.is_valid():
        try:
            services.minutes_save(
                user,
                conference_id,
                item=item_id,
                occurrence=occurrence,
                summary=form.cleaned_data["summary"],
                decisions=form.cleaned_data["decisions"],
                next_steps=form.next_steps(),
            )
        except NotFound:
            return not_found(request)
        except DomainError as exc:
            form.add_domain_errors(exc)
        else:
            messages.success(request, _("議事録を保存し、連絡帳に投稿しました。"))
            return _back(conference_id, occurrence)
    form.mark_invalid_fields()
    return _detail(
        request,
        conference_id,
        occurrence=occurrence,
        status=400,
        minutes_forms={item_id: form},
    )


def _base_url(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _ics(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def conference_ics(request: HttpRequest, conference_id: int) -> HttpResponse:
    try:
        conference = selectors.conference_for_download(signed_in(request), conference_id)
    except NotFound:
        return not_found(request)
    body = ical.calendar([conference], base_url=_base_url(request), name=conference.title)
    return _ics(body, f"conference-{conference.pk}.ics")


@require_GET
def feed(request: HttpRequest, secret: str) -> HttpResponse:
    """The person's calendar feed, opened by its secret (calendar apps have no session)."""
    owner = selectors.feed_owner(secret)
    if owner is None:
        return not_found(request)
    body = ical.calendar(
        selectors.feed_conferences(owner), base_url=_base_url(request), name=_("絆 カンファレンス")
    )
    return _ics(body, "kizuna-conferences.ics")


@login_required
@require_POST
def feed_rotate(request: HttpRequest) -> HttpResponse:
    """A new feed URL, shown once; the old one stops working."""
    secret = services.feed_token_rotate(signed_in(request))
    url = request.build_absolute_uri(reverse("conference-feed", args=[secret]))
    return render(request, "conferences/feed.html", {"feed_url": url})


@login_required
@require_POST
def feed_revoke(request: HttpRequest) -> HttpResponse:
    services.feed_token_revoke(signed_in(request))
    messages.success(request, _("カレンダーの購読URLを無効にしました。"))
    return redirect("conference-calendar")


@login_required
@require_GET
def room_page(request: HttpRequest, conference_id: int) -> HttpResponse:
    """The meeting room of one occurrence: only its invitees, only in its window (the 404
    page for anyone else, the 403 page with the reason when it is closed)."""
    user = signed_in(request)
    try:
        conference = selectors.access_room_conference(user, conference_id)
        occurrence = selectors.find_occurrence(conference, request.GET.get("occurrence", ""))
    except (NotFound, DomainError):
        return not_found(request)
    room = services.room_name(conference.pk, occurrence.key)
    try:
        services.room_check(user, room)
    except NotFound:
        return not_found(request)
    context = {
        "conference": conference,
        "occurrence": occurrence,
        "room": room,
        "is_organizer": conference.organizer_id == user.pk,
    }
    return render(request, "conferences/room.html", context)
