"""Every change of state of a referral (在宅医療の依頼): create, match, answer, widen or
narrow, escalate, confirm. docs/referrals.md tells the whole way.

Like `patients.services`, each use case takes the acting person first, asks the gate
(`patients.access.access_referral`, `REFERRAL_POLICY`), validates (`DomainError` with field
errors), writes in one transaction with its audit rows, and tells people through
`notifications.services.notify` inside that transaction. Two rules hold the identifying
record apart: the summary fields are checked for identifying data when written
(`patients.deidentify`), and the identifying record becomes a patient only on confirmation,
seen by the accepted team through the gate and by nobody else.

Races: answering and confirming lock the referral row (`SELECT ... FOR UPDATE`), so two
confirmations at once decide once and the other is told (`ReferralConflict`, HTTP 409), and
an answer cannot slip in after the decision. The deadline sweep claims each overdue referral
with a conditional update, so two workers escalate it once.

Referrals are patients' use cases too: they share `patients.services`' helpers (one
transaction whose lost race is a 400, field errors, the disclosure records) rather than a
second copy of its rules.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_record
from config.errors import DomainError, Forbidden, NotFound
from notifications.models import Urgency
from notifications.services import notify
from patients import deidentify, signals
from patients.access import ReferralCapability, access_patient, access_referral, may_refer
from patients.models import (
    ANSWERS_FOR_PRIMARY,
    ANSWERS_FOR_SECONDARY,
    PHYSICIAN_ROLES,
    AgeBand,
    CareRole,
    CareTeamMember,
    Consent,
    ConsentMethod,
    Patient,
    PatientStatus,
    Referral,
    ReferralAnswer,
    ReferralIdentity,
    ReferralInvitation,
    ReferralStatus,
    Sex,
)
from patients.referral_selectors import Candidate, match
from patients.services import _atomic_write, _clean, _disclose, _fail, _to_date, _to_id
from teams.models import (
    CapabilityCode,
    Membership,
    Network,
    Organization,
    Profession,
    User,
)

SUMMARY_FIELDS = ("area", "town", "conditions", "summary")
HAND_ANSWERS = (ReferralAnswer.PRIMARY, ReferralAnswer.SECONDARY, ReferralAnswer.EITHER)


class ReferralConflict(DomainError):
    """The referral changed under the request (decided by someone else): HTTP 409."""

    code = "conflict"


def _deadline_hours(value: Any) -> int:
    if value in (None, ""):
        return int(settings.KIZUNA_REFERRAL_DEADLINE_HOURS)
    hours = _to_id(value, "answer_within_hours")
    if not 1 <= hours <= 24 * 14:
        raise _fail(
            "answer_within_hours", _("回答期限は1時間から336時間(14日)の間で指定してください。")
        )
    return hours


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _needs(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _fail("needs", _("医療機器・ケアの必要を一覧で指定してください。"))
    unknown = sorted(set(value) - set(CapabilityCode.values))
    if unknown:
        raise _fail(
            "needs", _("医療機器・ケアの必要が正しくありません: %(v)s") % {"v": ", ".join(unknown)}
        )
    return [code for code in CapabilityCode.values if code in value]


def _summary_text(referral: Referral) -> str:
    """The summary as the first message of the contact book."""
    needs = "、".join(str(CapabilityCode(n).label) for n in referral.needs) or _("なし")
    lines = [
        _("【在宅医療の依頼 #%(id)s より】") % {"id": referral.pk},
        _("紹介元: %(org)s") % {"org": referral.referring_organization.name},
        _("%(age)s・%(sex)s・%(area)s%(town)s")
        % {
            "age": referral.get_age_band_display(),
            "sex": referral.get_sex_display(),
            "area": referral.area,
            "town": referral.town,
        },
        _("主な病名・状態: %(c)s") % {"c": referral.conditions},
        _("医療機器・ケアの必要: %(n)s") % {"n": needs},
        _("開始希望日: %(d)s") % {"d": referral.wished_start.isoformat()},
    ]
    if referral.summary:
        lines.append(referral.summary)
    return "\n".join(lines)


def _title(referral: Referral) -> str:
    return _("在宅医療の依頼: %(area)s・%(age)s・%(sex)s") % {
        "area": referral.area,
        "age": referral.get_age_band_display(),
        "sex": referral.get_sex_display(),
    }


def _url(referral: Referral) -> str:
    return reverse("referral-detail", args=[referral.pk])


def _invite(
    referral: Referral, candidates: list[Candidate], *, by: User | None, limit: int | None
) -> list[ReferralInvitation]:
    """Invite the candidates not yet invited (at most `limit`), and tell each. Call inside
    the transaction that causes it."""
    existing = set(referral.invitations.values_list("physician_id", flat=True))
    fresh = [c for c in candidates if c.physician.pk not in existing]
    if limit is not None:
        fresh = fresh[:limit]
    start = referral.invitations.count()
    invitations = ReferralInvitation.objects.bulk_create(
        ReferralInvitation(referral=referral, physician=c.physician, rank=start + n, invited_by=by)
        for n, c in enumerate(fresh)
    )
    for invitation in invitations:
        _notify_invited(referral, invitation.physician_id)
    return invitations


def _notify_invited(referral: Referral, physician_id: int) -> None:
    notify(
        physician_id,
        kind="referral.invited",
        key=f"referral.{referral.pk}.invited",
        title=_title(referral),
        url=_url(referral),
        body=_("回答期限: %(d)s。主治医・副主治医として受けられるかお答えください。")
        % {"d": timezone.localtime(referral.deadline).strftime("%Y-%m-%d %H:%M")},
        urgency=Urgency.IMPORTANT,
    )


def _coordinator_ids(referral: Referral) -> list[int]:
    return list(
        Network.coordinators.through.objects.filter(
            network_id=referral.network_id, user__is_active=True
        ).values_list("user_id", flat=True)
    )


# --- create -----------------------------------------------------------------------------


def referral_create(
    actor: User,
    *,
    network_id: Any,
    referring_organization_id: Any,
    age_band: Any,
    sex: Any,
    area: Any,
    town: Any = "",
    conditions: Any,
    needs: Any = None,
    summary: Any = "",
    wished_start: Any,
    answer_within_hours: Any = None,
    name: Any,
    name_kana: Any,
    date_of_birth: Any,
    address: Any = "",
    phone: Any = "",
    consent_method: Any = ConsentMethod.WRITTEN,
    consented_on: Any = None,
    patient_id: Any = None,
) -> Referral:
    """A hospital member (or a coordinator) refers a patient to the network: the summary,
    checked for identifying data, and the identifying record kept apart. The network's
    registered physicians are matched and the best are invited (`match`).

    `patient_id` links a patient already registered (a readmission, a team that changes):
    one the actor reads; the identifying record is then taken from the patient where the
    form left it blank, and the confirmation gives that patient its new physicians."""
    linked = _linked_patient(actor, patient_id)
    if linked is not None:
        name = name or linked.name
        name_kana = name_kana or linked.name_kana
        date_of_birth = date_of_birth or linked.date_of_birth
        address = address or linked.address
        phone = phone or linked.phone
    network = Network.objects.filter(pk=_to_id(network_id, "network_id")).first()
    if network is None:
        raise _fail("network_id", _("ネットワークが見つかりません。"))
    organization = Organization.objects.filter(
        pk=_to_id(referring_organization_id, "referring_organization_id")
    ).first()
    if organization is None or not may_refer(actor, organization, network):
        raise _fail(
            "referring_organization_id",
            _("所属していない組織、またはネットワークに参加していない組織からは依頼できません。"),
        )
    errors: dict[str, list[str]] = {}
    required = {
        "age_band": age_band,
        "sex": sex,
        "area": area,
        "conditions": conditions,
        "wished_start": wished_start,
        "name": name,
        "name_kana": name_kana,
        "date_of_birth": date_of_birth,
        "consented_on": consented_on,
    }
    for field, value in required.items():
        if value in (None, "") or (isinstance(value, str) and not value.strip()):
            errors[field] = [_("この項目は必須です。")]
    if errors:
        raise DomainError(_("依頼に必要な項目を入力してください。"), fields=errors)
    if age_band not in AgeBand.values:
        raise _fail("age_band", _("年代が正しくありません。"))
    if sex not in Sex.values:
        raise _fail("sex", _("性別が正しくありません。"))
    start = _to_date(wished_start, "wished_start", required=True)
    if start < timezone.localdate():
        raise _fail("wished_start", _("開始希望日に過去の日付は指定できません。"))
    birth = _to_date(date_of_birth, "date_of_birth", required=True)
    if birth > timezone.localdate():
        raise _fail("date_of_birth", _("生年月日に未来の日付は指定できません。"))
    consent_day = _to_date(consented_on, "consented_on", required=True)
    if consent_day > timezone.localdate():
        raise _fail("consented_on", _("同意日に未来の日付は指定できません。"))
    texts = {f: _text(v) for f, v in {"area": area, "town": town, "conditions": conditions,
                                     "summary": summary}.items()}  # fmt: skip
    leaks = deidentify.check_fields(texts, names=[_text(name), _text(name_kana)])
    if leaks:
        raise DomainError(_("概要に個人を特定できる情報があります。"), fields=leaks)
    hours = _deadline_hours(answer_within_hours)
    referral = Referral(
        network=network,
        referring_organization=organization,
        created_by=actor,
        age_band=age_band,
        sex=sex,
        needs=_needs(needs),
        wished_start=start,
        deadline=timezone.now() + dt.timedelta(hours=hours),
        patient=linked,
        **texts,
    )
    _clean(referral, exclude=["network", "referring_organization", "created_by", "patient"])
    identity = ReferralIdentity(
        name=_text(name),
        name_kana=_text(name_kana),
        date_of_birth=birth,
        address=_text(address),
        phone=_text(phone),
        consent_method=consent_method,
        consented_on=consent_day,
    )
    _clean(identity, exclude=["referral"])
    with _atomic_write():
        referral.save()
        identity.referral = referral
        identity.save()
        audit_record(actor, AuditAction.CREATE, obj=referral)
        _invite(
            referral,
            match(referral),
            by=None,
            limit=int(settings.KIZUNA_REFERRAL_INVITES),
        )
        for coordinator_id in _coordinator_ids(referral):
            notify(
                coordinator_id,
                kind="referral.new",
                key=f"referral.{referral.pk}.new",
                title=_title(referral),
                url=_url(referral),
            )
    return referral


def _linked_patient(actor: User, patient_id: Any) -> Patient | None:
    """The registered patient a referral is about, if named: one the actor reads (anyone
    else's id is "not found", whatever the reason)."""
    if patient_id in (None, ""):
        return None
    try:
        return access_patient(actor, patient_id)
    except (NotFound, Forbidden):
        raise _fail("patient_id", _("患者が見つかりません。")) from None


# --- answers, widening and narrowing ----------------------------------------------------


def _locked_open(referral_id: int) -> Referral:
    """The referral's row, locked, while it is still to be decided; call inside `atomic`."""
    referral = Referral.objects.select_for_update().get(pk=referral_id)
    if referral.status == ReferralStatus.DECIDED:
        raise ReferralConflict(_("この依頼は既に決定されています。"))
    if referral.status == ReferralStatus.CANCELLED:
        raise ReferralConflict(_("この依頼は取り下げられています。"))
    return referral


def referral_answer(
    actor: User, referral_id: Any, *, answer: Any, reason: Any = ""
) -> ReferralInvitation:
    """An invited physician raises their hand (primary, secondary, either) or declines with
    a reason. They may change their answer until the decision."""
    found = access_referral(actor, referral_id, capability=ReferralCapability.ANSWER)
    if answer not in HAND_ANSWERS and answer != ReferralAnswer.DECLINE:
        raise _fail("answer", _("回答を選んでください。"))
    why = _text(reason)
    if answer == ReferralAnswer.DECLINE and not why:
        raise _fail("reason", _("辞退の理由を入力してください。"))
    with _atomic_write():
        referral = _locked_open(found.pk)
        invitation = ReferralInvitation.objects.select_for_update().get(
            referral=referral, physician=actor, withdrawn_at__isnull=True
        )
        invitation.answer = answer
        invitation.reason = why if answer == ReferralAnswer.DECLINE else ""
        invitation.answered_at = timezone.now()
        _clean(invitation, exclude=["referral", "physician", "invited_by"])
        invitation.save()
        if answer in HAND_ANSWERS and referral.status == ReferralStatus.OPEN:
            referral.status = ReferralStatus.MATCHING
            referral.save(update_fields=["status"])
        audit_record(actor, AuditAction.UPDATE, obj=invitation, detail=f"answer={answer}")
        for coordinator_id in _coordinator_ids(referral):
            notify(
                coordinator_id,
                kind="referral.answered",
                key=f"referral.{referral.pk}.answer.{invitation.pk}.{answer}",
                title=_("%(who)s先生が回答しました: %(answer)s")
                % {"who": actor, "answer": invitation.get_answer_display()},
                url=_url(referral),
            )
    return invitation


def _network_physician(referral: Referral, physician_id: Any) -> User:
    """A physician of the referral's network (an active member of one of its organizations)."""
    physician = User.objects.filter(
        pk=_to_id(physician_id, "physician_id"), is_active=True, profession=Profession.PHYSICIAN
    ).first()
    in_network = Membership.objects.filter(
        user=physician, is_active=True, organization__networks=referral.network_id
    ).exists()
    if physician is None or not in_network:
        raise _fail("physician_id", _("このネットワークの医師ではありません。"))
    return physician


def referral_invite(actor: User, referral_id: Any, *, physician_id: Any) -> ReferralInvitation:
    """The coordinator widens the referral to one more of the network's physicians (one
    taken off earlier is invited again)."""
    found = access_referral(actor, referral_id, capability=ReferralCapability.WIDEN)
    physician = _network_physician(found, physician_id)
    with _atomic_write():
        referral = _locked_open(found.pk)
        invitation, created = ReferralInvitation.objects.get_or_create(
            referral=referral,
            physician=physician,
            defaults={"invited_by": actor, "rank": referral.invitations.count()},
        )
        if not created:
            if invitation.withdrawn_at is None:
                raise _fail("physician_id", _("この医師には既に依頼しています。"))
            invitation.withdrawn_at = None
            invitation.invited_by = actor
            invitation.save(update_fields=["withdrawn_at", "invited_by"])
        audit_record(actor, AuditAction.CREATE, obj=invitation, detail="invite")
        _notify_invited(referral, physician.pk)
    return invitation


def referral_uninvite(actor: User, referral_id: Any, *, invitation_id: Any) -> ReferralInvitation:
    """The coordinator narrows the referral: takes a physician off it. They no longer see it."""
    found = access_referral(actor, referral_id, capability=ReferralCapability.WIDEN)
    with _atomic_write():
        referral = _locked_open(found.pk)
        invitation = ReferralInvitation.objects.filter(
            pk=_to_id(invitation_id, "invitation_id"), referral=referral, withdrawn_at__isnull=True
        ).first()
        if invitation is None:
            raise NotFound
        invitation.withdrawn_at = timezone.now()
        invitation.save(update_fields=["withdrawn_at"])
        audit_record(actor, AuditAction.UPDATE, obj=invitation, detail="withdrawn")
    return invitation


# --- the deadline -----------------------------------------------------------------------


def _nobody_for_primary() -> Q:
    return ~Q(
        Exists(
            ReferralInvitation.objects.filter(
                referral_id=OuterRef("pk"),
                withdrawn_at__isnull=True,
                answer__in=ANSWERS_FOR_PRIMARY,
            )
        )
    )


def referral_escalate(referral_id: int, *, now: dt.datetime | None = None) -> bool:
    """Escalate one overdue referral, once: claim it with a conditional update (whoever
    claims it escalates; a second worker's update finds nothing), widen it to the network's
    other areas and tell the coordinators. Returns whether this call escalated it."""
    at = now or timezone.now()
    with transaction.atomic():
        claimed = (
            Referral.objects.filter(
                pk=referral_id,
                status__in=(ReferralStatus.OPEN, ReferralStatus.MATCHING),
                escalated_at__isnull=True,
                deadline__lte=at,
            )
            .filter(_nobody_for_primary())
            .update(escalated_at=at)
        )
        if claimed != 1:
            return False
        referral = Referral.objects.select_related("network").get(pk=referral_id)
        added = _invite(referral, match(referral, widened=True), by=None, limit=None)
        audit_record(
            None, AuditAction.UPDATE, obj=referral, detail=f"escalated,invited={len(added)}"
        )
        for coordinator_id in _coordinator_ids(referral):
            notify(
                coordinator_id,
                kind="referral.escalated",
                key=f"referral.{referral.pk}.escalated",
                title=_("期限までに主治医が決まっていません: %(t)s") % {"t": _title(referral)},
                url=_url(referral),
                body=_("近隣の地域の医師%(n)s名にも依頼しました。") % {"n": len(added)},
                urgency=Urgency.IMPORTANT,
            )
    return True


def referral_escalate_due(*, now: dt.datetime | None = None) -> list[int]:
    """The sweep: escalate every referral past its deadline with nobody for the primary's
    place. Safe to run in several workers at once."""
    at = now or timezone.now()
    due = (
        Referral.objects.filter(
            status__in=(ReferralStatus.OPEN, ReferralStatus.MATCHING),
            escalated_at__isnull=True,
            deadline__lte=at,
        )
        .filter(_nobody_for_primary())
        .order_by("deadline")
        .values_list("pk", flat=True)[:200]
    )
    return [pk for pk in list(due) if referral_escalate(pk, now=at)]


# --- the decision -----------------------------------------------------------------------


def _home_organization(physician: User, network_id: int) -> Organization:
    membership = (
        Membership.objects.filter(user=physician, is_active=True, organization__networks=network_id)
        .select_related("organization")
        .order_by("id")
        .first()
    )
    if membership is None:  # checked when invited; they may have left since
        raise _fail(
            "primary_id",
            _("%(who)s先生はネットワークの組織に所属していません。") % {"who": physician},
        )
    return membership.organization


def _chosen(
    invitations: dict[int, ReferralInvitation], pk: int, field: str, answers: tuple[str, ...]
) -> User:
    invitation = invitations.get(pk)
    if invitation is None:
        raise _fail(field, _("この依頼を受けていない医師は選べません。"))
    if invitation.answer not in answers:
        raise _fail(field, _("この医師はこの役割で手を挙げていません。"))
    return invitation.physician


def referral_confirm(
    actor: User, referral_id: Any, *, primary_id: Any, secondary_id: Any = None
) -> Patient:
    """The coordinator confirms the pair. In one transaction: the patient is created from
    the identifying record; the consent that the referring organization took is recorded,
    covering the physicians' organizations and the hospital's; the care team gets its
    primary and secondary physicians and the referring hospital's author a place until the
    wished start (the discharge); the contact book opens with the summary as its first
    message (`signals.referral_confirmed`); every invited physician learns the outcome.
    """
    found = access_referral(actor, referral_id, capability=ReferralCapability.DECIDE)
    primary_pk = _to_id(primary_id, "primary_id")
    secondary_pk = _to_id(secondary_id, "secondary_id") if secondary_id not in (None, "") else None
    if secondary_pk == primary_pk:
        raise _fail("secondary_id", _("主治医と副主治医は別の医師にしてください。"))
    today = timezone.localdate()
    with _atomic_write():
        referral = _locked_open(found.pk)
        invitations = {
            i.physician_id: i
            for i in referral.invitations.filter(withdrawn_at__isnull=True).select_related(
                "physician"
            )
        }
        primary = _chosen(invitations, primary_pk, "primary_id", ANSWERS_FOR_PRIMARY)
        secondary = (
            _chosen(invitations, secondary_pk, "secondary_id", ANSWERS_FOR_SECONDARY)
            if secondary_pk is not None
            else None
        )
        identity = ReferralIdentity.objects.get(referral=referral)
        linked_id = referral.patient_id
        linked = linked_id is not None
        if linked_id is not None:
            patient = Patient.objects.select_for_update().get(pk=linked_id)
            managing = patient.managing_organization
            ended = _end_physician_places(actor, patient, today)
        else:
            managing = _home_organization(primary, referral.network_id)
            patient = _new_patient(referral, identity, managing, today)
            audit_record(actor, AuditAction.CREATE, patient=patient, obj=patient)
            ended = []
        places = [CareTeamMember(patient=patient, user=primary, role=CareRole.PRIMARY_PHYSICIAN,
                                 organization=_home_organization(primary, referral.network_id),
                                 start_date=today)]  # fmt: skip
        if secondary is not None:
            places.append(
                CareTeamMember(
                    patient=patient,
                    user=secondary,
                    role=CareRole.SECONDARY_PHYSICIAN,
                    organization=_home_organization(secondary, referral.network_id),
                    start_date=today,
                )
            )
        author = referral.created_by
        hospital_member = Membership.objects.filter(
            user=author, organization=referral.referring_organization, is_active=True
        ).exists()
        if hospital_member and author.is_active:
            # The hospital's place ends at the discharge: the home team takes over from there.
            places.append(
                CareTeamMember(
                    patient=patient,
                    user=author,
                    role=CareRole.HOSPITAL_LIAISON,
                    organization=referral.referring_organization,
                    start_date=today,
                    end_date=max(referral.wished_start, today),
                )
            )
        organizations = {p.organization_id for p in places if p.organization_id}
        consent = _consent_for(actor, referral, identity, patient, organizations)
        for place in CareTeamMember.objects.bulk_create(places):
            audit_record(actor, AuditAction.CREATE, patient=patient, obj=place)
        _disclose(actor, patient, consent, organizations)
        referral.status = ReferralStatus.DECIDED
        referral.decided_at = timezone.now()
        referral.decided_by = actor
        referral.primary = primary
        referral.secondary = secondary
        referral.patient = patient
        referral.save()
        audit_record(actor, AuditAction.UPDATE, patient=patient, obj=referral, detail="decided")
        if not linked:
            signals.patient_created.send(sender=Patient, patient=patient, actor=actor)
        gone = sorted(set(ended) - {primary.pk, secondary.pk if secondary else 0})
        if gone:
            signals.access_ended.send(sender=Patient, patient_id=patient.pk, user_ids=gone)
        signals.referral_confirmed.send(
            sender=Referral,
            patient=patient,
            author=author if hospital_member and author.is_active else primary,
            text=_summary_text(referral),
        )
        _notify_outcome(referral, list(invitations.values()), patient)
    return patient


def _new_patient(
    referral: Referral, identity: ReferralIdentity, managing: Organization, today: dt.date
) -> Patient:
    """The patient made from the identifying record, managed by the primary's organization."""
    return Patient.objects.create(
        name=identity.name,
        name_kana=identity.name_kana,
        date_of_birth=identity.date_of_birth,
        sex=referral.sex,
        managing_organization=managing,
        address=identity.address,
        phone=identity.phone,
        status=PatientStatus.HOSPITALIZED
        if referral.wished_start > today
        else PatientStatus.AT_HOME,
    )


def _end_physician_places(actor: User, patient: Patient, today: dt.date) -> list[int]:
    """A linked patient's primary and secondary places that have not ended end yesterday
    (today, for one that began today): the new pair takes over today. Returns whose."""
    places = CareTeamMember.objects.filter(patient=patient, role__in=PHYSICIAN_ROLES).filter(
        Q(end_date__isnull=True) | Q(end_date__gte=today)
    )
    ended: list[int] = []
    for place in places.select_for_update():
        place.end_date = max(place.start_date, today - dt.timedelta(days=1))
        place.save(update_fields=["end_date"])
        audit_record(actor, AuditAction.UPDATE, patient=patient, obj=place, detail="ended")
        ended.append(place.user_id)
    return ended


def _consent_for(
    actor: User,
    referral: Referral,
    identity: ReferralIdentity,
    patient: Patient,
    organizations: set[int],
) -> Consent:
    """The consent the referring organization took (how and when: the identifying record),
    covering the organizations of the new places: recorded in its author's name, or, for a
    linked patient with a consent on record, that consent extended to them."""
    consent = (
        Consent.objects.select_for_update()
        .filter(patient=patient, withdrawn_at__isnull=True)
        .first()
    )
    if consent is None:
        consent = Consent.objects.create(
            patient=patient,
            recorded_by=referral.created_by,
            method=identity.consent_method,
            consented_on=identity.consented_on,
            note=_("在宅医療の依頼 #%(id)s で紹介元が取得") % {"id": referral.pk},
        )
        audit_record(actor, AuditAction.CREATE, patient=patient, obj=consent)
        consent.organizations.add(patient.managing_organization_id, *organizations)
        return consent
    added = organizations - set(consent.organizations.values_list("pk", flat=True))
    if added:
        consent.organizations.add(*added)
        audit_record(
            actor,
            AuditAction.UPDATE,
            patient=patient,
            obj=consent,
            detail="organizations+=" + ",".join(map(str, sorted(added))),
        )
    return consent


def _notify_outcome(
    referral: Referral, invitations: list[ReferralInvitation], patient: Patient
) -> None:
    chosen = {referral.primary_id: _("主治医"), referral.secondary_id: _("副主治医")}
    patient_url = reverse("patient-detail", args=[patient.pk])
    for invitation in invitations:
        role = chosen.get(invitation.physician_id)
        if role is not None:
            title = _("%(role)sに決まりました: %(t)s") % {"role": role, "t": _title(referral)}
            url = patient_url
        else:
            title = _("他の医師に決まりました: %(t)s") % {"t": _title(referral)}
            url = _url(referral)
        notify(
            invitation.physician_id,
            kind="referral.decided",
            key=f"referral.{referral.pk}.decided",
            title=title,
            url=url,
        )
    notify(
        referral.created_by_id,
        kind="referral.decided",
        key=f"referral.{referral.pk}.decided",
        title=_("主治医・副主治医が決まりました: %(t)s") % {"t": _title(referral)},
        url=_url(referral),
    )
