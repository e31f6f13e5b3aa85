"""Web routes of notifications, mounted at /notifications/."""

from __future__ import annotations

from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.notice_list, name="list"),
    path("<int:pk>/open/", views.notice_open, name="open"),
    path("read-all/", views.notice_read_all, name="read-all"),
    path("preferences/", views.preferences, name="preferences"),
]
