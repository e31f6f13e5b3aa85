"""Account pages (mounted at /account/): the second factor, password, devices, and ending
a person's access."""

from __future__ import annotations

from django.urls import path

from teams import views

urlpatterns = [
    # Reachable before the second factor is passed (teams.middleware.BEFORE_SECOND_FACTOR).
    path("two-factor/", views.two_factor, name="two-factor"),
    path("two-factor/setup/", views.two_factor_setup, name="two-factor-setup"),
    path("two-factor/passkey/", views.passkey_sign_in, name="passkey-sign-in"),
    path("two-factor/passkey/new/", views.passkey_new, name="passkey-new"),
    path(
        "two-factor/passkey/register/options/",
        views.passkey_options,
        {"ceremony": "register"},
        name="passkey-register-options",
    ),
    path(
        "two-factor/passkey/sign-in/options/",
        views.passkey_options,
        {"ceremony": "sign-in"},
        name="passkey-sign-in-options",
    ),
    # Not before it: new recovery codes would let a password alone pass it.
    path("recovery-codes/", views.two_factor_recovery_codes, name="two-factor-codes"),
    path("password/", views.password_change, name="password-change"),
    path("devices/", views.devices, name="devices"),
    path("devices/sessions/<int:pk>/end/", views.session_revoke, name="session-revoke"),
    path("devices/tokens/<int:pk>/end/", views.token_revoke, name="token-revoke"),
    path("passkeys/<int:pk>/remove/", views.passkey_remove, name="passkey-remove"),
    path("people/", views.people, name="people-admin"),
    path("people/<int:pk>/", views.person_access, name="person-access"),
]
