"""Web routes of media; mounted at the site root."""

from __future__ import annotations

from django.urls import path

from media import views

urlpatterns = [
    path(
        "patients/<int:patient_id>/photos/<str:site>/",
        views.wound_timeline,
        name="wound-timeline",
    ),
]
