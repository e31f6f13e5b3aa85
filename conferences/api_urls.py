"""API routes of this app, mounted under /api/v1/."""

from __future__ import annotations

from django.urls import URLPattern, path

from conferences import api

urlpatterns: list[URLPattern] = [
    path("conferences/", api.ConferenceListApi.as_view(), name="api-conferences"),
    path(
        "conferences/<int:conference_id>/",
        api.ConferenceDetailApi.as_view(),
        name="api-conference",
    ),
    path(
        "conferences/<int:conference_id>/rsvp/",
        api.ConferenceRsvpApi.as_view(),
        name="api-conference-rsvp",
    ),
]
