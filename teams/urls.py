"""Web routes of the teams app (mounted at /directory/)."""

from __future__ import annotations

from django.urls import path

from teams import views

urlpatterns = [
    path("", views.directory, name="directory"),
    path("home-care/", views.home_care_registration, name="home-care-registration"),
]
