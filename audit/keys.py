"""Ed25519 signing keys for checkpoints: load, create, publish.

The private key signs checkpoints inside the service; the public key (PEM) is all an
auditor needs, with an export file, to verify offline.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PublicKeyLike = Ed25519PublicKey | Ed25519PrivateKey | bytes | str


def load_or_create_signing_key(path: str | os.PathLike[str], create: bool) -> Ed25519PrivateKey:
    """Load an unencrypted PKCS#8 PEM Ed25519 key; with ``create``, make one (mode 0600) if
    the file does not exist. The service creates keys only in development."""
    target = Path(path)
    if not target.exists():
        if not create:
            raise FileNotFoundError(f"audit signing key not found: {target}")
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: if another worker created it meanwhile, fall through and load theirs.
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            return key
    loaded = serialization.load_pem_private_key(target.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{target} does not hold an Ed25519 private key")
    return loaded


def public_key_pem(private_key: Ed25519PrivateKey) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def load_public_key(key: PublicKeyLike) -> Ed25519PublicKey:
    """Accept a public key object, a private key (its public half) or PEM text/bytes."""
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, Ed25519PrivateKey):
        return key.public_key()
    pem = key.encode("ascii") if isinstance(key, str) else key
    loaded = serialization.load_pem_public_key(pem)
    if not isinstance(loaded, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return loaded


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]
