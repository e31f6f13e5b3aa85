"""Closing the live sockets of people whose access just ended.

Events are addressed per event to the people on the team at that moment, so nobody receives
anything after losing access; closing the socket as well makes the client drop what it shows
(after a resync) rather than sit on a socket that has gone quiet. Team changes call
`messaging.publish.revoke_on_commit` from the patients services; deactivation and password
changes can happen anywhere users are saved (admin, password forms), so they are caught here
when a `User` row is saved.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from messaging.publish import revoke_on_commit
from teams.models import User

WATCHED_FIELDS = {"is_active", "password"}


def user_pre_save(
    sender: type[User], instance: User, update_fields: Iterable[str] | None = None, **kwargs: Any
) -> None:
    if instance.pk is None:
        return
    if update_fields is not None and not WATCHED_FIELDS & set(update_fields):
        return  # e.g. last_login on every login: no extra query
    before = sender.objects.filter(pk=instance.pk).values("is_active", "password").first()
    if before is None:
        return
    deactivated = before["is_active"] and not instance.is_active
    if deactivated or before["password"] != instance.password:
        revoke_on_commit([instance.pk], reason="signed_out")
