"""Settings: one table maps each ``POLICY_SERVICE_*`` environment variable to a typed setting.

Bad values fail fast at start with the variable's name; nothing is read at import time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

PREFIX = "POLICY_SERVICE_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


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


def _optional_http_url(raw: str) -> str | None:
    url = raw.strip()
    if not url:
        return None
    if not url.startswith(("http://", "https://")) or len(url) < 10:
        raise ValueError(f"expected an http:// or https:// URL, got {raw!r}")
    return url


def _setting(default: T, parse: Callable[[str], Any], doc: str, *, secret: bool = False) -> T:
    """One row of the table: the default, how the variable's text is read, what it means
    (``secret``: the default is not shown). It returns a ``dataclasses.field``, so a default
    given here is the field's own (never shared), whatever ruff's RUF009 infers."""
    metadata: dict[str, Any] = {"parse": parse, "doc": doc}
    if secret:
        metadata["secret"] = True
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """Every setting, its default and its environment variable (``POLICY_SERVICE_`` + name)."""

    database_url: str = _setting(
        f"sqlite:///{PROJECT_ROOT / 'instance' / 'policy_service.sqlite3'}",
        str,
        "SQLAlchemy URL; SQLite file under instance/ by default",
    )
    policy_pack: Path = _setting(  # noqa: RUF009 (a field: see _setting)
        PROJECT_ROOT / "policies", _path, "directory holding pack.toml, rules and policy tests"
    )
    environment: str = _setting("development", str, "development or production")
    log_format: str = _setting("console", _log_format, "json (one object a line) or console")
    log_level: str = _setting("INFO", str, "stdlib level name")
    sync_interval: float = _setting(
        0.5,
        _positive_float,
        "seconds between checks for policy and membership changes made elsewhere",
    )
    consistency_wait_seconds: float = _setting(
        2.0,
        _positive_float,
        "longest a request sending X-Consistency-Token waits for this worker to "
        "reach that change version (503 with Retry-After after that)",
    )
    decision_cache_size: int = _setting(
        200_000, _positive_int, "decisions kept per worker; 0 turns it off"
    )
    max_body_bytes: int = _setting(
        1_048_576, _positive_int, "largest request body accepted (413 above)"
    )
    max_json_depth: int = _setting(64, _positive_int, "deepest nesting of a JSON body (400 deeper)")
    max_string_chars: int = _setting(
        10_000,
        _positive_int,
        "longest string anywhere in a JSON body, including free-form record data "
        "(400 longer); fields with their own limits are checked against those",
    )
    max_batch_items: int = _setting(1_000, _positive_int, "most evaluations in one batch request")
    audit_signing_key: Path = _setting(  # noqa: RUF009 (a field: see _setting)
        PROJECT_ROOT / "instance" / "audit_signing_key.pem",
        _path,
        "Ed25519 private key (PEM) that signs audit checkpoints; "
        "generated on first run outside production",
    )
    audit_encryption_key: Path = _setting(  # noqa: RUF009 (a field: see _setting)
        PROJECT_ROOT / "instance" / "audit_encryption_key.bin",
        _path,
        "32-byte key-encryption key for the audit log's per-contact data keys; "
        "generated on first run outside production",
    )
    audit_checkpoint_every: int = _setting(
        1_000, _positive_int, "sign a checkpoint every N audit events"
    )
    audit_checkpoint_seconds: int = _setting(
        60,
        _positive_int,
        "sign a checkpoint of every audit chain with new events at least this often "
        "(one worker of all); verification fails when an event has gone unsigned for "
        "twice as long; 0 turns the schedule and that check off",
    )
    audit_witness_dir: Path | None = _setting(  # noqa: RUF009 (a field: see _setting)
        None,
        _optional_path,
        "directory outside the database where every audit checkpoint is also "
        "written as a signed note, once (`policy-service audit verify --witness DIR`); "
        "empty: none",
    )
    audit_witness_url: str | None = _setting(
        None,
        _optional_http_url,
        "C2SP tlog-witness submission prefix: every audit checkpoint is POSTed to "
        "<url>/add-checkpoint with a consistency proof; failures are retried and counted, "
        "never block appends; empty: none",
    )
    job_chunk_size: int = _setting(500, _positive_int, "contacts per transaction in bulk jobs")
    job_runner: str = _setting(
        "thread",
        _job_runner,
        "thread: each worker runs queued and orphaned jobs in the background; "
        "inline: a job runs before its 202 answer (tests); off: only `policy-service jobs run`",
    )
    retention_sweep_seconds: int = _setting(
        3600,
        _positive_int,
        "seconds between scheduled retention sweeps, run by one worker of all; "
        "0 turns the schedule off (the API and CLI sweeps remain)",
    )
    job_recovery_seconds: int = _setting(
        60,
        _positive_int,
        "seconds between scheduled passes, run by one worker of all, that resume "
        "bulk jobs whose runner died (lease expired); 0 turns them off, as does "
        "job_runner off",
    )
    webhook_delivery_seconds: float = _setting(
        5.0,
        _positive_float,
        "seconds between scheduled passes, run by one worker of all, that send the "
        "webhook deliveries that are due; 0 turns them off",
    )
    webhook_max_attempts: int = _setting(
        8,
        _positive_int,
        "attempts at one webhook delivery before it is marked failed (redeliver starts it again)",
    )
    webhook_retry_base_seconds: float = _setting(
        10.0,
        _positive_float,
        "wait before the second attempt at a delivery; each later wait doubles "
        "(with jitter), up to webhook_retry_max_seconds",
    )
    webhook_retry_max_seconds: float = _setting(
        3600.0, _positive_float, "longest wait between two attempts"
    )
    webhook_timeout_seconds: float = _setting(
        10.0, _positive_float, "how long one attempt waits for the receiver's answer"
    )
    webhook_allow_private_addresses: bool = _setting(
        False,
        _bool,
        "in production, also send webhooks to loopback, private and link-local addresses "
        "(refused otherwise, at registration and at each attempt); outside production "
        "they are always allowed",
    )
    webhook_log_retention_days: int = _setting(
        30,
        _positive_int,
        "delivered and failed webhook deliveries older than this are deleted from the "
        "delivery log by the delivery task; 0 keeps them",
    )
    decision_log: bool = _setting(
        True,
        _bool,
        "keep a log of every decision answered (evaluation, evaluations, search, "
        "explain), written in batches off the request path",
    )
    decision_log_queue_size: int = _setting(
        50_000,
        _positive_int,
        "decisions held in memory waiting to be written; when full, new ones are "
        "dropped and counted (a decision never waits for its log)",
    )
    decision_log_batch_size: int = _setting(
        1_000, _positive_int, "decision log entries written per statement"
    )
    decision_log_flush_seconds: float = _setting(
        0.5, _positive_float, "longest a decision waits in memory before it is written"
    )
    decision_log_retention_days: int = _setting(
        90,
        _positive_int,
        "decision log entries older than this are deleted by the scheduled "
        "retention sweep; 0 keeps them for ever",
    )
    decision_log_mask: tuple[str, ...] = _setting(
        ("email", "name", "phone", "subject_email", "first_name", "last_name"),
        lambda raw: tuple(p.strip() for p in raw.split(",") if p.strip()),
        "comma-separated property names whose values are masked in the decision "
        "log (subject, resource and action properties)",
    )
    metrics_token: str = _setting(
        "",
        str,
        "bearer token that opens GET /metrics (Prometheus); unset, /metrics is 404",
        secret=True,
    )
    console_session_minutes: int = _setting(
        60, _positive_int, "minutes a /console sign-in lasts before it asks for the token again"
    )
    secret_key: str = _setting(
        "", str, "secret for keyed hashes (suppression list); required in production", secret=True
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
