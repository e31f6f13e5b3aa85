"""DRF views of notifications, all about the signed-in person's own notices and devices.

Thin: parse, call a selector or a service, render. Someone else's notice is a 404.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import Paginated, paginate
from notifications import selectors, services
from notifications.serializers import (
    MarkedOut,
    NoticeOut,
    PreferenceSerializer,
    PushKeyOut,
    PushSubscriptionIn,
    PushUnsubscribeIn,
    UnreadCountOut,
)
from teams.identity import signed_in


class NoticeListApi(Paginated, APIView):
    """My notices, newest first (`?unread=1`: only unread ones)."""

    @extend_schema(responses=NoticeOut(many=True))
    def get(self, request: Request) -> Response:
        rows = selectors.notices_of(signed_in(request))
        flag = request.query_params.get("unread")
        if flag not in (None, "", "0", "1"):
            raise ValidationError({"unread": ["0 か 1 を指定してください。"]})
        if flag == "1":
            rows = rows.filter(read_at__isnull=True)
        paginator, page = paginate(self, request, rows)
        return paginator.get_paginated_response(NoticeOut(page, many=True).data)


class UnreadCountApi(APIView):
    @extend_schema(responses=UnreadCountOut)
    def get(self, request: Request) -> Response:
        return Response({"unread": selectors.unread_count(signed_in(request).pk)})


class NoticeReadApi(APIView):
    """Mark one notice read."""

    @extend_schema(request=None, responses=NoticeOut)
    def post(self, request: Request, pk: int) -> Response:
        with transaction.atomic():
            notice = services.mark_read(signed_in(request), pk)
        return Response(NoticeOut(notice).data)


class NoticeReadAllApi(APIView):
    @extend_schema(request=None, responses=MarkedOut)
    def post(self, request: Request) -> Response:
        user = signed_in(request)
        with transaction.atomic():
            marked = services.mark_all_read(user)
        return Response({"marked": marked, "unread": selectors.unread_count(user.pk)})


class PreferenceApi(APIView):
    """My channels per urgency, quiet hours, time zone and daily digest."""

    @extend_schema(responses=PreferenceSerializer)
    def get(self, request: Request) -> Response:
        return Response(PreferenceSerializer(selectors.preference_for(signed_in(request))).data)

    @extend_schema(request=PreferenceSerializer, responses=PreferenceSerializer)
    def put(self, request: Request) -> Response:
        data = PreferenceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        preference = services.update_preferences(signed_in(request), dict(data.validated_data))
        return Response(PreferenceSerializer(preference).data)

    patch = put


class PushSubscriptionApi(APIView):
    """This device's Web Push subscription: POST to keep it, DELETE to drop it."""

    @extend_schema(request=PushSubscriptionIn, responses={201: None})
    def post(self, request: Request) -> Response:
        data = PushSubscriptionIn(data=request.data)
        data.is_valid(raise_exception=True)
        keys = data.validated_data["keys"]
        services.subscribe_push(
            signed_in(request),
            data.validated_data["endpoint"],
            keys.get("p256dh"),
            keys.get("auth"),
        )
        return Response(status=status.HTTP_201_CREATED)

    @extend_schema(request=PushUnsubscribeIn, responses={204: None})
    def delete(self, request: Request) -> Response:
        data = PushUnsubscribeIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.unsubscribe_push(signed_in(request), data.validated_data["endpoint"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class PushKeyApi(APIView):
    """The VAPID public key a browser subscribes with ("" when push is off)."""

    @extend_schema(responses=PushKeyOut)
    def get(self, request: Request) -> Response:
        return Response({"public_key": settings.KIZUNA_VAPID_PUBLIC_KEY})
