"""The audit log's hash chain: sealing rows in id order, and checking the chain.

Each audit row gets one seal (`AuditSeal`): seq (1, 2, 3, ... without gaps), the previous
seal's hash, and sha256(previous hash || the row's canonical form). Changing a sealed row,
deleting one, or slipping one in between breaks the chain at that row, and `verify` names it.
docs/audit.md says how it works and what it does not protect against.

Rows are written unsealed by the hot paths (posts, reads), exactly as before, and sealed here,
later, by one sealer at a time: the chain costs the writers nothing. The sealer seals only up
to an id below which no transaction can still be inserting (`audit.sql.settled_max_id`), so a
row committed late with a lower id never has to go into the middle of the chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from audit import sql
from audit.models import AuditEvent, AuditSeal

logger = logging.getLogger(__name__)

# The form's name goes into every hash: a later change of the form is a new name, and rows
# sealed under the old one still verify under it.
FORMAT = "kizuna-audit-v1"
GENESIS = bytes(32)  # the "previous hash" of the first seal
# The content of a row, in the order it is hashed. A new column of AuditEvent is not covered
# until it is added here, under a new FORMAT.
CONTENT_FIELDS = (
    "actor_id",
    "action",
    "patient_id",
    "object_type",
    "object_id",
    "detail",
    "at",
    "ip_address",
    "user_agent",
)
SEAL_BATCH = 5000
VERIFY_CHUNK = 2000


# Where `at` and the address sit in the hashed array (after the form's name, seq and id).
_AT = 3 + CONTENT_FIELDS.index("at")
_IP = 3 + CONTENT_FIELDS.index("ip_address")


def utc_text(value: dt.datetime) -> str:
    """One spelling of an instant, whatever the connection's time zone: UTC, microseconds
    (the spelling `audit.sql.at_as_utc_text` has PostgreSQL write)."""
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical(seq: int, event_id: int, content: Sequence[Any]) -> bytes:
    """The bytes hashed for one row: a JSON array in a fixed order, NULL as null (so that
    NULL and "" differ), ASCII only (so no text encoding question arises). `content` is the
    row's CONTENT_FIELDS; `at` as a datetime or already as its UTC text."""
    doc = [FORMAT, seq, event_id, *content]
    if isinstance(doc[_AT], dt.datetime):
        doc[_AT] = utc_text(doc[_AT])
    if doc[_IP] is not None and not isinstance(doc[_IP], str):
        doc[_IP] = str(doc[_IP])  # an address, however the driver hands it over
    return json.dumps(doc, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def row_hash(prev_hash: bytes, seq: int, event_id: int, content: Sequence[Any]) -> bytes:
    return hashlib.sha256(prev_hash + canonical(seq, event_id, content)).digest()


def _rows(queryset: Any) -> Any:
    """The rows' ids and content in id order, `at` already spelled by PostgreSQL: parsing
    the timestamp and writing it out again was a third of the time per row."""
    fields = [("at_utc" if name == "at" else name) for name in CONTENT_FIELDS]
    return (
        queryset.order_by("id")
        .annotate(at_utc=RawSQL(sql.at_as_utc_text(), []))  # noqa: S611 (no input in it)
        .values_list("id", *fields)
    )


# --- sealing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    seq: int
    event_id: int
    hash: bytes

    @property
    def hex(self) -> str:
        return self.hash.hex()


def head() -> Head | None:
    """The last seal of the chain, or None before the first."""
    last = AuditSeal.objects.order_by("-seq").values_list("seq", "event_id", "hash").first()
    if last is None:
        return None
    return Head(seq=last[0], event_id=last[1], hash=bytes(last[2]))


@dataclass(frozen=True)
class SealResult:
    sealed: int
    head: Head | None
    # Why nothing was sealed this time, when it was put off: another sealer was running, or a
    # transaction inserting audit rows stayed open past the lock timeout.
    deferred: str = ""


def seal(*, batch: int = SEAL_BATCH, lock_timeout_ms: int | None = None) -> SealResult:
    """Seal every audit row that can be sealed now, in id order. Call it outside any
    transaction: the first step's lock must be let go as soon as it is granted."""
    if lock_timeout_ms is None:
        lock_timeout_ms = settings.KIZUNA_AUDIT_SEAL_LOCK_TIMEOUT_MS
    try:
        with transaction.atomic():
            settled = sql.settled_max_id(lock_timeout_ms)
    except OperationalError as exc:
        if not sql.is_lock_timeout(exc):
            raise
        logger.warning("audit sealing put off: a transaction inserting audit rows is still open")
        return SealResult(sealed=0, head=head(), deferred="insert in progress")
    sealed = 0
    while True:
        with transaction.atomic():
            if not sql.try_sealer_lock():
                return SealResult(sealed=sealed, head=head(), deferred="another sealer")
            current = head()
            seq, last_id, prev = (
                (current.seq, current.event_id, current.hash) if current else (0, 0, GENESIS)
            )
            rows = list(_rows(AuditEvent.objects.filter(id__gt=last_id, id__lte=settled))[:batch])
            first_seq, first_prev = seq + 1, prev
            digests: list[bytes] = []
            for event_id, *content in rows:
                seq += 1
                prev = row_hash(prev, seq, event_id, content)
                digests.append(prev)
            if rows:
                sql.insert_seals(first_seq, [row[0] for row in rows], first_prev, b"".join(digests))
        sealed += len(rows)
        if len(rows) < batch:
            return SealResult(sealed=sealed, head=head())


# --- verifying ----------------------------------------------------------------------------


class Break:
    """Why the chain is broken at a row (`Report.broken`)."""

    CONTENT = "content"  # the row's content, or its seal's hash, is not what was sealed
    LINK = "link"  # the seal's previous hash is not the previous seal's hash
    SEQ_GAP = "seq_gap"  # seals are missing from the chain
    ROW_MISSING = "row_missing"  # a sealed audit row is gone
    UNSEALED_INSIDE = "unsealed_inside"  # a row inside the sealed range has no seal


@dataclass(frozen=True)
class Broken:
    kind: str
    seq: int  # the seal where the chain breaks (the missing seq for a gap)
    event_id: int | None  # the audit row's id, when there is one to name
    message: str


@dataclass(frozen=True)
class Report:
    checked: int
    head: Head | None
    broken: Broken | None
    unsealed: int  # rows past the head
    unsealed_old: int  # of them, rows older than KIZUNA_AUDIT_UNSEALED_WARN_MINUTES

    @property
    def ok(self) -> bool:
        return self.broken is None

    def summary(self) -> str:
        head = (
            f"last seq {self.head.seq} (row {self.head.event_id}), head hash {self.head.hex}"
            if self.head
            else "no seal yet"
        )
        state = f"CHAIN BROKEN: {self.broken.message}" if self.broken else "chain intact"
        return (
            f"{state}; {self.checked} rows checked; {head}; {self.unsealed} rows not yet sealed"
            f" ({self.unsealed_old} older than {settings.KIZUNA_AUDIT_UNSEALED_WARN_MINUTES} min)"
        )


def _walk(head_: Head, chunk: int) -> tuple[int, Broken | None]:
    """Recompute the chain up to `head_`, reading the seals in seq order beside the rows in
    id order (both stream, a chunk at a time); the first break found, and how many rows
    were checked before it."""
    seals: Iterator[tuple[int, int, bytes | memoryview, bytes | memoryview]] = (
        AuditSeal.objects.filter(seq__lte=head_.seq)
        .order_by("seq")
        .values_list("seq", "event_id", "prev_hash", "hash")
        .iterator(chunk_size=chunk)
    )
    events: Iterator[tuple[Any, ...]] = _rows(
        AuditEvent.objects.filter(id__lte=head_.event_id)
    ).iterator(chunk_size=chunk)
    expected, prev, checked = 1, GENESIS, 0
    event = next(events, None)
    for seq, event_id, stored_prev, stored in seals:
        stored_prev, stored = bytes(stored_prev), bytes(stored)
        if seq != expected:
            missing = f"{expected}" if seq == expected + 1 else f"{expected}-{seq - 1}"
            return checked, Broken(
                Break.SEQ_GAP, expected, None, f"seal seq {missing} missing (before row {event_id})"
            )
        if stored_prev != prev:
            return checked, Broken(
                Break.LINK,
                seq,
                event_id,
                f"row {event_id} (seq {seq}): its seal's previous hash is not seal {seq - 1}'s"
                " hash (the chain before it was rewritten)",
            )
        if event is not None and event[0] < event_id:
            return checked, Broken(
                Break.UNSEALED_INSIDE,
                seq,
                event[0],
                f"row {event[0]} is not in the chain, though rows after it are (seq {seq} seals"
                f" row {event_id}): inserted afterwards with an old id",
            )
        if event is None or event[0] != event_id:
            return checked, Broken(
                Break.ROW_MISSING, seq, event_id, f"row {event_id} (seq {seq}) is missing"
            )
        if row_hash(stored_prev, seq, event_id, event[1:]) != stored:
            return checked, Broken(
                Break.CONTENT,
                seq,
                event_id,
                f"row {event_id} (seq {seq}): content does not match its seal (changed)",
            )
        prev, expected, checked = stored, expected + 1, checked + 1
        event = next(events, None)
    if expected != head_.seq + 1:  # the head itself went while we read
        return checked, Broken(Break.SEQ_GAP, expected, None, f"seal seq {expected} missing")
    return checked, None


def verify(*, chunk: int = VERIFY_CHUNK) -> Report:
    """Check the whole chain, from the first seal to the last, and count unsealed rows."""
    # One transaction: the two server-side cursors are then plain ones (outside a
    # transaction Django declares them WITH HOLD, which copies the whole result first).
    with transaction.atomic():
        last = head()
        checked, broken = _walk(last, chunk) if last else (0, None)
        past = AuditEvent.objects.filter(id__gt=last.event_id if last else 0)
        cutoff = timezone.now() - dt.timedelta(minutes=settings.KIZUNA_AUDIT_UNSEALED_WARN_MINUTES)
        return Report(
            checked=checked,
            head=last,
            broken=broken,
            unsealed=past.count(),
            unsealed_old=past.filter(at__lt=cutoff).count(),
        )


def check_anchor(seq: int, digest: bytes) -> str:
    """What is wrong with a head kept outside the database (seq and hash), or "" when the
    chain still holds it. Run after `verify`: with the chain intact, a seal that still has
    its hash vouches for every row up to it."""
    stored = AuditSeal.objects.filter(seq=seq).values_list("hash", flat=True).first()
    if stored is None:
        return "no seal with this seq (the chain was cut or replaced)"
    if bytes(stored) != digest:
        return f"the seal's hash is now {bytes(stored).hex()} (the chain was recomputed)"
    return ""
