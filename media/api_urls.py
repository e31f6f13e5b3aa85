"""API routes of media, mounted under /api/v1/ (names in the "media" namespace).

Ids are matched as strings so that garbage reaches the gate and gets the API's one 404 shape.
"""

from __future__ import annotations

from django.urls import path

from media import api

app_name = "media"

urlpatterns = [
    path("attachments/", api.AttachmentUploadView.as_view(), name="attachment-upload"),
    path(
        "attachments/<str:attachment_id>/",
        api.AttachmentDetailView.as_view(),
        name="attachment-detail",
    ),
    path(
        "attachments/<str:attachment_id>/<str:variant>/",
        api.AttachmentDownloadView.as_view(),
        name="attachment-download",
    ),
    path(
        "patients/<str:patient_id>/photos/",
        api.PatientPhotoListView.as_view(),
        name="patient-photo-list",
    ),
]
