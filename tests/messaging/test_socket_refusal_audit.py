"""A post refused over the live socket (a thread the person may not see, or may not post
in) is audited as REFUSED, naming the thread; so is a resync that names such a thread."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async

from audit.models import AuditAction, AuditEvent
from tests.messaging.test_consumer import connected, next_event

pytestmark = pytest.mark.django_db(transaction=True)


def _refused() -> list[tuple[int | None, str, str, str]]:
    return list(
        AuditEvent.objects.filter(action=AuditAction.REFUSED)
        .order_by("id")
        .values_list("actor_id", "object_type", "object_id", "detail")
    )


async def test_a_refused_socket_post_is_audited(net, book):
    comm = await connected(net.outsider)
    frame = {"type": "post", "thread": book.pk, "client_id": str(uuid.uuid4()), "body": "投稿"}
    await comm.send_json_to(frame)
    assert (await next_event(comm))["code"] == "not_found"
    await comm.disconnect()
    assert await database_sync_to_async(_refused)() == [
        (net.outsider.pk, "messaging.thread", str(book.pk), "socket post")
    ]


async def test_a_resync_naming_a_thread_one_may_not_see_is_audited(net, book):
    comm = await connected(net.outsider)
    await comm.send_json_to({"type": "resync", "threads": {str(book.pk): 0}})
    answer = await next_event(comm)
    assert answer["type"] == "resync"
    assert answer["removed"] == [book.pk]
    await comm.disconnect()
    assert await database_sync_to_async(_refused)() == [
        (net.outsider.pk, "messaging.thread", str(book.pk), "sync")
    ]
