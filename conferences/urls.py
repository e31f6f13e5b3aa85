"""Web routes of the conferences app."""

from __future__ import annotations

from django.urls import path

from conferences import views

urlpatterns = [
    path("conferences/", views.calendar_page, name="conference-calendar"),
    path("conferences/new/", views.schedule_page, name="conference-schedule"),
    path("conferences/feed/", views.feed_rotate, name="conference-feed-rotate"),
    path("conferences/feed/revoke/", views.feed_revoke, name="conference-feed-revoke"),
    path("conferences/feed/<str:secret>.ics", views.feed, name="conference-feed"),
    path("conferences/<int:conference_id>/", views.conference_detail, name="conference-detail"),
    path("conferences/<int:conference_id>/rsvp/", views.rsvp, name="conference-rsvp"),
    path(
        "conferences/<int:conference_id>/cancel/",
        views.occurrence_cancel,
        name="conference-cancel",
    ),
    path(
        "conferences/<int:conference_id>/online/",
        views.occurrence_online,
        name="conference-online",
    ),
    path("conferences/<int:conference_id>/move/", views.occurrence_move, name="conference-move"),
    path(
        "conferences/<int:conference_id>/minutes/<int:item_id>/",
        views.minutes_save,
        name="conference-minutes",
    ),
    path("conferences/<int:conference_id>/room/", views.room_page, name="conference-room"),
    path(
        "conferences/<int:conference_id>/conference.ics",
        views.conference_ics,
        name="conference-ics",
    ),
]
