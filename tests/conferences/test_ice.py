"""The room's ICE servers from the environment: STUN as given, TURN with a credential that
expires, derived from the secret shared with coturn (which never reaches the browser)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from conferences.ice import ice_servers


def test_no_servers_configured_means_host_candidates_only(settings):
    settings.KIZUNA_STUN_URLS = ""
    settings.KIZUNA_TURN_URLS = ""
    assert ice_servers(7) == []


def test_turn_credentials_follow_the_turn_rest_scheme_and_expire(settings):
    settings.KIZUNA_STUN_URLS = "stun:turn.example.jp:3478"
    settings.KIZUNA_TURN_URLS = (
        "turn:turn.example.jp:3478?transport=udp, turns:turn.example.jp:5349"
    )
    settings.KIZUNA_TURN_SECRET = "s3cret"
    settings.KIZUNA_TURN_TTL_SECONDS = 600
    stun, turn = ice_servers(7, now=1_000_000)
    assert stun == {"urls": ["stun:turn.example.jp:3478"]}
    assert turn["urls"] == ["turn:turn.example.jp:3478?transport=udp", "turns:turn.example.jp:5349"]
    assert turn["username"] == "1000600:7"
    expected = hmac.new(b"s3cret", b"1000600:7", hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(expected).decode()
    assert "s3cret" not in str(turn)


def test_turn_without_a_secret_is_not_offered(settings):
    settings.KIZUNA_TURN_URLS = "turn:turn.example.jp:3478"
    settings.KIZUNA_TURN_SECRET = ""
    assert all("username" not in s for s in ice_servers(7))
