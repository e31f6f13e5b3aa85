"""API routes of this app, mounted under /api/v1/."""

from __future__ import annotations

from django.urls import URLPattern, path

from teams import api

urlpatterns: list[URLPattern] = [
    path("auth/token/", api.TokenLoginApi.as_view(), name="api-token"),
    path("auth/logout/", api.TokenLogoutApi.as_view(), name="api-logout"),
    path("organizations/", api.OrganizationListApi.as_view(), name="api-organizations"),
    path(
        "organizations/export.csv",
        api.OrganizationExportApi.as_view(),
        name="api-organizations-export",
    ),
    path(
        "organizations/import/",
        api.OrganizationImportApi.as_view(),
        name="api-organizations-import",
    ),
    path("organizations/<int:pk>/", api.OrganizationDetailApi.as_view(), name="api-organization"),
    path("people/", api.PeopleListApi.as_view(), name="api-people"),
    path("people/<int:pk>/", api.PersonDetailApi.as_view(), name="api-person"),
    path("me/", api.MeApi.as_view(), name="api-me"),
    path("me/devices/", api.DevicesApi.as_view(), name="api-devices"),
    path("me/sessions/<int:pk>/", api.SessionRevokeApi.as_view(), name="api-session"),
    path("me/tokens/<int:pk>/", api.TokenRevokeApi.as_view(), name="api-token-revoke"),
    path("people/<int:pk>/end-access/", api.PersonEndAccessApi.as_view(), name="api-end-access"),
    path("networks/", api.NetworkListApi.as_view(), name="api-networks"),
    path("networks/<int:pk>/", api.NetworkDetailApi.as_view(), name="api-network"),
    path(
        "networks/<int:pk>/rotation/<str:month>/",
        api.RotationMonthApi.as_view(),
        name="api-rotation-month",
    ),
    path("me/off-duty/", api.OffDutyApi.as_view(), name="api-off-duty"),
    path("me/leave/", api.LeaveListApi.as_view(), name="api-leave"),
    path("me/leave/<int:pk>/", api.LeaveDetailApi.as_view(), name="api-leave-detail"),
]
