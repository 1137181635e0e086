"""Keys derived from the service secret, and AES-GCM sealing of what a request holds.

An open request keeps the person's identity sealed, and a completed access request its
package; each is bound to the request's id (the associated data), so a sealed value moved
to another request does not open.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from policy_service.domain.dsr import Identity
from policy_service.ports import Seals

NONCE_BYTES = 12


def derive_key(state: Seals, purpose: bytes) -> bytes:
    """A 32-byte key for one purpose, derived from the service secret (or, in development,
    the audit key-encryption key), so no extra key file has to be managed."""
    material = state.settings.secret_key.encode() or state.audit.key_encryption_key
    hkdf = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"policy-service:" + purpose)
    return hkdf.derive(material)


def seal(state: Seals, dsr_id: str, data: object) -> str:
    """``data`` as JSON, encrypted for the request ``dsr_id``: base64 of nonce + ciphertext."""
    nonce = os.urandom(NONCE_BYTES)
    plain = json.dumps(data).encode()
    sealed = AESGCM(derive_key(state, b"dsr")).encrypt(nonce, plain, dsr_id.encode())
    return base64.b64encode(nonce + sealed).decode()


def unseal(state: Seals, dsr_id: str, token: str) -> Any:  # free-form JSON
    raw = base64.b64decode(token)
    key = AESGCM(derive_key(state, b"dsr"))
    plain = key.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], dsr_id.encode())
    return json.loads(plain)


def seal_identity(state: Seals, dsr_id: str, identity: Identity) -> str:
    return seal(state, dsr_id, {"email": identity.email, "phone": identity.phone})


def open_identity(state: Seals, dsr_id: str, token: str) -> Identity:
    sealed = unseal(state, dsr_id, token)
    return Identity(email=sealed["email"], phone=sealed["phone"])
