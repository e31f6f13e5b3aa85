"""DRF views of the directory (連携リスト), people, networks and the signed-in user, and of
the ways in: API tokens (per device, expiring when idle), sessions, ending someone's access.

Thin: parse with an input serializer, call a selector or a service, render with an output
serializer. Every signed-in user may read; writes are for staff and network coordinators
(`ManagesDirectory`, and the services check again). A free-text search (`q`) and the CSV
import are rate-limited per person (`teams.throttle.limit`: 429 with `Retry-After`).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.parsers import FormParser, JSONParser, MultiPartParser
from teams import csv_io, rotation, selectors, services, throttle
from teams.authentication import idle_seconds
from teams.identity import signed_in
from teams.models import ApiToken, Organization
from teams.serializers import (
    AccessEndedOut,
    DevicesOut,
    ImportIn,
    ImportReportOut,
    LeaveIn,
    LeaveOut,
    MeOut,
    NetworkOut,
    OffDutyIn,
    OnCallMonthIn,
    OnCallMonthOut,
    OrganizationCreateIn,
    OrganizationFilterIn,
    OrganizationIn,
    OrganizationOut,
    PeopleFilterIn,
    PersonOut,
    TokenLoginIn,
    TokenOut,
)


class ManagesDirectory(permissions.BasePermission):
    """Reading is for every signed-in user; writing for staff and network coordinators, and
    changing one organization for staff and the coordinators of its networks."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return selectors.can_manage_directory(request.user)

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return selectors.can_manage_organization(request.user, obj)


def _organization_filters(request: Request) -> dict[str, Any]:
    params = OrganizationFilterIn(data=request.query_params)
    params.is_valid(raise_exception=True)
    data = params.validated_data
    if data.get("q"):
        throttle.limit("search", signed_in(request))
    return {
        "kind": data.get("kind") or None,
        "capabilities": data.get("capability", []),
        "area": data.get("area") or None,
        "q": data.get("q") or None,
    }


class OrganizationListApi(GenericAPIView[Organization]):
    throttled_methods = ("get",)  # a search (`q`) is rate-limited
    permission_classes = [permissions.IsAuthenticated, ManagesDirectory]
    serializer_class = OrganizationOut

    @extend_schema(parameters=[OrganizationFilterIn], responses=OrganizationOut(many=True))
    def get(self, request: Request) -> Response:
        qs = selectors.organization_search(**_organization_filters(request))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(OrganizationOut(page, many=True).data)

    @extend_schema(request=OrganizationCreateIn, responses={201: OrganizationOut})
    def post(self, request: Request) -> Response:
        body = OrganizationCreateIn(data=request.data)
        body.is_valid(raise_exception=True)
        org = services.organization_create(signed_in(request), data=body.validated_data)
        return Response(OrganizationOut(org).data, status=status.HTTP_201_CREATED)


class OrganizationDetailApi(GenericAPIView[Organization]):
    permission_classes = [permissions.IsAuthenticated, ManagesDirectory]
    serializer_class = OrganizationOut

    def get(self, request: Request, pk: int) -> Response:
        return Response(OrganizationOut(selectors.organization_get(pk)).data)

    @extend_schema(request=OrganizationIn, responses=OrganizationOut)
    def patch(self, request: Request, pk: int) -> Response:
        # Permission before parsing, so that someone who may not edit learns nothing more.
        self.check_object_permissions(request, selectors.organization_get(pk))
        body = OrganizationIn(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        org = services.organization_update(signed_in(request), pk, data=body.validated_data)
        return Response(OrganizationOut(org).data)


class JsonForErrors(BaseContentNegotiation):
    """Always render with the view's first renderer (JSON) whatever the client accepts.

    The CSV itself is returned as a plain HttpResponse; this only decides how errors look,
    and stops a client that sends `Accept: text/csv` from getting 406 instead of its file.
    """

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0]

    def select_renderer(self, request: Request, renderers: Any, format_suffix: Any = None) -> Any:
        return (renderers[0], renderers[0].media_type)


class OrganizationExportApi(APIView):
    throttled_methods = ("get",)
    content_negotiation_class = JsonForErrors

    @extend_schema(
        parameters=[OrganizationFilterIn],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)},
    )
    def get(self, request: Request) -> HttpResponse:
        qs = selectors.organization_search(**_organization_filters(request))
        text = services.organizations_export_csv(qs)
        response = HttpResponse(text.encode("utf-8"), content_type="text/csv; charset=utf-8")
        filename = f"organizations-{timezone.localdate():%Y%m%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class OrganizationImportApi(APIView):
    throttled_methods = ("post",)
    permission_classes = [permissions.IsAuthenticated, ManagesDirectory]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=ImportIn, responses=ImportReportOut)
    def post(self, request: Request) -> Response:
        throttle.limit("upload", signed_in(request))
        body = ImportIn(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        # Read no more than one byte past the limit: the service refuses anything that long.
        file_bytes = upload.read(csv_io.MAX_BYTES + 1)
        report = services.organizations_import_csv(signed_in(request), file_bytes=file_bytes)
        return Response(ImportReportOut(report).data)


class PeopleListApi(GenericAPIView[Any]):
    throttled_methods = ("get",)
    serializer_class = PersonOut

    @extend_schema(parameters=[PeopleFilterIn], responses=PersonOut(many=True))
    def get(self, request: Request) -> Response:
        params = PeopleFilterIn(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        if data.get("q"):
            throttle.limit("search", signed_in(request))
        qs = selectors.people_list(
            organization=data.get("organization"),
            profession=data.get("profession") or None,
            q=data.get("q") or None,
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(PersonOut(page, many=True).data)


class PersonDetailApi(APIView):
    @extend_schema(responses=PersonOut)
    def get(self, request: Request, pk: int) -> Response:
        return Response(PersonOut(selectors.person_get(pk)).data)


class MeApi(APIView):
    @extend_schema(responses=MeOut)
    def get(self, request: Request) -> Response:
        return Response(MeOut(selectors.me_get(signed_in(request))).data)


class NetworkListApi(GenericAPIView[Any]):
    serializer_class = NetworkOut

    @extend_schema(responses=NetworkOut(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.networks_list())
        return self.get_paginated_response(NetworkOut(page, many=True).data)


class NetworkDetailApi(APIView):
    @extend_schema(responses=NetworkOut)
    def get(self, request: Request, pk: int) -> Response:
        return Response(NetworkOut(selectors.network_get(pk)).data)


# --- ways in: API tokens, sessions, ending someone's access ---------------------------------


class TokenLoginApi(APIView):
    """Sign in with a username, password and second-factor code: a new API token for this
    device (`teams.services.token_sign_in`: the guard, the checks, the token). 400 for a
    wrong password or code (one answer), 403 when the second factor is not set up (enrol on
    the web first), 429 with `Retry-After` while locked."""

    authentication_classes: list[type[Any]] = []
    permission_classes: list[type[Any]] = []
    throttled_methods = ("post",)
    # The project's parsers (DRF's token view named its own, which check neither depth nor text).
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        request=TokenLoginIn,
        responses={
            200: TokenOut,
            403: OpenApiResponse(description="二段階認証が設定されていません"),
            429: OpenApiResponse(description="確認コードの誤りが続いています（Retry-After）"),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        body = TokenLoginIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        # Django's request: DRF's has replaced its user (this view authenticates nobody), and
        # the service reads whose session it is from the session itself.
        token, key = services.token_sign_in(
            request._request,
            username=data["username"],
            password=data["password"],
            otp_code=data["otp_code"],
        )
        return Response(
            TokenOut({"token": key, "id": token.pk, "idle_expiry_seconds": idle_seconds()}).data
        )


class TokenLogoutApi(APIView):
    """Sign out of the API: the token this request is made with stops working."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, ApiToken):
            services.token_sign_out(signed_in(request), request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _devices(request: Request) -> dict[str, Any]:
    user = signed_in(request)
    session = getattr(request._request, "session", None)
    context = {
        "session_key": getattr(session, "session_key", None),
        "token_id": request.auth.pk if isinstance(request.auth, ApiToken) else None,
    }
    return DevicesOut(
        {"sessions": selectors.sessions_of(user), "tokens": selectors.tokens_of(user)},
        context=context,
    ).data


class DevicesApi(APIView):
    """The signed-in person's web sessions and API tokens."""

    @extend_schema(responses=DevicesOut)
    def get(self, request: Request) -> Response:
        return Response(_devices(request))


class SessionRevokeApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        services.session_revoke(signed_in(request), pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenRevokeApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        services.token_revoke(signed_in(request), pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PersonEndAccessApi(APIView):
    """An organization administrator ends every session and token of a person of theirs."""

    @extend_schema(request=None, responses=AccessEndedOut)
    def post(self, request: Request, pk: int) -> Response:
        ended = services.access_end_all(signed_in(request), pk)
        return Response(AccessEndedOut(ended).data)


# --- on call: the rotation and availability ------------------------------------------------


def _on_call_day(day: Any) -> dict[str, Any]:
    entry = day.entry
    return {
        "date": day.date.isoformat(),
        "kind": day.kind,
        "holiday_name": day.holiday_name,
        "physician": (
            {"id": entry.physician_id, "display_name": str(entry.physician)} if entry else None
        ),
        "backup_hospital": (
            {"id": entry.backup_hospital_id, "name": entry.backup_hospital.name}
            if entry and entry.backup_hospital
            else None
        ),
    }


class RotationMonthApi(APIView):
    """A network's on-call rotation for one month (GET: every day, gaps as null). PUT
    replaces the month (coordinators): every day exactly once, or 400 naming the dates."""

    @extend_schema(responses=OnCallMonthOut)
    def get(self, request: Request, pk: int, month: str) -> Response:
        network, days = rotation.month_view(signed_in(request), pk, month)
        return Response(
            {"network": network.pk, "month": month, "days": [_on_call_day(d) for d in days]}
        )

    @extend_schema(request=OnCallMonthIn, responses=OnCallMonthOut)
    def put(self, request: Request, pk: int, month: str) -> Response:
        data = OnCallMonthIn(data=request.data)
        data.is_valid(raise_exception=True)
        rotation.rotation_set_month(
            signed_in(request), network_id=pk, month=month, days=data.validated_data["days"]
        )
        return self.get(request, pk, month)


class OffDutyApi(APIView):
    """My "off duty now" switch: urgent requests skip me while it is on."""

    @extend_schema(request=OffDutyIn, responses=OffDutyIn)
    def put(self, request: Request) -> Response:
        data = OffDutyIn(data=request.data)
        data.is_valid(raise_exception=True)
        user = rotation.off_duty_set(signed_in(request), off_duty=data.validated_data["off_duty"])
        return Response({"off_duty": user.off_duty})


class LeaveListApi(APIView):
    """My leave periods (GET); POST adds one."""

    @extend_schema(responses=LeaveOut(many=True))
    def get(self, request: Request) -> Response:
        rows = signed_in(request).leave_periods.order_by("starts_on")
        return Response(LeaveOut(rows, many=True).data)

    @extend_schema(request=LeaveIn, responses={201: LeaveOut})
    def post(self, request: Request) -> Response:
        data = LeaveIn(data=request.data)
        data.is_valid(raise_exception=True)
        leave = rotation.leave_add(signed_in(request), **data.validated_data)
        return Response(LeaveOut(leave).data, status=status.HTTP_201_CREATED)


class LeaveDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        rotation.leave_delete(signed_in(request), pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
