"""The audit page for organization administrators and staff, and its CSV export.

Thin like the API: the filter form parses, ``audit.selectors`` reads (already scoped to the
reader), ``audit.services.audit_record`` writes the export's own audit row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from audit.forms import AuditFilterForm
from audit.models import AuditAction, AuditEvent
from audit.selectors import TOKYO, audit_events_filtered, can_read_audit
from audit.services import audit_record
from config.spreadsheet import BOM, escape_cell

PAGE_SIZE = 50

# Spreadsheet programs run a cell that starts with one of these as a formula; free text in the
# log (details, user agents) must not become one in the administrator's Excel.


def _require_reader(request: HttpRequest) -> None:
    if not can_read_audit(request.user):
        raise PermissionDenied


def _render_invalid(request: HttpRequest, form: AuditFilterForm) -> HttpResponse:
    return render(request, "audit/audit_list.html", {"form": form, "page_obj": None}, status=400)


@require_GET
@login_required
def audit_list(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return _render_invalid(request, form)
    events = audit_events_filtered(request.user, **form.filters())
    # get_page, not page: a bad or out-of-range page number shows the nearest page, never a 500.
    page_obj = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "audit/audit_list.html", {"form": form, "page_obj": page_obj})


def _csv_rows(events: Iterable[AuditEvent]) -> Iterable[list[str]]:
    yield [
        _("日時"),
        _("操作者ID"),
        _("操作者"),
        _("操作"),
        _("患者ID"),
        _("対象種別"),
        _("対象ID"),
        _("詳細"),
        _("IPアドレス"),
        _("ユーザーエージェント"),
    ]
    for event in events:
        yield [
            escape_cell(event.at.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M:%S")),
            escape_cell(event.actor_id),
            escape_cell(event.actor if event.actor is not None else ""),
            escape_cell(event.get_action_display()),
            escape_cell(event.patient_id),
            escape_cell(event.object_type),
            escape_cell(event.object_id),
            escape_cell(event.detail),
            escape_cell(event.ip_address),
            escape_cell(event.user_agent),
        ]


@require_GET
@login_required
def audit_export(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return _render_invalid(request, form)
    filters = form.filters()
    events = audit_events_filtered(request.user, **filters)
    stamp = timezone.now().astimezone(TOKYO).strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    # The byte-order mark makes Excel on Japanese Windows read the file as UTF-8, not Shift_JIS.
    response.write(BOM)
    writer = csv.writer(response)
    count = 0
    for row in _csv_rows(events.iterator(chunk_size=2000)):
        writer.writerow(row)
        count += 1
    # Recorded after the rows are read, so an export never lists itself.
    shown = " ".join(f"{k}={v}" for k, v in filters.items() if v is not None)
    audit_record(
        request.user,
        AuditAction.EXPORT,
        patient=filters["patient_id"],
        object_type="audit.auditevent",
        detail=f"audit csv rows={count - 1} {shown}".strip(),
    )
    return response
