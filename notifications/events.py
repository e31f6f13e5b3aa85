"""The wire format of notifications' live events on /ws/ (docs/events.md): one function each."""

from __future__ import annotations

from typing import Any

from notifications.models import Notice


def notice_payload(notice: Notice) -> dict[str, Any]:
    """A notice as the API returns it (`GET /api/v1/notifications/`)."""
    return {
        "id": notice.pk,
        "kind": notice.kind,
        "urgency": notice.urgency,
        "title": notice.title,
        "body": notice.body,
        "url": notice.url,
        "created_at": notice.created_at.isoformat(),
        "read_at": notice.read_at.isoformat() if notice.read_at else None,
    }


def notice_new(notice: Notice, *, unread: int) -> dict[str, Any]:
    return {"type": "notice.new", "notice": notice_payload(notice), "unread": unread}


def notice_read(ids: list[int], *, unread: int) -> dict[str, Any]:
    return {"type": "notice.read", "ids": ids, "unread": unread}
