"""The ICE servers the meeting room's browsers use, from the environment.

`KIZUNA_STUN_URLS`: STUN URLs, comma-separated (e.g. "stun:turn.example.jp:3478").
`KIZUNA_TURN_URLS`: TURN URLs, comma-separated ("turn:turn.example.jp:3478?transport=udp,
turns:turn.example.jp:5349"), with `KIZUNA_TURN_SECRET`, the secret shared with coturn's
`use-auth-secret` (deploy/turn/turnserver.conf): each person gets a credential that expires
after `KIZUNA_TURN_TTL_SECONDS` (the TURN REST API scheme: the user name is
"<expiry>:<user id>", the password its HMAC-SHA1 under the secret, in base64). No secret
ever reaches the browser. With none set, the browsers use host candidates only, which is
enough on one network (and on loopback, in the tests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from django.conf import settings


def _urls(name: str) -> list[str]:
    value = str(getattr(settings, name, "") or "")
    return [u.strip() for u in value.split(",") if u.strip()]


def ice_servers(user_id: int, *, now: float | None = None) -> list[dict[str, Any]]:
    servers: list[dict[str, Any]] = []
    stun = _urls("KIZUNA_STUN_URLS")
    if stun:
        servers.append({"urls": stun})
    turn = _urls("KIZUNA_TURN_URLS")
    secret = str(getattr(settings, "KIZUNA_TURN_SECRET", "") or "")
    if turn and secret:
        ttl = int(getattr(settings, "KIZUNA_TURN_TTL_SECONDS", 6 * 3600))
        username = f"{int((now or time.time()) + ttl)}:{user_id}"
        digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
        servers.append(
            {"urls": turn, "username": username, "credential": base64.b64encode(digest).decode()}
        )
    return servers
