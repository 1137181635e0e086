"""The audit log's keys: the key-encryption key and the checkpoint signing key.

Outside production they are created on first start; in production they must exist.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import AuditWriter, load_or_create_signing_key
from policy_service.config import Settings

KEK_BYTES = 32


class AuditKeyError(RuntimeError):
    pass


def load_or_create_kek(path: Path, create: bool) -> bytes:
    if path.exists():
        key = path.read_bytes()
        if len(key) != KEK_BYTES:
            raise AuditKeyError(f"{path}: expected {KEK_BYTES} bytes, found {len(key)}")
        return key
    if not create:
        raise AuditKeyError(f"{path}: the audit encryption key is missing")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEK_BYTES)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key


def build_writer(settings: Settings) -> tuple[AuditWriter, Ed25519PrivateKey]:
    create = not settings.is_production
    kek = load_or_create_kek(settings.audit_encryption_key, create)
    signing_key = load_or_create_signing_key(settings.audit_signing_key, create=create)
    writer = AuditWriter(kek, signing_key, checkpoint_every=settings.audit_checkpoint_every)
    return writer, signing_key
