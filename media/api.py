"""The media API: upload a photo, read its record, download its files, list a patient's photos.

Thin views: parse, call a service or selector, render. Uploads are rate-limited per person
(`teams.throttle.limit("upload")`: 429 with `Retry-After`). A download never has a public
URL: each one passes the gate (`media.access`) and writes an audit row, then either streams the
file or, with `KIZUNA_X_ACCEL=1`, hands the sending to nginx (`X-Accel-Redirect` to an internal
location, deploy/nginx/media.conf).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import FileResponse, HttpResponse, HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config import parsers
from config.api import Paginated, paginate
from config.errors import NotFound
from media import files, selectors, services
from media.models import Attachment
from media.serializers import (
    VARIANTS,
    AttachmentOutputSerializer,
    AttachmentUploadInputSerializer,
    PhotoListQuerySerializer,
    attachment_data,
)
from patients.access import access_patient
from teams import throttle
from teams.identity import signed_in


class AttachmentUploadView(APIView):
    """Upload one photo (multipart). Retrying with the same `client_id` returns the first
    upload (200), never a second one."""

    parser_classes = [parsers.MultiPartParser]
    throttled_methods = ("post",)

    @extend_schema(
        request={"multipart/form-data": AttachmentUploadInputSerializer},
        responses={
            201: AttachmentOutputSerializer,
            200: OpenApiResponse(AttachmentOutputSerializer, description="同じclient_idの再送"),
        },
    )
    def post(self, request: Request) -> Response:
        user = signed_in(request)
        throttle.limit("upload", user)
        data = AttachmentUploadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        result = services.attachment_upload(
            user,
            patient_id=values["patient"],
            client_id=values["client_id"],
            upload=values["file"],
            body_site=values.get("body_site", ""),
            body_site_other=values.get("body_site_other", ""),
            caption=values.get("caption", ""),
        )
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(attachment_data(result.attachment), status=code)


class AttachmentDetailView(APIView):
    """One photo's record: its state, size, body site, caption and download URLs."""

    @extend_schema(responses=AttachmentOutputSerializer)
    def get(self, request: Request, attachment_id: str) -> Response:
        return Response(attachment_data(selectors.attachment_get(request.user, attachment_id)))


def _headers(response: HttpResponseBase, row: Attachment, variant: str) -> HttpResponseBase:
    # The type is our own record's (every stored file is a JPEG we wrote), never the client's;
    # nosniff keeps a browser from guessing another; private, no-store keeps it out of every
    # cache but the viewer's memory.
    response["Content-Type"] = row.content_type
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = f'inline; filename="photo-{row.pk.hex[:12]}-{variant}.jpg"'
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


class AttachmentDownloadView(APIView):
    """A photo's file: `full` (the sanitised photo), `display` (~1600 px) or `thumb`
    (~320 px). 404 for anyone who may not see it, and for a size not made yet."""

    @extend_schema(
        operation_id="v1_attachments_download",
        parameters=[OpenApiParameter("variant", str, OpenApiParameter.PATH, enum=VARIANTS)],
        responses={(200, "image/jpeg"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, attachment_id: str, variant: str) -> HttpResponseBase:
        if variant not in VARIANTS:
            raise NotFound
        row, name = selectors.attachment_file(request.user, attachment_id, variant)
        if settings.KIZUNA_X_ACCEL and files.local_path(name) is not None:
            response: HttpResponseBase = HttpResponse()
            response["X-Accel-Redirect"] = settings.KIZUNA_X_ACCEL_PREFIX + name
        else:
            response = FileResponse(files.storage().open(name, "rb"))
        return _headers(response, row, variant)


class PatientPhotoListView(Paginated, APIView):
    """A patient's posted photos, newest first; with `body_site`, that site's photos oldest
    first (the wound timeline)."""

    @extend_schema(
        parameters=[OpenApiParameter("body_site", str)],
        responses=AttachmentOutputSerializer(many=True),
    )
    def get(self, request: Request, patient_id: str) -> Response:
        patient = access_patient(request.user, patient_id)
        query = PhotoListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        site: Any = query.validated_data.get("body_site")
        rows = selectors.patient_photos(
            signed_in(request), patient, body_site=site, oldest_first=bool(site)
        )
        paginator, page = paginate(self, request, rows)
        return paginator.get_paginated_response([attachment_data(a) for a in page])
