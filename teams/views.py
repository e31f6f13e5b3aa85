"""The directory page (連携リスト): the network's organizations, searched by kind, capability,
area and name. Reads through `teams.selectors.organization_search`; holds no patient data.

With htmx the search form swaps only the result list and keeps the URL in step, so a search
can be bookmarked and the back button works; without JavaScript the form is a plain GET.

Also the account pages (/account/): the second factor (the sign-in's second step, enrolling
an authenticator app or a passkey, new recovery codes, one's passkeys), changing one's
password, one's devices (sessions and API tokens, each of which can be ended), and an
organization administrator's page that ends all of one person's access.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from audit.context import client_ip
from config.api import error_body
from config.errors import DomainError, NotFound
from config.web import not_found
from teams import passkeys, rotation, second_factor, selectors, services, sessions, throttle
from teams.forms import GuardedPasswordChangeForm, RegistrationForm
from teams.identity import signed_in
from teams.models import CapabilityCode, Organization, OrganizationKind, Profession, User
from teams.selectors import organization_search

ORGANIZATIONS_PER_PAGE = 50


class DirectorySearchForm(forms.Form):
    q = forms.CharField(label=_("名称・ふりがな"), required=False, max_length=100)
    kind = forms.ChoiceField(
        label=_("種別"),
        required=False,
        choices=[("", _("すべて")), *OrganizationKind.choices],
    )
    area = forms.CharField(label=_("地域"), required=False, max_length=100)
    capabilities = forms.MultipleChoiceField(
        label=_("医療機能"),
        required=False,
        choices=CapabilityCode.choices,
        widget=forms.CheckboxSelectMultiple,
    )


@login_required
@require_http_methods(["GET", "HEAD"])
def directory(request: HttpRequest) -> HttpResponse:
    form = DirectorySearchForm(request.GET or None, auto_id="dir_%s")
    organizations = organization_search()
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["q"].strip():
            throttle.limit("search", signed_in(request))  # over it: the 429 page
        organizations = organization_search(
            kind=data["kind"] or None,
            capabilities=data["capabilities"],
            area=data["area"].strip() or None,
            q=data["q"].strip() or None,
        )
    page = Paginator(organizations, ORGANIZATIONS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    invalid = form.is_bound and not form.is_valid()
    status = 400 if invalid else 200
    if getattr(request, "htmx", False) and request.headers.get("HX-Target") == "directory-results":
        # 422, not 400, for htmx: swapped in place (see base.html), as the patient forms do.
        status = 422 if invalid else 200
        return render(request, "teams/partials/directory_results.html", context, status=status)
    return render(request, "teams/directory.html", context, status=status)


# --- ways in: password, devices, ending a person's access -----------------------------------


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    """Change one's own password: the current one, the new one twice, Django's validators.

    This session stays signed in; every other session and every API token of the person ends
    (`teams.services.password_change`). The current password is checked like a sign-in,
    behind the sign-in guard (`teams.forms.GuardedPasswordChangeForm`).
    """
    user = signed_in(request)
    form = GuardedPasswordChangeForm(
        user, request.POST if request.method == "POST" else None, request=request
    )
    if request.method == "POST" and form.is_valid():
        old_key = request.session.session_key or ""
        services.password_change(
            user, new_password=form.cleaned_data["new_password1"], keep_session_key=old_key
        )
        update_session_auth_hash(request, user)
        services.session_rekeyed(user, old_key=old_key, new_key=request.session.session_key or "")
        messages.success(request, _("パスワードを変更しました。ほかの端末はログアウトしました。"))
        return redirect("devices")
    return render(request, "teams/password_change.html", {"form": form})


@login_required
@require_http_methods(["GET", "HEAD"])
def devices(request: HttpRequest) -> HttpResponse:
    """The person's signed-in sessions and API tokens, each with a button to end it."""
    user = signed_in(request)
    return render(
        request,
        "teams/devices.html",
        {
            "sessions": selectors.sessions_of(user),
            "tokens": selectors.tokens_of(user),
            "current_session_key": request.session.session_key,
            "recovery_codes_left": second_factor.recovery_codes_left(user),
            "passkeys": passkeys.passkeys_of(user),
            "has_authenticator": second_factor.has_authenticator(user),
            "is_organization_admin": selectors.is_organization_admin(user),
        },
    )


@login_required
@require_POST
def session_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        ended_key = services.session_revoke(signed_in(request), pk)
    except NotFound:
        return not_found(request)
    if ended_key == request.session.session_key:
        # The store no longer holds it: drop what this request still has, and the cookie.
        request.session.flush()
        return redirect("login")
    messages.success(request, _("セッションを終了しました。"))
    return redirect("devices")


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.token_revoke(signed_in(request), pk)
    except NotFound:
        return not_found(request)
    messages.success(request, _("APIトークンを無効にしました。"))
    return redirect("devices")


@login_required
@require_http_methods(["GET", "HEAD"])
def people(request: HttpRequest) -> HttpResponse:
    """An organization administrator's list of their people, each linking to the page that
    ends that person's access or resets their second factor."""
    user = signed_in(request)
    if not selectors.is_organization_admin(user):
        raise PermissionDenied(_("組織の管理者だけが行えます。"))
    return render(request, "teams/people.html", {"people": selectors.administered_people(user)})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def person_access(request: HttpRequest, pk: int) -> HttpResponse:
    """An organization administrator's page for one person of theirs: their sessions and
    tokens, and a button that ends them all (audited)."""
    user = signed_in(request)
    if not selectors.is_organization_admin(user):
        raise PermissionDenied(_("組織の管理者だけが行えます。"))
    try:
        person = selectors.administered_person_get(user, pk)
    except NotFound:
        return not_found(request)
    if request.method == "POST" and request.POST.get("action") == "reset-second-factor":
        second_factor.reset(user, person)
        services.access_end_all(user, person.pk)
        messages.success(
            request,
            _("%(name)s さんの二段階認証をリセットしました。次のログインで設定し直します。")
            % {"name": person},
        )
        return redirect("person-access", pk=person.pk)
    if request.method == "POST":
        ended = services.access_end_all(user, person.pk)
        messages.success(
            request,
            _("%(name)s さんのセッション%(sessions)s件とAPIトークン%(tokens)s件を終了しました。")
            % {"name": person, "sessions": ended.sessions, "tokens": ended.tokens},
        )
        return redirect("person-access", pk=person.pk)
    return render(
        request,
        "teams/person_access.html",
        {
            "person": person,
            "sessions": selectors.sessions_of(person),
            "tokens": selectors.tokens_of(person),
            "second_factor": second_factor.is_enrolled(person),
        },
    )


# --- the second factor: enrolment, the sign-in step, recovery codes --------------------------


class SecondFactorForm(forms.Form):
    code = forms.CharField(
        label=_("確認コード"),
        max_length=32,
        strip=True,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "text",
                "autocapitalize": "off",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _refused(form: SecondFactorForm, error: second_factor.SecondFactorRefused) -> int:
    """Put the refusal on the form; the answer's status (429 when throttled)."""
    form.add_error("code", error.message)
    return 429 if error.retry_after else 400


def _throttled_headers(response: HttpResponse, error: Exception | None) -> HttpResponse:
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    """The sign-in's second step: a code from the authenticator app, or a recovery code.
    Someone not yet enrolled is sent to enrolment first."""
    user = signed_in(request)
    if not second_factor.is_enrolled(user):
        return redirect(f"{reverse('two-factor-setup')}?{urlencode({'next': _next_url(request)})}")
    form = SecondFactorForm(request.POST if request.method == "POST" else None)
    status, error = 200, None
    if request.method == "POST" and form.is_valid():
        try:
            device = second_factor.verify(
                user, form.cleaned_data["code"], address=client_ip(request)
            )
        except second_factor.SecondFactorRefused as refused:
            status, error = _refused(form, refused), refused
        else:
            second_factor.pass_second_factor(request.session, user, device)
            if second_factor.recovery_codes_left(user) <= 2:
                messages.warning(
                    request, _("回復コードの残りが少なくなっています。新しく発行してください。")
                )
            return redirect(_next_url(request))
    return _two_factor_page(request, form, status=status, error=error)


def _two_factor_page(
    request: HttpRequest,
    form: SecondFactorForm,
    *,
    status: int = 200,
    error: Exception | None = None,
    passkey_error: str = "",
) -> HttpResponse:
    user = signed_in(request)
    context = {
        "form": form,
        "next": _next_url(request),
        "demo_code": second_factor.demo_code(user),
        "has_passkey": passkeys.has_passkey(user),
        "has_authenticator": second_factor.has_authenticator(user),
        "passkey_error": passkey_error,
    }
    response = render(request, "teams/two_factor.html", context, status=status)
    return _throttled_headers(response, error)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Enrolment: scan the QR code (or type the key) into an authenticator app, then confirm
    with its first code. Setting up a new app again needs a session that has passed the
    second factor; the first enrolment is part of the first sign-in."""
    user = signed_in(request)
    enrolled = second_factor.is_enrolled(user)
    if enrolled and sessions.verdict(request.session) is not sessions.Verdict.OK:
        return redirect("two-factor")
    form = SecondFactorForm(request.POST if request.method == "POST" else None)
    status, error = 200, None
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = second_factor.confirm_enrolment(user, form.cleaned_data["code"])
        except second_factor.SecondFactorRefused as refused:
            status, error = _refused(form, refused), refused
        else:
            second_factor.pass_second_factor(request.session, user, device)
            return render(
                request,
                "teams/two_factor_codes.html",
                {"codes": codes, "next": _next_url(request), "first": not enrolled},
            )
    context = {
        "form": form,
        "enrolment": second_factor.enrolment(user),
        "next": _next_url(request),
        "enrolled": enrolled,
        # The first enrolment offers a passkey first: the easier choice on a tablet.
        "passkey_form": None if enrolled else PasskeyRegisterForm(),
    }
    response = render(request, "teams/two_factor_setup.html", context, status=status)
    return _throttled_headers(response, error)


@login_required
@require_POST
def two_factor_recovery_codes(request: HttpRequest) -> HttpResponse:
    """New recovery codes, shown once; the earlier ones stop working."""
    codes = second_factor.new_recovery_codes(signed_in(request))
    return render(
        request,
        "teams/two_factor_codes.html",
        {"codes": codes, "next": reverse("devices"), "first": False},
    )


# --- the on-call rotation (当番表): a month view, and its form for the coordinators ----------


def _rotation_choices(network: Any) -> tuple[list[User], list[Organization]]:
    physicians = list(
        User.objects.filter(
            is_active=True,
            profession=Profession.PHYSICIAN,
            memberships__organization__networks=network,
            memberships__is_active=True,
        )
        .distinct()
        .order_by("name_kana", "pk")
    )
    hospitals = list(
        network.organizations.filter(kind=OrganizationKind.HOSPITAL).order_by("name_kana")
    )
    return physicians, hospitals


# --- passkeys: registering, the sign-in step, removing -------------------------------------------


class PasskeyAnswerForm(forms.Form):
    """The browser's answer (PublicKeyCredential as JSON), put here by teams/passkey.js."""

    credential = forms.CharField(
        widget=forms.HiddenInput, max_length=passkeys.ANSWER_MAX_CHARS, strip=False
    )


class PasskeyRegisterForm(PasskeyAnswerForm):
    name = forms.CharField(
        label=_("パスキーの名前"),
        max_length=passkeys.NAME_MAX,
        help_text=_("どの端末のパスキーか分かる名前にしてください（例: iPad 訪問用）。"),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


def _may_set_up(request: HttpRequest) -> bool:
    """Adding a way to pass the second factor needs a session that has passed it; the first
    enrolment is part of the first sign-in (as for the authenticator app)."""
    user = signed_in(request)
    enrolled = second_factor.is_enrolled(user)
    return not enrolled or sessions.verdict(request.session) is sessions.Verdict.OK


def _json_refusal(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


@never_cache
@login_required
@require_POST
def passkey_options(request: HttpRequest, ceremony: str) -> JsonResponse:
    """The options for the browser's passkey prompt (JSON); the challenge waits in the
    session. `ceremony` is "register" or "sign-in"."""
    user = signed_in(request)
    if ceremony == "register":
        if not _may_set_up(request):
            return _json_refusal(
                "second_factor_required", str(_("二段階認証を済ませてください。")), 403
            )
        return JsonResponse(passkeys.registration_options(request, user))
    if not passkeys.has_passkey(user):
        return _json_refusal("no_passkey", str(_("パスキーが登録されていません。")), 400)
    return JsonResponse(passkeys.authentication_options(request, user))


@login_required
@require_POST
def passkey_sign_in(request: HttpRequest) -> HttpResponse:
    """The sign-in's second step with a passkey: the answer to the challenge of
    `passkey_options`. Passed: on to the page asked for; refused: the step again (400)."""
    user = signed_in(request)
    form = PasskeyAnswerForm(request.POST)
    answer = form.cleaned_data["credential"] if form.is_valid() else ""
    try:
        device = passkeys.authenticate(request, user, answer, address=client_ip(request))
    except passkeys.PasskeyRefused as refused:
        return _two_factor_page(
            request, SecondFactorForm(), status=400, error=refused, passkey_error=refused.message
        )
    second_factor.pass_second_factor(request.session, user, device)
    return redirect(_next_url(request))


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def rotation_month(request: HttpRequest, pk: int, month: str) -> HttpResponse:
    """The month of the network's rotation: each day, its kind (weekday night, weekend,
    holiday) and who is on call; coordinators save the whole month from the same table."""
    user = signed_in(request)
    try:
        network, days = rotation.month_view(user, pk, month)
    except NotFound:
        return not_found(request)
    except DomainError as exc:
        context = {"status": 400, "message": exc.message}
        return render(request, "request_error.html", context, status=400)
    editable = rotation.is_coordinator(user, network)
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        if not editable:
            raise PermissionDenied(_("当番表を編集できるのはネットワークのコーディネーターです。"))
        rows = [
            {
                "date": d.date.isoformat(),
                "physician": request.POST.get(f"physician-{d.date.isoformat()}"),
                "backup_hospital": request.POST.get(f"hospital-{d.date.isoformat()}") or None,
            }
            for d in days
            if request.POST.get(f"physician-{d.date.isoformat()}")
        ]
        try:
            rotation.rotation_set_month(user, network_id=pk, month=month, days=rows)
        except DomainError as exc:
            errors = [str(m) for msgs in exc.fields.values() for m in msgs] or [str(exc.message)]
            status = 400
        else:
            messages.success(request, _("当番表を保存しました。"))
            return redirect(request.path)
    physicians, hospitals = _rotation_choices(network)
    context = {
        "network": network,
        "month": month,
        "days": days,
        "kinds": rotation.DAY_KIND_LABELS,
        "editable": editable,
        "physicians": physicians,
        "hospitals": hospitals,
        "errors": errors,
    }
    return render(request, "teams/rotation.html", context, status=status)


def passkey_new(request: HttpRequest) -> HttpResponse:
    """Register a passkey on this tablet or phone, named by the person. At the first
    enrolment it passes the second factor and shows the recovery codes, as the app's does."""
    user = signed_in(request)
    if not _may_set_up(request):
        return redirect("two-factor")
    first = not second_factor.is_enrolled(user)
    form = PasskeyRegisterForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            data = form.cleaned_data
            device = passkeys.register(request, user, name=data["name"], answer=data["credential"])
        except passkeys.PasskeyRefused as refused:
            form.add_error("name", refused.message)
            status = 400
        else:
            if first:
                second_factor.pass_second_factor(request.session, user, device)
                codes = second_factor.new_recovery_codes(user)
                return render(
                    request,
                    "teams/two_factor_codes.html",
                    {"codes": codes, "next": _next_url(request), "first": True},
                )
            messages.success(
                request, _("パスキー「%(name)s」を登録しました。") % {"name": device.name}
            )
            return redirect("devices")
    elif request.method == "POST":
        status = 400
    context = {"passkey_form": form, "next": _next_url(request), "first": first}
    return render(request, "teams/passkey_new.html", context, status=status)


@login_required
@require_POST
def passkey_remove(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        passkeys.remove(signed_in(request), pk)
    except NotFound:
        return not_found(request)
    except DomainError as refused:
        messages.error(request, refused.message)
        return redirect("devices")
    messages.success(request, _("パスキーを削除しました。"))
    return redirect("devices")


# --- a physician's registration for home-care referrals --------------------------------------


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def home_care_registration(request: HttpRequest) -> HttpResponse:
    """A physician's own registration (在宅医登録): areas, capabilities, maximum load,
    availability. Only physicians register; anyone else gets the 404 page."""
    user = signed_in(request)
    if user.profession != Profession.PHYSICIAN:
        return not_found(request)
    current = selectors.home_care_registration(user)
    if request.method != "POST":
        initial = (
            {
                "areas": "、".join(current.areas),
                "capabilities": [c.code for c in current.capabilities.all()],
                "max_load": current.max_load,
                "accepting": current.accepting,
                "note": current.note,
            }
            if current is not None
            else {"max_load": 20, "accepting": True}
        )
        form = RegistrationForm(initial=initial)
        return render(request, "teams/home_care.html", {"form": form, "current": current})
    form = RegistrationForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.home_care_register(
                user,
                areas=data["areas"],
                capabilities=list(data["capabilities"]),
                max_load=data["max_load"],
                accepting=data["accepting"],
                note=data["note"],
            )
        except DomainError as exc:
            for name, errors in exc.fields.items():
                for error in errors:
                    form.add_error(name if name in form.fields else None, error)
        else:
            messages.success(request, _("在宅医の登録を保存しました。"))
            return redirect("home-care-registration")
    context = {"form": form, "current": current}
    return render(request, "teams/home_care.html", context, status=400)
