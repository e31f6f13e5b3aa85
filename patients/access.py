"""The access gate: the one place that decides who may see a patient, and who may do what.

A person acts for a patient while one of the grants in `GRANTS` gives them a row, in force
now, that names them and the patient:
- a place on the patient's care team that is active today, whose organization the patient's
  consent on record covers (the primary physician, who records that consent, without it);
- an unexpired emergency grant (break glass, `patients.services.break_glass_open`);
- the administrator's membership of the organization that manages the patient;
- the coordinator's seat in a network of that organization.

What a row lets its holder do is one table, `POLICY`: per care-team role (the row's `role`)
or per kind of grant, the `Capability`s it gives (read, post, edit the record, ...). Seeing
the patient is `Capability.READ`. Administrators and coordinators do not read: they may
manage the team of the patients their organization or network looks after, and that is all.

Nobody else sees the patient: staff of the same organization who are not on the team
included. "Missing" and "not yours" give the same `NotFound`, so ids cannot be probed: so
does anything that someone who may not see the patient may not do either. A person who sees
the patient but may not do this gets `Forbidden` (403), with the reason; so does a person on
the team whom the consent leaves out (withdrawn, or not covering their organization): they
know the patient already, and are told why they see nothing (`consent_refusal`).

The rule is written once, here, in the ORM. Every other form of it is generated from `GRANTS`
and `POLICY`: the patient list (`patients_visible_to`), the thread gate, the post gate and the
receivers of a thread's live events (`messaging.access`), and their SQL for the hot paths,
which is this ORM compiled once (`config.compiled_sql`). A new kind of grant (an on-call
physician reached by an escalation, a hospital invited to one conference) is one more `Grant`
in `GRANTS` and its row in `POLICY`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.compiled_sql import NOW, PATIENT, TODAY, SqlTemplate
from config.errors import Forbidden, NotFound
from patients.models import (
    BreakGlassGrant,
    CareRole,
    CareTeamMember,
    ConferenceGrant,
    Consent,
    EscalationGrant,
    Patient,
    Referral,
    ReferralInvitation,
)
from teams.identity import AnyUser
from teams.models import Membership, Network, Organization, Profession, User

if TYPE_CHECKING:
    from typing_extensions import TypeIs


class Capability(StrEnum):
    """What a person may do for a patient. The code that does it asks the gate for it."""

    READ = "read"  # see the patient: the record, the team, the threads
    POST = "post"  # post in the patient's threads, open a topic, edit or delete one's post
    EDIT_RECORD = "edit_record"  # the patient's own fields, problems, allergies, devices, contacts
    EDIT_MEDICATIONS = "edit_medications"  # the medication list
    EDIT_WISHES = "edit_wishes"  # the green and yellow card (ACP, 人生会議)
    RECORD_CONSENT = "record_consent"
    WITHDRAW_CONSENT = "withdraw_consent"
    MANAGE_TEAM = "manage_team"  # add and end places other than the physicians'
    CHANGE_PHYSICIANS = "change_physicians"  # the primary's and the secondary's places
    BREAK_GLASS = "break_glass"  # open emergency reading of a patient one cannot see
    VIEW_CONSENT = "view_consent"  # the consent on record: organizations, items, history
    VIEW_DISCLOSURES = "view_disclosures"  # the report of disclosures (第三者提供の記録)

    @property
    def label(self) -> str:
        return str(CAPABILITY_LABELS[self])


CAPABILITY_LABELS: Mapping[Capability, Promise] = {
    Capability.READ: _("記録の閲覧"),
    Capability.POST: _("スレッドへの投稿"),
    Capability.EDIT_RECORD: _("共有記録の編集"),
    Capability.EDIT_MEDICATIONS: _("薬剤の編集"),
    Capability.EDIT_WISHES: _("希望(グリーン・イエローカード)の編集"),
    Capability.RECORD_CONSENT: _("同意の記録"),
    Capability.WITHDRAW_CONSENT: _("同意の撤回"),
    Capability.MANAGE_TEAM: _("ケアチームの編集"),
    Capability.CHANGE_PHYSICIANS: _("主治医・副主治医の変更"),
    Capability.BREAK_GLASS: _("緊急アクセス"),
    Capability.VIEW_CONSENT: _("同意の閲覧"),
    Capability.VIEW_DISCLOSURES: _("第三者提供記録の閲覧"),
}

C = Capability

# The kinds of grant that are not a care-team role: the other rows of `POLICY`.
ORG_ADMIN = "org_admin"
COORDINATOR = "coordinator"
BREAK_GLASS_READER = "break_glass"
PHYSICIAN_OR_NURSE = "physician_or_nurse"
ESCALATION = "escalation"
CONFERENCE_GUEST = "conference_guest"

STANDING_LABELS: Mapping[str, Promise] = {
    ORG_ADMIN: _("管理組織の管理者"),
    COORDINATOR: _("ネットワークのコーディネーター"),
    BREAK_GLASS_READER: _("緊急アクセス中の人"),
    PHYSICIAN_OR_NURSE: _("医師・看護師(職種)"),
    ESCALATION: _("緊急依頼で呼ばれた当番医・病院"),
    CONFERENCE_GUEST: _("退院時カンファレンスの病院側参加者"),
}

# Every place on the team knows the consent: it decides whose organization reads.
_TEAM_WORK = frozenset({C.READ, C.POST, C.VIEW_CONSENT})
_PHYSICIAN = frozenset(Capability) - {C.BREAK_GLASS}

# THE policy: per care-team role, and per other kind of grant, what its holder may do. It is
# the table of docs/access.md, cell for cell (tests/patients/test_capabilities.py holds both).
POLICY: Mapping[str, frozenset[Capability]] = {
    # The primary physician (主治医) leads the team: takes the consent from the patient, and
    # decides who is on the team and who stands in.
    CareRole.PRIMARY_PHYSICIAN: _PHYSICIAN,
    # The secondary physician (副主治医) stands in for the primary, always: there is no
    # availability model, and a night call cannot wait to learn whether the primary is away.
    CareRole.SECONDARY_PHYSICIAN: _PHYSICIAN,
    # Nurses see the patient most often and talk about the end of life with the family.
    CareRole.VISITING_NURSE: _TEAM_WORK | {C.EDIT_RECORD, C.EDIT_WISHES},
    # The pharmacist dispenses and reconciles (お薬手帳, other clinics, OTC): with the
    # physicians, the one who keeps the medication list in step with what is prescribed.
    CareRole.PHARMACIST: _TEAM_WORK | {C.EDIT_RECORD, C.EDIT_MEDICATIONS},
    CareRole.THERAPIST: _TEAM_WORK | {C.EDIT_RECORD},
    # The care manager (ケアマネジャー) arranges the care services (ケアプラン): adds and ends
    # the places of nurses, therapists, helpers; the physicians are the physicians' call.
    CareRole.CARE_MANAGER: _TEAM_WORK | {C.EDIT_RECORD, C.EDIT_WISHES, C.MANAGE_TEAM},
    # Care workers report what they see in the contact book; a professional puts it in the record.
    CareRole.CARE_WORKER: _TEAM_WORK,
    # The hospital's discharge nurse or MSW brings the diagnoses and devices home.
    CareRole.HOSPITAL_LIAISON: _TEAM_WORK | {C.EDIT_RECORD},
    CareRole.OTHER: _TEAM_WORK,
    # The managing organization answers for its patients when a physician leaves: its
    # administrator reassigns the team and the physicians, without reading the record.
    # It keeps the records of disclosures its patients' data went by (第三者提供の記録, the
    # provider's duty under APPI), so it sees the consent and the report, not the record.
    ORG_ADMIN: frozenset({C.MANAGE_TEAM, C.CHANGE_PHYSICIANS, C.VIEW_CONSENT, C.VIEW_DISCLOSURES}),
    # A network coordinator builds teams at the physicians' request (a station with a free
    # nurse, a pharmacy that does aseptic compounding), without reading the record.
    # Building a team needs to know which organizations the consent covers; the report shows
    # the network which organizations the patient's data went to.
    COORDINATOR: frozenset({C.MANAGE_TEAM, C.VIEW_CONSENT, C.VIEW_DISCLOSURES}),
    # Break glass lets an emergency physician or nurse read for its window, nothing else.
    BREAK_GLASS_READER: frozenset({C.READ}),
    # Emergencies reach physicians and nurses first: they may open break glass.
    PHYSICIAN_OR_NURSE: frozenset({C.BREAK_GLASS}),
    # The on-call physician or hospital contact an urgent request reached, off the team:
    # reads the patient and answers in the thread, for the life of the request + 12 hours.
    ESCALATION: frozenset({C.READ, C.POST}),
    # Hospital staff invited to one discharge conference read the patient for the meeting's
    # window (conferences/), to bring the diagnoses home: nothing else, and never a place.
    CONFERENCE_GUEST: frozenset({C.READ}),
}

# Who holds the `PHYSICIAN_OR_NURSE` row: by profession, on or off the team.
BREAK_GLASS_PROFESSIONS = (Profession.PHYSICIAN, Profession.NURSE)

# The record kinds that need more than `EDIT_RECORD` (`patients.selectors.RECORD_KINDS`).
RECORD_CAPABILITIES: Mapping[str, Capability] = {"medications": C.EDIT_MEDICATIONS}


def record_capability(kind: str) -> Capability:
    """The capability that changes the record's list `kind`."""
    return RECORD_CAPABILITIES.get(kind, C.EDIT_RECORD)


def roles_with(capability: Capability) -> tuple[str, ...]:
    """The care-team roles whose holders may do `capability`."""
    return tuple(role for role in CareRole.values if capability in POLICY[role])


@dataclass(frozen=True)
class Moment:
    """The day and the instant a rule is evaluated at."""

    today: dt.date
    now: dt.datetime

    @classmethod
    def current(cls) -> Moment:
        return cls(today=timezone.localdate(), now=timezone.now())

    def values(self) -> dict[str, Any]:
        """This moment as the values of the `TODAY` and `NOW` slots of a compiled rule."""
        return {TODAY.name: self.today, NOW.name: self.now}


BY_ROLE = ""  # `Grant.policy` when each row's `role` is its row of `POLICY`


@dataclass(frozen=True)
class Grant:
    """One way a person comes to act for a patient.

    `rows(at)`: the rows in force at the moment `at`, each naming a person (`user_id`) and a
    patient (`patient_id`). `receives_events`: whether its holders also receive the live
    events of the patient's threads (a care team does; a break-glass reader reads, and is
    not part of the team's conversation). `policy`: its holders' row of `POLICY` (the grant's
    name unless told; `BY_ROLE`: each row's `role`).
    """

    name: str
    rows: Callable[[Moment], QuerySet[Any]]
    receives_events: bool
    policy: str | None = None

    def gives(self, capability: Capability) -> bool:
        """Whether some holder of this grant may do `capability`."""
        if self.policy == BY_ROLE:
            return bool(roles_with(capability))
        return capability in POLICY[self.policy or self.name]

    def rows_for(self, capability: Capability, at: Moment) -> QuerySet[Any] | None:
        """The rows in force at `at` whose holders may do `capability`; None if none may."""
        if not self.gives(capability):
            return None
        if self.policy == BY_ROLE:
            roles = roles_with(capability)
            if len(roles) < len(CareRole.values):
                return self.rows(at).filter(role__in=roles)
            # Every role may: no condition, so the compiled rule stays as simple as it was.
        return self.rows(at)


def _on(places: QuerySet[CareTeamMember], day: dt.date) -> QuerySet[CareTeamMember]:
    return places.filter(start_date__lte=day).filter(
        Q(end_date__isnull=True) | Q(end_date__gte=day)
    )


def _team_places(at: Moment) -> QuerySet[Any]:
    # The place's organization is one the active consent names (a place without one is
    # covered by none). Read on every request, never cached: a withdrawal or a narrowed
    # consent holds from the next request.
    covered = Consent.organizations.through.objects.filter(
        consent__patient=OuterRef("patient_id"),
        consent__withdrawn_at__isnull=True,
        organization=OuterRef("organization_id"),
    )
    return _on(CareTeamMember.objects.all(), at.today).filter(
        Q(role=CareRole.PRIMARY_PHYSICIAN) | Exists(covered)
    )


def _break_glass(at: Moment) -> QuerySet[Any]:
    return BreakGlassGrant.objects.filter(expires_at__gt=at.now)


def _escalation(at: Moment) -> QuerySet[Any]:
    return EscalationGrant.objects.filter(granted_at__lte=at.now).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=at.now)
    )


def _conference_guests(at: Moment) -> QuerySet[Any]:
    return ConferenceGrant.objects.filter(starts_at__lte=at.now, ends_at__gt=at.now)


def _organization_admins(at: Moment) -> QuerySet[Any]:
    return Membership.objects.filter(is_admin=True, is_active=True).alias(
        patient_id=F("organization__managed_patients")
    )


def _network_coordinators(at: Moment) -> QuerySet[Any]:
    return Network.coordinators.through.objects.alias(
        patient_id=F("network__organizations__managed_patients")
    )


GRANTS: tuple[Grant, ...] = (
    Grant("care_team", _team_places, receives_events=True, policy=BY_ROLE),
    Grant(BREAK_GLASS_READER, _break_glass, receives_events=False),
    Grant(ORG_ADMIN, _organization_admins, receives_events=False),
    # Reached by an escalation: answers in the thread, so follows it live.
    Grant(ESCALATION, _escalation, receives_events=True),
    Grant(CONFERENCE_GUEST, _conference_guests, receives_events=False),
    Grant(COORDINATOR, _network_coordinators, receives_events=False),
)


def patient_rule(
    user_id: int, patient: str, at: Moment, capability: Capability = Capability.READ
) -> Q:
    """The rule as a condition on a query whose field `patient` holds a patient's id: the
    person `user_id` may do `capability` (see the patient, by default) for that patient at
    `at`. Callers check that the person is signed in and active."""
    found = [
        Exists(rows.filter(user_id=user_id, patient_id=OuterRef(patient)))
        for grant in GRANTS
        if (rows := grant.rows_for(capability, at)) is not None
    ]
    if not found:
        return Q(pk__in=[])  # nobody may: a condition that holds for no row
    return Q(*found, _connector=Q.OR)


def patient_audience(patient_id: int, at: Moment) -> list[QuerySet[Any]]:
    """Who receives the live events of the patient's threads: per grant that receives
    events, the ids (`user_id`) of its holders who are active, at `at`."""
    return [
        grant.rows(at).filter(patient_id=patient_id, user__is_active=True).values("user_id")
        for grant in GRANTS
        if grant.receives_events
    ]


@cache
def patient_audience_sql() -> SqlTemplate:
    """`patient_audience` as one compiled statement answering the user ids, sorted; its
    slots are `PATIENT` (put an SQL expression there with `SqlTemplate.put`), `TODAY` and
    `NOW`. It runs inside every post."""
    at = Moment(today=TODAY.sentinel, now=NOW.sentinel)
    parts = [
        SqlTemplate.of_queryset(q.order_by(), [PATIENT, TODAY, NOW])
        for q in patient_audience(PATIENT.sentinel, at)
    ]
    union = " UNION ".join(f"({p.sql})" for p in parts)
    # The parts are the ORM's own compiled SQL, every value in them a parameter.
    return SqlTemplate(
        f"SELECT DISTINCT kz_a.user_id FROM ({union}) kz_a ORDER BY 1",  # noqa: S608
        tuple(p for part in parts for p in part.params),
    )


def active_places(user: User, *, on: dt.date | None = None) -> QuerySet[CareTeamMember]:
    """The user's care-team places that are active today (or on the date `on`)."""
    return _on(CareTeamMember.objects.filter(user=user), on or timezone.localdate())


def active_team(patient: Patient | int) -> QuerySet[CareTeamMember]:
    """The patient's care-team places that are active today."""
    return _on(CareTeamMember.objects.filter(patient=patient), timezone.localdate())


def _signed_in(user: AnyUser) -> TypeIs[User]:
    return bool(user.is_authenticated and user.is_active)


def patients_visible_to(user: AnyUser) -> QuerySet[Patient]:
    """Every patient the user may see. Every patient-scoped queryset starts here."""
    if not _signed_in(user):
        return Patient.objects.none()
    return Patient.objects.filter(patient_rule(user.pk, "pk", Moment.current()))


def _patient_pk(patient_id: Any) -> int:
    if isinstance(patient_id, bool):
        raise NotFound
    try:
        pk = int(patient_id)
    except (TypeError, ValueError):
        raise NotFound from None
    if not 0 < pk < 2**63:
        raise NotFound
    return pk


def refusal(capability: Capability) -> str:
    """Why `capability` is refused, in words for the person refused: who does it instead."""
    roles = roles_with(capability)
    if len(roles) == len(CareRole.values):
        who = [gettext("ケアチームのメンバー")]
    else:
        who = [str(CareRole(role).label) for role in roles]
    who += [
        str(label)
        for standing, label in STANDING_LABELS.items()
        if standing != PHYSICIAN_OR_NURSE and capability in POLICY[standing]
    ]
    return gettext("「%(action)s」はできません。この操作は%(who)sが行います。") % {
        "action": capability.label,
        "who": gettext("、").join(who),
    }


def _as_condition(q: Q) -> ExpressionWrapper[Q]:
    return ExpressionWrapper(q, output_field=BooleanField())


def access_patient(
    user: AnyUser, patient_id: Any, *, capability: Capability = Capability.READ
) -> Patient:
    """The patient if the user may do `capability` for it (see it, by default).

    `NotFound` when the patient is missing or the user may neither see it nor do this for it
    (an administrator or a coordinator asking for more than the team's management included);
    `Forbidden` when the user sees it but may not do this. One query either way.
    """
    pk = _patient_pk(patient_id)
    if not _signed_in(user):
        raise NotFound
    if capability == Capability.BREAK_GLASS:
        raise ValueError("break glass is asked of access_break_glass")
    at = Moment.current()
    if capability == Capability.READ:
        patient = Patient.objects.filter(pk=pk).filter(patient_rule(user.pk, "pk", at)).first()
        if patient is None:
            raise consent_refusal(user.pk, pk, at) or NotFound
        return patient
    may = patient_rule(user.pk, "pk", at, capability)
    # Who may not see the patient learns nothing: without the capability, `NotFound`.
    sees = patient_rule(user.pk, "pk", at)
    rows = Patient.objects.filter(pk=pk).filter(may | sees)
    found = rows.annotate(kz_may=_as_condition(may)).first()
    if found is None:
        raise consent_refusal(user.pk, pk, at) or NotFound
    if not found.kz_may:
        raise Forbidden(refusal(capability))
    return found


def consent_refusal(user_id: int, patient_id: int, at: Moment) -> Forbidden | None:
    """Why a person on the patient's team sees nothing, when the consent is why: it was
    withdrawn, or it does not cover the organization of their place. None for anyone else.

    Asked only after the rule has refused (it decides nothing, it explains): a place on the
    team named the patient to them already, so saying so tells them nothing new, and a
    member who is refused learns to ask the primary physician rather than thinking the
    patient gone. One query (two when the consent is on record).
    """
    place = (
        _on(CareTeamMember.objects.filter(user_id=user_id, patient_id=patient_id), at.today)
        .exclude(role=CareRole.PRIMARY_PHYSICIAN)
        .select_related("organization")
        .order_by("id")
        .first()
    )
    if place is None:
        return None
    if not Consent.objects.filter(patient_id=patient_id, withdrawn_at__isnull=True).exists():
        return Forbidden(
            gettext(
                "この患者の同意は撤回されています。主治医が同意を記録し直すまで閲覧できません。"
            )
        )
    organization = place.organization.name if place.organization else gettext("(所属組織なし)")
    return Forbidden(
        gettext(
            "患者の同意の対象に「%(organization)s」が含まれていないため閲覧できません。"
            "主治医に同意の記録を依頼してください。"
        )
        % {"organization": organization}
    )


def capabilities_of(user: AnyUser, patient: Patient | int) -> frozenset[Capability]:
    """Everything the user may do for the patient now (empty: not even see it). For pages
    that show only the buttons the user may use, and for tests; one query."""
    if not _signed_in(user):
        return frozenset()
    pk = patient.pk if isinstance(patient, Patient) else patient
    at = Moment.current()
    granted = [c for c in Capability if c != C.BREAK_GLASS]
    row = (
        Patient.objects.filter(pk=pk)
        .values_list(*(_as_condition(patient_rule(user.pk, "pk", at, c)) for c in granted))
        .first()
    )
    found: set[Capability] = {c for c, may in zip(granted, row or (), strict=False) if may}
    if may_break_glass(user):
        found.add(C.BREAK_GLASS)
    return frozenset(found)


def may_break_glass(user: AnyUser) -> bool:
    """Whether the user holds the `PHYSICIAN_OR_NURSE` row: may open break glass."""
    return _signed_in(user) and user.profession in BREAK_GLASS_PROFESSIONS


def access_break_glass(user: AnyUser, patient_id: Any) -> Patient:
    """The patient to open break glass on: `Forbidden` for anyone whose profession may not
    (before the patient is looked up, so it tells nothing about the id), else the patient
    whether or not the user sees it, or `NotFound` if it does not exist."""
    pk = _patient_pk(patient_id)
    if not _signed_in(user):
        raise NotFound
    if not may_break_glass(user):
        raise Forbidden(gettext("緊急アクセスは医師と看護師のみ利用できます。"))
    patient = Patient.objects.filter(pk=pk).only("pk").first()
    if patient is None:
        raise NotFound
    return patient


def may_register_patient(user: AnyUser, organization: Organization) -> bool:
    """Whether the user may register a patient managed by `organization`: an active member
    of it (the clinic's clerk registers on the physician's behalf), or staff."""
    if not _signed_in(user):
        return False
    member = Membership.objects.filter(user=user, organization=organization, is_active=True)
    return bool(user.is_staff or member.exists())


def can_see_patient(user: AnyUser, patient: Patient | int) -> bool:
    pk = patient.pk if isinstance(patient, Patient) else patient
    return patients_visible_to(user).filter(pk=pk).exists()


# --- Referrals (docs/referrals.md) ----------------------------------------------------------
# A referral is not yet a patient: nobody reads a patient through it. Its own small table says
# who may do what with it; the identifying record reaches the accepted team only as the patient
# it becomes on confirmation, through the gate above.


class ReferralCapability(StrEnum):
    VIEW_SUMMARY = "view_summary"  # the de-identified summary and the referral's state
    VIEW_IDENTITY = "view_identity"  # the identifying record, until it becomes a patient
    ANSWER = "answer"  # raise one's hand (primary, secondary, either) or decline
    WIDEN = "widen"  # invite more physicians, or take one off (widen or narrow)
    DECIDE = "decide"  # choose the primary and the secondary, and confirm

    @property
    def label(self) -> str:
        return str(REFERRAL_CAPABILITY_LABELS[self])


REFERRAL_CAPABILITY_LABELS: Mapping[ReferralCapability, Promise] = {
    ReferralCapability.VIEW_SUMMARY: _("依頼の概要の閲覧"),
    ReferralCapability.VIEW_IDENTITY: _("依頼の個人情報の閲覧"),
    ReferralCapability.ANSWER: _("依頼への回答"),
    ReferralCapability.WIDEN: _("依頼先の追加・取り消し"),
    ReferralCapability.DECIDE: _("主治医・副主治医の決定"),
}

R = ReferralCapability
REFERRER = "referrer"
DECIDING_REFERRER = "deciding_referrer"
REFERRAL_COORDINATOR = "coordinator"
INVITED_PHYSICIAN = "invited"

REFERRAL_STANDING_LABELS: Mapping[str, Promise] = {
    REFERRER: _("紹介元の職員"),
    DECIDING_REFERRER: _("決定する紹介元の職員(ネットワークの規則による)"),
    REFERRAL_COORDINATOR: _("ネットワークのコーディネーター"),
    INVITED_PHYSICIAN: _("依頼を受けた医師"),
}

# Who may do what with a referral: the table of docs/access.md ("Referrals"), cell for cell.
REFERRAL_POLICY: Mapping[str, frozenset[ReferralCapability]] = {
    # The referring organization's members (the discharge office, 地域連携室) wrote it and hold
    # the identifying record; they follow the answers and the outcome.
    REFERRER: frozenset({R.VIEW_SUMMARY, R.VIEW_IDENTITY}),
    # Where the network's rules say so (`Network.referrer_decides`), the referring hospital
    # chooses the pair too.
    DECIDING_REFERRER: frozenset({R.VIEW_SUMMARY, R.VIEW_IDENTITY, R.DECIDE}),
    # The network's coordinators run the matching and decide the pair, on the summary alone.
    REFERRAL_COORDINATOR: frozenset({R.VIEW_SUMMARY, R.WIDEN, R.DECIDE}),
    # An invited physician reads the summary and answers; never the identifying record.
    INVITED_PHYSICIAN: frozenset({R.VIEW_SUMMARY, R.ANSWER}),
}


def _referral_standings(user_id: int) -> dict[str, Exists]:
    """Per standing, the condition on a `Referral` query that the person holds it."""
    return {
        REFERRER: Exists(
            Membership.objects.filter(
                user_id=user_id,
                is_active=True,
                organization_id=OuterRef("referring_organization_id"),
            )
        ),
        DECIDING_REFERRER: Exists(
            # One filter() call: the organization's network here is the referral's.
            Membership.objects.filter(
                user_id=user_id,
                is_active=True,
                organization_id=OuterRef("referring_organization_id"),
                organization__networks=OuterRef("network_id"),
                organization__networks__referrer_decides=True,
            )
        ),
        REFERRAL_COORDINATOR: Exists(
            Network.coordinators.through.objects.filter(
                user_id=user_id, network_id=OuterRef("network_id")
            )
        ),
        INVITED_PHYSICIAN: Exists(
            ReferralInvitation.objects.filter(
                physician_id=user_id, referral_id=OuterRef("pk"), withdrawn_at__isnull=True
            )
        ),
    }


def referrals_visible_to(user: AnyUser) -> QuerySet[Referral]:
    """Every referral the user may read the summary of: their organization's, their
    network's (as coordinator), or one they were invited to."""
    if not _signed_in(user):
        return Referral.objects.none()
    return Referral.objects.filter(Q(*_referral_standings(user.pk).values(), _connector=Q.OR))


def referral_refusal(capability: ReferralCapability) -> str:
    who = [
        str(label)
        for standing, label in REFERRAL_STANDING_LABELS.items()
        if capability in REFERRAL_POLICY[standing]
    ]
    return gettext("「%(action)s」はできません。この操作は%(who)sが行います。") % {
        "action": capability.label,
        "who": gettext("、").join(who),
    }


def referral_standings_of(user: AnyUser, referral: Referral | int) -> frozenset[str]:
    """The standings the user holds for the referral (empty: they may not see it)."""
    if not _signed_in(user):
        return frozenset()
    pk = referral.pk if isinstance(referral, Referral) else referral
    conditions = _referral_standings(user.pk)
    row = Referral.objects.filter(pk=pk).values_list(*conditions.values()).first()
    return frozenset(s for s, held in zip(conditions, row or (), strict=False) if held)


def referral_capabilities_of(
    user: AnyUser, referral: Referral | int
) -> frozenset[ReferralCapability]:
    standings = referral_standings_of(user, referral)
    return frozenset(c for s in standings for c in REFERRAL_POLICY[s])


def access_referral(
    user: AnyUser,
    referral_id: Any,
    *,
    capability: ReferralCapability = ReferralCapability.VIEW_SUMMARY,
) -> Referral:
    """The referral if the user may do `capability` with it. `NotFound` for whoever may not
    see it (a physician who was not invited, or another network's: "missing" and "not
    yours" alike); `Forbidden`, with who does it instead, for whoever sees it but may not."""
    pk = _patient_pk(referral_id)
    if not _signed_in(user):
        raise NotFound
    conditions = _referral_standings(user.pk)
    found = (
        Referral.objects.filter(pk=pk)
        .annotate(**{f"kz_{s}": c for s, c in conditions.items()})
        .select_related("network", "referring_organization")
        .first()
    )
    if found is None:
        raise NotFound
    standings = {s for s in conditions if getattr(found, f"kz_{s}")}
    if not standings:
        raise NotFound
    if not any(capability in REFERRAL_POLICY[s] for s in standings):
        raise Forbidden(referral_refusal(capability))
    return found


def may_refer(user: AnyUser, organization: Organization, network: Network) -> bool:
    """Whether the user may refer a patient from `organization` to `network`: an active
    member of an organization of the network, or one of its coordinators."""
    if not _signed_in(user):
        return False
    if network.coordinators.filter(pk=user.pk).exists():
        return (
            Membership.objects.filter(user=user, organization=organization, is_active=True).exists()
            or network.organizations.filter(pk=organization.pk).exists()
        )
    return (
        network.organizations.filter(pk=organization.pk).exists()
        and Membership.objects.filter(user=user, organization=organization, is_active=True).exists()
    )
