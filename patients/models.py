"""Patients, consent, care teams and the shared record.

Invariants kept by the database:
- at most one open-ended primary and one open-ended secondary physician per patient
  (partial unique indexes); `patients.services` keeps "exactly one primary" and "both are
  physicians", which a constraint cannot see across tables;
- a care-team membership ends on or after it starts.

Consent names the organizations it covers (`Consent.organizations`, the managing organization
always among them) and what it covers (`Consent.items`); each first provision of a patient's
data to another organization under a consent is a `Disclosure` row (第三者提供の記録), at most
one per patient, organization and consent.

The shared record (problems, medications, allergies, devices, contacts) keeps every change as a
`RecordChange` row; the patient's wishes (green and yellow card) are append-only: each change is a
new `CareWish` row and the newest per kind is in force.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from teams.models import Organization


class Sex(models.TextChoices):
    FEMALE = "female", _("女性")
    MALE = "male", _("男性")
    OTHER = "other", _("その他")
    UNKNOWN = "unknown", _("不明")


class CareLevel(models.TextChoices):
    NONE = "none", _("なし")
    PENDING = "pending", _("申請中")
    SUPPORT_1 = "support_1", _("要支援1")
    SUPPORT_2 = "support_2", _("要支援2")
    CARE_1 = "care_1", _("要介護1")
    CARE_2 = "care_2", _("要介護2")
    CARE_3 = "care_3", _("要介護3")
    CARE_4 = "care_4", _("要介護4")
    CARE_5 = "care_5", _("要介護5")


class PatientStatus(models.TextChoices):
    AT_HOME = "at_home", _("在宅")
    HOSPITALIZED = "hospitalized", _("入院中")
    DISCHARGED = "discharged", _("終了")
    DECEASED = "deceased", _("死亡")


class Patient(models.Model):
    name = models.CharField(_("氏名"), max_length=100)
    name_kana = models.CharField(_("ふりがな"), max_length=100)
    date_of_birth = models.DateField(_("生年月日"))
    sex = models.CharField(_("性別"), max_length=10, choices=Sex.choices)
    care_level = models.CharField(
        _("要介護度"), max_length=20, choices=CareLevel.choices, default=CareLevel.NONE
    )
    status = models.CharField(
        _("状態"), max_length=20, choices=PatientStatus.choices, default=PatientStatus.AT_HOME
    )
    managing_organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="managed_patients",
        verbose_name=_("管理組織"),
    )
    address = models.CharField(_("住所"), max_length=300, blank=True)
    phone = models.CharField(_("電話番号"), max_length=30, blank=True)
    # The care team's escalation deadlines (messaging.escalation): how long the primary
    # physician has to acknowledge an urgent request, and each later step.
    escalation_first_minutes = models.PositiveSmallIntegerField(
        _("主治医の応答期限(分)"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
    )
    escalation_next_minutes = models.PositiveSmallIntegerField(
        _("以降の応答期限(分)"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name_kana", "id"]
        verbose_name = _("患者")
        verbose_name_plural = _("患者")

    def __str__(self) -> str:
        return self.name


class ConsentItem(models.TextChoices):
    """What a consent covers: the parts of the patient's data that a place on the team reads."""

    RECORD = "record", _("共有記録(病名・薬剤・アレルギー・医療機器・緊急連絡先・希望)")
    CONTACT_BOOK = "contact_book", _("連絡帳")
    PHOTOS = "photos", _("写真")


# A place on the team reads both the record and the contact book (the gate does not split them),
# so a consent without either would not be a consent to join the team: both are required.
REQUIRED_CONSENT_ITEMS = (ConsentItem.RECORD, ConsentItem.CONTACT_BOOK)


def default_consent_items() -> list[str]:
    return [str(item) for item in REQUIRED_CONSENT_ITEMS]


def item_labels(items: list[str]) -> list[str]:
    """The labels of consent items, in the order of `ConsentItem`."""
    return [str(label) for value, label in ConsentItem.choices if value in items]


class ConsentMethod(models.TextChoices):
    WRITTEN = "written", _("書面")
    VERBAL = "verbal", _("口頭")


class Consent(models.Model):
    """The patient's consent to share their record with the care team's organizations.

    `organizations` are those it covers: a place on the team reads only while its organization
    is one of them (`patients.access`); the managing organization is always one of them.
    `items` are what it covers, `method` and `consented_on` how and when it was given.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="consents")
    organizations = models.ManyToManyField(
        Organization, related_name="consents", verbose_name=_("対象の組織")
    )
    items = ArrayField(
        models.CharField(max_length=20, choices=ConsentItem.choices),
        verbose_name=_("対象の情報"),
        default=default_consent_items,
    )
    method = models.CharField(
        _("同意の方法"), max_length=10, choices=ConsentMethod.choices, default=ConsentMethod.WRITTEN
    )
    consented_on = models.DateField(_("同意日"), default=timezone.localdate)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(_("備考"), max_length=500, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-recorded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(withdrawn_at__isnull=True),
                name="one_active_consent_per_patient",
            ),
        ]

    @property
    def item_labels(self) -> list[str]:
        return item_labels(self.items)


class CareRole(models.TextChoices):
    PRIMARY_PHYSICIAN = "primary_physician", _("主治医")
    SECONDARY_PHYSICIAN = "secondary_physician", _("副主治医")
    VISITING_NURSE = "visiting_nurse", _("訪問看護師")
    PHARMACIST = "pharmacist", _("薬剤師")
    THERAPIST = "therapist", _("療法士")
    CARE_MANAGER = "care_manager", _("ケアマネジャー")
    CARE_WORKER = "care_worker", _("介護職員")
    HOSPITAL_LIAISON = "hospital_liaison", _("病院連携担当")
    OTHER = "other", _("その他")


PHYSICIAN_ROLES = (CareRole.PRIMARY_PHYSICIAN, CareRole.SECONDARY_PHYSICIAN)


class CareTeamMember(models.Model):
    """A person's place on a patient's care team, from `start_date` to `end_date` (inclusive).

    A place with no end date is open-ended; the gate treats a place as active on the days
    between its dates.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="care_team")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="care_team_places"
    )
    role = models.CharField(_("役割"), max_length=30, choices=CareRole.choices)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    start_date = models.DateField(_("開始日"))
    end_date = models.DateField(_("終了日"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["patient_id", "role", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(role="primary_physician", end_date__isnull=True),
                name="one_open_primary_physician",
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(role="secondary_physician", end_date__isnull=True),
                name="one_open_secondary_physician",
            ),
            models.UniqueConstraint(
                fields=["patient", "user", "role"],
                condition=Q(end_date__isnull=True),
                name="one_open_place_per_role",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="care_team_dates_ordered",
            ),
        ]
        indexes = [models.Index(fields=["user", "patient"])]

    def __str__(self) -> str:
        return f"{self.patient}: {self.user} ({self.get_role_display()})"


class RecordItem(models.Model):
    """Common fields of the shared record's list items."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        abstract = True
        ordering = ["id"]


class Problem(RecordItem):
    name = models.CharField(_("病名・問題"), max_length=200)
    onset_date = models.DateField(_("発症日"), null=True, blank=True)
    is_active = models.BooleanField(_("現在"), default=True)
    note = models.TextField(_("備考"), blank=True)


class Medication(RecordItem):
    name = models.CharField(_("薬剤名"), max_length=200)
    dose = models.CharField(_("用量・用法"), max_length=200, blank=True)
    start_date = models.DateField(_("開始日"), null=True, blank=True)
    end_date = models.DateField(_("終了日"), null=True, blank=True)
    note = models.TextField(_("備考"), blank=True)

    class Meta(RecordItem.Meta):
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True)
                | Q(start_date__isnull=True)
                | Q(end_date__gte=F("start_date")),
                name="medication_dates_ordered",
            ),
        ]


class Allergy(RecordItem):
    substance = models.CharField(_("アレルゲン"), max_length=200)
    reaction = models.CharField(_("症状"), max_length=200, blank=True)
    severity = models.CharField(
        _("重症度"),
        max_length=10,
        choices=[("mild", _("軽度")), ("moderate", _("中等度")), ("severe", _("重度"))],
        default="moderate",
    )


class MedicalDevice(RecordItem):
    name = models.CharField(_("医療機器"), max_length=200)
    since = models.DateField(_("使用開始日"), null=True, blank=True)
    note = models.TextField(_("備考"), blank=True)


class EmergencyContact(RecordItem):
    name = models.CharField(_("氏名"), max_length=100)
    relationship = models.CharField(_("続柄"), max_length=50)
    phone = models.CharField(_("電話番号"), max_length=30)
    is_key_person = models.BooleanField(_("キーパーソン"), default=False)
    note = models.CharField(_("備考"), max_length=300, blank=True)


class WishKind(models.TextChoices):
    GREEN = "green", _("グリーンカード(最期を過ごしたい場所)")
    YELLOW = "yellow", _("イエローカード(病状変化時の希望病院)")


class CareWish(models.Model):
    """One version of a patient's wish. Never updated: a change adds a row."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="wishes")
    kind = models.CharField(_("種類"), max_length=10, choices=WishKind.choices)
    preference = models.CharField(_("希望"), max_length=300)
    hospital = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("希望病院"),
    )
    note = models.TextField(_("備考"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["patient", "kind", "-recorded_at"])]


class RecordChange(models.Model):
    """History of the shared record: who changed which item, when, and what it became."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="record_changes")
    item_type = models.CharField(max_length=40)
    item_id = models.BigIntegerField()
    action = models.CharField(max_length=10)  # create / update / delete
    snapshot = models.JSONField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-changed_at", "-id"]


class BreakGlassGrant(models.Model):
    """Emergency access to a patient by someone outside the care team, for a limited time."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("理由"))
    granted_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-granted_at"]
        indexes = [models.Index(fields=["user", "patient", "expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("granted_at")), name="break_glass_expires_after_grant"
            ),
        ]


class EscalationGrant(models.Model):
    """Reading (and posting) granted to someone an urgent request reached who is not on the
    care team: the network's on-call physician or a hospital's contact. It lasts for the life
    of the request and 12 hours after (`ends_at` set when the request closes)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # What it was given for ("request 12"), for the audit and the patient page.
    reason = models.CharField(_("理由"), max_length=200)
    request_ref = models.BigIntegerField()
    granted_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-granted_at"]
        verbose_name = _("エスカレーションによる閲覧")
        verbose_name_plural = _("エスカレーションによる閲覧")
        constraints = [
            models.UniqueConstraint(
                fields=["request_ref", "user"], name="one_escalation_grant_per_request"
            ),
        ]
        indexes = [models.Index(fields=["user", "patient"])]


class ConferenceGrant(models.Model):
    """A hospital guest's reading of one patient for one discharge conference's window.

    Written by `patients.services.conference_grant_give` when a discharge conference puts
    the patient on its agenda and invites hospital staff who are not on the team; read by
    the gate (`patients.access.GRANTS`, `conference_guest`). `source` names the conference
    and occurrence ("conference:12@2026-12-17T10:00:00+00:00") so a move replaces its rows.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    source = models.CharField(max_length=100)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user", "patient", "ends_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="conference_grant_ends_after_start"
            ),
            models.UniqueConstraint(
                fields=["source", "user", "patient"], name="conference_grant_once_per_source"
            ),
        ]


class Disclosure(models.Model):
    """第三者提供の記録: the first provision of a patient's data to another organization under a
    consent: when, to whom, what (the consent's items then), on what basis, caused by whom.

    Written by `patients.services` when an organization first gains access (a member of it
    joins the team while the consent covers it, or the consent is extended to it while it has
    members on the team); once per patient, organization and consent. Never updated.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="disclosures")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", verbose_name=_("提供先")
    )
    consent = models.ForeignKey(Consent, on_delete=models.CASCADE, related_name="disclosures")
    items = ArrayField(
        models.CharField(max_length=20, choices=ConsentItem.choices), verbose_name=_("提供した情報")
    )
    at = models.DateTimeField(_("提供日時"), default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "organization", "consent"], name="one_disclosure_per_consent"
            ),
        ]
        indexes = [models.Index(fields=["patient", "-at"])]

    @property
    def item_labels(self) -> list[str]:
        return item_labels(self.items)


# The five lists of the shared record, by the name used in URLs and `RecordChange.item_type`.
RECORD_KINDS: dict[str, type[RecordItem]] = {
    "problems": Problem,
    "medications": Medication,
    "allergies": Allergy,
    "devices": MedicalDevice,
    "contacts": EmergencyContact,
}


# --- Referrals: a new home-care patient finds a primary and a secondary physician ---------
# docs/referrals.md. The summary (`Referral`) is what the invited physicians read; the
# identifying record (`ReferralIdentity`) is kept apart and reaches only the accepted team,
# as the patient it becomes on confirmation.


class AgeBand(models.TextChoices):
    UNDER_10 = "0-9", _("10歳未満")
    TEENS = "10-19", _("10代")
    TWENTIES = "20-29", _("20代")
    THIRTIES = "30-39", _("30代")
    FORTIES = "40-49", _("40代")
    FIFTIES = "50-59", _("50代")
    SIXTIES = "60-69", _("60代")
    SEVENTIES = "70-79", _("70代")
    EIGHTIES = "80-89", _("80代")
    NINETIES_AND_OVER = "90+", _("90歳以上")


class ReferralStatus(models.TextChoices):
    OPEN = "open", _("募集中")
    MATCHING = "matching", _("調整中")
    DECIDED = "decided", _("決定")
    CANCELLED = "cancelled", _("取り下げ")


class Referral(models.Model):
    """A referral for home care (在宅医療の依頼): the de-identified summary and its state.

    Every field here is shown to the invited physicians, so the summary fields are checked
    for identifying data when written (`patients.deidentify`). `deadline` is when nobody
    having raised a hand escalates it to the coordinator and widens it to the network's other
    areas (`escalated_at`, set once by a conditional update: `patients.referrals`).
    """

    network = models.ForeignKey("teams.Network", on_delete=models.PROTECT, related_name="referrals")
    referring_organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", verbose_name=_("紹介元")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    age_band = models.CharField(_("年代"), max_length=10, choices=AgeBand.choices)
    sex = models.CharField(_("性別"), max_length=10, choices=Sex.choices)
    area = models.CharField(_("地域(市区町村)"), max_length=100)
    town = models.CharField(_("町名"), max_length=100, blank=True)
    conditions = models.TextField(_("主な病名・状態"), max_length=1000)
    needs = ArrayField(
        models.CharField(max_length=40), verbose_name=_("医療機器・ケアの必要"), default=list
    )
    summary = models.TextField(_("経過と依頼内容"), max_length=2000, blank=True)
    wished_start = models.DateField(_("在宅医療の開始希望日(退院予定日)"))
    deadline = models.DateTimeField(_("回答期限"))
    status = models.CharField(
        _("状態"), max_length=20, choices=ReferralStatus.choices, default=ReferralStatus.OPEN
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    primary = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    secondary = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="referrals"
    )

    class Meta:
        ordering = ["deadline", "id"]
        verbose_name = _("在宅医療の依頼")
        verbose_name_plural = _("在宅医療の依頼")
        constraints = [
            models.CheckConstraint(
                condition=Q(secondary__isnull=True) | ~Q(secondary=F("primary")),
                name="referral_secondary_not_primary",
            ),
            models.CheckConstraint(
                condition=~Q(status="decided")
                | Q(primary__isnull=False, patient__isnull=False, decided_at__isnull=False),
                name="referral_decided_has_pair_and_patient",
            ),
        ]
        indexes = [
            models.Index(
                fields=["deadline"],
                condition=Q(escalated_at__isnull=True, status="open"),
                name="referral_due",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.area} {self.get_age_band_display()}"


class ReferralIdentity(models.Model):
    """The identifying record of a referral, kept apart from the summary: read by the
    referring organization's members until the decision, then it becomes the patient
    (whom only the care team sees, through the gate)."""

    referral = models.OneToOneField(Referral, on_delete=models.CASCADE, related_name="identity")
    name = models.CharField(_("氏名"), max_length=100)
    name_kana = models.CharField(_("ふりがな"), max_length=100)
    date_of_birth = models.DateField(_("生年月日"))
    address = models.CharField(_("住所"), max_length=300, blank=True)
    phone = models.CharField(_("電話番号"), max_length=30, blank=True)
    consent_method = models.CharField(
        _("同意の方法"), max_length=10, choices=ConsentMethod.choices, default=ConsentMethod.WRITTEN
    )
    consented_on = models.DateField(_("同意日"))


class ReferralAnswer(models.TextChoices):
    PENDING = "pending", _("未回答")
    PRIMARY = "primary", _("主治医として受けられる")
    SECONDARY = "secondary", _("副主治医として受けられる")
    EITHER = "either", _("どちらでも受けられる")
    DECLINE = "decline", _("辞退")


# The answers that raise a hand for each place.
ANSWERS_FOR_PRIMARY = (ReferralAnswer.PRIMARY, ReferralAnswer.EITHER)
ANSWERS_FOR_SECONDARY = (ReferralAnswer.SECONDARY, ReferralAnswer.EITHER)


class ReferralInvitation(models.Model):
    """A physician asked to take a referral, and their answer. `withdrawn_at`: the
    coordinator narrowed the referral and took this physician off it."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="invitations")
    physician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referral_invitations"
    )
    rank = models.PositiveIntegerField(default=0)
    invited_at = models.DateTimeField(default=timezone.now)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    answer = models.CharField(
        _("回答"), max_length=10, choices=ReferralAnswer.choices, default=ReferralAnswer.PENDING
    )
    reason = models.CharField(_("辞退の理由"), max_length=500, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["rank", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["referral", "physician"], name="one_invitation_per_physician"
            ),
            models.CheckConstraint(
                condition=~Q(answer="decline") | ~Q(reason=""),
                name="referral_decline_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["physician", "referral"])]
