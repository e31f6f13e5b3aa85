"""API routes of notifications, mounted under /api/v1/."""

from __future__ import annotations

from django.urls import URLPattern, path

from notifications import api

urlpatterns: list[URLPattern] = [
    path("notifications/", api.NoticeListApi.as_view(), name="api-notices"),
    path("notifications/unread-count/", api.UnreadCountApi.as_view(), name="api-notices-unread"),
    path("notifications/read-all/", api.NoticeReadAllApi.as_view(), name="api-notices-read-all"),
    path("notifications/<int:pk>/read/", api.NoticeReadApi.as_view(), name="api-notice-read"),
    path("notifications/preferences/", api.PreferenceApi.as_view(), name="api-notice-prefs"),
    path("notifications/push/", api.PushSubscriptionApi.as_view(), name="api-push-subscription"),
    path("notifications/push/key/", api.PushKeyApi.as_view(), name="api-push-key"),
]
