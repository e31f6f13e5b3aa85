"""The referrals API (/api/v1/referrals/): thin DRF views over patients.referrals and
patients.referral_selectors. The list is the person's referrals (the summary only); the
detail adds the pair and the patient only for the accepted team; an invited physician
answers. Access is the gate's (`access_referral`): 404 for whoever holds no standing, 403
with the reason for a standing without the capability.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import Paginated, error_body, paginate
from patients import referral_selectors as selectors
from patients import referrals
from patients.access import ReferralCapability, access_referral
from patients.serializers import (
    ReferralAnswerInSerializer,
    ReferralDetailOutSerializer,
    ReferralOutSerializer,
)
from teams.identity import signed_in


class ReferralListView(Paginated, APIView):
    @extend_schema(responses=ReferralOutSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator, page = paginate(self, request, selectors.referral_list(signed_in(request)))
        return paginator.get_paginated_response(ReferralOutSerializer(page, many=True).data)


class ReferralDetailView(APIView):
    @extend_schema(responses=ReferralDetailOutSerializer)
    def get(self, request: Request, referral_id: int) -> Response:
        detail = selectors.referral_detail(request.user, referral_id)
        return Response(ReferralDetailOutSerializer(detail).data)


class ReferralAnswerView(APIView):
    @extend_schema(
        request=ReferralAnswerInSerializer,
        responses={
            200: ReferralDetailOutSerializer,
            409: OpenApiResponse(
                OpenApiTypes.OBJECT, description="既に決定済み、または取り下げられた依頼"
            ),
        },
    )
    def post(self, request: Request, referral_id: int) -> Response:
        user = signed_in(request)
        data = self._validated(request, referral_id)
        try:
            referrals.referral_answer(user, referral_id, **data)
        except referrals.ReferralConflict as exc:
            # Decided or withdrawn under the request: the reason, as the page says it.
            return Response(error_body(exc.code, exc.message), status=status.HTTP_409_CONFLICT)
        detail = selectors.referral_detail(user, referral_id)
        return Response(ReferralDetailOutSerializer(detail).data)

    @staticmethod
    def _validated(request: Request, referral_id: int) -> dict[str, Any]:
        # The gate first: outsiders get 404 and the uninvited 403 whatever the body.
        try:
            data = request.data
        except ParseError:
            access_referral(request.user, referral_id, capability=ReferralCapability.ANSWER)
            raise
        serializer = ReferralAnswerInSerializer(data=data)
        if not serializer.is_valid():
            access_referral(request.user, referral_id, capability=ReferralCapability.ANSWER)
            raise ValidationError(serializer.errors)
        return dict(serializer.validated_data)
