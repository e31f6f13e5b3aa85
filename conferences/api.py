"""DRF views of conferences: the reader's list, one conference, and an RSVP.

Thin: the list and the conference come from `conferences.selectors` (a conference one is not
invited to is 404, like one that does not exist; agenda patients are named only to readers
the patient gate lets see them, and that read is audited), the answer goes through
`conferences.services.rsvp_answer`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conferences import recurrence, selectors, services
from conferences.models import Conference, ConferenceKind
from conferences.recurrence import Occurrence
from conferences.serializers import ConferenceDetailOut, ConferenceOut, RsvpIn, RsvpOut
from teams.identity import signed_in


def _occurrence(o: Occurrence | None) -> dict[str, Any] | None:
    if o is None:
        return None
    return {
        "key": o.key,
        "starts_at": o.starts_at,
        "ends_at": o.ends_at,
        "is_online": o.is_online,
        "place": o.place,
        "cancelled": o.cancelled,
        "moved": o.moved,
    }


def _conference(c: Conference, *, agenda_count: int) -> dict[str, Any]:
    tz = recurrence.zone(c.time_zone)
    return {
        "id": c.pk,
        "kind": c.kind,
        "kind_label": str(ConferenceKind(c.kind).label),
        "title": c.title,
        "organizer": {"id": c.organizer_id, "name": str(c.organizer)},
        "time_zone": c.time_zone,
        "starts_at": c.starts_at,
        "ends_at": c.ends_at,
        "recurrence": c.recurrence,
        "recurrence_words": recurrence.describe(c.recurrence, c.starts_at, tz),
        "is_online": c.is_online,
        "place": c.place,
        "external_url": c.external_url,
        "cancelled": c.cancelled_at is not None,
        "agenda_count": agenda_count,
        "next_occurrence": _occurrence(selectors.next_occurrence(c)),
        "url": services.conference_url(c.pk),
    }


class ConferenceListApi(GenericAPIView[Conference]):
    serializer_class = ConferenceOut

    @extend_schema(responses=ConferenceOut(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.conferences_list(signed_in(request))) or []
        rows = [_conference(c, agenda_count=getattr(c, "agenda_count", 0)) for c in page]
        return self.get_paginated_response(ConferenceOut(rows, many=True).data)


class ConferenceDetailApi(APIView):
    @extend_schema(responses=ConferenceDetailOut)
    def get(self, request: Request, conference_id: int) -> Response:
        page = selectors.conference_page(signed_in(request), conference_id)
        row = _conference(page.conference, agenda_count=len(page.agenda))
        row |= {
            "is_organizer": page.is_organizer,
            "agenda": [
                {
                    "id": a.item.pk,
                    "patient_id": a.item.patient_id if a.visible else None,
                    "patient": a.label,
                    "presenter": {"id": a.item.presenter_id, "name": str(a.item.presenter)},
                    "question": a.item.question,
                }
                for a in page.agenda
            ],
            "invitees": [
                {
                    "id": i.user.pk,
                    "name": str(i.user),
                    "organization": i.organization,
                    "rsvp": i.rsvp,
                }
                for i in page.invitees
            ],
            "upcoming": [_occurrence(o) for o in page.upcoming],
            "my_rsvp": page.my_rsvp,
        }
        return Response(ConferenceDetailOut(row).data)


class ConferenceRsvpApi(APIView):
    @extend_schema(request=RsvpIn, responses=RsvpOut)
    def post(self, request: Request, conference_id: int) -> Response:
        body = RsvpIn(data=request.data)
        body.is_valid(raise_exception=True)
        answer = services.rsvp_answer(
            signed_in(request),
            conference_id,
            occurrence=body.validated_data["occurrence"],
            answer=body.validated_data["rsvp"],
        )
        return Response(RsvpOut(answer).data)
