"""Celery beat seals the audit log every minute and checks its chain every night; a broken
chain is mailed to the site's ADMINS and to every organization's administrators, and
audited."""

from __future__ import annotations

import logging

import pytest
from django.core import mail
from django.db import connection
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from audit import chain, tasks
from audit.models import AuditAction, AuditEvent, AuditSeal
from audit.services import audit_record
from config.celery import app
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)  # the scheduler closes its connection as it starts
def test_beat_schedules_the_sealing_every_minute_and_the_check_daily():
    DatabaseScheduler(app=app)  # what `celery beat` starts: it stores the settings' schedule
    seal = PeriodicTask.objects.get(task="audit.seal")
    verify = PeriodicTask.objects.get(task="audit.verify")
    assert seal.interval is not None
    assert (seal.interval.every, seal.interval.period) == (60, "seconds")
    assert verify.crontab is not None
    assert (verify.crontab.minute, verify.crontab.hour) == ("30", "3")
    app.loader.import_default_modules()
    assert {"audit.seal", "audit.verify"} <= set(app.tasks)


def test_the_sealing_task_seals_new_rows(net):
    audit_record(net.nurse, "read", patient=net.patient)
    assert tasks.seal_audit.apply().get() == 1
    assert AuditSeal.objects.count() == 1


def test_an_intact_chain_logs_its_head_and_mails_nobody(net, caplog, settings):
    settings.ADMINS = [("ops", "ops@example.jp")]
    audit_record(net.nurse, "read", patient=net.patient)
    with caplog.at_level(logging.INFO, logger="audit.services"):
        assert tasks.verify_audit.apply().get() is True
    head = chain.head()
    assert head is not None
    assert head.hex in caplog.text
    assert mail.outbox == []


def test_a_broken_chain_is_mailed_to_administrators_and_audited(net, settings):
    settings.ADMINS = [("ops", "ops@example.jp")]
    admin = UserFactory(email="admin@clinic.example.jp")
    MembershipFactory(user=admin, organization=net.lead_clinic, is_admin=True)
    former = UserFactory(email="former@clinic.example.jp")
    MembershipFactory(user=former, organization=net.clinic, is_admin=True, is_active=False)
    net.primary.email = "primary@clinic.example.jp"  # a member, not an administrator
    net.primary.save()
    row = audit_record(net.nurse, "read", patient=net.patient)
    chain.seal()
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("UPDATE audit_auditevent SET detail = 'x' WHERE id = %s", [row.pk])
        cursor.execute("SET session_replication_role = DEFAULT")

    assert tasks.verify_audit.apply().get() is False

    recipients = sorted(address for message in mail.outbox for address in message.to)
    assert recipients == ["admin@clinic.example.jp", "ops@example.jp"]
    assert all(f"{row.pk}" in message.body for message in mail.outbox)
    assert all("監査ログの改ざん" in message.subject for message in mail.outbox)
    alarm = AuditEvent.objects.get(action=AuditAction.CHAIN_BROKEN)
    assert alarm.object_id == "1"  # the seq of the first broken seal
    assert f"row {row.pk}" in alarm.detail
