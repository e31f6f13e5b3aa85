"""Sockets of people whose access ends are closed at once, with a code that tells the client why."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from messaging.consumers import ACCESS_CHANGED_CLOSE_CODE, SIGNED_OUT_CLOSE_CODE
from patients import services as patient_services
from patients.models import CareTeamMember
from tests.messaging.test_consumer import connected

pytestmark = pytest.mark.django_db(transaction=True)


async def closed_with(comm: Any) -> int:
    while True:
        frame = await comm.receive_output(timeout=3)
        if frame["type"] == "websocket.close":
            return frame["code"]


async def test_ending_a_place_on_the_team_closes_that_members_socket(net):
    comm = await connected(net.nurse)
    place = await database_sync_to_async(CareTeamMember.objects.get)(
        patient=net.patient, user=net.nurse
    )
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    await database_sync_to_async(patient_services.care_team_end)(
        net.primary, net.patient.pk, place.pk, end_date=yesterday
    )
    assert await closed_with(comm) == ACCESS_CHANGED_CLOSE_CODE


async def test_withdrawn_consent_closes_the_teams_sockets(net):
    comm = await connected(net.pharmacist)
    await database_sync_to_async(patient_services.consent_withdraw)(net.primary, net.patient.pk)
    assert await closed_with(comm) == ACCESS_CHANGED_CLOSE_CODE


async def test_deactivating_a_user_closes_their_socket_for_good(net):
    comm = await connected(net.nurse)
    net.nurse.is_active = False
    await database_sync_to_async(net.nurse.save)()
    assert await closed_with(comm) == SIGNED_OUT_CLOSE_CODE


async def test_changing_the_password_closes_the_users_socket(net):
    comm = await connected(net.nurse)
    net.nurse.set_password("a-new-long-passphrase")
    await database_sync_to_async(net.nurse.save)()
    assert await closed_with(comm) == SIGNED_OUT_CLOSE_CODE


async def test_a_login_timestamp_update_leaves_the_socket_open(net):
    comm = await connected(net.nurse)
    net.nurse.last_login = timezone.now()
    await database_sync_to_async(net.nurse.save)(update_fields=["last_login"])
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()
