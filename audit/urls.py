"""Web routes of the audit app."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
