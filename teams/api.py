"""DRF views of the directory (連携リスト), people, networks and the signed-in user.

Thin: parse with an input serializer, call a selector or a service, render with an output
serializer. Every signed-in user may read; writes are for staff and network coordinators
(`ManagesDirectory`, and the services check again).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.parsers import FormParser, JSONParser, MultiPartParser
from teams import csv_io, selectors, services
from teams.identity import signed_in
from teams.models import Organization
from teams.serializers import (
    ImportIn,
    ImportReportOut,
    MeOut,
    NetworkOut,
    OrganizationCreateIn,
    OrganizationFilterIn,
    OrganizationIn,
    OrganizationOut,
    PeopleFilterIn,
    PersonOut,
    TokenIn,
)


class TokenApi(ObtainAuthToken):
    """DRF's token view (user name and password in, `{"token"}` out), with the project's
    parsers (DRF's view names its own, which do not check depth or text) and strict fields."""

    parser_classes = [JSONParser, FormParser, MultiPartParser]
    serializer_class = TokenIn


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
    return {
        "kind": data.get("kind") or None,
        "capabilities": data.get("capability", []),
        "area": data.get("area") or None,
        "q": data.get("q") or None,
    }


class OrganizationListApi(GenericAPIView[Organization]):
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
    permission_classes = [permissions.IsAuthenticated, ManagesDirectory]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=ImportIn, responses=ImportReportOut)
    def post(self, request: Request) -> Response:
        body = ImportIn(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        # Read no more than one byte past the limit: the service refuses anything that long.
        file_bytes = upload.read(csv_io.MAX_BYTES + 1)
        report = services.organizations_import_csv(signed_in(request), file_bytes=file_bytes)
        return Response(ImportReportOut(report).data)


class PeopleListApi(GenericAPIView[Any]):
    serializer_class = PersonOut

    @extend_schema(parameters=[PeopleFilterIn], responses=PersonOut(many=True))
    def get(self, request: Request) -> Response:
        params = PeopleFilterIn(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
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
