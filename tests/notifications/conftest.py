"""Fixtures of the notifications tests: live events caught, tasks not queued, keys made."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from notifications import receivers
from notifications.signals import notice_live


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def browser_keys() -> tuple[str, str]:
    """A browser subscription's keys: an uncompressed P-256 public key and a 16-byte secret."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(public), b64url(os.urandom(16))


def vapid_keys() -> tuple[str, str]:
    """(public, private) VAPID keys as the environment takes them (base64url, raw)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(public), b64url(private)


@dataclass
class Live:
    user_ids: list[int]
    event: dict[str, Any]


@pytest.fixture
def live_events() -> Any:
    caught: list[Live] = []

    def record(sender: Any, *, user_ids: list[int], event: dict[str, Any], **kwargs: Any) -> None:
        caught.append(Live(user_ids=list(user_ids), event=event))

    notice_live.connect(record, dispatch_uid="test-live")
    yield caught
    notice_live.disconnect(dispatch_uid="test-live")


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Notice ids whose delivery would have been queued (no broker in these tests)."""
    ids: list[int] = []

    class FakeTask:
        @staticmethod
        def delay(notice_id: int) -> None:
            ids.append(notice_id)

    monkeypatch.setattr(receivers, "deliver_notice", FakeTask)
    return ids
