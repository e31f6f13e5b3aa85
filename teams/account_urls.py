"""Account pages (mounted at /account/): password, devices, ending a person's access."""

from __future__ import annotations

from django.urls import path

from teams import views

urlpatterns = [
    path("password/", views.password_change, name="password-change"),
    path("devices/", views.devices, name="devices"),
    path("devices/sessions/<int:pk>/end/", views.session_revoke, name="session-revoke"),
    path("devices/tokens/<int:pk>/end/", views.token_revoke, name="token-revoke"),
    path("people/<int:pk>/", views.person_access, name="person-access"),
]
