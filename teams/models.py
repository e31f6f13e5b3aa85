"""People, organizations and regional networks of a home-care network.

A `User` is a person who logs in; their profession says what they may be on a care team
(only physicians may be primary or secondary physician). A person works for one or more
organizations through `Membership`. Organizations have a kind and capabilities (医療機能),
which make up the directory (連携リスト). A `Network` groups organizations of a region and
has coordinators.

`ApiToken` and `UserSession` are a person's ways in: per-device API tokens that expire when
idle, and the web sessions they are signed in with, so both can be listed and ended.
"""

from __future__ import annotations

import hashlib

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Profession(models.TextChoices):
    PHYSICIAN = "physician", _("医師")
    NURSE = "nurse", _("看護師")
    PHARMACIST = "pharmacist", _("薬剤師")
    PHYSICAL_THERAPIST = "pt", _("理学療法士")
    OCCUPATIONAL_THERAPIST = "ot", _("作業療法士")
    SPEECH_THERAPIST = "st", _("言語聴覚士")
    CARE_MANAGER = "care_manager", _("介護支援専門員")
    CARE_WORKER = "care_worker", _("介護職員")
    SOCIAL_WORKER = "social_worker", _("社会福祉士")
    DENTIST = "dentist", _("歯科医師")
    DIETITIAN = "dietitian", _("管理栄養士")
    CLERK = "clerk", _("事務")
    OTHER = "other", _("その他")


class User(AbstractUser):
    """A person with a login. `display_name` is the name shown to the team (氏名)."""

    display_name = models.CharField(_("氏名"), max_length=100, blank=True)
    name_kana = models.CharField(_("ふりがな"), max_length=100, blank=True)
    profession = models.CharField(
        _("職種"), max_length=20, choices=Profession.choices, default=Profession.OTHER
    )
    phone = models.CharField(_("電話番号"), max_length=30, blank=True)
    # The "off duty now" switch (a physician on a visit with no signal, ill, at a funeral):
    # urgent requests skip them at once (messaging.escalation).
    off_duty = models.BooleanField(_("現在対応不可"), default=False)

    class Meta:
        verbose_name = _("利用者")
        verbose_name_plural = _("利用者")

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    @property
    def is_physician(self) -> bool:
        return self.profession == Profession.PHYSICIAN


class OrganizationKind(models.TextChoices):
    CLINIC = "clinic", _("診療所")
    HOSPITAL = "hospital", _("病院")
    NURSING_STATION = "nursing_station", _("訪問看護ステーション")
    PHARMACY = "pharmacy", _("薬局")
    CARE_MANAGEMENT = "care_management", _("居宅介護支援事業所")
    MUNICIPALITY = "municipality", _("自治体")
    OTHER = "other", _("その他")


class CapabilityCode(models.TextChoices):
    HOME_VISITS = "home_visits", _("訪問診療・訪問")
    RESPONSE_24H = "response_24h", _("24時間対応")
    EMERGENCY_ADMISSION = "emergency_admission", _("緊急入院受入")
    PALLIATIVE_CARE = "palliative_care", _("緩和ケア")
    PEDIATRIC_HOME_CARE = "pediatric_home_care", _("小児在宅")
    VENTILATOR = "ventilator", _("人工呼吸器管理")
    TUBE_FEEDING = "tube_feeding", _("経管栄養")
    HOME_OXYGEN = "home_oxygen", _("在宅酸素")
    DEMENTIA = "dementia", _("認知症対応")
    END_OF_LIFE = "end_of_life", _("看取り")
    IV_THERAPY = "iv_therapy", _("点滴・注射")
    REHABILITATION = "rehabilitation", _("リハビリテーション")
    ASEPTIC_COMPOUNDING = "aseptic_compounding", _("無菌調剤")


class Capability(models.Model):
    """One capability an organization may have. Rows are made by a data migration."""

    code = models.CharField(max_length=40, unique=True, choices=CapabilityCode.choices)

    class Meta:
        ordering = ["code"]
        verbose_name = _("医療機能")
        verbose_name_plural = _("医療機能")

    def __str__(self) -> str:
        return str(CapabilityCode(self.code).label)


class Organization(models.Model):
    name = models.CharField(_("名称"), max_length=200, unique=True)
    name_kana = models.CharField(_("ふりがな"), max_length=200, blank=True)
    kind = models.CharField(_("種別"), max_length=30, choices=OrganizationKind.choices)
    capabilities = models.ManyToManyField(
        Capability, blank=True, related_name="organizations", verbose_name=_("医療機能")
    )
    area = models.CharField(_("地域"), max_length=100, blank=True, db_index=True)
    postal_code = models.CharField(_("郵便番号"), max_length=10, blank=True)
    address = models.CharField(_("住所"), max_length=300, blank=True)
    phone = models.CharField(_("電話番号"), max_length=30, blank=True)
    fax = models.CharField(_("FAX"), max_length=30, blank=True)
    notes = models.TextField(_("備考"), blank=True)
    # Who receives an escalation that reaches this organization (a hospital's emergency desk,
    # 地域連携室): a hospital "has a contact" when this is set.
    emergency_contact = models.ForeignKey(
        "User",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("緊急連絡担当者"),
    )
    # Empty: settings.KIZUNA_SESSION_IDLE_MINUTES. A person in several organizations gets the
    # strictest of theirs (teams.sessions).
    session_idle_minutes = models.PositiveSmallIntegerField(
        _("無操作でログアウトするまでの分数"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(12 * 60)],
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name_kana", "name"]
        verbose_name = _("組織")
        verbose_name_plural = _("組織")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A person works for an organization. `is_admin` makes them its administrator."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    title = models.CharField(_("役職"), max_length=100, blank=True)
    is_admin = models.BooleanField(_("管理者"), default=False)
    is_active = models.BooleanField(_("有効"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="uniq_membership"),
        ]
        verbose_name = _("所属")
        verbose_name_plural = _("所属")

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization}"


class Network(models.Model):
    """A regional home-care network (地域連携ネットワーク) grouping organizations."""

    name = models.CharField(_("名称"), max_length=200, unique=True)
    area = models.CharField(_("地域"), max_length=100, blank=True)
    organizations = models.ManyToManyField(
        Organization, blank=True, related_name="networks", verbose_name=_("参加組織")
    )
    coordinators = models.ManyToManyField(
        User, blank=True, related_name="coordinated_networks", verbose_name=_("コーディネーター")
    )
    # The network's rule for home-care referrals: besides its coordinators, the referring
    # hospital chooses the primary and the secondary physician (patients.access).
    referrer_decides = models.BooleanField(
        _("在宅医療の依頼で紹介元も主治医・副主治医を決める"), default=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("ネットワーク")
        verbose_name_plural = _("ネットワーク")

    def __str__(self) -> str:
        return self.name


# --- On call: the network's rotation (当番表) and the physicians' availability ----------------


class OnCallDay(models.Model):
    """Who is on call for one day of a network's rotation, and which hospital backs them up.

    A day's duty runs from `ON_CALL_DAY_STARTS` (09:00, Asia/Tokyo) to the same time the next
    day: on weekdays that is the evening and the night (the team answers in the day), on
    weekends and public holidays the whole day. One row per network and date.
    """

    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="on_call_days")
    date = models.DateField(_("日付"))
    physician = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="on_call_days", verbose_name=_("当番医")
    )
    backup_hospital = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("後方支援病院"),
    )
    updated_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["network_id", "date"]
        verbose_name = _("当番")
        verbose_name_plural = _("当番表")
        constraints = [
            models.UniqueConstraint(fields=["network", "date"], name="one_on_call_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.network_id} {self.date}: {self.physician_id}"


class LeavePeriod(models.Model):
    """Days a person is away (休暇, 学会): urgent requests skip them. Inclusive dates."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="leave_periods")
    starts_on = models.DateField(_("開始日"))
    ends_on = models.DateField(_("終了日"))
    note = models.CharField(_("備考"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user_id", "starts_on"]
        verbose_name = _("休暇")
        verbose_name_plural = _("休暇")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__gte=models.F("starts_on")), name="leave_dates_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.starts_on}–{self.ends_on}"


# --- Access: API tokens and signed-in sessions ----------------------------------------------

TOKEN_KEY_BYTES = 20  # 40 hex characters, the length DRF's tokens had


def token_digest(key: str) -> str:
    """What is stored of an API token: its SHA-256, so a copy of the table opens nothing.

    A plain hash suffices (no salt, no stretching): the key is 160 random bits, not a
    password, and the lookup must find the row by its digest.
    """
    return hashlib.sha256(key.encode()).hexdigest()


def session_tag(session_key: str | None) -> str:
    """A session's name outside the session store: live sockets and the revocations sent to
    them carry this, never the key itself (which signs a person in)."""
    if not session_key:
        return ""
    return hashlib.sha256(f"kizuna-session:{session_key}".encode()).hexdigest()[:32]


class ApiToken(models.Model):
    """An API token of one device (`Authorization: Token <key>`).

    Each sign-in through the token endpoint makes a new one, so a device's token can be
    revoked without the person's other devices losing theirs. A token expires after
    `KIZUNA_API_TOKEN_IDLE_SECONDS` without use; `last_used_at` is moved forward by the
    authentication statement itself (`teams.sql.token_user`), at most once a minute.
    """

    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    created_at = models.DateTimeField(_("作成日時"), default=timezone.now)
    last_used_at = models.DateTimeField(_("最終利用日時"), default=timezone.now)
    user_agent = models.CharField(_("端末"), max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(_("IPアドレス"), null=True, blank=True)
    # The web session the token was asked for from, if any: signing out of it revokes it.
    session_key = models.CharField(max_length=40, blank=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-last_used_at"])]
        verbose_name = _("APIトークン")
        verbose_name_plural = _("APIトークン")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.created_at:%Y-%m-%d %H:%M}"


class UserSession(models.Model):
    """A signed-in web session (the session store keeps its data; this, whose it is).

    Django's session store cannot list a person's sessions, so a row is written at login
    (`teams.receivers`) and removed when the session ends. The session store stays the
    authority: a row whose session has expired or gone is not shown and is cleaned up.
    """

    session_key = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="web_sessions")
    created_at = models.DateTimeField(_("ログイン日時"), default=timezone.now)
    user_agent = models.CharField(_("端末"), max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(_("IPアドレス"), null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"])]
        verbose_name = _("ログイン中のセッション")
        verbose_name_plural = _("ログイン中のセッション")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.created_at:%Y-%m-%d %H:%M}"


# --- Home-care registration of physicians (the network's referrals) -------------------------


class PhysicianRegistration(models.Model):
    """A physician's registration for home-care referrals (在宅医登録), as an individual.

    What the network's office matches a referral against: the areas they visit (wards or
    towns, as the directory's `Organization.area` names them), what they can take on, how
    many patients they will be primary or secondary physician for at most, and whether they
    take new patients now. One per physician; kept by the physician themselves.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="home_care")
    areas = ArrayField(
        models.CharField(max_length=100), verbose_name=_("訪問できる地域"), default=list
    )
    capabilities = models.ManyToManyField(
        Capability, blank=True, related_name="+", verbose_name=_("対応できること")
    )
    max_load = models.PositiveSmallIntegerField(
        _("主治医・副主治医として受け持てる患者数の上限"),
        validators=[MinValueValidator(1), MaxValueValidator(500)],
        default=20,
    )
    accepting = models.BooleanField(_("新しい患者を受け付ける"), default=True)
    note = models.CharField(_("備考"), max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("在宅医登録")
        verbose_name_plural = _("在宅医登録")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_load__gte=1), name="home_care_max_load_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({', '.join(self.areas)})"
