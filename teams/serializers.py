"""Input and output serializers of the teams API.

Input serializers only parse types and query parameters; the rules (known kinds and
capability codes, lengths, unique names, who may write) live in `teams.services`, so the
API, the web pages and the CSV import refuse the same things with the same messages.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from config import fields as strict
from teams.models import (
    ApiToken,
    CapabilityCode,
    Membership,
    Network,
    Organization,
    OrganizationKind,
    Profession,
    User,
    UserSession,
)

# --- small pieces ---------------------------------------------------------------------------


def capability_out(code: str) -> dict[str, str]:
    """A capability as `{"code", "label"}`, the label in the request's language."""
    return {"code": code, "label": str(CapabilityCode(code).label)}


# A DRF field cannot be called `label` on a Serializer class (every field has a `label`
# attribute), so the shape of a capability is declared for the schema only.
CAPABILITY_SCHEMA = inline_serializer(
    name="Capability",
    fields={"code": serializers.CharField(), "label": serializers.CharField()},
    many=True,
)


class NamedRefOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()


class OrganizationRefOut(serializers.Serializer[Any]):
    """An organization a person works for, with their title there."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    title = serializers.CharField()


class PersonRefOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField(source="__str__")


# --- organizations --------------------------------------------------------------------------


class OrganizationOut(serializers.ModelSerializer[Organization]):
    kind_label = serializers.CharField(source="get_kind_display")
    capabilities = serializers.SerializerMethodField()
    networks = NamedRefOut(many=True)

    class Meta:
        model = Organization
        fields = [
            "id",
            "name",
            "name_kana",
            "kind",
            "kind_label",
            "capabilities",
            "area",
            "postal_code",
            "address",
            "phone",
            "fax",
            "notes",
            "networks",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(CAPABILITY_SCHEMA)
    def get_capabilities(self, obj: Organization) -> list[dict[str, str]]:
        # Prefetched by teams.selectors; no query per organization.
        return [capability_out(c.code) for c in obj.capabilities.all()]


class OrganizationFilterIn(serializers.Serializer[Any]):
    """Query parameters of the directory list and its CSV export."""

    kind = serializers.ChoiceField(
        choices=OrganizationKind.choices, required=False, allow_blank=True
    )
    capability = serializers.ListField(
        child=serializers.ChoiceField(choices=CapabilityCode.choices), required=False
    )
    area = strict.CharField(required=False, allow_blank=True, max_length=100)
    q = strict.CharField(required=False, allow_blank=True, max_length=200)


class OrganizationIn(serializers.Serializer[Any]):
    """Body of create and update. Types only; `teams.services` checks the values."""

    name = strict.CharField(required=False, allow_blank=True)
    name_kana = strict.CharField(required=False, allow_blank=True)
    kind = strict.CharField(required=False, allow_blank=True)
    capabilities = serializers.ListField(child=strict.CharField(), required=False, allow_empty=True)
    area = strict.CharField(required=False, allow_blank=True)
    postal_code = strict.CharField(required=False, allow_blank=True)
    address = strict.CharField(required=False, allow_blank=True)
    phone = strict.CharField(required=False, allow_blank=True)
    fax = strict.CharField(required=False, allow_blank=True)
    notes = strict.CharField(required=False, allow_blank=True)


class OrganizationCreateIn(OrganizationIn):
    name = strict.CharField(allow_blank=True)
    kind = strict.CharField(allow_blank=True)
    networks = serializers.ListField(child=strict.IntegerField(), required=False)


class ImportIn(serializers.Serializer[Any]):
    # Empty files are reported by the service with the other file problems.
    file = serializers.FileField(allow_empty_file=True)


class ImportReportOut(serializers.Serializer[Any]):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


# --- people ---------------------------------------------------------------------------------


class MembershipOut(serializers.ModelSerializer[Membership]):
    organization = NamedRefOut()

    class Meta:
        model = Membership
        fields = ["organization", "title", "is_admin", "is_active"]
        read_only_fields = fields


class PersonOut(serializers.ModelSerializer[User]):
    name = serializers.CharField(source="__str__")
    profession_label = serializers.CharField(source="get_profession_display")
    organizations = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "name",
            "display_name",
            "name_kana",
            "profession",
            "profession_label",
            "organizations",
        ]
        read_only_fields = fields

    @extend_schema_field(OrganizationRefOut(many=True))
    def get_organizations(self, obj: User) -> list[dict[str, Any]]:
        # `memberships` is prefetched with the active ones only (teams.selectors.people_list).
        return [
            {"id": m.organization.pk, "name": m.organization.name, "title": m.title}
            for m in obj.memberships.all()
        ]


class PeopleFilterIn(serializers.Serializer[Any]):
    organization = strict.IntegerField(required=False, min_value=1)
    profession = serializers.ChoiceField(
        choices=Profession.choices, required=False, allow_blank=True
    )
    q = strict.CharField(required=False, allow_blank=True, max_length=100)


class MeOut(serializers.ModelSerializer[User]):
    name = serializers.CharField(source="__str__")
    profession_label = serializers.CharField(source="get_profession_display")
    memberships = MembershipOut(many=True)
    coordinated_networks = NamedRefOut(many=True)
    is_coordinator = serializers.SerializerMethodField()
    can_manage_directory = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "name",
            "display_name",
            "name_kana",
            "email",
            "phone",
            "profession",
            "profession_label",
            "is_staff",
            "memberships",
            "coordinated_networks",
            "is_coordinator",
            "can_manage_directory",
        ]
        read_only_fields = fields

    def get_is_coordinator(self, obj: User) -> bool:
        return bool(obj.coordinated_networks.all())

    def get_can_manage_directory(self, obj: User) -> bool:
        # Same rule as teams.selectors.can_manage_directory, from the prefetched networks.
        return obj.is_active and (obj.is_staff or bool(obj.coordinated_networks.all()))


# --- networks -------------------------------------------------------------------------------


class NetworkOut(serializers.ModelSerializer[Network]):
    organizations = NamedRefOut(many=True)
    coordinators = PersonRefOut(many=True)

    class Meta:
        model = Network
        fields = ["id", "name", "area", "organizations", "coordinators"]
        read_only_fields = fields


class TokenLoginIn(serializers.Serializer[Any]):
    """The token request, with strict text fields: a number is not a user name."""

    username = strict.CharField(label=_("ユーザー名"), write_only=True)
    password = strict.CharField(
        label=_("パスワード"),
        style={"input_type": "password"},
        trim_whitespace=False,
        write_only=True,
    )
    otp_code = strict.CharField(
        label=_("確認コード"),
        help_text=_("認証アプリの6桁のコード、または回復コード（二段階認証）"),
        max_length=32,
        write_only=True,
    )


class TokenOut(serializers.Serializer[Any]):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
    id = serializers.IntegerField()
    idle_expiry_seconds = serializers.IntegerField(
        help_text="The token stops working after this long without a request."
    )


class SessionOut(serializers.ModelSerializer[UserSession]):
    current = serializers.SerializerMethodField()

    class Meta:
        model = UserSession
        fields = ["id", "user_agent", "ip_address", "created_at", "current"]

    def get_current(self, obj: UserSession) -> bool:
        return bool(obj.session_key) and obj.session_key == self.context.get("session_key")


class ApiTokenOut(serializers.ModelSerializer[ApiToken]):
    current = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = ["id", "user_agent", "ip_address", "created_at", "last_used_at", "current"]

    def get_current(self, obj: ApiToken) -> bool:
        return obj.pk == self.context.get("token_id")


class DevicesOut(serializers.Serializer[Any]):
    sessions = SessionOut(many=True)
    tokens = ApiTokenOut(many=True)


class AccessEndedOut(serializers.Serializer[Any]):
    sessions = serializers.IntegerField()
    tokens = serializers.IntegerField()


# --- on call ---------------------------------------------------------------------------------


class OnCallDayIn(serializers.Serializer[Any]):
    date = serializers.DateField()
    physician = strict.IntegerField(min_value=1)
    backup_hospital = strict.IntegerField(min_value=1, required=False, allow_null=True)


class OnCallMonthIn(serializers.Serializer[Any]):
    days = OnCallDayIn(many=True)


class OnCallMonthOut(serializers.Serializer[Any]):
    network = serializers.IntegerField()
    month = serializers.CharField()
    days = serializers.ListField(child=serializers.DictField())


class OffDutyIn(serializers.Serializer[Any]):
    off_duty = serializers.BooleanField()


class LeaveIn(serializers.Serializer[Any]):
    starts_on = serializers.DateField()
    ends_on = serializers.DateField()
    note = strict.CharField(max_length=200, required=False, allow_blank=True)


class LeaveOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    starts_on = serializers.DateField()
    ends_on = serializers.DateField()
    note = serializers.CharField()
