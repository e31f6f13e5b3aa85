"""The notifications pages: the list (open = mark read and go there, mark all read) and the
preferences page. Thin, like the API: someone else's notice is the styled 404 page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from config.errors import DomainError, NotFound
from config.web import not_found
from notifications import selectors, services
from notifications.forms import PreferenceForm
from teams.identity import signed_in

PAGE_SIZE = 30


@login_required
@require_http_methods(["GET", "HEAD"])
def notice_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    page = Paginator(selectors.notices_of(user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "notifications/list.html",
        {"page": page, "unread": selectors.unread_count(user.pk)},
    )


@login_required
@require_POST
def notice_open(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        with transaction.atomic():
            notice = services.mark_read(signed_in(request), pk)
    except NotFound:
        return not_found(request)
    # A stored path inside Kizuna; anything else (it never should be) stays on the list.
    if not url_has_allowed_host_and_scheme(notice.url, allowed_hosts=None) or not (
        notice.url.startswith("/") and not notice.url.startswith("//")
    ):
        return redirect("notifications:list")
    return redirect(notice.url)


@login_required
@require_POST
def notice_read_all(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        marked = services.mark_all_read(signed_in(request))
    messages.success(request, _("%(count)s件を既読にしました。") % {"count": marked})
    return redirect("notifications:list")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    current = selectors.preference_for(user)
    status = 200
    if request.method == "POST":
        form = PreferenceForm(request.POST)
        if form.is_valid():
            try:
                services.update_preferences(user, form.service_data())
            except DomainError as exc:
                for field, errors in exc.fields.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                messages.success(request, _("通知の設定を保存しました。"))
                return redirect("notifications:preferences")
        status = 400
    else:
        form = PreferenceForm(
            initial={
                "routine": current.routine,
                "important": current.important,
                "urgent": current.urgent,
                "quiet_start": current.quiet_start,
                "quiet_end": current.quiet_end,
                "time_zone": current.time_zone,
                "daily_digest": current.daily_digest,
                "digest_hour": current.digest_hour,
            }
        )
    return render(request, "notifications/preferences.html", {"form": form}, status=status)
