"""One rule for audit of reads: the selectors audit, so the page, the API and the socket write
the same rows for the same read (`audit.reads`)."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse

from audit.models import AuditAction, AuditEvent
from messaging import services
from teams.models import User
from tests.messaging.test_consumer import connected, next_event, post_as

THREAD = "messaging.thread"


def _reads(user: User) -> list[tuple[str, int | None, str]]:
    rows = AuditEvent.objects.filter(actor_id=user.pk, object_type=THREAD).order_by("id")
    return [(r.action, r.patient_id, r.object_type) for r in rows]


@pytest.mark.django_db
def test_reading_a_thread_is_audited_alike_from_the_page_and_the_api(net, client, api_as, book):
    services.message_post(net.primary, thread=book, client_id=uuid.uuid4(), body="訪問しました")
    client.force_login(net.nurse)
    assert client.get(reverse("thread-older", args=[book.pk])).status_code == 200
    page_rows = _reads(net.nurse)
    url = reverse("messaging:thread-messages", kwargs={"thread_id": book.pk})
    assert api_as(net.nurse).get(url).status_code == 200
    both = _reads(net.nurse)
    expected = (AuditAction.READ.value, net.patient.pk, THREAD)
    assert page_rows == [expected]
    assert both == [expected, expected]


@pytest.mark.django_db
def test_listing_threads_audits_the_listed_page_only(net, api_as, book):
    res = api_as(net.nurse).get(reverse("messaging:thread-list"), {"limit": 1})
    assert res.status_code == 200
    assert _reads(net.nurse) == [(AuditAction.LIST.value, net.patient.pk, THREAD)]


@pytest.mark.django_db(transaction=True)
async def test_a_resync_over_the_socket_is_audited_as_the_api_sync_is(net, api_as):
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    await post_as(net.primary, book, "一")
    nurse = await connected(net.nurse)
    await nurse.send_json_to({"type": "resync", "threads": {str(book.pk): 0}})
    assert (await next_event(nurse))["type"] == "resync"
    await nurse.disconnect()
    socket_rows = await database_sync_to_async(_reads)(net.nurse)

    def api_sync() -> int:
        res = api_as(net.nurse).post(
            reverse("messaging:sync"), {"threads": {str(book.pk): 0}}, format="json"
        )
        return res.status_code

    assert await database_sync_to_async(api_sync)() == 200
    both = await database_sync_to_async(_reads)(net.nurse)
    expected = (AuditAction.READ.value, net.patient.pk, THREAD)
    assert socket_rows == [expected]
    assert both == [expected, expected]
