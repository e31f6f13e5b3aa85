"""Input and output serializers of the patients API.

Input serializers only parse (types, dates, choices); the rules live in `patients.services`,
which the web forms call too. Output serializers render what the selectors return and read
only fields that the selectors load with `select_related`, so list queries stay constant.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from config import fields as strict
from config.fields import StrictModelSerializer
from patients.models import (
    Allergy,
    BreakGlassGrant,
    CareLevel,
    CareRole,
    CareTeamMember,
    CareWish,
    Consent,
    ConsentItem,
    ConsentMethod,
    Disclosure,
    EmergencyContact,
    MedicalDevice,
    Medication,
    Patient,
    PatientStatus,
    Problem,
    RecordChange,
    RecordItem,
    Referral,
    ReferralAnswer,
    Sex,
    WishKind,
)
from teams.models import User

# --- shared pieces -----------------------------------------------------------------------


class PatientsUserRefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(read_only=True)
    display_name = serializers.SerializerMethodField()
    profession = serializers.CharField(read_only=True)

    def get_display_name(self, user: User) -> str:
        return str(user)


class PatientsOrganizationRefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


# --- patients ----------------------------------------------------------------------------


class PatientListOutSerializer(serializers.ModelSerializer[Patient]):
    my_role = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = Patient
        fields = [
            "id",
            "name",
            "name_kana",
            "date_of_birth",
            "sex",
            "care_level",
            "status",
            "managing_organization",
            "my_role",
        ]
        read_only_fields = fields


class PatientOutSerializer(serializers.ModelSerializer[Patient]):
    managing_organization = PatientsOrganizationRefSerializer(read_only=True)

    class Meta:
        model = Patient
        fields = [
            "id",
            "name",
            "name_kana",
            "date_of_birth",
            "sex",
            "care_level",
            "status",
            "managing_organization",
            "address",
            "phone",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PatientCreateInSerializer(serializers.Serializer[Any]):
    name = strict.CharField(max_length=100)
    name_kana = strict.CharField(max_length=100)
    date_of_birth = serializers.DateField()
    sex = serializers.ChoiceField(choices=Sex.choices)
    care_level = serializers.ChoiceField(choices=CareLevel.choices, default=CareLevel.NONE)
    status = serializers.ChoiceField(choices=PatientStatus.choices, default=PatientStatus.AT_HOME)
    managing_organization_id = strict.IntegerField()
    primary_physician_id = strict.IntegerField()
    consent_note = strict.CharField(max_length=500, required=False, allow_blank=True)


class PatientUpdateInSerializer(serializers.Serializer[Any]):
    """Used with `partial=True`: only the fields sent are changed."""

    name = strict.CharField(max_length=100)
    name_kana = strict.CharField(max_length=100)
    date_of_birth = serializers.DateField()
    sex = serializers.ChoiceField(choices=Sex.choices)
    care_level = serializers.ChoiceField(choices=CareLevel.choices)
    status = serializers.ChoiceField(choices=PatientStatus.choices)
    address = strict.CharField(max_length=300, allow_blank=True)
    phone = strict.CharField(max_length=30, allow_blank=True)


# --- care team ---------------------------------------------------------------------------


class CareTeamMemberOutSerializer(serializers.ModelSerializer[CareTeamMember]):
    user = PatientsUserRefSerializer(read_only=True)
    organization = PatientsOrganizationRefSerializer(read_only=True, allow_null=True)
    role_display = serializers.CharField(source="get_role_display", read_only=True)

    class Meta:
        model = CareTeamMember
        fields = ["id", "user", "role", "role_display", "organization", "start_date", "end_date"]
        read_only_fields = fields


class CareTeamAddInSerializer(serializers.Serializer[Any]):
    user_id = strict.IntegerField()
    role = serializers.ChoiceField(choices=CareRole.choices)
    organization_id = strict.IntegerField(required=False, allow_null=True)
    start_date = serializers.DateField(required=False, allow_null=True)
    end_date = serializers.DateField(required=False, allow_null=True)


class CareTeamEndInSerializer(serializers.Serializer[Any]):
    end_date = serializers.DateField()


class ReplacePrimaryInSerializer(serializers.Serializer[Any]):
    user_id = strict.IntegerField()
    start_date = serializers.DateField(required=False, allow_null=True)


# --- consent -----------------------------------------------------------------------------


class ConsentOutSerializer(serializers.ModelSerializer[Consent]):
    recorded_by = PatientsUserRefSerializer(read_only=True)
    withdrawn_by = PatientsUserRefSerializer(read_only=True, allow_null=True)
    organizations = PatientsOrganizationRefSerializer(many=True, read_only=True)
    items = serializers.ListField(child=serializers.ChoiceField(choices=ConsentItem.choices))

    class Meta:
        model = Consent
        fields = [
            "id",
            "organizations",
            "items",
            "method",
            "consented_on",
            "recorded_by",
            "recorded_at",
            "note",
            "withdrawn_at",
            "withdrawn_by",
        ]
        read_only_fields = fields


# More organizations than a network has is a mistake or an attack, not a consent.
MAX_CONSENT_ORGANIZATIONS = 200


def _organization_ids() -> serializers.ListField:
    # Empty is let through to the service, which says so in the one message of its own.
    return serializers.ListField(
        child=strict.IntegerField(), allow_empty=True, max_length=MAX_CONSENT_ORGANIZATIONS
    )


class ConsentInSerializer(serializers.Serializer[Any]):
    organization_ids = _organization_ids()
    items = serializers.ListField(
        child=serializers.ChoiceField(choices=ConsentItem.choices),
        required=False,
        max_length=len(ConsentItem.choices),
    )
    method = serializers.ChoiceField(choices=ConsentMethod.choices, default=ConsentMethod.WRITTEN)
    consented_on = serializers.DateField(required=False, allow_null=True)
    note = strict.CharField(max_length=500, required=False, allow_blank=True)


class ConsentChangeInSerializer(serializers.Serializer[Any]):
    organization_ids = _organization_ids()


class DisclosureOutSerializer(serializers.ModelSerializer[Disclosure]):
    organization = PatientsOrganizationRefSerializer(read_only=True)
    by = PatientsUserRefSerializer(read_only=True)
    items = serializers.ListField(child=serializers.ChoiceField(choices=ConsentItem.choices))

    class Meta:
        model = Disclosure
        fields = ["id", "at", "organization", "items", "consent", "by"]
        read_only_fields = fields


# --- the shared record -------------------------------------------------------------------

_ITEM_OUT_FIELDS = ["id", "created_at", "updated_at", "updated_by"]


class ProblemInSerializer(StrictModelSerializer[Problem]):
    class Meta:
        model = Problem
        fields = ["name", "onset_date", "is_active", "note"]


class MedicationInSerializer(StrictModelSerializer[Medication]):
    class Meta:
        model = Medication
        fields = ["name", "dose", "start_date", "end_date", "note"]


class AllergyInSerializer(StrictModelSerializer[Allergy]):
    class Meta:
        model = Allergy
        fields = ["substance", "reaction", "severity"]


class MedicalDeviceInSerializer(StrictModelSerializer[MedicalDevice]):
    class Meta:
        model = MedicalDevice
        fields = ["name", "since", "note"]


class EmergencyContactInSerializer(StrictModelSerializer[EmergencyContact]):
    class Meta:
        model = EmergencyContact
        fields = ["name", "relationship", "phone", "is_key_person", "note"]


def _out(
    in_serializer: type[serializers.ModelSerializer[Any]],
) -> type[serializers.Serializer[Any]]:
    """The output serializer of a record kind: its input fields plus the kept ones."""
    meta_model = in_serializer.Meta.model
    meta_fields = _ITEM_OUT_FIELDS + list(in_serializer.Meta.fields)

    class Out(serializers.ModelSerializer[RecordItem]):
        updated_by = PatientsUserRefSerializer(read_only=True)

        class Meta:
            model = meta_model
            fields = meta_fields
            read_only_fields = meta_fields

    Out.__name__ = meta_model.__name__ + "OutSerializer"
    return Out


RECORD_IN_SERIALIZERS: dict[str, type[serializers.ModelSerializer[Any]]] = {
    "problems": ProblemInSerializer,
    "medications": MedicationInSerializer,
    "allergies": AllergyInSerializer,
    "devices": MedicalDeviceInSerializer,
    "contacts": EmergencyContactInSerializer,
}
RECORD_OUT_SERIALIZERS: dict[str, type[serializers.Serializer[Any]]] = {
    kind: _out(serializer) for kind, serializer in RECORD_IN_SERIALIZERS.items()
}


class RecordChangeOutSerializer(serializers.ModelSerializer[RecordChange]):
    changed_by = PatientsUserRefSerializer(read_only=True)

    class Meta:
        model = RecordChange
        fields = ["id", "item_type", "item_id", "action", "snapshot", "changed_by", "changed_at"]
        read_only_fields = fields


# --- wishes ------------------------------------------------------------------------------


class CareWishOutSerializer(serializers.ModelSerializer[CareWish]):
    hospital = PatientsOrganizationRefSerializer(read_only=True, allow_null=True)
    recorded_by = PatientsUserRefSerializer(read_only=True)

    class Meta:
        model = CareWish
        fields = ["id", "kind", "preference", "hospital", "note", "recorded_by", "recorded_at"]
        read_only_fields = fields


class CareWishInSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=WishKind.choices)
    preference = strict.CharField(max_length=300)
    hospital_id = strict.IntegerField(required=False, allow_null=True)
    note = strict.CharField(required=False, allow_blank=True)


class WishesOutSerializer(serializers.Serializer[Any]):
    current = serializers.DictField(child=CareWishOutSerializer(allow_null=True))
    history = serializers.DictField(child=CareWishOutSerializer(many=True))


# --- break glass -------------------------------------------------------------------------


class BreakGlassInSerializer(serializers.Serializer[Any]):
    reason = strict.CharField()
    hours = strict.IntegerField(
        required=False, min_value=1, max_value=settings.BREAK_GLASS_MAX_HOURS
    )


class BreakGlassOutSerializer(serializers.ModelSerializer[BreakGlassGrant]):
    """Only the grant itself: nothing about the patient beyond the id the caller sent."""

    class Meta:
        model = BreakGlassGrant
        fields = ["id", "patient", "granted_at", "expires_at"]
        read_only_fields = fields


# --- referrals (/api/v1/referrals/) --------------------------------------------------------


class ReferralOutSerializer(serializers.ModelSerializer[Referral]):
    """The de-identified summary: what everyone who sees the referral reads."""

    referring_organization = serializers.CharField(source="referring_organization.name")

    class Meta:
        model = Referral
        fields = [
            "id",
            "status",
            "reach",
            "age_band",
            "sex",
            "area",
            "town",
            "conditions",
            "needs",
            "summary",
            "wished_start",
            "deadline",
            "created_at",
            "referring_organization",
        ]
        read_only_fields = fields


class ReferralMyAnswerSerializer(serializers.Serializer[Any]):
    answer = serializers.ChoiceField(choices=ReferralAnswer.choices)
    reason = serializers.CharField()


class ReferralDetailOutSerializer(serializers.Serializer[Any]):
    """The summary, the reader's own answer if invited, and the decision's pair and patient
    only for the accepted team (those who see the patient through the gate): null for
    everyone else."""

    referral = ReferralOutSerializer()
    my_answer = ReferralMyAnswerSerializer(allow_null=True)
    primary_id = serializers.IntegerField(allow_null=True)
    secondary_id = serializers.IntegerField(allow_null=True)
    patient_id = serializers.IntegerField(allow_null=True)


class ReferralAnswerInSerializer(serializers.Serializer[Any]):
    answer = serializers.ChoiceField(choices=ReferralAnswer.choices[1:])
    reason = strict.CharField(max_length=500, required=False, allow_blank=True, default="")
