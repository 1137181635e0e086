"""The suppression list: who was erased, so they are not quietly re-created.

An erased person's normalised email and phone are kept as keyed HMACs (never the values),
per account the request covered, or once for every account. Creating or importing a contact
that matches is refused unless the caller overrides it with a reason
(``lifecycle/contacts.py``).
"""

from __future__ import annotations

import hashlib
import hmac

from policy_service.domain.clock import utcnow
from policy_service.domain.dsr import Identity
from policy_service.ports import Seals
from policy_service.privacy.records import ALL, Accounts
from policy_service.privacy.sealing import derive_key
from policy_service.storage import dsr as queries
from policy_service.storage.dsr import Session


def suppression_digest(state: Seals, kind: str, value: str) -> str:
    key = derive_key(state, b"suppression")
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def digests_of(state: Seals, identity: Identity) -> list[tuple[str, str]]:
    """(kind, digest) of the identity's email and phone, as given (normalise first)."""
    return [
        (kind, suppression_digest(state, kind, value))
        for kind, value in (("email", identity.email), ("phone", identity.phone))
        if value
    ]


def is_suppressed(
    state: Seals, session: Session, account_id: str, email: str | None, phone: str | None
) -> bool:
    """Whether a contact with this email or phone would re-create an erased person."""
    wanted = digests_of(state, Identity(email, phone).normalised())
    return queries.any_suppressed(session, account_id, wanted)


def suppress(
    state: Seals,
    session: Session,
    dsr_id: str,
    accounts: Accounts,
    account_ids: list[str],
    identity: Identity,
) -> None:
    """Put the identity on the list of each account searched, or of every account."""
    scopes = [ALL] if accounts == ALL else account_ids
    digests = digests_of(state, identity)
    entries = [(scope, kind, digest) for scope in scopes for kind, digest in digests]
    queries.add_suppressions(session, dsr_id, entries, utcnow())
