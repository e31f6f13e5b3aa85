"""Every change of state about a patient: one function per use case.

Each function takes the acting user first and keyword-only arguments after the ids, asks
`patients.access` for the capability its change needs (`access_patient(..., capability=...)`:
`NotFound` for whoever may not see the patient, `Forbidden` for whoever sees it but may not do
this, by `patients.access.POLICY`), validates its input (raising `DomainError` with field
errors), writes in one transaction and records an audit row for every change. The API and
the web pages both call these functions; neither writes to the database itself.

Database constraints in `patients.models` are the last line of defence: when two requests
race past a check, the `IntegrityError` becomes a `DomainError` (HTTP 400), never a 500, and
the transaction leaves nothing half-written.

Consent and disclosures (docs/consent.md): a consent names the organizations it covers, the
managing organization always among them. A member of an organization joins the team only while
the consent covers it; each first provision of the patient's data to another organization under
a consent (a member of it joins, or the consent is extended to an organization with members on
the team) writes a `Disclosure` and a `disclosure` audit row in the transaction that causes it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, overload

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction
from django.db.models import Q, QuerySet
from django.forms.models import model_to_dict
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_record
from config.errors import DomainError, Forbidden, NotFound
from patients import signals
from patients.access import (
    Capability,
    access_break_glass,
    access_patient,
    active_team,
    can_see_patient,
    may_register_patient,
    record_capability,
)
from patients.models import (
    PHYSICIAN_ROLES,
    REQUIRED_CONSENT_ITEMS,
    BreakGlassGrant,
    CareRole,
    CareTeamMember,
    CareWish,
    ConferenceGrant,
    Consent,
    ConsentItem,
    ConsentMethod,
    Disclosure,
    EscalationGrant,
    Patient,
    RecordChange,
    RecordItem,
    WishKind,
)
from patients.selectors import consent_candidates, record_model
from teams.models import Membership, Organization, Profession, User

# Fields a caller may set on a record item; the rest are kept by the service.
_RECORD_SYSTEM_FIELDS = {"id", "patient", "created_at", "updated_at", "updated_by"}

PATIENT_EDITABLE_FIELDS = (
    "name",
    "name_kana",
    "date_of_birth",
    "sex",
    "care_level",
    "status",
    "address",
    "phone",
)

BREAK_GLASS_MIN_REASON = 10
EARLIEST_DATE_OF_BIRTH = dt.date(1900, 1, 1)


# --- helpers ----------------------------------------------------------------------------


@contextmanager
def _atomic_write() -> Iterator[None]:
    """One transaction for a use case; a constraint lost to a race becomes a 400.

    The checks before the writes give precise field errors; this catches what two
    concurrent requests can still slip past them (the partial unique indexes).
    """
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        raise DomainError(
            _(
                "同時に別の変更が行われたため保存できませんでした。画面を更新してやり直してください。"
            )
        ) from exc


def _fail(field: str, message: str) -> DomainError:
    return DomainError(_("入力内容を確認してください。"), fields={field: [message]})


def _raise_from_validation(
    exc: ValidationError, *, rename: Mapping[str, str] | None = None
) -> None:
    rename = rename or {}
    if hasattr(exc, "error_dict"):
        fields = {
            rename.get(name, name): [str(m) for e in errors for m in e.messages]
            for name, errors in exc.error_dict.items()
        }
    else:
        fields = {"non_field_errors": [str(m) for m in exc.messages]}
    raise DomainError(_("入力内容を確認してください。"), fields=fields) from exc


def _clean(instance: models.Model, *, exclude: list[str] | None = None) -> None:
    """Run the model's field validation (choices, lengths, blanks, date parsing).

    Constraints are checked by the service itself with clearer messages, and by the
    database in the end, so they are skipped here.
    """
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        _raise_from_validation(exc)


@overload
def _to_date(value: Any, field: str, *, required: Literal[True]) -> dt.date: ...


@overload
def _to_date(value: Any, field: str, *, required: bool = False) -> dt.date | None: ...


def _to_date(value: Any, field: str, *, required: bool = False) -> dt.date | None:
    """A date from a `date` or an ISO string; impossible dates (2月30日) are field errors."""
    if value is None or value == "":
        if required:
            raise _fail(field, _("この項目は必須です。"))
        return None
    if isinstance(value, dt.datetime):
        # A datetime is a date subclass; its calendar day depends on the time zone, so refuse.
        raise _fail(field, _("日付を指定してください。"))
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise _fail(field, _("日付の形式が正しくありません。"))
    try:
        parsed = parse_date(value.strip())
    except ValueError:
        raise _fail(field, _("存在しない日付です。")) from None
    if parsed is None:
        raise _fail(field, _("日付の形式が正しくありません。"))
    return parsed


def _to_id(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise _fail(field, _("IDが正しくありません。"))
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _fail(field, _("IDが正しくありません。")) from None


def _get_user(user_id: Any, field: str = "user_id") -> User:
    user = User.objects.filter(pk=_to_id(user_id, field), is_active=True).first()
    if user is None:
        raise _fail(field, _("利用者が見つかりません。"))
    return user


def _get_organization(organization_id: Any, field: str = "organization_id") -> Organization:
    organization = Organization.objects.filter(pk=_to_id(organization_id, field)).first()
    if organization is None:
        raise _fail(field, _("組織が見つかりません。"))
    return organization


def _default_organization(user: User, patient: Patient) -> Organization | None:
    """The organization a person acts for on this team: the managing one when they belong to it."""
    memberships = Membership.objects.filter(user=user, is_active=True)
    if memberships.filter(organization_id=patient.managing_organization_id).exists():
        return patient.managing_organization
    first = memberships.select_related("organization").order_by("id").first()
    return first.organization if first is not None else None


def _ranges_overlap(
    start_a: dt.date, end_a: dt.date | None, start_b: dt.date, end_b: dt.date | None
) -> bool:
    return (end_b is None or start_a <= end_b) and (end_a is None or start_b <= end_a)


def _check_physician_place(
    patient: Patient,
    *,
    user: User,
    role: str,
    start_date: dt.date,
    end_date: dt.date | None,
    exclude_id: int | None = None,
) -> None:
    """The rules of 主治医・副主治医制 for one place of a physician role.

    Both places need a physician; at any day there is at most one primary and at most one
    secondary, and the two are different people (otherwise an unanswered call would be
    escalated to the person who did not answer it).
    """
    if role not in PHYSICIAN_ROLES:
        return
    if user.profession != Profession.PHYSICIAN:
        raise _fail("user_id", _("主治医・副主治医には医師のみ登録できます。"))
    others = CareTeamMember.objects.filter(patient=patient, role__in=PHYSICIAN_ROLES)
    if exclude_id is not None:
        others = others.exclude(pk=exclude_id)
    for place in others:
        if not _ranges_overlap(start_date, end_date, place.start_date, place.end_date):
            continue
        if place.role == role:
            if role == CareRole.PRIMARY_PHYSICIAN:
                raise _fail(
                    "role", _("主治医は既に登録されています。主治医の交代を使ってください。")
                )
            raise _fail("role", _("副主治医は既に登録されています。"))
        if place.user_id == user.pk:
            raise _fail("user_id", _("主治医と副主治医は別の医師にしてください。"))


def _audit_detail(fields: list[str]) -> str:
    # Field names only: the audit log says what changed, never the clinical values themselves.
    return "fields=" + ",".join(sorted(fields))


# --- patients ----------------------------------------------------------------------------


def patient_create(
    actor: User,
    *,
    name: str,
    name_kana: str,
    date_of_birth: Any,
    sex: str,
    care_level: str,
    status: str,
    managing_organization_id: Any,
    primary_physician_id: Any,
    consent_note: str = "",
) -> Patient:
    """Register a patient with a primary physician from today and the consent to share.

    The actor must belong to the managing organization (or be staff). The consent is recorded
    by the actor, who has taken it from the patient or family; it covers the managing
    organization, and is extended (`consent_change`) before members of others join.
    """
    if not actor.is_authenticated or not actor.is_active:
        raise NotFound
    organization = _get_organization(managing_organization_id, "managing_organization_id")
    if not may_register_patient(actor, organization):
        raise _fail("managing_organization_id", _("所属していない組織の患者は登録できません。"))
    physician = _get_user(primary_physician_id, "primary_physician_id")
    if physician.profession != Profession.PHYSICIAN:
        raise _fail("primary_physician_id", _("主治医には医師のみ登録できます。"))
    birth = _to_date(date_of_birth, "date_of_birth", required=True)
    patient = Patient(
        name=(name or "").strip(),
        name_kana=(name_kana or "").strip(),
        date_of_birth=birth,
        sex=sex,
        care_level=care_level,
        status=status,
        managing_organization=organization,
    )
    _clean(patient, exclude=["managing_organization"])
    _check_date_of_birth(patient.date_of_birth)
    consent = Consent(note=(consent_note or "").strip())
    _clean(consent, exclude=["patient", "recorded_by"])
    today = timezone.localdate()
    with _atomic_write():
        patient.save()
        audit_record(actor, AuditAction.CREATE, patient=patient, obj=patient)
        place = CareTeamMember.objects.create(
            patient=patient,
            user=physician,
            role=CareRole.PRIMARY_PHYSICIAN,
            organization=_default_organization(physician, patient),
            start_date=today,
        )
        audit_record(actor, AuditAction.CREATE, patient=patient, obj=place)
        consent.patient = patient
        consent.recorded_by = actor
        consent.save()
        consent.organizations.add(organization)
        audit_record(actor, AuditAction.CREATE, patient=patient, obj=consent)
        signals.patient_created.send(sender=Patient, patient=patient, actor=actor)
    return patient


def _check_date_of_birth(value: dt.date) -> None:
    if value > timezone.localdate():
        raise _fail("date_of_birth", _("生年月日に未来の日付は指定できません。"))
    if value < EARLIEST_DATE_OF_BIRTH:
        raise _fail("date_of_birth", _("生年月日が正しくありません。"))


def patient_update(actor: User, patient_id: Any, *, data: Mapping[str, Any]) -> Patient:
    """Change the patient's own fields (not the managing organization): part of the record."""
    patient = access_patient(actor, patient_id, capability=Capability.EDIT_RECORD)
    unknown = sorted(set(data) - set(PATIENT_EDITABLE_FIELDS))
    if unknown:
        raise DomainError(
            _("入力内容を確認してください。"),
            fields={key: [_("この項目は変更できません。")] for key in unknown},
        )
    for key, value in data.items():
        if key == "date_of_birth":
            value = _to_date(value, key, required=True)
        elif isinstance(value, str):
            value = value.strip()
        elif value is not None and not isinstance(value, int | float):
            raise _fail(key, _("値が正しくありません。"))
        setattr(patient, key, "" if value is None and key in ("address", "phone") else value)
    _clean(patient, exclude=["managing_organization"])
    _check_date_of_birth(patient.date_of_birth)
    with _atomic_write():
        patient.save()
        audit_record(
            actor,
            AuditAction.UPDATE,
            patient=patient,
            obj=patient,
            detail=_audit_detail(list(data)),
        )
    return patient


# --- care team ---------------------------------------------------------------------------


def _place_capability(role: str) -> Capability:
    """What it takes to give or end a place of `role`: the physicians' places are the
    physicians' (and the managing organization's) call."""
    return Capability.CHANGE_PHYSICIANS if role in PHYSICIAN_ROLES else Capability.MANAGE_TEAM


def _check_not_self_granted(actor: User, patient: Patient, member: User) -> None:
    """Nobody gives themselves a place who may not already read: a place reads the record,
    so an administrator or a coordinator (who manage the team without reading) would be
    reading on their own say-so."""
    if member.pk == actor.pk and not can_see_patient(actor, patient):
        raise Forbidden(_("自分自身をケアチームに加えることはできません。"))


def care_team_add(
    actor: User,
    patient_id: Any,
    *,
    user_id: Any,
    role: str,
    organization_id: Any = None,
    start_date: Any = None,
    end_date: Any = None,
) -> CareTeamMember:
    """Give a person a place on the patient's care team (from today unless told).

    A physician's place needs `CHANGE_PHYSICIANS`, any other `MANAGE_TEAM`. The place is the
    person's for one of their organizations, and (but for the primary physician's, who reads
    without it) that organization must be covered by the consent on record: the physician is
    told to record it first, rather than the member finding nothing. The organization's first
    place under this consent writes its `Disclosure`.
    """
    patient = access_patient(actor, patient_id, capability=_place_capability(role))
    if role not in CareRole.values:
        raise _fail("role", _("役割が正しくありません。"))
    member_user = _get_user(user_id)
    _check_not_self_granted(actor, patient, member_user)
    organization = (
        _get_organization(organization_id)
        if organization_id not in (None, "")
        else _default_organization(member_user, patient)
    )
    start = _to_date(start_date, "start_date") or timezone.localdate()
    end = _to_date(end_date, "end_date")
    if end is not None and end < start:
        raise _fail("end_date", _("終了日は開始日以降にしてください。"))
    _check_physician_place(patient, user=member_user, role=role, start_date=start, end_date=end)
    same = CareTeamMember.objects.filter(patient=patient, user=member_user, role=role)
    for place in same:
        if _ranges_overlap(start, end, place.start_date, place.end_date):
            raise _fail("user_id", _("この利用者は既にこの役割で登録されています。"))
    if organization is None:
        raise _fail("organization_id", _("所属組織を指定してください。"))
    if not Membership.objects.filter(
        user=member_user, organization=organization, is_active=True
    ).exists():
        # Consent is given to organizations: a place must be for the member's own one.
        raise _fail("organization_id", _("この利用者はこの組織に所属していません。"))
    _check_covered(_active_consent(patient), patient, organization, role)
    with _atomic_write():
        # Locked: a consent narrowed or withdrawn meanwhile is seen, and two members of one
        # organization joining at once write its disclosure once.
        consent = _active_consent(patient, lock=True)
        _check_covered(consent, patient, organization, role)
        place = CareTeamMember.objects.create(
            patient=patient,
            user=member_user,
            role=role,
            organization=organization,
            start_date=start,
            end_date=end,
        )
        audit_record(actor, AuditAction.CREATE, patient=patient, obj=place)
        if consent is not None:
            _disclose(actor, patient, consent, [organization.pk])
    return place


def care_team_end(actor: User, patient_id: Any, member_id: Any, *, end_date: Any) -> CareTeamMember:
    """Set the last day of a place. The primary physician's place ends only with a successor.

    Any place needs `MANAGE_TEAM`, a physician's place `CHANGE_PHYSICIANS` as well.
    """
    patient = access_patient(actor, patient_id, capability=Capability.MANAGE_TEAM)
    try:
        member_pk = int(member_id)
    except (TypeError, ValueError):
        raise NotFound from None
    place = CareTeamMember.objects.filter(patient=patient, pk=member_pk).first()
    if place is None:
        raise NotFound
    if place.role in PHYSICIAN_ROLES:
        access_patient(actor, patient.pk, capability=Capability.CHANGE_PHYSICIANS)
    end = _to_date(end_date, "end_date", required=True)
    if end < place.start_date:
        raise _fail("end_date", _("終了日は開始日以降にしてください。"))
    if place.role == CareRole.PRIMARY_PHYSICIAN:
        next_day = end + dt.timedelta(days=1)
        successor = (
            CareTeamMember.objects.filter(
                patient=patient, role=CareRole.PRIMARY_PHYSICIAN, start_date__lte=next_day
            )
            .exclude(pk=place.pk)
            .filter(Q(end_date__isnull=True) | Q(end_date__gte=next_day))
        )
        if not successor.exists():
            raise _fail("end_date", _("主治医は終了できません。主治医の交代を使ってください。"))
    if place.end_date is None or end > place.end_date:
        # A later end can run into another physician's place: the same rules as adding.
        _check_physician_place(
            patient,
            user=place.user,
            role=place.role,
            start_date=place.start_date,
            end_date=end,
            exclude_id=place.pk,
        )
    with _atomic_write():
        place.end_date = end
        place.save(update_fields=["end_date"])
        audit_record(
            actor, AuditAction.UPDATE, patient=patient, obj=place, detail=f"end_date={end}"
        )
        if end < timezone.localdate():
            signals.access_ended.send(
                sender=Patient, patient_id=patient.pk, user_ids=[place.user_id]
            )
    return place


def care_team_replace_primary(
    actor: User, patient_id: Any, *, user_id: Any, start_date: Any = None
) -> CareTeamMember:
    """Hand the primary physician's place to another physician from `start_date` (today).

    The current primary's place ends the day before, in the same transaction, so there is
    exactly one primary physician on every day.
    """
    patient = access_patient(actor, patient_id, capability=Capability.CHANGE_PHYSICIANS)
    physician = _get_user(user_id)
    _check_not_self_granted(actor, patient, physician)
    start = _to_date(start_date, "start_date") or timezone.localdate()
    last_day = start - dt.timedelta(days=1)
    with _atomic_write():
        # Locked, so two replacements at once cannot both end the same place.
        current = (
            CareTeamMember.objects.select_for_update()
            .filter(patient=patient, role=CareRole.PRIMARY_PHYSICIAN, start_date__lte=start)
            .filter(Q(end_date__isnull=True) | Q(end_date__gte=start))
            .order_by("-start_date")
            .first()
        )
        if current is not None:
            if current.user_id == physician.pk:
                raise _fail("user_id", _("この医師は既に主治医です。"))
            if current.start_date >= start:
                raise _fail("start_date", _("開始日は現在の主治医の開始日より後にしてください。"))
            # Ending first frees the partial unique index for the new open-ended place.
            current.end_date = last_day
            current.save(update_fields=["end_date"])
            audit_record(
                actor,
                AuditAction.UPDATE,
                patient=patient,
                obj=current,
                detail=f"end_date={last_day}",
            )
        _check_physician_place(
            patient,
            user=physician,
            role=CareRole.PRIMARY_PHYSICIAN,
            start_date=start,
            end_date=None,
        )
        place = CareTeamMember.objects.create(
            patient=patient,
            user=physician,
            role=CareRole.PRIMARY_PHYSICIAN,
            organization=_default_organization(physician, patient),
            start_date=start,
        )
        audit_record(actor, AuditAction.CREATE, patient=patient, obj=place)
        # The primary reads without consent; a covered organization still has its record.
        consent = _active_consent(patient, lock=True)
        if consent is not None and place.organization_id is not None:
            _disclose(actor, patient, consent, [place.organization_id])
    return place


# --- consent -----------------------------------------------------------------------------


def _active_consent(patient: Patient, *, lock: bool = False) -> Consent | None:
    consents = Consent.objects.filter(patient=patient, withdrawn_at__isnull=True)
    if lock:
        consents = consents.select_for_update()
    return consents.first()


def _check_covered(
    consent: Consent | None, patient: Patient, organization: Organization, role: str
) -> None:
    """A place other than the primary physician's reads only while the consent covers its
    organization: refuse to give one it does not, saying what to do instead."""
    if role == CareRole.PRIMARY_PHYSICIAN:
        return
    if consent is None:
        raise _fail(
            "non_field_errors",
            _("患者の同意が記録されていません。先に同意を記録してください。"),
        )
    if not consent.organizations.filter(pk=organization.pk).exists():
        raise _fail(
            "organization_id",
            _(
                "患者の同意の対象に「%(organization)s」が含まれていません。"
                "先に同意の対象に加えてください。"
            )
            % {"organization": organization.name},
        )


def _disclose(
    actor: User, patient: Patient, consent: Consent, organization_ids: Collection[int]
) -> list[Disclosure]:
    """Record the first provision of the patient's data to each of these organizations under
    `consent` (第三者提供の記録), with its audit row: those it covers, other than the managing
    organization (which holds the record, so provides it to nobody by reading it), that have
    no record under this consent yet. Called inside the transaction that gives the access,
    with the consent row locked, so each is written once."""
    wanted = set(organization_ids) - {patient.managing_organization_id}
    covered = set(consent.organizations.filter(pk__in=wanted).values_list("pk", flat=True))
    done = set(
        Disclosure.objects.filter(
            patient=patient, consent=consent, organization_id__in=covered
        ).values_list("organization_id", flat=True)
    )
    disclosures = Disclosure.objects.bulk_create(
        Disclosure(
            patient=patient,
            organization_id=pk,
            consent=consent,
            items=list(consent.items),
            by=actor,
        )
        for pk in sorted(covered - done)
    )
    for disclosure in disclosures:
        audit_record(
            actor,
            AuditAction.DISCLOSURE,
            patient=patient,
            obj=disclosure,
            detail=f"organization={disclosure.organization_id}",
        )
    return disclosures


def _ids(value: Any, field: str) -> list[int]:
    if not isinstance(value, list | tuple):
        raise _fail(field, _("IDの一覧を指定してください。"))
    return [_to_id(v, field) for v in value]


def _consent_organizations(patient: Patient, organization_ids: Any) -> list[Organization]:
    """The organizations a consent is to cover: at least one named, each existing and in a
    network of the managing organization; the managing organization is always added."""
    field = "organization_ids"
    ids = _ids(organization_ids, field)
    if not ids:
        raise _fail(field, _("同意の対象の組織を1つ以上選んでください。"))
    found = {o.pk: o for o in Organization.objects.filter(pk__in=ids)}
    missing = [pk for pk in dict.fromkeys(ids) if pk not in found]
    if missing:
        raise _fail(
            field,
            _("組織が見つかりません(ID: %(ids)s)。") % {"ids": ", ".join(map(str, missing))},
        )
    managing = patient.managing_organization_id
    allowed = set(consent_candidates(patient).order_by().values_list("pk", flat=True))
    outside = [o for o in found.values() if o.pk not in allowed]
    if outside:
        raise _fail(
            field,
            _("管理組織と同じネットワークに参加していない組織は対象にできません: %(names)s")
            % {"names": "、".join(sorted(o.name for o in outside))},
        )
    found.setdefault(managing, patient.managing_organization)
    return list(found.values())


def _consent_items(items: Any) -> list[str]:
    if items is None:
        return [str(i) for i in REQUIRED_CONSENT_ITEMS]
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise _fail("items", _("対象の情報を一覧で指定してください。"))
    unknown = sorted(set(items) - set(ConsentItem.values))
    if unknown:
        raise _fail(
            "items", _("対象の情報が正しくありません: %(items)s") % {"items": ", ".join(unknown)}
        )
    if not set(REQUIRED_CONSENT_ITEMS) <= set(items):
        raise _fail(
            "items",
            _("共有記録と連絡帳は必ず対象に含めてください(ケアチームは両方を閲覧します)。"),
        )
    return [value for value in ConsentItem.values if value in items]


def _places_not_ended(patient: Patient) -> QuerySet[CareTeamMember]:
    """Places that read now or will (future ones included: nothing runs on their first day,
    so their organization's disclosure is written when its access is given)."""
    return CareTeamMember.objects.filter(patient=patient, organization__isnull=False).filter(
        Q(end_date__isnull=True) | Q(end_date__gte=timezone.localdate())
    )


def consent_record(
    actor: User,
    patient_id: Any,
    *,
    organization_ids: Any,
    items: Any = None,
    method: Any = ConsentMethod.WRITTEN,
    consented_on: Any = None,
    note: str = "",
) -> Consent:
    """Record the patient's consent to share with the organizations it names. One active
    consent at a time. Each covered organization with members on the team is disclosed to."""
    patient = access_patient(actor, patient_id, capability=Capability.RECORD_CONSENT)
    if Consent.objects.filter(patient=patient, withdrawn_at__isnull=True).exists():
        raise _fail("non_field_errors", _("同意は既に記録されています。"))
    organizations = _consent_organizations(patient, organization_ids)
    day = _to_date(consented_on, "consented_on") or timezone.localdate()
    if day > timezone.localdate():
        raise _fail("consented_on", _("同意日に未来の日付は指定できません。"))
    consent = Consent(
        patient=patient,
        recorded_by=actor,
        items=_consent_items(items),
        method=method,
        consented_on=day,
        note=(note or "").strip() if isinstance(note, str) else "",
    )
    _clean(consent, exclude=["patient", "recorded_by"])
    with _atomic_write():
        consent.save()
        consent.organizations.set(organizations)
        audit_record(
            actor,
            AuditAction.CREATE,
            patient=patient,
            obj=consent,
            detail=_organizations_detail("organizations", [o.pk for o in organizations]),
        )
        _disclose(
            actor,
            patient,
            consent,
            _places_not_ended(patient).values_list("organization_id", flat=True).distinct(),
        )
    return consent


def _organizations_detail(label: str, ids: Collection[int]) -> str:
    return f"{label}=" + ",".join(str(pk) for pk in sorted(ids))


def consent_change(actor: User, patient_id: Any, *, organization_ids: Any) -> Consent:
    """Change the organizations the active consent covers (the patient extended or narrowed
    it). Effective from the next request: members of an organization taken off lose access
    and their sockets close; an organization added with members on the team is disclosed to.

    What it covers, how and when it was given belong to the act of consenting: to change
    them, withdraw it and record the new one.
    """
    patient = access_patient(actor, patient_id, capability=Capability.RECORD_CONSENT)
    organizations = _consent_organizations(patient, organization_ids)
    wanted = {o.pk for o in organizations}
    with _atomic_write():
        consent = _active_consent(patient, lock=True)
        if consent is None:
            raise _fail("non_field_errors", _("有効な同意がありません。"))
        before = set(consent.organizations.values_list("pk", flat=True))
        added, removed = wanted - before, before - wanted
        if not added and not removed:
            return consent
        consent.organizations.set(organizations)
        detail = [_organizations_detail("added", added), _organizations_detail("removed", removed)]
        audit_record(
            actor, AuditAction.UPDATE, patient=patient, obj=consent, detail=" ".join(detail)
        )
        places = _places_not_ended(patient)
        _disclose(
            actor,
            patient,
            consent,
            places.filter(organization__in=added)
            .values_list("organization_id", flat=True)
            .distinct(),
        )
        if removed:
            left_out = (
                active_team(patient)
                .filter(organization__in=removed)
                .exclude(role=CareRole.PRIMARY_PHYSICIAN)
            )
            signals.access_ended.send(
                sender=Patient,
                patient_id=patient.pk,
                user_ids=list(left_out.values_list("user_id", flat=True)),
            )
    return consent


def consent_withdraw(actor: User, patient_id: Any) -> Consent:
    """Mark the active consent withdrawn; the team then loses access (all but the primary)."""
    patient = access_patient(actor, patient_id, capability=Capability.WITHDRAW_CONSENT)
    with _atomic_write():
        consent = _active_consent(patient, lock=True)
        if consent is None:
            raise _fail("non_field_errors", _("有効な同意がありません。"))
        consent.withdrawn_at = timezone.now()
        consent.withdrawn_by = actor
        consent.save(update_fields=["withdrawn_at", "withdrawn_by"])
        audit_record(actor, AuditAction.UPDATE, patient=patient, obj=consent, detail="withdrawn")
        signals.access_ended.send(
            sender=Patient,
            patient_id=patient.pk,
            user_ids=list(active_team(patient).values_list("user_id", flat=True)),
        )
    return consent


# --- the shared record -------------------------------------------------------------------


def record_editable_fields(kind: str) -> list[str]:
    model = record_model(kind)
    return [
        f.name
        for f in model._meta.concrete_fields
        if f.name not in _RECORD_SYSTEM_FIELDS and f.editable
    ]


def _snapshot(item: models.Model) -> dict[str, Any]:
    # Through the JSON encoder so dates become ISO strings the JSONField can store.
    data = model_to_dict(item)
    data["id"] = item.pk
    result: dict[str, Any] = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    return result


def _apply_record_data(item: RecordItem, kind: str, data: Mapping[str, Any]) -> None:
    editable = record_editable_fields(kind)
    unknown = sorted(set(data) - set(editable))
    if unknown:
        raise DomainError(
            _("入力内容を確認してください。"),
            fields={key: [_("この項目は変更できません。")] for key in unknown},
        )
    for key, value in data.items():
        field = item._meta.get_field(key)
        if isinstance(field, models.DateField):
            value = _to_date(value, key)
        elif isinstance(value, str):
            value = value.strip()
        elif value is not None and not isinstance(value, bool | int | float):
            raise _fail(key, _("値が正しくありません。"))
        setattr(item, key, value)
    _clean(item, exclude=["patient", "updated_by"])
    start = getattr(item, "start_date", None)
    end = getattr(item, "end_date", None)
    if start is not None and end is not None and end < start:
        raise _fail("end_date", _("終了日は開始日以降にしてください。"))


def _record_change(actor: User, patient: Patient, kind: str, item: RecordItem, action: str) -> None:
    RecordChange.objects.create(
        patient=patient,
        item_type=kind,
        item_id=item.pk,
        action=action,
        snapshot=_snapshot(item),
        changed_by=actor,
    )


def _get_record_item(patient: Patient, kind: str, item_id: Any) -> RecordItem:
    model = record_model(kind)
    try:
        pk = int(item_id)
    except (TypeError, ValueError):
        raise NotFound from None
    item = model._default_manager.filter(patient=patient, pk=pk).first()
    if item is None:
        raise NotFound
    return item


def record_item_create(
    actor: User, patient_id: Any, *, kind: str, data: Mapping[str, Any]
) -> RecordItem:
    """Add an item to one of the record's lists, with its first `RecordChange`."""
    patient = access_patient(actor, patient_id, capability=record_capability(kind))
    model = record_model(kind)
    item = model(patient=patient, updated_by=actor)
    _apply_record_data(item, kind, data)
    with _atomic_write():
        item.save()
        _record_change(actor, patient, kind, item, "create")
        audit_record(
            actor, AuditAction.CREATE, patient=patient, obj=item, detail=_audit_detail(list(data))
        )
    return item


def record_item_update(
    actor: User, patient_id: Any, *, kind: str, item_id: Any, data: Mapping[str, Any]
) -> RecordItem:
    patient = access_patient(actor, patient_id, capability=record_capability(kind))
    item = _get_record_item(patient, kind, item_id)
    _apply_record_data(item, kind, data)
    item.updated_by = actor
    with _atomic_write():
        item.save()
        _record_change(actor, patient, kind, item, "update")
        audit_record(
            actor, AuditAction.UPDATE, patient=patient, obj=item, detail=_audit_detail(list(data))
        )
    return item


def record_item_delete(actor: User, patient_id: Any, *, kind: str, item_id: Any) -> None:
    """Remove an item; its last state stays in the history as a `delete` change."""
    patient = access_patient(actor, patient_id, capability=record_capability(kind))
    item = _get_record_item(patient, kind, item_id)
    with _atomic_write():
        _record_change(actor, patient, kind, item, "delete")
        # The audit row names the item, so it is written while the item still has its id.
        audit_record(actor, AuditAction.DELETE, patient=patient, obj=item)
        item.delete()


# --- wishes ------------------------------------------------------------------------------


def wish_set(
    actor: User,
    patient_id: Any,
    *,
    kind: str,
    preference: str,
    hospital_id: Any = None,
    note: str = "",
) -> CareWish:
    """Record a new version of the green or yellow card. Old versions stay as they were."""
    patient = access_patient(actor, patient_id, capability=Capability.EDIT_WISHES)
    if kind not in WishKind.values:
        raise _fail("kind", _("種類が正しくありません。"))
    hospital = (
        _get_organization(hospital_id, "hospital_id") if hospital_id not in (None, "") else None
    )
    wish = CareWish(
        patient=patient,
        kind=kind,
        preference=(preference or "").strip(),
        hospital=hospital,
        note=(note or "").strip(),
        recorded_by=actor,
    )
    _clean(wish, exclude=["patient", "recorded_by", "hospital"])
    with _atomic_write():
        wish.save()
        audit_record(actor, AuditAction.CREATE, patient=patient, obj=wish, detail=f"kind={kind}")
    return wish


# --- break glass -------------------------------------------------------------------------


def break_glass_open(
    actor: User, patient_id: Any, *, reason: str, hours: Any = 12
) -> BreakGlassGrant:
    """Open time-limited emergency access for someone outside the care team.

    Only physicians and nurses may (`Forbidden` for others, `patients.access.POLICY`); the
    reason is typed (10 characters at least) and the grant is audited and announced. The
    caller learns only whether the patient exists.
    """
    if not actor.is_authenticated or not actor.is_active:
        raise NotFound
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if len(reason) < BREAK_GLASS_MIN_REASON:
        raise _fail(
            "reason", _("理由を%(n)d文字以上で入力してください。") % {"n": BREAK_GLASS_MIN_REASON}
        )
    max_hours = int(settings.BREAK_GLASS_MAX_HOURS)
    if isinstance(hours, bool):
        hours = None
    try:
        hours_int = int(hours)
    except (TypeError, ValueError):
        hours_int = 0
    if not 1 <= hours_int <= max_hours:
        raise _fail("hours", _("時間は1〜%(max)d時間で指定してください。") % {"max": max_hours})
    patient = access_break_glass(actor, patient_id)
    with _atomic_write():
        grant = BreakGlassGrant.objects.create(
            patient=patient,
            user=actor,
            reason=reason,
            expires_at=timezone.now() + dt.timedelta(hours=hours_int),
        )
        audit_record(
            actor, AuditAction.BREAK_GLASS, patient=patient, obj=grant, detail=reason[:500]
        )
        signals.break_glass_opened.send(sender=Patient, grant=grant)
    return grant


# --- grants to those an urgent request reaches (messaging.escalation) -----------------------

ESCALATION_GRANT_HOURS_AFTER = 12


def escalation_grant_open(
    user: User, *, patient: Patient | int, request_ref: int, reason: str
) -> EscalationGrant | None:
    """Let `user` (an on-call physician, a hospital's contact, off the care team) read the
    patient and post in its threads while request `request_ref` is open and 12 hours after.

    Called by the escalation inside the step's transaction; audited. None when `user`
    already holds one for this request.
    """
    patient_id = patient if isinstance(patient, int) else patient.pk
    grant, created = EscalationGrant.objects.get_or_create(
        request_ref=request_ref,
        user=user,
        defaults={"patient_id": patient_id, "reason": reason[:200]},
    )
    if not created:
        return None
    audit_record(
        user, AuditAction.CREATE, patient=patient_id, obj=grant, detail=f"escalation {reason}"[:500]
    )
    return grant


def escalation_grants_close(request_ref: int, *, at: dt.datetime) -> int:
    """The request closed at `at`: its grants end 12 hours later. Returns how many."""
    return EscalationGrant.objects.filter(request_ref=request_ref, ends_at__isnull=True).update(
        ends_at=at + dt.timedelta(hours=ESCALATION_GRANT_HOURS_AFTER)
    )


# --- conference guests (called by conferences.services) ----------------------------------


def conference_grant_give(
    actor: User,
    patient_id: Any,
    *,
    guest: User,
    source: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
) -> ConferenceGrant:
    """Let `guest`, hospital staff invited to a discharge conference, read the patient from
    `starts_at` to `ends_at` (the meeting's window). The organizer (`actor`) must see the
    patient; the grant is audited. Idempotent per `source`, guest and patient: a second call
    moves the window."""
    patient = access_patient(actor, patient_id)
    if ends_at <= starts_at:
        raise _fail("ends_at", _("終了は開始より後にしてください。"))
    with _atomic_write():
        grant, _created = ConferenceGrant.objects.update_or_create(
            source=source,
            user=guest,
            patient=patient,
            defaults={"granted_by": actor, "starts_at": starts_at, "ends_at": ends_at},
        )
        audit_record(
            actor,
            AuditAction.CREATE,
            patient=patient,
            obj=grant,
            detail=f"conference guest {guest.pk} {starts_at.isoformat()}–{ends_at.isoformat()}",
        )
    return grant


def conference_grants_end(actor: User, *, source_prefix: str) -> int:
    """End every guest grant whose source starts with `source_prefix` (a conference or one
    occurrence cancelled or moved), audited per patient. Returns how many ended."""
    now = timezone.now()
    with transaction.atomic():
        grants = list(
            ConferenceGrant.objects.select_for_update().filter(
                source__startswith=source_prefix, ends_at__gt=now
            )
        )
        for grant in grants:
            grant.ends_at = max(now, grant.starts_at + dt.timedelta(microseconds=1))
            grant.save(update_fields=["ends_at"])
            audit_record(
                actor, AuditAction.UPDATE, patient=grant.patient_id, obj=grant, detail="ended"
            )
    return len(grants)
