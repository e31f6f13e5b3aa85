"""The audit log's hash chain: sealing, and `verify_audit` naming the first broken row.

Tampering goes around the append-only triggers the way a database superuser could
(`session_replication_role = replica` turns triggers off for the session): the chain is what
still tells.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction

from audit import chain
from audit.models import AuditEvent, AuditSeal
from audit.services import audit_record, audit_record_many
from messaging import services as messaging_services
from messaging.models import Message

pytestmark = pytest.mark.django_db


@contextmanager
def triggers_off() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def _sql(statement: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def _rows(net, count: int = 5) -> list[AuditEvent]:
    return [
        audit_record(net.nurse, "read", patient=net.patient, detail=f"r{i}") for i in range(count)
    ]


def _verify(*args: str) -> str:
    out = StringIO()
    call_command("verify_audit", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _broken(*args: str) -> str:
    with pytest.raises(CommandError) as refused:
        _verify(*args)
    return str(refused.value)


def test_a_clean_chain_passes_with_its_head_hash(net):
    rows = _rows(net)
    out = _verify()
    head = chain.head()
    assert head is not None
    assert head.event_id == rows[-1].pk
    assert AuditSeal.objects.count() == AuditEvent.objects.count() == head.seq
    assert "chain intact" in out
    assert f"{head.seq} rows checked" in out
    assert f"last seq {head.seq}" in out
    assert head.hex in out


def test_each_seal_hashes_the_previous_hash_and_the_rows_content(net):
    _first, second = _rows(net, 2)
    chain.seal()
    seal_1, seal_2 = AuditSeal.objects.order_by("seq")
    content = AuditEvent.objects.filter(pk=second.pk).values_list(*chain.CONTENT_FIELDS).get()
    assert bytes(seal_1.prev_hash) == chain.GENESIS
    assert bytes(seal_2.prev_hash) == bytes(seal_1.hash)
    assert bytes(seal_2.hash) == chain.row_hash(bytes(seal_1.hash), 2, second.pk, content)


def test_a_changed_row_is_named(net):
    rows = _rows(net)
    chain.seal()
    with triggers_off():
        _sql("UPDATE audit_auditevent SET detail = 'nothing' WHERE id = %s", [rows[2].pk])
    message = _broken()
    assert f"row {rows[2].pk}, seq 3 [content]" in message


def test_a_deleted_row_is_named(net):
    rows = _rows(net)
    chain.seal()
    with triggers_off():
        _sql("DELETE FROM audit_auditevent WHERE id = %s", [rows[1].pk])
    message = _broken()
    assert f"row {rows[1].pk}, seq 2 [row_missing]" in message


def test_a_deleted_seal_is_a_gap_in_the_chain(net):
    _rows(net)
    chain.seal()
    with triggers_off():
        _sql("DELETE FROM audit_auditseal WHERE seq = 3")
    message = _broken()
    assert "seq 3 [seq_gap]" in message


def test_a_row_resealed_after_a_change_breaks_the_next_link(net):
    rows = _rows(net)
    chain.seal()
    with triggers_off():
        _sql("UPDATE audit_auditevent SET detail = 'nothing' WHERE id = %s", [rows[1].pk])
        content = AuditEvent.objects.filter(pk=rows[1].pk).values_list(*chain.CONTENT_FIELDS).get()
        prev = bytes(AuditSeal.objects.get(seq=1).hash)
        _sql(
            "UPDATE audit_auditseal SET hash = %s WHERE seq = 2",
            [chain.row_hash(prev, 2, rows[1].pk, content)],
        )
    message = _broken()
    assert f"row {rows[2].pk}, seq 3 [link]" in message


def test_a_row_slipped_in_with_an_old_id_is_named(net):
    first = audit_record(net.nurse, "read", patient=net.patient)
    with connection.cursor() as cursor:  # an id drawn and never used, as by a rollback
        cursor.execute("SELECT nextval(pg_get_serial_sequence('audit_auditevent', 'id'))")
        gap = cursor.fetchone()[0]
    audit_record(net.nurse, "read", patient=net.patient)
    chain.seal()
    _sql(
        "INSERT INTO audit_auditevent (id, action, object_type, object_id, detail, at,"
        " user_agent) VALUES (%s, 'read', '', '', 'late', now(), '')",
        [gap],
    )
    message = _broken()
    assert first.pk < gap
    assert f"row {gap}, seq 2 [unsealed_inside]" in message


def test_a_chain_recomputed_from_scratch_verifies_but_fails_its_anchor(net):
    rows = _rows(net)
    chain.seal()
    anchor = chain.head()
    assert anchor is not None
    assert "holds" in _verify("--anchor", f"{anchor.seq}:{anchor.hex}")
    with triggers_off():
        _sql("UPDATE audit_auditevent SET detail = 'nothing' WHERE id = %s", [rows[0].pk])
        _sql("DELETE FROM audit_auditseal")
    chain.seal()
    assert "chain intact" in _verify("--no-seal")
    assert "the chain was recomputed" in _broken("--anchor", f"{anchor.seq}:{anchor.hex}")


def test_a_sealed_row_cannot_be_sealed_again(net):
    row = _rows(net, 1)[0]
    chain.seal()
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditSeal.objects.create(seq=2, event_id=row.pk, prev_hash=bytes(32), hash=bytes(32))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditseal SET hash = '\\x00'::bytea",
        "UPDATE audit_auditseal SET event_id = event_id + 1",
        "DELETE FROM audit_auditseal",
        "UPDATE audit_auditevent SET detail = 'x'",
        "DELETE FROM audit_auditevent",
    ],
)
def test_the_database_refuses_to_change_seals_and_rows(net, statement):
    _rows(net, 2)
    chain.seal()
    with pytest.raises(DatabaseError), transaction.atomic():
        _sql(statement)
    assert "chain intact" in _verify()


def test_rows_of_bulk_inserts_and_of_the_post_statement_are_sealed(net):
    book = messaging_services.contact_book_ensure(net.patient)
    messaging_services.message_post(
        net.nurse, thread=book.pk, client_id=uuid.uuid4(), body="本日訪問しました。"
    )
    audit_record_many(net.nurse, "list", patient_ids=[net.patient.pk, 999], object_type="x")
    message = Message.objects.get(author=net.nurse)
    posted = AuditEvent.objects.get(object_type="messaging.message", object_id=str(message.pk))
    listed = AuditEvent.objects.filter(action="list", object_type="x")
    result = chain.seal()
    assert result.sealed == AuditEvent.objects.count()
    assert AuditSeal.objects.filter(event=posted).exists()
    assert AuditSeal.objects.filter(event__in=listed).count() == 2
    assert chain.verify().ok


def test_sealing_continues_the_chain_from_its_head(net):
    _rows(net, 3)
    assert chain.seal(batch=2).sealed == 3  # in two batches
    _rows(net, 2)
    assert chain.seal().sealed == 2
    assert list(AuditSeal.objects.values_list("seq", flat=True)) == [1, 2, 3, 4, 5]
    report = chain.verify(chunk=2)
    assert report.ok
    assert report.checked == 5


def test_rows_left_unsealed_for_minutes_are_reported(net):
    _sql(
        "INSERT INTO audit_auditevent (action, object_type, object_id, detail, at, user_agent)"
        " VALUES ('read', '', '', 'old', now() - interval '10 minutes', '')"
    )
    audit_record(net.nurse, "read", patient=net.patient)
    err = StringIO()
    out = StringIO()
    call_command("verify_audit", "--no-seal", stdout=out, stderr=err)
    assert "2 rows not yet sealed (1 older than 5 min)" in out.getvalue()
    assert "1 rows are still unsealed" in err.getvalue()


def test_a_malformed_anchor_is_refused(net):
    assert "SEQ:HASH" in _broken("--anchor", "12")
    assert "64 hex digits" in _broken("--anchor", "12:abcd")
