"""The live socket follows the consent: a member whose organization it does not cover gets
nothing of the patient's threads (no events, no resync, a refused post with the reason), and a
member whose organization is taken off it has their socket closed."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async

from messaging.consumers import ACCESS_CHANGED_CLOSE_CODE
from messaging.models import Message
from patients import services as patient_services
from patients.models import Consent
from tests.messaging.test_consumer import connected, next_event, post_as
from tests.messaging.test_revocation import closed_with

pytestmark = pytest.mark.django_db(transaction=True)


def _leave_out_the_station(net) -> None:
    Consent.objects.get(patient=net.patient, withdrawn_at__isnull=True).organizations.remove(
        net.station
    )


async def test_a_member_left_out_by_the_consent_gets_nothing_over_the_socket(net, book):
    await database_sync_to_async(_leave_out_the_station)(net)
    nurse = await connected(net.nurse)
    await post_as(net.primary, book, "本日訪問しました。")
    await nurse.send_json_to({"type": "resync", "threads": {str(book.pk): 0}})
    reply = await next_event(nurse)  # not the primary's post: it was never sent to her
    assert reply["type"] == "resync"
    assert str(book.pk) not in reply["threads"]
    client_id = str(uuid.uuid4())
    await nurse.send_json_to(
        {"type": "post", "thread": book.pk, "client_id": client_id, "body": "報告です"}
    )
    error = await next_event(nurse)
    assert (error["type"], error["code"], error["client_id"]) == ("error", "forbidden", client_id)
    assert net.station.name in error["message"]
    assert not await database_sync_to_async(Message.objects.filter(author=net.nurse).exists)()
    await nurse.disconnect()


async def test_taking_an_organization_off_the_consent_closes_its_members_sockets(net):
    nurse = await connected(net.nurse)
    pharmacist = await connected(net.pharmacist)
    await database_sync_to_async(patient_services.consent_change)(
        net.primary, net.patient.pk, organization_ids=[net.clinic.pk, net.pharmacy.pk]
    )
    assert await closed_with(nurse) == ACCESS_CHANGED_CLOSE_CODE
    assert await pharmacist.receive_nothing(timeout=0.5)
    await pharmacist.disconnect()
