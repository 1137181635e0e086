"""Settings: one table maps each ``POLICY_SERVICE_*`` environment variable to a typed setting.

Bad values fail fast at start with the variable's name; nothing is read at import time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

PREFIX = "POLICY_SERVICE_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (true/false), got {raw!r}")


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"expected a whole number >= 0, got {raw!r}")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError(f"expected a number >= 0, got {raw!r}")
    return value


def _log_format(raw: str) -> str:
    if raw not in {"json", "console"}:
        raise ValueError(f"expected 'json' or 'console', got {raw!r}")
    return raw


def _job_runner(raw: str) -> str:
    if raw not in {"thread", "inline", "off"}:
        raise ValueError(f"expected thread, inline or off, got {raw!r}")
    return raw


def _path(raw: str) -> Path:
    return Path(raw).expanduser()


def _optional_path(raw: str) -> Path | None:
    return Path(raw).expanduser() if raw.strip() else None


@dataclass(frozen=True)
class Settings:
    """Every setting, its default and its environment variable (``POLICY_SERVICE_`` + name)."""

    database_url: str = field(
        default=f"sqlite:///{PROJECT_ROOT / 'instance' / 'policy_service.sqlite3'}",
        metadata={"parse": str, "doc": "SQLAlchemy URL; SQLite file under instance/ by default"},
    )
    policy_pack: Path = field(
        default=PROJECT_ROOT / "policies",
        metadata={"parse": _path, "doc": "directory holding pack.toml, rules and policy tests"},
    )
    environment: str = field(
        default="development",
        metadata={"parse": str, "doc": "development or production"},
    )
    log_format: str = field(
        default="console",
        metadata={"parse": _log_format, "doc": "json (one object a line) or console"},
    )
    log_level: str = field(default="INFO", metadata={"parse": str, "doc": "stdlib level name"})
    sync_interval: float = field(
        default=0.5,
        metadata={
            "parse": _positive_float,
            "doc": "seconds between checks for policy and membership changes made elsewhere",
        },
    )
    consistency_wait_seconds: float = field(
        default=2.0,
        metadata={
            "parse": _positive_float,
            "doc": "longest a request sending X-Consistency-Token waits for this worker to "
            "reach that change version (503 with Retry-After after that)",
        },
    )
    decision_cache_size: int = field(
        default=200_000,
        metadata={"parse": _positive_int, "doc": "decisions kept per worker; 0 turns it off"},
    )
    max_body_bytes: int = field(
        default=1_048_576,
        metadata={"parse": _positive_int, "doc": "largest request body accepted (413 above)"},
    )
    max_json_depth: int = field(
        default=64,
        metadata={"parse": _positive_int, "doc": "deepest nesting of a JSON body (400 deeper)"},
    )
    max_string_chars: int = field(
        default=10_000,
        metadata={
            "parse": _positive_int,
            "doc": "longest string anywhere in a JSON body, including free-form record data "
            "(400 longer); fields with their own limits are checked against those",
        },
    )
    max_batch_items: int = field(
        default=1_000,
        metadata={"parse": _positive_int, "doc": "most evaluations in one batch request"},
    )
    audit_signing_key: Path = field(
        default=PROJECT_ROOT / "instance" / "audit_signing_key.pem",
        metadata={
            "parse": _path,
            "doc": "Ed25519 private key (PEM) that signs audit checkpoints; "
            "generated on first run outside production",
        },
    )
    audit_encryption_key: Path = field(
        default=PROJECT_ROOT / "instance" / "audit_encryption_key.bin",
        metadata={
            "parse": _path,
            "doc": "32-byte key-encryption key for the audit log's per-contact data keys; "
            "generated on first run outside production",
        },
    )
    audit_checkpoint_every: int = field(
        default=1_000,
        metadata={"parse": _positive_int, "doc": "sign a checkpoint every N audit events"},
    )
    audit_checkpoint_seconds: int = field(
        default=60,
        metadata={
            "parse": _positive_int,
            "doc": "sign a checkpoint of every audit chain with new events at least this often "
            "(one worker of all); verification fails when an event has gone unsigned for "
            "twice as long; 0 turns the schedule and that check off",
        },
    )
    audit_witness_dir: Path | None = field(
        default=None,
        metadata={
            "parse": _optional_path,
            "doc": "directory outside the database where every audit checkpoint is also "
            "written as a signed note, once (`policy-service audit verify --witness DIR`); "
            "empty: none",
        },
    )
    job_chunk_size: int = field(
        default=500,
        metadata={"parse": _positive_int, "doc": "contacts per transaction in bulk jobs"},
    )
    job_runner: str = field(
        default="thread",
        metadata={
            "parse": _job_runner,
            "doc": "thread: each worker runs queued and orphaned jobs in the background; "
            "inline: a job runs before its 202 answer (tests); off: only `policy-service jobs run`",
        },
    )
    retention_sweep_seconds: int = field(
        default=3600,
        metadata={
            "parse": _positive_int,
            "doc": "seconds between scheduled retention sweeps, run by one worker of all; "
            "0 turns the schedule off (the API and CLI sweeps remain)",
        },
    )
    job_recovery_seconds: int = field(
        default=60,
        metadata={
            "parse": _positive_int,
            "doc": "seconds between scheduled passes, run by one worker of all, that resume "
            "bulk jobs whose runner died (lease expired); 0 turns them off, as does "
            "job_runner off",
        },
    )
    decision_log: bool = field(
        default=True,
        metadata={
            "parse": _bool,
            "doc": "keep a log of every decision answered (evaluation, evaluations, search, "
            "explain), written in batches off the request path",
        },
    )
    decision_log_queue_size: int = field(
        default=50_000,
        metadata={
            "parse": _positive_int,
            "doc": "decisions held in memory waiting to be written; when full, new ones are "
            "dropped and counted (a decision never waits for its log)",
        },
    )
    decision_log_batch_size: int = field(
        default=1_000,
        metadata={"parse": _positive_int, "doc": "decision log entries written per statement"},
    )
    decision_log_flush_seconds: float = field(
        default=0.5,
        metadata={
            "parse": _positive_float,
            "doc": "longest a decision waits in memory before it is written",
        },
    )
    decision_log_retention_days: int = field(
        default=90,
        metadata={
            "parse": _positive_int,
            "doc": "decision log entries older than this are deleted by the scheduled "
            "retention sweep; 0 keeps them for ever",
        },
    )
    decision_log_mask: tuple[str, ...] = field(
        default=("email", "name", "phone", "subject_email", "first_name", "last_name"),
        metadata={
            "parse": lambda raw: tuple(p.strip() for p in raw.split(",") if p.strip()),
            "doc": "comma-separated property names whose values are masked in the decision "
            "log (subject, resource and action properties)",
        },
    )
    metrics_token: str = field(
        default="",
        metadata={
            "parse": str,
            "doc": "bearer token that opens GET /metrics (Prometheus); unset, /metrics is 404",
            "secret": True,
        },
    )
    console_session_minutes: int = field(
        default=60,
        metadata={
            "parse": _positive_int,
            "doc": "minutes a /console sign-in lasts before it asks for the token again",
        },
    )
    secret_key: str = field(
        default="",
        metadata={
            "parse": str,
            "doc": "secret for keyed hashes (suppression list); required in production",
            "secret": True,
        },
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            name = PREFIX + spec.name.upper()
            if name not in env:
                continue
            parse: Callable[[str], Any] = spec.metadata["parse"]
            try:
                values[spec.name] = parse(env[name])
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from None
        settings = replace(cls(), **values)
        return settings.with_overrides(**overrides)

    def with_overrides(self, **overrides: Any) -> Settings:
        known = {spec.name for spec in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        settings = replace(self, **overrides)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.environment not in {"development", "production", "test"}:
            raise ConfigError(
                f"{PREFIX}ENVIRONMENT: expected development, production or test, "
                f"got {self.environment!r}"
            )
        if self.environment == "production" and not self.secret_key:
            raise ConfigError(f"{PREFIX}SECRET_KEY must be set in production")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def documentation(cls) -> list[tuple[str, str, str]]:
        """(variable, default, meaning) for each setting: the README table is made from this."""
        rows = []
        for spec in fields(cls):
            default = "" if spec.metadata.get("secret") else str(spec.default)
            rows.append((PREFIX + spec.name.upper(), default, spec.metadata["doc"]))
        return rows
