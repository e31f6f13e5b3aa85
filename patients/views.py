"""The tablet web pages about patients: home (my patients), the patient page and its edit forms.

Thin, like the API: each view reads through `patients.selectors` (scoped by the gate and
audited there) and writes through `patients.services`. A patient the user may not see gives
the styled 404 page, exactly like a patient that does not exist. An edit form asks the gate
for its capability before it is shown or saved (`_require`): a member who may not make that
change gets the 403 page with the reason (`config.errors.Forbidden`), not a form to fill in.

Every edit form works with and without JavaScript. With htmx (`request.htmx`), a view answers
with the one section it changed, to be swapped in place; a refused form comes back with
status 422 and its errors next to the fields. Without JavaScript, the same URLs render a full
page (400 when refused), and a saved form redirects back to the patient page.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_http_methods, require_POST

from audit.reads import AuditedRows
from config.errors import DomainError, NotFound
from config.spreadsheet import BOM, escape_cell
from config.web import not_found
from patients import panels, selectors, services
from patients.access import Capability, access_patient, capabilities_of, record_capability
from patients.forms import (
    RECORD_FORMS,
    ConsentForm,
    ConsentOrganizationsForm,
    PatientForm,
    RecordItemForm,
    WishForm,
)
from patients.models import CareRole, Consent, Patient, PatientStatus, RecordItem, WishKind
from patients.web_selectors import SECTION_LABELS, changes_since_last_visit
from teams import throttle
from teams.identity import signed_in

PATIENTS_PER_PAGE = 50

RECORD_KINDS = tuple(RECORD_FORMS)


def age_on(born: dt.date, today: dt.date) -> int:
    """Full years of age on `today` (a birthday on 29 February counts from 1 March)."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _role_label(role: str | None) -> str:
    return str(CareRole(role).label) if role in CareRole.values else ""


def _unread_rank(extras: dict[str, Any]) -> int:
    counts = extras.get("unread")
    if counts is None:
        return 2
    return 0 if getattr(counts, "urgent", 0) else 1


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


# --- home --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "HEAD"])
def home(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    status = request.GET.get("status") or None
    q = (request.GET.get("q") or "").strip() or None
    if q:
        throttle.limit("search", user)  # over it: the 429 page
    error = None
    patients: AuditedRows[Patient] | list[Patient]
    try:
        patients = selectors.patient_list(user, status=status, q=q)
    except DomainError as exc:
        error = (exc.fields.get("status") or [exc.message])[0]
        patients = []
    page = Paginator(patients, PATIENTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    ids = [p.pk for p in rows]
    changes = changes_since_last_visit(user, ids)
    today = timezone.localdate()
    # Other apps' sections of home: the unread counts are messaging's.
    sections = panels.home_contexts(user, ids)
    entries = [
        {
            "patient": p,
            "age": age_on(p.date_of_birth, today),
            "my_role": _role_label(getattr(p, "my_role", None)),
            "changes": changes[p.pk],
            "extras": panels.per_patient(sections, p.pk),
        }
        for p in rows
    ]
    # Patients with unread urgent messages first, then those with any unread (stable sort).
    entries.sort(key=lambda e: _unread_rank(cast(dict[str, Any], e["extras"])))
    context = {
        "entries": entries,
        "page": page,
        "status": status or "",
        "q": q or "",
        "statuses": PatientStatus.choices,
        "error": error,
        **sections,
    }
    return render(request, "patients/home.html", context, status=400 if error else 200)


# --- the patient page --------------------------------------------------------------------


def _may(request: HttpRequest, patient: Patient) -> frozenset[Capability]:
    """What the reader may do for the patient, asked of the gate once per request: the
    sections show their edit buttons only to those who may use them."""
    cached: tuple[int, frozenset[Capability]] | None = getattr(request, "_kizuna_may", None)
    if cached is None or cached[0] != patient.pk:
        cached = (patient.pk, capabilities_of(request.user, patient))
        request._kizuna_may = cached  # type: ignore[attr-defined]
    return cached[1]


def _record_section(
    request: HttpRequest,
    patient: Patient,
    kind: str,
    *,
    form: RecordItemForm | None = None,
    editing_id: int | None = None,
    since: dt.datetime | None = None,
) -> dict[str, Any]:
    items = list(selectors.record_items(request.user, patient.pk, kind=kind))
    return {
        "kind": kind,
        "title": SECTION_LABELS[kind],
        "items": items,
        "form": form,
        "editing_id": editing_id,
        "since": since,
        "patient": patient,
        "new_url": reverse("patient-record-create", args=[patient.pk, kind]),
        "section_url": reverse("patient-record-section", args=[patient.pk, kind]),
        "can_edit": record_capability(kind) in _may(request, patient),
    }


def _wish_section(
    request: HttpRequest,
    patient: Patient,
    *,
    form: WishForm | None = None,
    editing_kind: str | None = None,
    since: dt.datetime | None = None,
) -> dict[str, Any]:
    overview = selectors.wishes_overview(request.user, patient.pk)
    cards = [
        {
            "kind": kind,
            "label": label,
            "current": overview["current"][kind],
            "history": overview["history"][kind][1:],
            "edit_url": reverse("patient-wish-edit", args=[patient.pk, kind]),
        }
        for kind, label in WishKind.choices
    ]
    return {
        "patient": patient,
        "cards": cards,
        "form": form,
        "editing_kind": editing_kind,
        "since": since,
        "section_url": reverse("patient-wishes", args=[patient.pk]),
        "can_edit": Capability.EDIT_WISHES in _may(request, patient),
    }


def _header(
    request: HttpRequest, patient: Patient, *, form: PatientForm | None = None
) -> dict[str, Any]:
    return {
        "can_edit": Capability.EDIT_RECORD in _may(request, patient),
        "patient": patient,
        "age": age_on(patient.date_of_birth, timezone.localdate()),
        "form": form,
        "edit_url": reverse("patient-edit", args=[patient.pk]),
        "section_url": reverse("patient-detail", args=[patient.pk]),
    }


@login_required
@require_http_methods(["GET", "HEAD"])
def patient_detail(request: HttpRequest, patient_id: int) -> HttpResponse:
    started = timezone.now()
    user = signed_in(request)
    try:
        patient = selectors.patient_get(user, patient_id)
    except NotFound:
        return not_found(request)
    changes = changes_since_last_visit(user, [patient.pk], before=started)[patient.pk]
    since = changes.last_visit
    team = list(selectors.care_team_list(user, patient.pk))
    may = _may(request, patient)
    # Whom the consent covers, or that it was withdrawn: every member sees why who reads.
    consents = (
        list(selectors.consent_list(user, patient.pk)) if Capability.VIEW_CONSENT in may else []
    )
    context = {
        "consent": _consent_state(consents) if Capability.VIEW_CONSENT in may else None,
        "patient": patient,
        "header": _header(request, patient),
        "changes": changes,
        "sections": [_record_section(request, patient, k, since=since) for k in RECORD_KINDS],
        "wishes": _wish_section(request, patient, since=since),
        "team": team,
        "my_roles": [m.get_role_display() for m in team if m.user_id == user.pk],
        "escalation_grants": selectors.escalation_grants(user, patient.pk),
        # Other apps' sections: the contact book (連絡帳) is messaging's.
        **panels.panel_contexts(user, patient),
    }
    # Cache-Control: private, no-store, as on every signed-in answer (config.headers).
    return render(request, "patients/detail.html", context)


def _section_page(
    request: HttpRequest,
    patient: Patient,
    template: str,
    section: dict[str, Any],
    *,
    status: int = 200,
) -> HttpResponse:
    """A section alone (htmx) or inside a small full page of its own (no JavaScript)."""
    if _is_htmx(request):
        # A refused form goes back to htmx as 422: it is swapped in place (see the
        # `responseHandling` in base.html), while django-htmx's debug helper, which replaces
        # the whole page on a 400 when DEBUG is on, leaves it alone.
        if status == HTTPStatus.BAD_REQUEST:
            status = HTTPStatus.UNPROCESSABLE_ENTITY
        return render(request, template, {"section": section}, status=status)
    context = {"patient": patient, "section_template": template, "section": section}
    return render(request, "patients/edit_page.html", context, status=status)


def _require(request: HttpRequest, patient: Patient, capability: Capability) -> None:
    """`Forbidden` (the 403 page) unless the user may do `capability` for the patient: asked
    before a form is shown, so nobody fills in a form they may not save."""
    access_patient(request.user, patient.pk, capability=capability)


def _back_to(patient: Patient, anchor: str) -> HttpResponse:
    return redirect(reverse("patient-detail", args=[patient.pk]) + f"#{anchor}")


# --- the shared record -------------------------------------------------------------------


def _record_patient(request: HttpRequest, patient_id: int, kind: str) -> Patient | None:
    if kind not in RECORD_KINDS:
        return None
    try:
        return selectors.patient_get(request.user, patient_id)
    except NotFound:
        return None


@login_required
@require_http_methods(["GET", "HEAD"])
def record_section(request: HttpRequest, patient_id: int, kind: str) -> HttpResponse:
    patient = _record_patient(request, patient_id, kind)
    if patient is None:
        return not_found(request)
    section = _record_section(request, patient, kind)
    return _section_page(request, patient, RECORD_TEMPLATE, section)


RECORD_TEMPLATE = "patients/partials/section_record.html"


def _record_form_page(
    request: HttpRequest,
    patient: Patient,
    kind: str,
    *,
    instance: RecordItem | None = None,
    save: Callable[[dict[str, Any]], Any],
) -> HttpResponse:
    """The create and edit pages of a record item: show the form, or save it through `save`
    (a service call) and show what the service refused next to the field it is about."""
    form_class = RECORD_FORMS[kind]
    editing_id = instance.pk if instance is not None else None
    auto_id = f"id_{kind}_%s"
    if request.method != "POST":
        form = form_class(instance=instance, auto_id=auto_id)
        section = _record_section(request, patient, kind, form=form, editing_id=editing_id)
        return _section_page(request, patient, RECORD_TEMPLATE, section)
    form = form_class(request.POST, instance=instance, auto_id=auto_id)
    if form.is_valid():
        try:
            save(form.service_data())
        except DomainError as exc:
            form.add_domain_errors(exc)
        except NotFound:
            return not_found(request)
    if form.errors:
        form.mark_invalid_fields()
        section = _record_section(request, patient, kind, form=form, editing_id=editing_id)
        return _section_page(request, patient, RECORD_TEMPLATE, section, status=400)
    if _is_htmx(request):
        section = _record_section(request, patient, kind)
        return render(request, RECORD_TEMPLATE, {"section": section})
    messages.success(request, _("保存しました。"))
    return _back_to(patient, f"sec-{kind}")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def record_create(request: HttpRequest, patient_id: int, kind: str) -> HttpResponse:
    patient = _record_patient(request, patient_id, kind)
    if patient is None:
        return not_found(request)
    _require(request, patient, record_capability(kind))
    return _record_form_page(
        request,
        patient,
        kind,
        save=lambda data: services.record_item_create(
            signed_in(request), patient.pk, kind=kind, data=data
        ),
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def record_edit(request: HttpRequest, patient_id: int, kind: str, item_id: int) -> HttpResponse:
    patient = _record_patient(request, patient_id, kind)
    if patient is None:
        return not_found(request)
    item = selectors.record_items(request.user, patient.pk, kind=kind).filter(pk=item_id).first()
    if item is None:
        return not_found(request)
    _require(request, patient, record_capability(kind))
    return _record_form_page(
        request,
        patient,
        kind,
        instance=item,
        save=lambda data: services.record_item_update(
            signed_in(request), patient.pk, kind=kind, item_id=item.pk, data=data
        ),
    )


@login_required
@require_POST
def record_delete(request: HttpRequest, patient_id: int, kind: str, item_id: int) -> HttpResponse:
    patient = _record_patient(request, patient_id, kind)
    if patient is None:
        return not_found(request)
    _require(request, patient, record_capability(kind))
    try:
        services.record_item_delete(signed_in(request), patient.pk, kind=kind, item_id=item_id)
    except NotFound:
        return not_found(request)
    except DomainError as exc:
        messages.error(request, exc.message)
    if _is_htmx(request):
        return render(
            request, RECORD_TEMPLATE, {"section": _record_section(request, patient, kind)}
        )
    messages.success(request, _("削除しました。"))
    return _back_to(patient, f"sec-{kind}")


# --- wishes (green and yellow card) -----------------------------------------------------


@login_required
@require_http_methods(["GET", "HEAD"])
def wishes_section(request: HttpRequest, patient_id: int) -> HttpResponse:
    try:
        patient = selectors.patient_get(request.user, patient_id)
    except NotFound:
        return not_found(request)
    template = "patients/partials/section_wishes.html"
    return _section_page(request, patient, template, _wish_section(request, patient))


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def wish_edit(request: HttpRequest, patient_id: int, kind: str) -> HttpResponse:
    if kind not in WishKind.values:
        return not_found(request)
    try:
        patient = selectors.patient_get(request.user, patient_id)
    except NotFound:
        return not_found(request)
    template = "patients/partials/section_wishes.html"
    _require(request, patient, Capability.EDIT_WISHES)
    if request.method != "POST":
        current = selectors.current_wishes(request.user, patient.pk)[kind]
        initial = (
            {
                "preference": current.preference,
                "hospital": current.hospital_id,
                "note": current.note,
            }
            if current is not None
            else {}
        )
        section = _wish_section(
            request,
            patient,
            form=WishForm(initial=initial, auto_id="id_wish_%s"),
            editing_kind=kind,
        )
        return _section_page(request, patient, template, section)
    form = WishForm(request.POST, auto_id="id_wish_%s")
    if form.is_valid():
        try:
            services.wish_set(signed_in(request), patient.pk, kind=kind, **form.service_data())
        except DomainError as exc:
            form.add_domain_errors(exc)
        except NotFound:
            return not_found(request)
    if form.errors:
        form.mark_invalid_fields()
        section = _wish_section(request, patient, form=form, editing_kind=kind)
        return _section_page(request, patient, template, section, status=400)
    if _is_htmx(request):
        return render(request, template, {"section": _wish_section(request, patient)})
    messages.success(request, _("保存しました。"))
    return _back_to(patient, "sec-wishes")


# --- the patient's own fields ------------------------------------------------------------


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def patient_edit(request: HttpRequest, patient_id: int) -> HttpResponse:
    try:
        patient = selectors.patient_get(request.user, patient_id)
    except NotFound:
        return not_found(request)
    template = "patients/partials/section_header.html"
    if request.method != "POST" and request.GET.get("cancel"):
        return _section_page(request, patient, template, _header(request, patient))
    _require(request, patient, Capability.EDIT_RECORD)
    if request.method != "POST":
        form = PatientForm(instance=patient, auto_id="id_patient_%s")
        return _section_page(request, patient, template, _header(request, patient, form=form))
    # Bind to a copy: a refused form must not change the header shown beside it.
    form = PatientForm(request.POST, instance=copy.copy(patient), auto_id="id_patient_%s")
    if form.is_valid():
        try:
            patient = services.patient_update(
                signed_in(request), patient.pk, data=form.service_data()
            )
        except DomainError as exc:
            form.add_domain_errors(exc)
        except NotFound:
            return not_found(request)
    if form.errors:
        form.mark_invalid_fields()
        return _section_page(
            request, patient, template, _header(request, patient, form=form), status=400
        )
    if _is_htmx(request):
        return render(request, template, {"section": _header(request, patient)})
    messages.success(request, _("保存しました。"))
    return _back_to(patient, "patient-header")


# --- consent and disclosures -------------------------------------------------------------

DISCLOSURES_PER_PAGE = 50


def _consent_state(consents: list[Consent]) -> dict[str, Any]:
    """The consent as the pages show it: the active one, else the latest (withdrawn)."""
    active = next((c for c in consents if c.withdrawn_at is None), None)
    return {
        "known": bool(consents),
        "active": active,
        "latest": consents[0] if consents else None,
        "withdrawn": active is None and bool(consents),
    }


def _consent_page(
    request: HttpRequest,
    patient: Patient,
    *,
    form: ConsentForm | None = None,
    organizations_form: ConsentOrganizationsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = signed_in(request)
    may = capabilities_of(user, patient)
    consents = list(selectors.consent_list(user, patient.pk))
    state = _consent_state(consents)
    active = state["active"]
    if Capability.RECORD_CONSENT in may:
        if active is None and form is None:
            form = ConsentForm(patient=patient, auto_id="id_consent_%s")
        if active is not None and organizations_form is None:
            organizations_form = ConsentOrganizationsForm(
                patient=patient,
                initial={"organizations": list(active.organizations.all())},
                auto_id="id_consent_orgs_%s",
            )
    disclosures = None
    if Capability.VIEW_DISCLOSURES in may:
        rows = selectors.disclosure_list(user, patient.pk)
        disclosures = Paginator(rows, DISCLOSURES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "patient": patient,
        "consent": state,
        "history": consents,
        "form": form if active is None else None,
        "organizations_form": organizations_form if active is not None else None,
        "may_withdraw": active is not None and Capability.WITHDRAW_CONSENT in may,
        "may_read": Capability.READ in may,
        "disclosures": disclosures,
    }
    return render(request, "patients/consent.html", context, status=status)


def _consent_patient(request: HttpRequest, patient_id: int, capability: Capability) -> Patient:
    """The patient for a consent page or form: `NotFound` for whoever may not see it (the
    caller shows the not-found page), `Forbidden` (the 403 page) for a member who may not."""
    return access_patient(request.user, patient_id, capability=capability)


@login_required
@require_http_methods(["GET", "HEAD"])
def consent_page(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The consent on record, its history, and the disclosure report (第三者提供の記録)."""
    try:
        patient = _consent_patient(request, patient_id, Capability.VIEW_CONSENT)
    except NotFound:
        return not_found(request)
    return _consent_page(request, patient)


def _back_to_consent(patient: Patient) -> HttpResponse:
    return redirect(reverse("patient-consent", args=[patient.pk]))


@login_required
@require_POST
def consent_record(request: HttpRequest, patient_id: int) -> HttpResponse:
    try:
        patient = _consent_patient(request, patient_id, Capability.RECORD_CONSENT)
    except NotFound:
        return not_found(request)
    form = ConsentForm(request.POST, patient=patient, auto_id="id_consent_%s")
    if form.is_valid():
        try:
            services.consent_record(signed_in(request), patient.pk, **form.service_data())
        except DomainError as exc:
            form.add_domain_errors(exc)
    if form.errors:
        form.mark_invalid_fields()
        return _consent_page(request, patient, form=form, status=400)
    messages.success(request, _("同意を記録しました。"))
    return _back_to_consent(patient)


@login_required
@require_POST
def consent_change(request: HttpRequest, patient_id: int) -> HttpResponse:
    try:
        patient = _consent_patient(request, patient_id, Capability.RECORD_CONSENT)
    except NotFound:
        return not_found(request)
    form = ConsentOrganizationsForm(request.POST, patient=patient, auto_id="id_consent_orgs_%s")
    if form.is_valid():
        try:
            services.consent_change(signed_in(request), patient.pk, **form.service_data())
        except DomainError as exc:
            form.add_domain_errors(exc)
    if form.errors:
        form.mark_invalid_fields()
        return _consent_page(request, patient, organizations_form=form, status=400)
    messages.success(request, _("同意の対象の組織を変更しました。"))
    return _back_to_consent(patient)


@login_required
@require_POST
def consent_withdraw(request: HttpRequest, patient_id: int) -> HttpResponse:
    try:
        patient = _consent_patient(request, patient_id, Capability.WITHDRAW_CONSENT)
    except NotFound:
        return not_found(request)
    try:
        services.consent_withdraw(signed_in(request), patient.pk)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("同意の撤回を記録しました。"))
    return _back_to_consent(patient)


DISCLOSURE_CSV_HEADER = (
    _lazy("提供日時"),
    _lazy("提供先"),
    _lazy("提供した情報"),
    _lazy("同意ID"),
    _lazy("同意日"),
    _lazy("同意の方法"),
    _lazy("記録者"),
)


@login_required
@require_http_methods(["GET", "HEAD"])
def disclosures_csv(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The disclosure report as CSV for a spreadsheet (BOM, formula-safe cells)."""
    try:
        rows = selectors.disclosure_list(request.user, patient_id)
    except NotFound:
        return not_found(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="disclosures-{int(patient_id)}.csv"'
    response.write(BOM)
    writer = csv.writer(response)
    writer.writerow([str(h) for h in DISCLOSURE_CSV_HEADER])
    for d in rows:
        writer.writerow(
            [
                escape_cell(timezone.localtime(d.at).strftime("%Y-%m-%d %H:%M")),
                escape_cell(d.organization.name),
                escape_cell("、".join(d.item_labels)),
                escape_cell(d.consent_id),
                escape_cell(d.consent.consented_on.isoformat()),
                escape_cell(d.consent.get_method_display()),
                escape_cell(d.by),
            ]
        )
    return response


# --- the hand-off card: what someone called in from outside the team reads first ----------


@login_required
@require_http_methods(["GET", "HEAD"])
def handoff_card(request: HttpRequest, patient_id: int) -> HttpResponse:
    """One screen (one A4 sheet in print) with what an on-call physician or a hospital needs
    to take over: problems, medications, allergies, devices, the key person and emergency
    contacts, the green and yellow card, the care team with phone numbers, and the last 72
    hours of the contact book (messaging's `handoff_thread` panel)."""
    user = signed_in(request)
    try:
        patient = selectors.patient_get(user, patient_id)
    except NotFound:
        return not_found(request)
    records = {k: list(selectors.record_items(user, patient.pk, kind=k)) for k in RECORD_KINDS}
    context = {
        "patient": patient,
        "age": age_on(patient.date_of_birth, timezone.localdate()),
        "records": records,
        "labels": SECTION_LABELS,
        "wishes": selectors.current_wishes(user, patient.pk),
        "team": list(selectors.care_team_list(user, patient.pk)),
        "grants": selectors.escalation_grants(user, patient.pk),
        **panels.handoff_contexts(user, patient),
    }
    return render(request, "patients/handoff.html", context)
