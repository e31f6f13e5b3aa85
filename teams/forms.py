"""The forms that check a password, each behind the sign-in guard (`teams.throttle`).

Every credential check goes through `django.contrib.auth.authenticate`, so that a failure
sends `user_login_failed` (the sign-in audit hangs there), and through the guard, so that a
locked account or address is refused before the password is looked at:
- `GuardedAuthenticationForm`: the login page (/login/);
- `GuardedAdminAuthenticationForm`: Django admin's login page;
- `GuardedPasswordChangeForm`: the current password on /account/password/ (a stolen session
  must not become a way to guess the password).
A locked form raises `config.errors.Throttled` out of `is_valid()`; the page answers 429
(`config.middleware.ThrottledPageMiddleware`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from audit.context import client_ip
from teams import throttle
from teams.models import CapabilityCode


def _address(request: HttpRequest | None) -> str | None:
    return client_ip(request) if request is not None else None


class GuardedAuthenticationForm(AuthenticationForm):
    """Django's login form, guarded: locked → `Throttled`; a wrong password is counted, a
    right one clears the account's count."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not (username and password):
            return super().clean()  # nothing was tried: the field errors say what is missing
        address = _address(self.request)
        throttle.guard("password", account=username, address=address)
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if self.user_cache is None:  # the credentials, not a refusal of a valid account
                throttle.failed("password", account=username, address=address)
            raise
        throttle.succeeded("password", account=username, address=address)
        return cleaned


class GuardedAdminAuthenticationForm(GuardedAuthenticationForm, AdminAuthenticationForm):
    """Django admin's login form (staff only), behind the same guard."""


class GuardedPasswordChangeForm(PasswordChangeForm):
    """The password change form, whose current password is checked like a sign-in."""

    def __init__(self, user: Any, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self) -> str:
        old_password: str = self.cleaned_data["old_password"]
        account = self.user.get_username()
        address = _address(self.request)
        throttle.guard("password", account=account, address=address, actor=self.user)
        checked = authenticate(self.request, username=account, password=old_password)
        if checked is None or checked.pk != self.user.pk:
            throttle.failed("password", account=account, address=address, actor=self.user)
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        throttle.succeeded("password", account=account, address=address)
        return old_password


class RegistrationForm(forms.Form):
    """A physician's own registration for home-care referrals (teams' directory)."""

    areas = forms.CharField(
        label=_("訪問できる地域"),
        max_length=2000,
        help_text=_("市区町村を「、」で区切って入力(例: 中央区、港区)"),
    )
    capabilities = forms.MultipleChoiceField(
        label=_("対応できること"),
        choices=CapabilityCode.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    max_load = forms.IntegerField(
        label=_("主治医・副主治医として受け持てる患者数の上限"), min_value=1, max_value=500
    )
    accepting = forms.BooleanField(label=_("新しい患者を受け付ける"), required=False)
    note = forms.CharField(label=_("備考"), max_length=300, required=False)
