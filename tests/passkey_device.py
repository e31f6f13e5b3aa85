"""A software passkey for tests: answers WebAuthn challenges as a tablet's authenticator does.

`SoftPasskey().create(options)` answers the server's registration options (the JSON the
browser's `navigator.credentials.create()` would be given) with a "none" attestation;
`.get(options)` answers authentication options with a signed assertion. Both return the
answer as the browser's module sends it (PublicKeyCredential as JSON text). The signature
counter goes up by one per assertion unless a test sets `sign_count` itself (a replay or a
clone). A real P-256 key signs, so the server's py_webauthn checks everything it would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

ORIGIN = "http://testserver"  # Django's test client
RP_ID = "testserver"
UP, UV, AT = 0x01, 0x04, 0x40  # authenticator data flags: user present, verified, attested


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftPasskey:
    def __init__(self, *, origin: str = ORIGIN, rp_id: str = RP_ID) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.origin = origin
        self.rp_id = rp_id
        self.sign_count = 0
        self.user_handle: bytes | None = None

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: x, -3: y})  # EC2, ES256, P-256

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()

    def create(self, options: dict[str, Any], *, challenge: str | None = None) -> str:
        """The answer to registration `options` (a different `challenge` to forge one)."""
        self.user_handle = unb64url(options["user"]["id"])
        rp_hash = hashlib.sha256(options["rp"]["id"].encode()).digest()
        attested = (
            bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id
        ) + self._cose_key()
        auth_data = rp_hash + bytes([UP | UV | AT]) + struct.pack(">I", 0) + attested
        client_data = self._client_data("webauthn.create", challenge or options["challenge"])
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "authenticatorAttachment": "platform",
                "clientExtensionResults": {"credProps": {"rk": True}},
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "attestationObject": b64url(attestation),
                    "transports": ["internal"],
                },
            }
        )

    def get(
        self,
        options: dict[str, Any],
        *,
        challenge: str | None = None,
        sign_count: int | None = None,
    ) -> str:
        """The signed answer to authentication `options`; `sign_count` to replay a count."""
        if sign_count is None:
            self.sign_count += 1
            sign_count = self.sign_count
        rp_hash = hashlib.sha256(options.get("rpId", self.rp_id).encode()).digest()
        auth_data = rp_hash + bytes([UP | UV]) + struct.pack(">I", sign_count)
        client_data = self._client_data("webauthn.get", challenge or options["challenge"])
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "authenticatorAttachment": "platform",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "authenticatorData": b64url(auth_data),
                    "signature": b64url(signature),
                    "userHandle": b64url(self.user_handle) if self.user_handle else None,
                },
            }
        )
