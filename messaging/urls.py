"""Web routes of messaging (the pages without JavaScript); mounted at the site root."""

from __future__ import annotations

from django.urls import path

from messaging import views

urlpatterns = [
    path("search/", views.search_page, name="search-page"),
    path("threads/<int:thread_id>/", views.thread_detail, name="thread-page"),
    path("threads/<int:thread_id>/read-all/", views.thread_read_all, name="thread-read-all"),
    path(
        "threads/<int:thread_id>/messages/<int:seq>/readers/",
        views.message_readers_page,
        name="message-readers-page",
    ),
    path(
        "threads/<int:thread_id>/messages/<int:seq>/history/",
        views.message_history_page,
        name="message-history-page",
    ),
    path("threads/<int:thread_id>/older/", views.thread_older, name="thread-older"),
    path("threads/<int:thread_id>/post/", views.thread_post, name="thread-post"),
    path("threads/<int:thread_id>/requests/", views.requests_panel, name="thread-requests"),
    path("threads/<int:thread_id>/requests/new/", views.request_new, name="request-new"),
    path("requests/<int:request_id>/reply/", views.request_reply, name="request-reply"),
    path("requests/<int:request_id>/withdraw/", views.request_withdraw, name="request-withdraw"),
]
