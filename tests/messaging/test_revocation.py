"""Sockets of people whose access ends are closed at once, with a code that tells the client why."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from config.asgi import application
from messaging.consumers import ACCESS_CHANGED_CLOSE_CODE, SIGNED_OUT_CLOSE_CODE
from patients import services as patient_services
from patients.models import CareTeamMember
from teams import services as team_services
from teams.models import Membership, User, UserSession
from tests.factories import PASSWORD
from tests.messaging.test_consumer import connected
from tests.signin import sign_in

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


# --- ends of web sessions: the socket of that session closes, the person's others stay -------


def _signed_in(user: User, agent: str = "Tablet") -> tuple[Client, str]:
    client = Client(HTTP_USER_AGENT=agent)
    response = sign_in(client, user)
    assert response.status_code == 302
    return client, client.cookies[django_settings.SESSION_COOKIE_NAME].value


async def _socket(cookie: str) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(
        application,
        "/ws/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode()),
        ],
    )
    ok, _ = await comm.connect()
    assert ok
    return comm


async def test_logout_closes_that_sessions_socket_and_not_the_persons_others(net):
    web, cookie = await database_sync_to_async(_signed_in)(net.nurse)
    _other, other_cookie = await database_sync_to_async(_signed_in)(net.nurse, "Phone")
    comm, other = await _socket(cookie), await _socket(other_cookie)
    await database_sync_to_async(web.post)("/logout/")
    assert await closed_with(comm) == SIGNED_OUT_CLOSE_CODE
    assert await other.receive_nothing(timeout=0.5)
    await other.disconnect()


async def test_ending_a_device_closes_its_socket(net):
    web, cookie = await database_sync_to_async(_signed_in)(net.nurse)
    _phone, phone_cookie = await database_sync_to_async(_signed_in)(net.nurse, "Phone")
    comm, phone = await _socket(cookie), await _socket(phone_cookie)
    row = await database_sync_to_async(UserSession.objects.get)(user=net.nurse, user_agent="Phone")
    await database_sync_to_async(web.post)(f"/account/devices/sessions/{row.pk}/end/")
    assert await closed_with(phone) == SIGNED_OUT_CLOSE_CODE
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()


async def test_changing_the_password_on_the_page_closes_the_other_sessions_sockets(net):
    web, _cookie = await database_sync_to_async(_signed_in)(net.nurse)
    _phone, phone_cookie = await database_sync_to_async(_signed_in)(net.nurse, "Phone")
    phone = await _socket(phone_cookie)
    new = "kizuna-new-passphrase-2026"
    response = await database_sync_to_async(web.post)(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    assert await closed_with(phone) == SIGNED_OUT_CLOSE_CODE
    # The phone's session is gone: it cannot open a socket again.
    comm = WebsocketCommunicator(
        application,
        "/ws/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={phone_cookie}".encode()),
        ],
    )
    ok, _ = await comm.connect()
    assert not ok


async def test_an_administrator_ending_a_persons_access_closes_their_sockets(net):
    await database_sync_to_async(
        Membership.objects.filter(user=net.primary, organization=net.lead_clinic).update
    )(is_admin=True)
    _web, cookie = await database_sync_to_async(_signed_in)(net.outsider)
    comm = await _socket(cookie)
    await database_sync_to_async(team_services.access_end_all)(net.primary, net.outsider.pk)
    assert await closed_with(comm) == SIGNED_OUT_CLOSE_CODE


async def test_a_socket_closes_when_its_session_expires(net):
    _web, cookie = await database_sync_to_async(_signed_in)(net.nurse)
    soon = timezone.now() + dt.timedelta(seconds=1)
    await database_sync_to_async(Session.objects.filter(session_key=cookie).update)(
        expire_date=soon
    )
    comm = await _socket(cookie)
    assert await closed_with(comm) == SIGNED_OUT_CLOSE_CODE


async def test_a_session_extended_before_its_expiry_keeps_its_socket(net):
    _web, cookie = await database_sync_to_async(_signed_in)(net.nurse)
    sessions = Session.objects.filter(session_key=cookie)
    await database_sync_to_async(sessions.update)(
        expire_date=timezone.now() + dt.timedelta(seconds=1)
    )
    comm = await _socket(cookie)
    await database_sync_to_async(sessions.update)(
        expire_date=timezone.now() + dt.timedelta(hours=1)
    )
    assert await comm.receive_nothing(timeout=1.5)
    await comm.disconnect()
