"""Web routes of referrals (mounted at /referrals/ by `patients.urls`)."""

from __future__ import annotations

from django.urls import path

from patients import referral_views as views

urlpatterns = [
    path("", views.inbox, name="referral-inbox"),
    path("board/", views.board, name="referral-board"),
    path("new/", views.new, name="referral-new"),
    path("<int:referral_id>/", views.detail, name="referral-detail"),
    path("<int:referral_id>/answer/", views.answer, name="referral-answer"),
    path("<int:referral_id>/confirm/", views.confirm, name="referral-confirm"),
    path("<int:referral_id>/invite/", views.invite, name="referral-invite"),
    path(
        "<int:referral_id>/invitations/<int:invitation_id>/withdraw/",
        views.uninvite,
        name="referral-uninvite",
    ),
]
