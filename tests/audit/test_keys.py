from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit import load_or_create_signing_key, load_public_key, public_key_pem


def test_a_missing_signing_key_is_created_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit-signing.pem"
    created = load_or_create_signing_key(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_or_create_signing_key(path, create=False)
    assert public_key_pem(loaded) == public_key_pem(created)


def test_a_missing_signing_key_is_an_error_unless_creation_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_or_create_signing_key(tmp_path / "absent.pem", create=False)


def test_the_public_key_pem_loads_back_as_an_ed25519_public_key(tmp_path: Path) -> None:
    key = load_or_create_signing_key(tmp_path / "k.pem", create=True)
    pem = public_key_pem(key)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert isinstance(load_public_key(pem), Ed25519PublicKey)
