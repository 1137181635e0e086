"""Facts: what conditions are evaluated on.

``Facts`` is frozen and holds plain values only. pycasbin's matcher evaluator will read
attributes and call methods of whatever it is given, so it must never see an ORM object or
anything with behaviour. Being hashable also lets a decision be cached by its facts.

Every fact is recorded with where it came from (``FactSource``), because the service's own
knowledge wins over what a caller says, and an explanation must show which one was used.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any


class FactSource(StrEnum):
    STORE = "store"  # the service's own database: account settings, contact state, holds
    POLICY_PACK = "policy_pack"  # attributes the policy pack declares (e.g. subject emails)
    REQUEST = "request"  # resource/subject properties the caller sent
    DEFAULT = "default"  # nobody said; the documented default applies
    CLOCK = "clock"  # derived from the current time


@dataclass(frozen=True, slots=True)
class Facts:
    subject_id: str
    subject_email: str | None = None
    contact_state: str | None = None  # active | trashed | purged
    # Whole days since the contact went to the trash. Comparing whole days with a whole
    # number of retention days is exact (age < N days  <=>  floor(age in days) < N), and it
    # keeps the facts, and so cached decisions, stable within a day.
    trash_age_days: int | None = None
    retention_days: int | None = None
    purge_enabled: bool = False
    legal_hold: bool = False
    active_workflow: bool = False
    owner_id: str | None = None
    # The account's cascade profile: does a delete go to the trash, and which of the profile's
    # ``block_delete_when`` guards hold for this contact now (e.g. an active workflow).
    trash: bool = True
    blocking_guards: tuple[str, ...] = ()
    # A service acting for a user (X-On-Behalf-Of): rules that must never be exercised through
    # delegation (platform powers) require ``not_delegated``.
    delegated: bool = False
    # For ``account.act_for_user``: the user the service acts for holds a role in the account.
    delegate_is_member: bool = False


FACT_NAMES = tuple(spec.name for spec in fields(Facts))


@dataclass(frozen=True, slots=True)
class FactSet:
    """Facts plus the source of each, for explanations."""

    facts: Facts
    sources: tuple[tuple[str, FactSource], ...]

    def describe(self) -> list[dict[str, Any]]:
        source_of = dict(self.sources)
        return [
            {
                "name": name,
                "value": getattr(self.facts, name),
                "source": str(source_of.get(name, FactSource.DEFAULT)),
            }
            for name in FACT_NAMES
        ]
