"""Shared fixtures.

Storage tests run on both databases through the ``database_url`` fixture. Each test gets a
fresh, migrated database cloned from a template made once per session: a file copy on
SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL. The audit tables refuse DELETE and
TRUNCATE, so cloning is also the only honest way to start each test clean.

With ``CI=true`` an unreachable PostgreSQL fails the run instead of skipping its tests.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from policy_service.storage.database import create_database_engine
from policy_service.storage.migrate import upgrade

PG_ADMIN_URL = os.environ.get(
    "POLICY_SERVICE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _pg_admin_engine() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def _pg_reachable() -> str | None:
    try:
        engine = _pg_admin_engine()
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means "not reachable"
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    problem = _pg_reachable()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL must be reachable in CI ({PG_ADMIN_URL}): {problem}")
        pytest.skip(f"PostgreSQL not reachable: {problem}")
    engine = _pg_admin_engine()
    yield engine
    engine.dispose()


def _pg_url(database: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_template(postgres_admin: Engine) -> Iterator[str]:
    name = f"ps_tpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with postgres_admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_database_engine(_pg_url(name))
    upgrade(engine)
    engine.dispose()
    yield name
    with postgres_admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = create_database_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _fresh_postgres(request: pytest.FixtureRequest) -> Iterator[str]:
    admin: Engine = request.getfixturevalue("postgres_admin")
    template: str = request.getfixturevalue("postgres_template")
    name = f"ps_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _pg_url(name)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _fresh_sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "service.sqlite3"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database on each backend in turn."""
    if request.param == "sqlite":
        yield _fresh_sqlite(request, tmp_path)
    else:
        yield from _fresh_postgres(request)


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated SQLite database, for tests about the service rather than storage."""
    return _fresh_sqlite(request, tmp_path)


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, for tests that need PostgreSQL itself."""
    yield from _fresh_postgres(request)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    yield engine
    engine.dispose()


# -- the service ------------------------------------------------------------------------------

from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402

from policy_service import create_app  # noqa: E402
from policy_service.api.app_state import get_state  # noqa: E402
from policy_service.config import Settings  # noqa: E402
from policy_service.scheduler import stop_scheduler  # noqa: E402
from policy_service.state import ServiceState  # noqa: E402

DEFAULT_PACK = Path(__file__).resolve().parent.parent / "policies"


def add_rule(pack: Path, rule: str) -> None:
    """Append one line to the pack's rules.csv (``rule`` with or without its newline)."""
    with (pack / "rules.csv").open("a") as rules:
        rules.write(rule if rule.endswith("\n") else rule + "\n")


def copy_of_default_pack(tmp_path: Path) -> Path:
    """The shipped pack copied to ``tmp_path/pack`` for a test to change, with the Casbin
    model beside it where its manifest looks (``../casbin_model.conf``)."""
    directory = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK, directory)
    shutil.copy(DEFAULT_PACK.parent / "casbin_model.conf", tmp_path / "casbin_model.conf")
    return directory


def settings_for_tests(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "log_format": "json",
        "log_level": "WARNING",
        "audit_signing_key": tmp_path / "audit_signing_key.pem",
        "policy_pack": DEFAULT_PACK,
        # Jobs run before their 202 answer, so tests see the end state; runners, leases and
        # resumption are tested on their own.
        "job_runner": "inline",
    }
    values.update(overrides)
    return Settings.from_env({}, **values)


@dataclass
class Service:
    """An app on a real database, with a way to mint callers."""

    app: Flask
    client: FlaskClient
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> ServiceState:
        return get_state(self.app)

    def caller(
        self,
        principal: str,
        *,
        roles: dict[str, list[str]] | None = None,
        platform_admin: bool = False,
        kind: str = "user",
    ) -> str:
        """Create a principal with roles per account and return a token for it."""
        from policy_service.accounts.tokens import issue_token
        from policy_service.storage import memberships
        from policy_service.storage.changes import record_change

        state = self.state
        with state.unit_of_work() as uow:
            for account_id, account_roles in (roles or {}).items():
                memberships.set_roles(uow.session, account_id, principal, account_roles)
                record_change(
                    uow.session, "membership", account_id=account_id, subject_id=principal
                )
            uow.commit()
        _, token = issue_token(state, principal, kind=kind, platform_admin=platform_admin)
        state.sync_now()
        self.tokens[principal] = token
        return token

    def account(self, account_id: str, **settings: Any) -> None:
        from policy_service.domain.accounts import Account
        from policy_service.storage import accounts
        from policy_service.storage.changes import record_change
        from policy_service.storage.tables import utcnow

        now = utcnow()
        account = Account(
            account_id,
            settings.get("name", account_id),
            settings.get("cascade_profile", "trash-retains-all"),
            settings.get("retention_days", 60),
            settings.get("purge_enabled", False),
            now,
            now,
        )
        with self.state.unit_of_work() as uow:
            accounts.add_account(uow.session, account)
            record_change(uow.session, "account", account_id=account_id)
            uow.commit()
        self.state.sync_now()

    def request(
        self, method: str, path: str, token: str | None, json: Any = None, **kwargs: Any
    ) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.open(path, method=method, json=json, headers=headers, **kwargs)


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Any]:
    made: list[Service] = []

    def make(database_url: str, **overrides: Any) -> Service:
        app = create_app(settings_for_tests(database_url, tmp_path, **overrides))
        service = Service(app, app.test_client())
        made.append(service)
        return service

    yield make
    for service in made:
        # A scheduler thread (any job runner but "inline") would go on ticking against a
        # database the fixture is about to drop.
        stop_scheduler(service.state)
        service.state.engine.dispose()


@pytest.fixture
def service(make_service: Any, database_url: str) -> Service:
    """The service on each database in turn."""
    return make_service(database_url)


@pytest.fixture
def sqlite_service(make_service: Any, sqlite_url: str) -> Service:
    """The service on SQLite only, for behaviour that does not depend on storage."""
    return make_service(sqlite_url)
