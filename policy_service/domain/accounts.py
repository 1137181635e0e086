"""Accounts (tenants) and the settings the policy reads as facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DEFAULT_RETENTION_DAYS = 60


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    cascade_profile: str
    retention_days: int
    purge_enabled: bool
    created_at: datetime
    updated_at: datetime
