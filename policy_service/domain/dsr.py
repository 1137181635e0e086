"""Data-subject requests: deadlines, exemptions, identities.

Deadlines. GDPR Art. 12(3): "without undue delay and in any event within one month of
receipt", extendable "by two further months where necessary", the person being told within
the first month. CCPA (Civil Code 1798.130(a)(2)): 45 days, extendable once by a further 45.
A month is a calendar month, clamped at month ends: received 31 January, due 28 (or 29)
February; extended by two months from that due date.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

TYPES = ("erasure", "access")
JURISDICTIONS = ("gdpr", "ccpa")
CHANNELS = ("email", "web_form", "phone", "mail", "in_person", "other")

RECEIVED, IDENTITY_VERIFIED, APPROVED, DENIED = (
    "received",
    "identity_verified",
    "approved",
    "denied",
)
IN_PROGRESS, COMPLETED, FAILED = "in_progress", "completed", "failed"
OPEN = frozenset({RECEIVED, IDENTITY_VERIFIED, APPROVED, IN_PROGRESS})
# Which transitions each step allows.
TRANSITIONS = MappingProxyType(
    {
        "verify-identity": frozenset({RECEIVED}),
        "approve": frozenset({IDENTITY_VERIFIED}),
        "deny": frozenset({RECEIVED, IDENTITY_VERIFIED, APPROVED}),
        "execute": frozenset({APPROVED, IN_PROGRESS}),
        "extend": OPEN,
    }
)

EXEMPTIONS = MappingProxyType(
    {
        "gdpr": MappingProxyType(
            {
                "freedom_of_expression": "Art. 17(3)(a): freedom of expression and information",
                "legal_obligation": "Art. 17(3)(b): a legal obligation, or a task in the public "
                "interest or official authority",
                "public_health": "Art. 17(3)(c): public interest in public health",
                "archiving_research": "Art. 17(3)(d): archiving in the public interest, "
                "scientific or historical research, statistics",
                "legal_claims": "Art. 17(3)(e): establishing, exercising or defending legal claims",
                "identity_not_verified": "Art. 12(6): the requester's identity was not confirmed",
                "manifestly_unfounded": "Art. 12(5): manifestly unfounded or excessive",
            }
        ),
        "ccpa": MappingProxyType(
            {
                "complete_transaction": "1798.105(d)(1): to complete a transaction or contract",
                "security": "1798.105(d)(2): to detect security incidents or protect against fraud",
                "debug": "1798.105(d)(3): to identify and repair errors",
                "free_speech": "1798.105(d)(4): free speech or another legal right",
                "calecpa": "1798.105(d)(5): the California Electronic Communications Privacy Act",
                "research": "1798.105(d)(6): public-interest research",
                "internal_uses": "1798.105(d)(7): internal uses the consumer would expect",
                "legal_obligation": "1798.105(d)(8): to comply with a legal obligation",
                "identity_not_verified": "1798.140(ak): the request could not be verified",
            }
        ),
    }
)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` calendar months later, clamped to the month's last day."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def first_deadline(jurisdiction: str, received_at: datetime) -> datetime:
    if jurisdiction == "gdpr":
        return add_months(received_at, 1)
    return received_at + timedelta(days=45)


def extended_deadline(jurisdiction: str, due_at: datetime) -> datetime:
    if jurisdiction == "gdpr":
        return add_months(due_at, 2)
    return due_at + timedelta(days=45)


def days_left(due_at: datetime, now: datetime) -> int:
    """Whole days until the deadline (negative once it has passed)."""
    return (due_at.date() - now.date()).days


def normalise_email(email: str | None) -> str | None:
    return email.strip().lower() if email and email.strip() else None


_NOT_DIGITS = re.compile(r"[^0-9]")


def normalise_phone(phone: str | None) -> str | None:
    """Digits only, keeping a leading + (so "+44 20 7946-0000" and "+442079460000" match)."""
    if not phone or not phone.strip():
        return None
    digits = _NOT_DIGITS.sub("", phone)
    if not digits:
        return None
    return ("+" if phone.strip().startswith("+") else "") + digits


@dataclass(frozen=True)
class Identity:
    email: str | None
    phone: str | None

    def normalised(self) -> Identity:
        return Identity(normalise_email(self.email), normalise_phone(self.phone))

    def is_empty(self) -> bool:
        return not self.email and not self.phone
