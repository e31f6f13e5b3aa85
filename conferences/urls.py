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
    path("conferences/<int:conference_id>/edit/", views.conference_edit, name="conference-edit"),
    path(
        "conferences/<int:conference_id>/invitees/",
        views.invitees_change,
        name="conference-invitees",
    ),
    path("conferences/<int:conference_id>/agenda/", views.agenda_add, name="conference-agenda"),
    path(
        "conferences/<int:conference_id>/agenda/<int:item_id>/",
        views.agenda_item,
        name="conference-agenda-item",
    ),
    path(
        "conferences/<int:conference_id>/cancel-series/",
        views.series_cancel,
        name="conference-cancel-series",
    ),
    path("conferences/<int:conference_id>/room/", views.room_page, name="conference-room"),
    path(
        "conferences/<int:conference_id>/conference.ics",
        views.conference_ics,
        name="conference-ics",
    ),
]
