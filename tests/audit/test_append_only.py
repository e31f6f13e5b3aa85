"""Audit rows cannot be changed or removed, even with raw SQL."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from audit.services import audit_record

pytestmark = pytest.mark.django_db


def test_database_refuses_update_of_an_audit_row(net):
    row = audit_record(net.nurse, "read", patient=net.patient)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", [row.pk])
    assert AuditEvent.objects.get(pk=row.pk).action == "read"


def test_database_refuses_delete_of_an_audit_row(net):
    row = audit_record(net.nurse, "read", patient=net.patient)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=row.pk).delete()
    assert AuditEvent.objects.filter(pk=row.pk).exists()
