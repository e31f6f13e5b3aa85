"""Web routes of the teams app (mounted at /directory/)."""

from __future__ import annotations

from django.urls import path

from teams import views

urlpatterns = [
    path("", views.directory, name="directory"),
    path(
        "networks/<int:pk>/rotation/<str:month>/",
        views.rotation_month,
        name="rotation-month",
    ),
    path("home-care/", views.home_care_registration, name="home-care-registration"),
]
