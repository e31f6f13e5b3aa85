"""API routes of this app, mounted under /api/v1/."""

from __future__ import annotations

from django.urls import URLPattern, path

from teams import api

urlpatterns: list[URLPattern] = [
    path("auth/token/", api.TokenApi.as_view(), name="api-token"),
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
    path("networks/", api.NetworkListApi.as_view(), name="api-networks"),
    path("networks/<int:pk>/", api.NetworkDetailApi.as_view(), name="api-network"),
]
