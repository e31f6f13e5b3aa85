"""API routes of this app, mounted under /api/v1/ (names in the "messaging" namespace).

Ids are matched as strings so that garbage reaches the gate and gets the API's one 404 shape.
Patient-scoped routes use the kwarg `patient_id` (the access-matrix test walks them).
"""

from __future__ import annotations

from django.urls import path

from messaging import api

app_name = "messaging"

urlpatterns = [
    path("threads/", api.ThreadListView.as_view(), name="thread-list"),
    path(
        "patients/<str:patient_id>/threads/",
        api.PatientThreadListView.as_view(),
        name="patient-thread-list",
    ),
    path("threads/<str:thread_id>/", api.ThreadDetailView.as_view(), name="thread-detail"),
    path(
        "threads/<str:thread_id>/messages/",
        api.ThreadMessagesView.as_view(),
        name="thread-messages",
    ),
    path(
        "threads/<str:thread_id>/messages/<str:seq>/",
        api.MessageDetailView.as_view(),
        name="message-detail",
    ),
    path(
        "threads/<str:thread_id>/messages/<str:seq>/readers/",
        api.MessageReadersView.as_view(),
        name="message-readers",
    ),
    path(
        "threads/<str:thread_id>/messages/<str:seq>/revisions/",
        api.MessageRevisionsView.as_view(),
        name="message-revisions",
    ),
    path("threads/<str:thread_id>/read/", api.ThreadReadView.as_view(), name="thread-read"),
    path(
        "threads/<str:thread_id>/requests/",
        api.ThreadRequestsView.as_view(),
        name="thread-requests",
    ),
    path("requests/mine/", api.MyRequestsView.as_view(), name="my-requests"),
    path("requests/<str:request_id>/reply/", api.RequestReplyView.as_view(), name="request-reply"),
    path(
        "requests/<str:request_id>/withdraw/",
        api.RequestWithdrawView.as_view(),
        name="request-withdraw",
    ),
    path("sync/", api.SyncView.as_view(), name="sync"),
    path("search/", api.SearchView.as_view(), name="search"),
]
