"""The referral pages: the hospital's form, the physician's inbox, the coordinator's board,
one referral (summary, answers, widening and narrowing, the decision).

Thin like the other pages: reads through `patients.referral_selectors` (which start from
`patients.access.access_referral`), writes through `patients.referrals`. A referral the user
may not see is the styled 404 page; a refused form comes back with its errors next to the
fields (400); a confirmation that lost the race gets 409 with the reason.

In the embedded mode there is no Celery beat: the board and the inbox run the deadline
sweep themselves (`referrals.referral_escalate_due`, safe to run anywhere at any time), so
overdue referrals are escalated there too.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from config.errors import DomainError, NotFound
from config.web import not_found
from patients import referral_selectors as selectors
from patients import referrals
from patients.access import (
    DECIDING_REFERRER,
    INVITED_PHYSICIAN,
    REFERRAL_COORDINATOR,
    REFERRAL_POLICY,
    REFERRER,
    ReferralCapability,
    can_see_patient,
)
from patients.models import (
    ANSWERS_FOR_PRIMARY,
    ANSWERS_FOR_SECONDARY,
    ReferralAnswer,
    ReferralStatus,
)
from patients.referral_forms import AnswerForm, ConfirmForm, InviteForm, ReferralForm
from teams.identity import signed_in
from teams.models import Network, Organization, Profession, User


def _sweep_if_embedded() -> None:
    if settings.EMBEDDED:
        referrals.referral_escalate_due()


# --- the inbox and the board ----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "HEAD"])
def inbox(request: HttpRequest) -> HttpResponse:
    """The physician's open referrals (and the ones they answered), and the referrals their
    organization made."""
    _sweep_if_embedded()
    user = signed_in(request)
    invitations = list(selectors.inbox(user))
    mine = list(selectors.referred(user))
    context = {
        "invitations": invitations,
        "open_count": sum(
            1
            for i in invitations
            if i.referral.status in (ReferralStatus.OPEN, ReferralStatus.MATCHING)
        ),
        "referred": mine,
        "is_physician": user.profession == Profession.PHYSICIAN,
        "is_coordinator": user.coordinated_networks.exists(),
    }
    return render(request, "patients/referrals/inbox.html", context)


@login_required
@require_http_methods(["GET", "HEAD"])
def board(request: HttpRequest) -> HttpResponse:
    """The coordinator's board: open, matching, overdue, decided, with counts."""
    user = signed_in(request)
    if not user.coordinated_networks.exists():
        return not_found(request)
    _sweep_if_embedded()
    found = selectors.board(user)
    labels = {
        "open": _("募集中"),
        "matching": _("調整中"),
        "overdue": _("期限切れ"),
        "decided": _("決定"),
    }
    columns = [
        {"name": name, "label": labels[name], "rows": rows, "count": len(rows)}
        for name, rows in found.columns.items()
    ]
    return render(request, "patients/referrals/board.html", {"columns": columns})


# --- the referral form --------------------------------------------------------------------


def _choices(user: User) -> tuple[list[Network], list[Organization]]:
    """The networks the user may refer to and the organizations they may refer from."""
    own = Organization.objects.filter(memberships__user=user, memberships__is_active=True)
    networks = list(
        (Network.objects.filter(organizations__in=own) | Network.objects.filter(coordinators=user))
        .distinct()
        .order_by("name")
    )
    coordinated = Organization.objects.filter(networks__coordinators=user)
    organizations = list((own | coordinated).distinct().order_by("name"))
    return networks, organizations


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def new(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    networks, organizations = _choices(user)
    if not networks or not organizations:
        return not_found(request)
    if request.method != "POST":
        form = ReferralForm(networks=networks, organizations=organizations)
        return render(request, "patients/referrals/new.html", {"form": form})
    form = ReferralForm(request.POST, networks=networks, organizations=organizations)
    if form.is_valid():
        try:
            referral = referrals.referral_create(user, **form.service_data())
        except DomainError as exc:
            form.add_domain_errors(exc)
        else:
            messages.success(
                request,
                _("依頼しました。%(n)s名の医師に依頼が届きました。")
                % {"n": referral.invitations.count()},
            )
            return redirect("referral-detail", referral.pk)
    form.mark_invalid_fields()
    return render(request, "patients/referrals/new.html", {"form": form}, status=400)


# --- one referral -------------------------------------------------------------------------


def _names(invitations: list[Any], answers: tuple[str, ...]) -> list[tuple[int, str]]:
    return [
        (i.physician_id, str(i.physician))
        for i in invitations
        if i.withdrawn_at is None and i.answer in answers
    ]


def _detail(
    request: HttpRequest,
    referral_id: int,
    *,
    answer_form: AnswerForm | None = None,
    confirm_form: ConfirmForm | None = None,
    invite_form: InviteForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = signed_in(request)
    try:
        view = selectors.referral_get(user, referral_id)
    except NotFound:
        return not_found(request)
    referral = view.referral
    still_open = referral.status in (ReferralStatus.OPEN, ReferralStatus.MATCHING)
    coordinator = REFERRAL_COORDINATOR in view.standings
    may_decide = any(
        ReferralCapability.DECIDE in REFERRAL_POLICY[standing] for standing in view.standings
    )
    identity = (
        selectors.referral_identity(user, referral.pk)
        if view.standings & {REFERRER, DECIDING_REFERRER}
        and referral.status != ReferralStatus.DECIDED
        else None
    )
    if may_decide and still_open:
        confirm_form = confirm_form or ConfirmForm(
            primaries=_names(view.invitations, ANSWERS_FOR_PRIMARY),
            secondaries=_names(view.invitations, ANSWERS_FOR_SECONDARY),
        )
    else:
        confirm_form = None
    if coordinator and still_open:
        invited = {i.physician_id for i in view.invitations if i.withdrawn_at is None}
        candidates = [
            c for c in selectors.match(referral, widened=True) if c.physician.pk not in invited
        ]
        invite_form = invite_form or InviteForm(
            physicians=[
                (c.physician.pk, f"{c.physician}({c.load}/{c.max_load})") for c in candidates
            ]
        )
    else:
        invite_form = None
    if view.mine is not None and still_open:
        answer_form = answer_form or AnswerForm(
            initial={"answer": view.mine.answer, "reason": view.mine.reason}
            if view.mine.answer != ReferralAnswer.PENDING
            else None
        )
    else:
        answer_form = None
    context = {
        "referral": referral,
        "needs": referral.needs,
        "view": view,
        "is_coordinator": coordinator,
        "is_invited": INVITED_PHYSICIAN in view.standings,
        "identity": identity,
        "answer_form": answer_form,
        "confirm_form": confirm_form,
        "invite_form": invite_form,
        "still_open": still_open,
        "patient_visible": referral.patient_id is not None
        and can_see_patient(user, referral.patient_id),
    }
    return render(request, "patients/referrals/detail.html", context, status=status)


@login_required
@require_http_methods(["GET", "HEAD"])
def detail(request: HttpRequest, referral_id: int) -> HttpResponse:
    return _detail(request, referral_id)


def _refused_status(exc: DomainError) -> int:
    return HTTPStatus.CONFLICT if isinstance(exc, referrals.ReferralConflict) else 400


@login_required
@require_POST
def answer(request: HttpRequest, referral_id: int) -> HttpResponse:
    user = signed_in(request)
    form = AnswerForm(request.POST)
    if form.is_valid():
        try:
            referrals.referral_answer(user, referral_id, **form.service_data())
        except NotFound:
            return not_found(request)
        except DomainError as exc:
            form.add_domain_errors(exc)
            return _detail(request, referral_id, answer_form=form, status=_refused_status(exc))
        messages.success(request, _("回答しました。"))
        return redirect("referral-detail", referral_id)
    return _detail(request, referral_id, answer_form=form, status=400)


@login_required
@require_POST
def confirm(request: HttpRequest, referral_id: int) -> HttpResponse:
    user = signed_in(request)
    # The choices are checked by the service (who raised a hand for what), not the form:
    # a stale page must get the service's reason, not "not one of the choices".
    data = request.POST
    try:
        patient = referrals.referral_confirm(
            user,
            referral_id,
            primary_id=data.get("primary_id"),
            secondary_id=data.get("secondary_id") or None,
        )
    except NotFound:
        return not_found(request)
    except DomainError as exc:
        try:
            view = selectors.referral_get(user, referral_id)
        except NotFound:
            return not_found(request)
        form = ConfirmForm(
            data,
            primaries=_names(view.invitations, ANSWERS_FOR_PRIMARY),
            secondaries=_names(view.invitations, ANSWERS_FOR_SECONDARY),
        )
        form.is_valid()
        form.add_domain_errors(exc)
        if isinstance(exc, referrals.ReferralConflict):
            messages.error(request, exc.message)
        return _detail(request, referral_id, confirm_form=form, status=_refused_status(exc))
    messages.success(request, _("主治医・副主治医を決定しました。連絡帳を開きました。"))
    return redirect(reverse("referral-detail", args=[referral_id]) + f"#patient-{patient.pk}")


@login_required
@require_POST
def invite(request: HttpRequest, referral_id: int) -> HttpResponse:
    user = signed_in(request)
    try:
        referrals.referral_invite(user, referral_id, physician_id=request.POST.get("physician_id"))
    except NotFound:
        return not_found(request)
    except DomainError as exc:
        reasons = [m for ms in exc.fields.values() for m in ms] or [exc.message]
        messages.error(request, " ".join(reasons))
        return _detail(request, referral_id, status=_refused_status(exc))
    messages.success(request, _("依頼先に追加しました。"))
    return redirect("referral-detail", referral_id)


@login_required
@require_POST
def uninvite(request: HttpRequest, referral_id: int, invitation_id: int) -> HttpResponse:
    user = signed_in(request)
    try:
        referrals.referral_uninvite(user, referral_id, invitation_id=invitation_id)
    except NotFound:
        return not_found(request)
    except DomainError as exc:
        messages.error(request, exc.message)
        return _detail(request, referral_id, status=_refused_status(exc))
    messages.success(request, _("依頼先から外しました。"))
    return redirect("referral-detail", referral_id)
