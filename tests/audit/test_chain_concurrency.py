"""Sealing beside transactions that are still inserting audit rows: a row whose transaction
commits after a later row's is neither skipped nor put out of order.

The open transaction is a second connection of its own (psycopg, outside Django), as another
Daphne process or a Celery worker would be.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection, connections

from audit import chain
from audit.models import AuditEvent, AuditSeal
from audit.services import audit_record

pytestmark = pytest.mark.django_db(transaction=True)

INSERT = (
    "INSERT INTO audit_auditevent (action, object_type, object_id, detail, at, user_agent)"
    " VALUES ('read', '', '', 'slow', now(), '') RETURNING id"
)


@pytest.fixture
def other() -> Iterator[psycopg.Connection]:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params.pop("server_side_binding", None)
    conn = psycopg.connect(**params)
    yield conn
    conn.rollback()
    conn.close()


def _open_insert(conn: psycopg.Connection) -> int:
    row = conn.execute(INSERT).fetchone()
    assert row is not None
    return int(row[0])


def test_sealing_is_put_off_while_an_insert_is_open(net, other):
    slow = _open_insert(other)  # drawn its id, not committed
    later = audit_record(net.nurse, "read", patient=net.patient)  # committed, higher id

    result = chain.seal(lock_timeout_ms=200)

    assert later.pk > slow
    assert result.deferred == "insert in progress"
    assert result.sealed == 0
    assert not AuditSeal.objects.exists()


def test_rows_committed_out_of_id_order_are_sealed_in_id_order(net, other):
    slow = _open_insert(other)
    later = audit_record(net.nurse, "read", patient=net.patient)
    results: list[chain.SealResult] = []

    def seal() -> None:
        try:
            results.append(chain.seal(lock_timeout_ms=10_000))
        finally:
            connections.close_all()

    sealer = threading.Thread(target=seal)
    sealer.start()
    time.sleep(0.5)  # the sealer waits for the open insert
    assert sealer.is_alive()
    other.commit()
    sealer.join(timeout=10)

    assert results[0].sealed == 2
    assert list(AuditSeal.objects.order_by("seq").values_list("event_id", flat=True)) == [
        slow,
        later.pk,
    ]
    assert chain.verify().ok


def test_a_rolled_back_row_leaves_a_gap_in_ids_not_in_the_chain(net, other):
    _open_insert(other)
    other.rollback()
    audit_record(net.nurse, "read", patient=net.patient)

    assert chain.seal().sealed == 1
    report = chain.verify()
    assert report.ok
    assert report.checked == AuditEvent.objects.count() == 1
