"""Input and output serializers of the conferences API.

Input serializers only parse types; the rules (an occurrence of the series, who may answer)
live in `conferences.services`, so the API and the pages refuse the same things with the
same words. Output serializers render what `conferences.selectors` gives, already scoped to
the reader: an agenda patient is named only to readers the patient gate lets see them.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from conferences.models import ConferenceKind, Rsvp
from config import fields as strict


class ConferencePersonOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()


class OccurrenceOut(serializers.Serializer[Any]):
    """One meeting; `key` (its original start, UTC) names it, as RSVP and the room ask."""

    key = serializers.DateTimeField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    is_online = serializers.BooleanField()
    place = serializers.CharField()
    cancelled = serializers.BooleanField()
    moved = serializers.BooleanField()


class ConferenceOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ConferenceKind.choices)
    kind_label = serializers.CharField()
    title = serializers.CharField()
    organizer = ConferencePersonOut()
    time_zone = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    recurrence = serializers.CharField(help_text="RFC 5545 RRULE, empty for a single meeting")
    recurrence_words = serializers.CharField()
    is_online = serializers.BooleanField()
    place = serializers.CharField()
    external_url = serializers.CharField()
    cancelled = serializers.BooleanField()
    agenda_count = serializers.IntegerField()
    next_occurrence = OccurrenceOut(allow_null=True)
    url = serializers.CharField()


class AgendaItemOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    patient_id = serializers.IntegerField(
        allow_null=True, help_text="null when the reader may not see the patient"
    )
    patient = serializers.CharField(help_text="the name, or 「<organization>の患者」")
    presenter = ConferencePersonOut()
    question = serializers.CharField()


class InviteeOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    organization = serializers.CharField()
    rsvp = serializers.CharField(help_text="attending, absent, undecided, or empty")


class ConferenceDetailOut(ConferenceOut):
    is_organizer = serializers.BooleanField()
    agenda = AgendaItemOut(many=True)
    invitees = InviteeOut(many=True)
    upcoming = OccurrenceOut(many=True)
    my_rsvp = serializers.CharField()


class RsvpIn(serializers.Serializer[Any]):
    occurrence = strict.CharField(
        max_length=64, help_text="the occurrence's key (original start, ISO 8601)"
    )
    rsvp = serializers.ChoiceField(choices=Rsvp.choices)


class RsvpOut(serializers.Serializer[Any]):
    occurrence = serializers.DateTimeField()
    rsvp = serializers.ChoiceField(choices=Rsvp.choices)
    answered_at = serializers.DateTimeField()
