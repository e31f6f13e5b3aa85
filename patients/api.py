"""The patients API (/api/v1/patients/...): thin DRF views over services and selectors.

Each view parses its input, calls one service or selector and renders the result. Access is
decided by the gate inside those calls; a view never filters by hand. Every patient-scoped
route names its patient `patient_id`, which the access-matrix test relies on.

Input that fails to parse is refused only after the gate has been asked for the capability
the route needs, so someone who may not see the patient gets the same 404 with a bad body as
with a good one, and a member who may not do this the same 403.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import Paginated, paginate
from patients import selectors, services
from patients.access import Capability, access_patient, record_capability
from patients.serializers import (
    RECORD_IN_SERIALIZERS,
    RECORD_OUT_SERIALIZERS,
    BreakGlassInSerializer,
    BreakGlassOutSerializer,
    CareTeamAddInSerializer,
    CareTeamEndInSerializer,
    CareTeamMemberOutSerializer,
    CareWishInSerializer,
    CareWishOutSerializer,
    ConsentChangeInSerializer,
    ConsentInSerializer,
    ConsentOutSerializer,
    DisclosureOutSerializer,
    PatientCreateInSerializer,
    PatientListOutSerializer,
    PatientOutSerializer,
    PatientUpdateInSerializer,
    RecordChangeOutSerializer,
    ReplacePrimaryInSerializer,
    WishesOutSerializer,
)
from teams import throttle
from teams.identity import signed_in


def _validated(
    serializer_class: type[serializers.Serializer[Any]],
    request: Request,
    patient_id: Any,
    *,
    capability: Capability | None,
    partial: bool = False,
) -> dict[str, Any]:
    """Parsed input; on bad input, ask the gate for `capability` first, so outsiders see 404
    and members who may not do this 403, not field errors. None: not a patient's route."""
    try:
        data = request.data
    except ParseError:
        if patient_id is not None and capability is not None:
            access_patient(request.user, patient_id, capability=capability)
        raise
    serializer = serializer_class(data=data, partial=partial)
    if not serializer.is_valid():
        if patient_id is not None and capability is not None:
            access_patient(request.user, patient_id, capability=capability)
        raise ValidationError(serializer.errors)
    return dict(serializer.validated_data)


def _paginated(
    view: APIView,
    request: Request,
    queryset: Any,
    serializer_class: type[serializers.Serializer[Any]],
) -> Response:
    paginator, page = paginate(view, request, queryset)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


# --- patients ----------------------------------------------------------------------------


class PatientListView(Paginated, APIView):
    throttled_methods = ("get",)  # a search (`q`) is rate-limited

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, required=False),
            OpenApiParameter("q", str, required=False),
        ],
        responses=PatientListOutSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        q = request.query_params.get("q") or None
        if q:
            throttle.limit("search", signed_in(request))
        patients = selectors.patient_list(
            signed_in(request), status=request.query_params.get("status") or None, q=q
        )
        return _paginated(self, request, patients, PatientListOutSerializer)

    @extend_schema(request=PatientCreateInSerializer, responses={201: PatientOutSerializer})
    def post(self, request: Request) -> Response:
        data = _validated(PatientCreateInSerializer, request, None, capability=None)
        patient = services.patient_create(signed_in(request), **data)
        return Response(PatientOutSerializer(patient).data, status=status.HTTP_201_CREATED)


class PatientDetailView(APIView):
    @extend_schema(responses=PatientOutSerializer)
    def get(self, request: Request, patient_id: int) -> Response:
        patient = selectors.patient_get(request.user, patient_id)
        return Response(PatientOutSerializer(patient).data)

    @extend_schema(request=PatientUpdateInSerializer, responses=PatientOutSerializer)
    def patch(self, request: Request, patient_id: int) -> Response:
        data = _validated(
            PatientUpdateInSerializer,
            request,
            patient_id,
            capability=Capability.EDIT_RECORD,
            partial=True,
        )
        patient = services.patient_update(signed_in(request), patient_id, data=data)
        return Response(PatientOutSerializer(patient).data)


# --- care team ---------------------------------------------------------------------------


class CareTeamView(APIView):
    @extend_schema(responses=CareTeamMemberOutSerializer(many=True))
    def get(self, request: Request, patient_id: int) -> Response:
        team = selectors.care_team_list(request.user, patient_id)
        return Response(CareTeamMemberOutSerializer(team, many=True).data)

    @extend_schema(request=CareTeamAddInSerializer, responses={201: CareTeamMemberOutSerializer})
    def post(self, request: Request, patient_id: int) -> Response:
        data = _validated(
            CareTeamAddInSerializer, request, patient_id, capability=Capability.MANAGE_TEAM
        )
        place = services.care_team_add(signed_in(request), patient_id, **data)
        return Response(CareTeamMemberOutSerializer(place).data, status=status.HTTP_201_CREATED)


class CareTeamMemberView(APIView):
    @extend_schema(request=CareTeamEndInSerializer, responses=CareTeamMemberOutSerializer)
    def patch(self, request: Request, patient_id: int, member_id: int) -> Response:
        data = _validated(
            CareTeamEndInSerializer, request, patient_id, capability=Capability.MANAGE_TEAM
        )
        place = services.care_team_end(signed_in(request), patient_id, member_id, **data)
        return Response(CareTeamMemberOutSerializer(place).data)


class CareTeamPrimaryView(APIView):
    """Hand the primary physician's place to another physician."""

    @extend_schema(request=ReplacePrimaryInSerializer, responses={201: CareTeamMemberOutSerializer})
    def post(self, request: Request, patient_id: int) -> Response:
        data = _validated(
            ReplacePrimaryInSerializer,
            request,
            patient_id,
            capability=Capability.CHANGE_PHYSICIANS,
        )
        place = services.care_team_replace_primary(signed_in(request), patient_id, **data)
        return Response(CareTeamMemberOutSerializer(place).data, status=status.HTTP_201_CREATED)


# --- consent -----------------------------------------------------------------------------


class ConsentStateSerializer(serializers.Serializer[Any]):
    active = ConsentOutSerializer(allow_null=True)
    history = ConsentOutSerializer(many=True)


class ConsentView(APIView):
    @extend_schema(responses=ConsentStateSerializer)
    def get(self, request: Request, patient_id: int) -> Response:
        consents = list(selectors.consent_list(request.user, patient_id))
        active = next((c for c in consents if c.withdrawn_at is None), None)
        return Response(ConsentStateSerializer({"active": active, "history": consents}).data)

    @extend_schema(request=ConsentInSerializer, responses={201: ConsentOutSerializer})
    def post(self, request: Request, patient_id: int) -> Response:
        data = _validated(
            ConsentInSerializer, request, patient_id, capability=Capability.RECORD_CONSENT
        )
        consent = services.consent_record(signed_in(request), patient_id, **data)
        return Response(ConsentOutSerializer(consent).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ConsentChangeInSerializer, responses=ConsentOutSerializer)
    def patch(self, request: Request, patient_id: int) -> Response:
        """Change the organizations the active consent covers."""
        data = _validated(
            ConsentChangeInSerializer, request, patient_id, capability=Capability.RECORD_CONSENT
        )
        consent = services.consent_change(signed_in(request), patient_id, **data)
        return Response(ConsentOutSerializer(consent).data)

    @extend_schema(request=None, responses={200: ConsentOutSerializer})  # the withdrawn one
    def delete(self, request: Request, patient_id: int) -> Response:
        consent = services.consent_withdraw(signed_in(request), patient_id)
        return Response(ConsentOutSerializer(consent).data)


class DisclosureListView(Paginated, APIView):
    """The patient's disclosure report (第三者提供の記録), newest first."""

    @extend_schema(responses=DisclosureOutSerializer(many=True))
    def get(self, request: Request, patient_id: int) -> Response:
        disclosures = selectors.disclosure_list(request.user, patient_id)
        return _paginated(self, request, disclosures, DisclosureOutSerializer)


# --- the shared record -------------------------------------------------------------------


class RecordItemListView(Paginated, APIView):
    """GET and POST one of the record's lists. `kind` is set per route by `as_view(kind=...)`."""

    kind: str = ""

    def get(self, request: Request, patient_id: int) -> Response:
        items = selectors.record_items(request.user, patient_id, kind=self.kind)
        return _paginated(self, request, items, RECORD_OUT_SERIALIZERS[self.kind])

    def post(self, request: Request, patient_id: int) -> Response:
        data = _validated(
            RECORD_IN_SERIALIZERS[self.kind],
            request,
            patient_id,
            capability=record_capability(self.kind),
        )
        item = services.record_item_create(
            signed_in(request), patient_id, kind=self.kind, data=data
        )
        out = RECORD_OUT_SERIALIZERS[self.kind](item)
        return Response(out.data, status=status.HTTP_201_CREATED)


class RecordItemDetailView(APIView):
    kind: str = ""

    def patch(self, request: Request, patient_id: int, item_id: int) -> Response:
        data = _validated(
            RECORD_IN_SERIALIZERS[self.kind],
            request,
            patient_id,
            capability=record_capability(self.kind),
            partial=True,
        )
        item = services.record_item_update(
            signed_in(request), patient_id, kind=self.kind, item_id=item_id, data=data
        )
        return Response(RECORD_OUT_SERIALIZERS[self.kind](item).data)

    def delete(self, request: Request, patient_id: int, item_id: int) -> Response:
        services.record_item_delete(signed_in(request), patient_id, kind=self.kind, item_id=item_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def record_views(kind: str) -> tuple[type[APIView], type[APIView]]:
    """The list and item views of one record kind, each with its own schema."""
    in_serializer = RECORD_IN_SERIALIZERS[kind]
    out_serializer = RECORD_OUT_SERIALIZERS[kind]
    name = kind.capitalize()

    class ListView(RecordItemListView):
        @extend_schema(responses=out_serializer(many=True))
        def get(self, request: Request, patient_id: int) -> Response:
            return super().get(request, patient_id)

        @extend_schema(request=in_serializer, responses={201: out_serializer})
        def post(self, request: Request, patient_id: int) -> Response:
            return super().post(request, patient_id)

    class DetailView(RecordItemDetailView):
        @extend_schema(request=in_serializer, responses=out_serializer)
        def patch(self, request: Request, patient_id: int, item_id: int) -> Response:
            return super().patch(request, patient_id, item_id)

        @extend_schema(request=None, responses={204: None})
        def delete(self, request: Request, patient_id: int, item_id: int) -> Response:
            return super().delete(request, patient_id, item_id)

    ListView.kind = DetailView.kind = kind
    ListView.__name__ = f"{name}ListView"
    DetailView.__name__ = f"{name}DetailView"
    return ListView, DetailView


class RecordHistoryView(Paginated, APIView):
    @extend_schema(responses=RecordChangeOutSerializer(many=True))
    def get(self, request: Request, patient_id: int) -> Response:
        changes = selectors.record_history(request.user, patient_id)
        return _paginated(self, request, changes, RecordChangeOutSerializer)


# --- wishes ------------------------------------------------------------------------------


class WishesView(APIView):
    @extend_schema(responses=WishesOutSerializer)
    def get(self, request: Request, patient_id: int) -> Response:
        overview = selectors.wishes_overview(request.user, patient_id)
        return Response(WishesOutSerializer(overview).data)

    @extend_schema(request=CareWishInSerializer, responses={201: CareWishOutSerializer})
    def post(self, request: Request, patient_id: int) -> Response:
        data = _validated(
            CareWishInSerializer, request, patient_id, capability=Capability.EDIT_WISHES
        )
        wish = services.wish_set(signed_in(request), patient_id, **data)
        return Response(CareWishOutSerializer(wish).data, status=status.HTTP_201_CREATED)


# --- break glass -------------------------------------------------------------------------


class BreakGlassView(APIView):
    """Emergency access for someone outside the team: the one patient route past the gate."""

    # The access-matrix test reads this: an outsider may call this view (and must get a 400
    # for an empty request, and no grant).
    gate_exempt = True

    @extend_schema(request=BreakGlassInSerializer, responses={201: BreakGlassOutSerializer})
    def post(self, request: Request, patient_id: int) -> Response:
        data = _validated(BreakGlassInSerializer, request, None, capability=None)
        grant = services.break_glass_open(signed_in(request), patient_id, **data)
        return Response(BreakGlassOutSerializer(grant).data, status=status.HTTP_201_CREATED)
