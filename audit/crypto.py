"""Protected fields: AES-GCM under a per-subject data key, wrapped by a key-encryption key.

Erasure (GDPR art. 17 and the like) destroys the subject's data key; the ciphertext stays in
the chain, so hashes still verify, but nobody can read it again ("crypto-shredding"). The
key row stays as a tombstone so later events cannot silently re-key an erased subject.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from audit.records import ERASED
from audit.tables import audit_subject_keys, upsert_ignoring

NONCE = 12
SEALED: Mapping[str, Any] = {"sealed": True}


class SubjectErasedError(Exception):
    """Protected data was given for a subject whose key has been destroyed."""


def kek_id(kek: bytes) -> str:
    return hashlib.sha256(b"audit-kek\x00" + kek).hexdigest()[:16]


def check_kek(kek: bytes) -> bytes:
    if not isinstance(kek, bytes) or len(kek) != 32:
        raise ValueError("the key-encryption key must be 32 bytes")
    return kek


def _wrap_aad(subject_id: str) -> bytes:
    # Binding the subject id stops a wrapped key being moved to another subject's row.
    return b"audit-subject-key\x00" + subject_id.encode("utf-8")


def encrypt_fields(data_key: bytes, event_id: str, fields: Mapping[str, str]) -> str:
    """base64(nonce || AES-GCM ciphertext) of the fields' JSON, bound to the event id."""
    nonce = os.urandom(NONCE)
    plaintext = json.dumps(dict(fields), sort_keys=True, separators=(",", ":")).encode()
    sealed = AESGCM(data_key).encrypt(nonce, plaintext, event_id.encode("ascii"))
    return base64.b64encode(nonce + sealed).decode("ascii")


def decrypt_fields(data_key: bytes, event_id: str, ciphertext: str) -> Mapping[str, Any]:
    raw = base64.b64decode(ciphertext)
    try:
        plaintext = AESGCM(data_key).decrypt(raw[:NONCE], raw[NONCE:], event_id.encode("ascii"))
    except InvalidTag:
        # Not readable with this subject's key: as good as erased for a reader.
        return ERASED
    value = json.loads(plaintext)
    if not isinstance(value, dict):
        raise ValueError("protected fields did not decrypt to an object")
    return value


def data_keys_for_writing(
    session: Session | Connection,
    kek: bytes,
    subject_ids: Iterable[str],
    wrapped: Mapping[str, bytes] | None = None,
) -> dict[str, bytes]:
    """The data key of each subject, creating missing ones; refuses erased subjects.

    ``wrapped``: live wrapped keys the caller has just read in this transaction (with the
    contact it acts on), which are then unwrapped without being read again."""
    wanted = sorted(set(subject_ids))
    if not wanted:
        return {}
    keys = {
        subject: _unwrap(kek, subject, wrapped[subject])
        for subject in wanted
        if wrapped and subject in wrapped
    }
    unread = [subject for subject in wanted if subject not in keys]
    if unread:
        keys.update(_load(session, kek, unread, for_writing=True))
    missing = [subject for subject in wanted if subject not in keys]
    if missing:
        now = datetime.now(UTC)
        fresh = {subject: AESGCM.generate_key(bit_length=256) for subject in missing}
        rows = [
            {
                "subject_id": subject,
                "kek_id": kek_id(kek),
                "wrapped_key": _wrap(kek, subject, key),
                "created_at": now,
                "destroyed_at": None,
            }
            for subject, key in fresh.items()
        ]
        # A concurrent writer may create the same subject's key: theirs wins, re-read it.
        session.execute(upsert_ignoring(session, audit_subject_keys), rows)
        keys.update(_load(session, kek, missing, for_writing=True))
    return keys


def data_keys_for_reading(
    session: Session | Connection, kek: bytes, subject_ids: Iterable[str]
) -> dict[str, bytes]:
    """Existing data keys only; absent subjects have been erased (or never had data)."""
    wanted = sorted(set(subject_ids))
    return _load(session, kek, wanted, for_writing=False) if wanted else {}


# Built once: every audited action reads or destroys a key, and building a statement costs
# more Python than running a cached one.
_SELECT_KEYS = select(audit_subject_keys.c.subject_id, audit_subject_keys.c.wrapped_key).where(
    audit_subject_keys.c.subject_id.in_(bindparam("subjects", expanding=True))
)
_DESTROY_KEYS = (
    update(audit_subject_keys)
    .where(
        audit_subject_keys.c.subject_id.in_(bindparam("subjects", expanding=True)),
        audit_subject_keys.c.wrapped_key.is_not(None),
    )
    .values(wrapped_key=None, destroyed_at=bindparam("now"))
    .returning(audit_subject_keys.c.subject_id)
)


def _load(
    session: Session | Connection, kek: bytes, subjects: list[str], *, for_writing: bool
) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    rows = session.execute(_SELECT_KEYS, {"subjects": subjects})
    for subject, wrapped in rows:
        if wrapped is None:
            if for_writing:
                raise SubjectErasedError(
                    f"subject {subject!r} has been erased; its events take no protected data"
                )
            continue
        keys[subject] = _unwrap(kek, subject, bytes(wrapped))
    return keys


def _wrap(kek: bytes, subject_id: str, data_key: bytes) -> bytes:
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(kek).encrypt(nonce, data_key, _wrap_aad(subject_id))


def _unwrap(kek: bytes, subject_id: str, wrapped: bytes) -> bytes:
    return AESGCM(kek).decrypt(wrapped[:NONCE], wrapped[NONCE:], _wrap_aad(subject_id))


def destroy_subject_key(session: Session | Connection, subject_id: str) -> bool:
    """Destroy a subject's data key (purge / erasure); their protected fields then read as
    ``{"erased": true}`` for good. Runs in the caller's transaction. Returns whether a live
    key was destroyed. A subject that never had a key gets a tombstone all the same, so
    nothing about them can be protected-logged afterwards either."""
    return destroy_subject_keys(session, [subject_id]) == 1


def destroy_subject_keys(session: Session | Connection, subject_ids: Sequence[str]) -> int:
    """``destroy_subject_key`` for many subjects in two statements (a bulk purge's chunk, the
    retention sweep's): one UPDATE of the live keys, one insert of the tombstones for the
    rest. Returns how many live keys were destroyed."""
    if not subject_ids:
        return 0
    now = datetime.now(UTC)
    destroyed = set(
        session.execute(_DESTROY_KEYS, {"subjects": list(subject_ids), "now": now}).scalars()
    )
    rest = [s for s in dict.fromkeys(subject_ids) if s not in destroyed]
    if rest:
        session.execute(
            upsert_ignoring(session, audit_subject_keys),
            [
                {
                    "subject_id": subject_id,
                    "kek_id": "",
                    "wrapped_key": None,
                    "created_at": now,
                    "destroyed_at": now,
                }
                for subject_id in rest
            ],
        )
    return len(destroyed)
