"""Changes to the directory (連携リスト): adding and editing organizations, CSV import/export.

Who may write: staff, and network coordinators. A coordinator may add an organization (it
joins the networks they coordinate unless they name others of theirs) and may change an
organization that is in a network they coordinate. The CSV import follows the same rule row
by row, so it is no way round the edit rule.

One validation (`_apply`) serves the API, the web pages and every CSV row, so the three
accept and refuse exactly the same values. Nothing is written unless everything is valid.

Also a person's ways in: web sessions, per-device API tokens and the password (the rules
open their section below).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import SESSION_KEY, authenticate
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mass_mail
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.context import client_ip, current_request
from audit.models import AuditAction
from audit.services import audit_record
from config.errors import DomainError, Forbidden, NotFound, Throttled, django_validation_fields
from teams import csv_io, second_factor, throttle
from teams.models import (
    TOKEN_KEY_BYTES,
    ApiToken,
    Capability,
    CapabilityCode,
    Network,
    Organization,
    OrganizationKind,
    PhysicianRegistration,
    Profession,
    User,
    UserSession,
    session_tag,
    token_digest,
)
from teams.selectors import (
    _pk,
    administered_person_get,
    can_manage_directory,
    can_manage_organization,
    is_organization_admin,
    live_session_keys,
    networks_coordinated_by,
    organization_get,
    session_store,
)
from teams.signals import sessions_ended

# The plain text fields of an organization, as the API, the forms and the CSV name them.
TEXT_FIELDS = (
    "name",
    "name_kana",
    "kind",
    "area",
    "postal_code",
    "address",
    "phone",
    "fax",
    "notes",
)
OBJECT_TYPE = "teams.organization"

Errors = dict[str, list[str]]


def _capability_ids() -> dict[str, int]:
    """Capability ids by code, creating the rows of codes added to `CapabilityCode` since the
    data migration ran (and after a test database flush)."""
    ids = dict(Capability.objects.values_list("code", "pk"))
    if len(ids) < len(CapabilityCode):
        Capability.objects.bulk_create(
            [Capability(code=code) for code in CapabilityCode.values if code not in ids],
            ignore_conflicts=True,
        )
        ids = dict(Capability.objects.values_list("code", "pk"))
    return ids


def _apply(
    org: Organization,
    data: Mapping[str, Any],
    capability_ids: Mapping[str, int],
    *,
    validate_unique: bool,
) -> tuple[list[int] | None, Errors]:
    """Set the fields present in `data` on `org` (unsaved) and validate the result.

    Returns the capability ids to set (None when `data` has no `capabilities`) and the
    errors by field. `capabilities` may be a list of codes or one "|"/space-separated string.
    """
    errors: Errors = {}
    for name in TEXT_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = [_("文字列で指定してください。")]
            continue
        value = value.strip()
        if "\x00" in value:
            errors[name] = [_("NUL 文字は使えません。")]
            continue
        setattr(org, name, value)

    if org.kind and "kind" not in errors and org.kind not in OrganizationKind.values:
        errors["kind"] = [
            _("不明な種別です: %(value)s（使える種別: %(codes)s）")
            % {"value": org.kind, "codes": ", ".join(OrganizationKind.values)}
        ]

    capabilities: list[int] | None = None
    if "capabilities" in data:
        codes = data["capabilities"]
        if codes is None:
            codes = []
        if isinstance(codes, str):
            codes = csv_io.split_capabilities(codes)
        if not isinstance(codes, list | tuple) or not all(isinstance(c, str) for c in codes):
            errors["capabilities"] = [_("医療機能コードの一覧で指定してください。")]
        else:
            codes = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
            unknown = [c for c in codes if c not in capability_ids]
            if unknown:
                errors["capabilities"] = [
                    _("不明な医療機能コードです: %(value)s（使えるコード: %(codes)s）")
                    % {"value": ", ".join(unknown), "codes": ", ".join(sorted(capability_ids))}
                ]
            else:
                capabilities = [capability_ids[c] for c in codes]

    try:
        org.full_clean(exclude=list(errors), validate_unique=validate_unique)
    except ValidationError as exc:
        for name, messages in django_validation_fields(exc).items():
            errors.setdefault(name, []).extend(messages)
    return capabilities, errors


def _invalid(errors: Errors) -> DomainError:
    return DomainError(_("入力内容を確認してください。"), fields=errors)


def _networks_for_new_organization(actor: User, requested: Any) -> tuple[list[int], Errors]:
    """The networks a new organization joins: those named (each one the actor coordinates,
    or any for staff), or by default every network the actor coordinates."""
    allowed = Network.objects.all() if actor.is_staff else networks_coordinated_by(actor)
    if requested is None:
        return list(networks_coordinated_by(actor).values_list("pk", flat=True)), {}
    if not isinstance(requested, list | tuple) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in requested
    ):
        return [], {"networks": [_("ネットワークの ID の一覧で指定してください。")]}
    wanted = list(dict.fromkeys(requested))
    found = set(allowed.filter(pk__in=wanted).values_list("pk", flat=True))
    refused = [n for n in wanted if n not in found]
    if refused:
        message = _("このネットワークには追加できません: %(ids)s") % {
            "ids": ", ".join(str(n) for n in refused)
        }
        return [], {"networks": [message]}
    return wanted, {}


def _duplicate_name() -> DomainError:
    return _invalid({"name": [_("この名称の組織はすでに登録されています。")]})


def organization_create(actor: User, *, data: Mapping[str, Any]) -> Organization:
    """Add an organization to the directory.

    `data` holds the text fields (`TEXT_FIELDS`), `capabilities` (codes) and optionally
    `networks` (ids). Raises `PermissionDenied` unless the actor is staff or a coordinator,
    `DomainError` with field errors on bad input.
    """
    if not can_manage_directory(actor):
        raise PermissionDenied
    org = Organization()
    capabilities, errors = _apply(org, data, _capability_ids(), validate_unique=True)
    network_ids, network_errors = _networks_for_new_organization(actor, data.get("networks"))
    errors.update(network_errors)
    if errors:
        raise _invalid(errors)
    with transaction.atomic():
        try:
            # A savepoint, so that losing a race on the unique name leaves a usable transaction.
            with transaction.atomic():
                org.save()
        except IntegrityError:
            raise _duplicate_name() from None
        if capabilities:
            org.capabilities.set(capabilities)
        if network_ids:
            org.networks.add(*network_ids)
        audit_record(actor, AuditAction.CREATE, obj=org, object_type=OBJECT_TYPE)
    return organization_get(org.pk)


def organization_update(
    actor: User, organization_id: Any, *, data: Mapping[str, Any]
) -> Organization:
    """Change the fields present in `data` (text fields and `capabilities`).

    Raises `NotFound` for a missing organization, `PermissionDenied` unless the actor is
    staff or coordinates a network the organization is in, `DomainError` on bad input.
    """
    try:
        pk = int(organization_id)
    except (TypeError, ValueError):
        raise NotFound from None
    if not Organization.objects.filter(pk=pk).exists():
        raise NotFound
    if not can_manage_organization(actor, pk):
        raise PermissionDenied
    with transaction.atomic():
        org = Organization.objects.select_for_update().get(pk=pk)
        before = {name: getattr(org, name) for name in TEXT_FIELDS}
        capabilities, errors = _apply(org, data, _capability_ids(), validate_unique=True)
        if errors:
            raise _invalid(errors)
        try:
            with transaction.atomic():
                org.save()
        except IntegrityError:
            raise _duplicate_name() from None
        if capabilities is not None:
            org.capabilities.set(capabilities)
        changed = [name for name in TEXT_FIELDS if getattr(org, name) != before[name]]
        if capabilities is not None:
            changed.append("capabilities")
        audit_record(
            actor, AuditAction.UPDATE, obj=org, object_type=OBJECT_TYPE, detail=",".join(changed)
        )
    return organization_get(pk)


# --- CSV ------------------------------------------------------------------------------------


def organizations_export_csv(queryset: QuerySet[Organization]) -> str:
    """The CSV text of these organizations (see `teams.csv_io`), BOM first.

    Any earlier prefetches are dropped for the one the export needs, so the whole export
    costs two queries.
    """
    qs = queryset.prefetch_related(None).prefetch_related(
        Prefetch("capabilities", queryset=Capability.objects.order_by("code"))
    )
    return csv_io.write_organizations(qs)


@dataclass(frozen=True)
class RowError:
    row: int
    errors: Errors


@dataclass
class ImportReport:
    """What an import did (`created`, `updated`, `unchanged`) or, when `errors` is not empty,
    why it did nothing."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


class ImportRejected(DomainError):
    """One or more rows are bad; nothing was written. `fields["rows"]` lists them."""

    code = "import_rejected"

    def __init__(self, report: ImportReport) -> None:
        rows = [{"row": e.row, "errors": e.errors} for e in report.errors]
        super().__init__(
            _("%(count)s 行に誤りがあります。どの行も取り込んでいません。")
            % {"count": len(report.errors)},
            fields={"rows": rows},
        )
        self.report = report


def _snapshot(org: Organization) -> tuple[Any, ...]:
    return (
        *(getattr(org, name) for name in TEXT_FIELDS),
        sorted(c.pk for c in org.capabilities.all()),
    )


def _snapshot_after(
    org: Organization, capabilities: list[int] | None, before: tuple[Any, ...]
) -> tuple[Any, ...]:
    """`_snapshot` of `org` after `_apply`: its capabilities are still the old ones in memory."""
    caps = sorted(capabilities) if capabilities is not None else before[-1]
    return (*(getattr(org, name) for name in TEXT_FIELDS), caps)


def organizations_import_csv(actor: User, *, file_bytes: bytes) -> ImportReport:
    """Add or update organizations from a CSV file (format: `teams.csv_io`), matched by name.

    Every row is checked before anything is written; if any row is bad, nothing is written
    and `ImportRejected` lists each bad row with its errors by column. Problems with the
    file as a whole raise `DomainError` with a `file` field. A coordinator may change only
    organizations of the networks they coordinate (a row that changes nothing is fine for
    any organization); new organizations join those networks.
    A column missing from the file leaves that field as it is.
    """
    if not can_manage_directory(actor):
        raise PermissionDenied
    parsed = csv_io.read_organizations(file_bytes)
    capability_ids = _capability_ids()
    names = {row.cells["name"] for row in parsed.rows if row.cells["name"]}
    has_capabilities = "capabilities" in parsed.columns
    present_fields = [name for name in TEXT_FIELDS if name in parsed.columns]
    report = ImportReport()

    with transaction.atomic():
        existing = {
            org.name: org
            for org in Organization.objects.select_for_update(of=("self",))
            .filter(name__in=names)
            .prefetch_related("capabilities")
        }
        if actor.is_staff:
            managed = {org.pk for org in existing.values()}
        else:
            managed = set(
                Network.organizations.through.objects.filter(
                    network__coordinators=actor,
                    organization_id__in=[org.pk for org in existing.values()],
                ).values_list("organization_id", flat=True)
            )

        to_create: list[tuple[Organization, list[int] | None]] = []
        to_update: list[tuple[Organization, list[int] | None]] = []
        first_row_of: dict[str, int] = {}
        for row in parsed.rows:
            name = row.cells["name"]
            org = existing.get(name)
            target = org if org is not None else Organization()
            before = _snapshot(target) if org is not None else None
            capabilities, errors = _apply(target, row.cells, capability_ids, validate_unique=False)
            if row.shape_error:
                errors.setdefault("non_field_errors", []).append(row.shape_error)
            if name and name in first_row_of:
                errors.setdefault("name", []).append(
                    _("同じ名称が %(row)s 行目にもあります。") % {"row": first_row_of[name]}
                )
            first_row_of.setdefault(name, row.number)
            if not errors and before is not None:
                if _snapshot_after(target, capabilities, before) == before:
                    # Unchanged rows need no right to edit: re-importing a full export of
                    # the directory must work for a coordinator of one network.
                    report.unchanged += 1
                    continue
                if target.pk not in managed:
                    errors["name"] = [
                        _(
                            "この組織を更新する権限がありません"
                            "（参加ネットワークのコーディネーターに依頼してください）。"
                        )
                    ]
            if errors:
                report.errors.append(RowError(row=row.number, errors=errors))
            elif before is None:
                to_create.append((target, capabilities))
            else:
                to_update.append((target, capabilities))
        if report.errors:
            raise ImportRejected(report)

        _write_import(actor, to_create, to_update, present_fields, has_capabilities)
        report.created = len(to_create)
        report.updated = len(to_update)
        if to_create or to_update:
            audit_record(
                actor,
                AuditAction.UPDATE,
                object_type=OBJECT_TYPE,
                detail=f"csv import: created={report.created} updated={report.updated}",
            )
    return report


def _write_import(
    actor: User,
    to_create: list[tuple[Organization, list[int] | None]],
    to_update: list[tuple[Organization, list[int] | None]],
    present_fields: list[str],
    has_capabilities: bool,
) -> None:
    """Write validated rows in a handful of bulk queries. Call inside the import's atomic."""
    try:
        with transaction.atomic():
            created = Organization.objects.bulk_create([org for org, _caps in to_create])
    except IntegrityError:
        # Someone added an organization of the same name since we looked.
        raise DomainError(
            _("取り込み中に同じ名称の組織が追加されました。もう一度お試しください。")
        ) from None
    if to_update:
        now = timezone.now()
        for org, _caps in to_update:
            org.updated_at = now
        Organization.objects.bulk_update(
            [org for org, _caps in to_update], [*present_fields, "updated_at"]
        )

    through = Organization.capabilities.through
    if has_capabilities:
        through.objects.filter(organization_id__in=[org.pk for org, _c in to_update]).delete()
    links = [
        through(organization_id=org.pk, capability_id=cap_id)
        for org, caps in [*zip(created, (c for _o, c in to_create), strict=True), *to_update]
        for cap_id in caps or ()
    ]
    through.objects.bulk_create(links)

    network_ids = list(networks_coordinated_by(actor).values_list("pk", flat=True))
    member_through = Network.organizations.through
    member_through.objects.bulk_create(
        [
            member_through(network_id=n, organization_id=org.pk)
            for org in created
            for n in network_ids
        ]
    )


# --- ways in: sessions, API tokens, passwords -----------------------------------------------
#
# Rules (docs/access.md, "Ways in"):
# - Each call of the token endpoint makes a new token for that device; it expires after
#   KIZUNA_API_TOKEN_IDLE_SECONDS without use (teams.authentication).
# - Logging out ends that web session and the tokens asked for from it; the API's logout
#   revokes the token it is called with. Other devices keep theirs.
# - A password change ends every other session and every token of the person; the session
#   that changed it stays signed in.
# - A person may end any of their own sessions and tokens; an administrator of one of their
#   organizations may end all of them at once (audited).
# Every session ended is announced (`teams.signals.sessions_ended`): messaging closes its
# sockets after the commit.

SESSION_OBJECT_TYPE = "teams.usersession"
TOKEN_OBJECT_TYPE = "teams.apitoken"  # noqa: S105 (an audit object type, not a secret)
USER_OBJECT_TYPE = "teams.user"


@dataclass(frozen=True)
class AccessEnded:
    sessions: int
    tokens: int


def _context() -> tuple[str, str | None]:
    ctx = current_request.get()
    return (ctx.user_agent, ctx.ip_address) if ctx else ("", None)


def _end_sessions(user_id: int, rows: list[UserSession]) -> int:
    """Delete these sessions from the store and their rows; announce them. Returns how many
    were still live."""
    if not rows:
        return 0
    live = live_session_keys(r.session_key for r in rows)
    store = session_store()
    for key in live:
        store().delete(key)
    UserSession.objects.filter(pk__in=[r.pk for r in rows]).delete()
    tags = [session_tag(r.session_key) for r in rows]
    sessions_ended.send(sender=UserSession, user_id=user_id, session_tags=tags)
    return len(live)


def session_opened(user: User, *, session_key: str) -> UserSession:
    """Record a web session at login (from `teams.receivers`), with where it comes from."""
    user_agent, ip_address = _context()
    row, _created = UserSession.objects.update_or_create(
        session_key=session_key,
        defaults={"user": user, "user_agent": user_agent, "ip_address": ip_address},
    )
    return row


@transaction.atomic
def session_logged_out(user: User, *, session_key: str) -> None:
    """The person logged out of this session (Django flushes the session itself): its row
    and the tokens asked for from it go, and its sockets are closed."""
    if not session_key:
        return
    ApiToken.objects.filter(user=user, session_key=session_key).delete()
    UserSession.objects.filter(user=user, session_key=session_key).delete()
    tags = [session_tag(session_key)]
    sessions_ended.send(sender=UserSession, user_id=user.pk, session_tags=tags)


def session_rekeyed(user: User, *, old_key: str, new_key: str) -> None:
    """The session was given a new key (a password change does): keep its row and its
    tokens attached to it."""
    if old_key and new_key and old_key != new_key:
        UserSession.objects.filter(user=user, session_key=old_key).update(session_key=new_key)
        ApiToken.objects.filter(user=user, session_key=old_key).update(session_key=new_key)


@transaction.atomic
def session_revoke(actor: User, session_id: Any) -> str:
    """End one of the actor's own web sessions (NotFound for anyone else's); returns its key,
    so that a page ending its own session can sign out."""
    row = UserSession.objects.filter(user=actor, pk=_pk(session_id)).first()
    if row is None:
        raise NotFound
    ApiToken.objects.filter(user=actor, session_key=row.session_key).delete()
    _end_sessions(actor.pk, [row])
    audit_record(actor, AuditAction.DELETE, obj=row, object_type=SESSION_OBJECT_TYPE)
    return row.session_key


def token_create(user: User, *, session_key: str = "") -> tuple[ApiToken, str]:
    """A new API token for the device asking; returns the row and the key, shown only now."""
    key = secrets.token_hex(TOKEN_KEY_BYTES)
    user_agent, ip_address = _context()
    with transaction.atomic():
        token = ApiToken.objects.create(
            digest=token_digest(key),
            user=user,
            user_agent=user_agent,
            ip_address=ip_address,
            session_key=session_key,
        )
        # The API's sign-in: no session, so Django's user_logged_in (the web's) is not sent.
        audit_record(
            user, AuditAction.SIGN_IN, obj=token, object_type=TOKEN_OBJECT_TYPE, detail="api"
        )
    return token, key


def _wrong_credentials() -> DomainError:
    # One answer for a wrong password and a wrong code: it does not tell which was right.
    message = _("ユーザー名、パスワードまたは確認コードが正しくありません。")
    return DomainError(message, fields={"non_field_errors": [message]})


def token_sign_in(
    request: HttpRequest, *, username: str, password: str, otp_code: str
) -> tuple[ApiToken, str]:
    """The API's sign-in: the password and a second-factor code (the authenticator app's, or
    a recovery code) give a new API token for the device asking; returns the row and the key.

    Behind the sign-in guard (`teams.throttle`), shared with the login page: while the account
    or the address is locked, `Throttled` before the password is checked; wrong codes count
    like wrong passwords. A wrong password and a wrong code raise the same `DomainError`; an
    account that has not set up the second factor gets `Forbidden` (it enrols on the web).
    Asked for from a signed-in web session of the same person, the token ends with it."""
    address = client_ip(request)
    throttle.guard("password", account=username, address=address)
    user = authenticate(request, username=username, password=password)
    if not isinstance(user, User):
        throttle.failed("password", account=username, address=address)
        raise _wrong_credentials()
    throttle.succeeded("password", account=username, address=address)
    if not second_factor.is_enrolled(user):
        raise Forbidden(
            _("二段階認証が設定されていません。ウェブ画面でログインして設定してください。")
        )
    try:
        second_factor.verify(user, otp_code, address=address)
    except second_factor.SecondFactorRefused as refused:
        if refused.retry_after:
            raise Throttled(
                refused.message, retry_after=refused.retry_after, code="too_many_attempts"
            ) from None
        raise _wrong_credentials() from None
    session = getattr(request, "session", None)
    session_key = ""
    if session is not None and session.get(SESSION_KEY) == str(user.pk):
        session_key = session.session_key or ""
    return token_create(user, session_key=session_key)


@transaction.atomic
def token_revoke(actor: User, token_id: Any) -> None:
    """Revoke one of the actor's own API tokens (NotFound for anyone else's)."""
    deleted, _rows = ApiToken.objects.filter(user=actor, pk=_pk(token_id)).delete()
    if not deleted:
        raise NotFound
    audit_record(
        actor, AuditAction.DELETE, object_type=TOKEN_OBJECT_TYPE, detail=f"token {token_id}"
    )


def token_sign_out(actor: User, token: ApiToken) -> None:
    """The API's logout: the token it was called with stops working."""
    with transaction.atomic():
        ApiToken.objects.filter(user=actor, pk=token.pk).delete()
        audit_record(
            actor, AuditAction.SIGN_OUT, obj=token, object_type=TOKEN_OBJECT_TYPE, detail="api"
        )


@transaction.atomic
def password_change(actor: User, *, new_password: str, keep_session_key: str) -> AccessEnded:
    """Set the actor's new password (already validated by the form) and end every other
    session and every API token of theirs. The caller keeps its own session signed in
    (`update_session_auth_hash`, then `session_rekeyed`)."""
    actor.set_password(new_password)
    actor.save(update_fields=["password"])
    others = list(UserSession.objects.filter(user=actor).exclude(session_key=keep_session_key))
    sessions = _end_sessions(actor.pk, others)
    tokens, _rows = ApiToken.objects.filter(user=actor).delete()
    audit_record(
        actor,
        AuditAction.UPDATE,
        obj=actor,
        object_type=USER_OBJECT_TYPE,
        detail=f"password changed; ended {sessions} sessions, {tokens} tokens",
    )
    return AccessEnded(sessions=sessions, tokens=tokens)


@transaction.atomic
def access_end_all(actor: User, person_id: Any) -> AccessEnded:
    """An organization administrator ends every session and token of a person of their
    organization (NotFound for anyone else; Forbidden for someone who administers none)."""
    if not is_organization_admin(actor):
        raise Forbidden(_("組織の管理者だけが行えます。"))
    person = administered_person_get(actor, person_id)
    sessions = _end_sessions(person.pk, list(UserSession.objects.filter(user=person)))
    tokens, _rows = ApiToken.objects.filter(user=person).delete()
    # Sessions from before their rows were kept, too: every socket of the person closes.
    sessions_ended.send(sender=UserSession, user_id=person.pk, session_tags=None)
    audit_record(
        actor,
        AuditAction.DELETE,
        obj=person,
        object_type=USER_OBJECT_TYPE,
        detail=f"access ended by an administrator: {sessions} sessions, {tokens} tokens",
    )
    return AccessEnded(sessions=sessions, tokens=tokens)


def administrators_mail(subject: str, body: str) -> int:
    """Mail every active administrator of an organization, one message each (nobody sees the
    others' addresses); returns how many were sent."""
    addresses = (
        User.objects.filter(is_active=True, memberships__is_admin=True, memberships__is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
        .distinct()
    )
    messages = [(subject, body, None, [address]) for address in sorted(addresses)]
    return send_mass_mail(messages) if messages else 0


# --- a physician's registration for home-care referrals --------------------------------------


def home_care_register(
    actor: User,
    *,
    areas: Any,
    capabilities: Any,
    max_load: Any,
    accepting: Any,
    note: Any = "",
) -> PhysicianRegistration:
    """A physician registers (or updates) themselves for home-care referrals: the areas
    they visit, what they take on, their maximum load, whether they take new patients now.
    Registered as an individual, not through an organization; only physicians."""
    if not actor.is_active or actor.profession != Profession.PHYSICIAN:
        raise Forbidden(_("在宅医の登録は医師のみ行えます。"))
    errors: Errors = {}
    if isinstance(areas, str):
        areas = areas.replace("、", ",").split(",")
    if not isinstance(areas, list | tuple) or not all(isinstance(a, str) for a in areas):
        errors["areas"] = [_("地域を一覧で指定してください。")]
        areas = []
    clean_areas = list(dict.fromkeys(a.strip() for a in areas if a.strip()))
    if not clean_areas and "areas" not in errors:
        errors["areas"] = [_("訪問できる地域を1つ以上入力してください。")]
    if any(len(a) > 100 for a in clean_areas) or len(clean_areas) > 50:
        errors["areas"] = [_("地域は1つ100文字以内、50件までです。")]
    codes = capabilities or []
    if not isinstance(codes, list | tuple) or not set(codes) <= set(CapabilityCode.values):
        errors["capabilities"] = [_("対応できることが正しくありません。")]
        codes = []
    if isinstance(max_load, bool) or not isinstance(max_load, int | str):
        errors["max_load"] = [_("整数で入力してください。")]
    registration = PhysicianRegistration.objects.filter(user=actor).first() or (
        PhysicianRegistration(user=actor)
    )
    if "max_load" not in errors:
        try:
            registration.max_load = int(max_load)
        except ValueError:
            errors["max_load"] = [_("整数で入力してください。")]
    registration.areas = clean_areas
    registration.accepting = bool(accepting)
    registration.note = note.strip() if isinstance(note, str) else ""
    try:
        registration.full_clean(exclude=["user"], validate_unique=False)
    except ValidationError as exc:
        for name, messages in django_validation_fields(exc).items():
            errors.setdefault(name, messages)
    if errors:
        raise _invalid(errors)
    ids = _capability_ids()
    with transaction.atomic():
        registration.save()
        registration.capabilities.set([ids[c] for c in codes])
        audit_record(actor, AuditAction.UPDATE, obj=registration, detail="home_care")
    return registration
