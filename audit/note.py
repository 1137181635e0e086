"""C2SP ``signed-note`` with Ed25519, and C2SP ``tlog-checkpoint`` bodies.

A note is UTF-8 text ending in a newline, a blank line, then one signature line per
signature: ``— <key name> <base64(key hash || signature)>`` (an em dash, U+2014). The key
hash is the first 4 bytes of ``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)``
(0x01: Ed25519), and the Ed25519 signature covers the text's bytes. Go's
``golang.org/x/mod/sumdb/note`` and Sigstore's verifiers read these, given the verifier key
``<name>+<hex key hash>+<base64(0x01 || public key)>`` (:func:`verifier_key`).

A checkpoint's text is the origin line, the tree size in decimal, and the base64 root hash
(``tlog-checkpoint``), each ending in a newline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519: Final = b"\x01"
DASH: Final = "\u2014"


class NoteError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CheckpointBody:
    origin: str
    tree_size: int
    root_hash: bytes


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_hash(name: str, public_key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + _raw(public_key)).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"a key name has no spaces or '+': {name!r}")


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The ``vkey`` string note verifiers take: ``name+hex(key hash)+base64(0x01||key)``."""
    _check_name(name)
    encoded = base64.b64encode(ED25519 + _raw(public_key)).decode()
    return f"{name}+{key_hash(name, public_key).hex()}+{encoded}"


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    _check_name(name)
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("a note's text ends in a newline and has no blank line")
    signature = private_key.sign(text.encode())
    blob = base64.b64encode(key_hash(name, private_key.public_key()) + signature).decode()
    return f"{text}\n{DASH} {name} {blob}\n"


def open_note(note: str, name: str, public_key: Ed25519PublicKey) -> str:
    """The note's text if it carries a valid signature by ``name``'s ``public_key``;
    otherwise :class:`NoteError`. Signatures by other keys are ignored."""
    text, sep, signatures = note.rpartition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise NoteError("malformed note")
    text += "\n"
    wanted = key_hash(name, public_key)
    for line in signatures[:-1].split("\n"):
        prefix, _, rest = line.partition(" ")
        signer, _, blob = rest.partition(" ")
        if prefix != DASH or not signer or not blob:
            raise NoteError("malformed signature line")
        if signer != name:
            continue
        try:
            raw = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError):
            raise NoteError("malformed signature") from None
        if raw[:4] != wanted:
            continue
        try:
            public_key.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise NoteError("invalid signature") from None
        return text
    raise NoteError(f"no signature by {name}")


def checkpoint_text(origin: str, tree_size: int, root_hash: bytes) -> str:
    if not origin or "\n" in origin:
        raise NoteError("an origin is one non-empty line")
    return f"{origin}\n{tree_size}\n{base64.b64encode(root_hash).decode()}\n"


def parse_checkpoint(text: str) -> CheckpointBody:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint has an origin, a size and a root hash")
    origin, size, root = lines[0], lines[1], lines[2]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise NoteError("malformed tree size")
    try:
        digest = base64.b64decode(root, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError("malformed root hash") from None
    if not origin or len(digest) != 32:
        raise NoteError("malformed checkpoint")
    return CheckpointBody(origin, int(size), digest)
