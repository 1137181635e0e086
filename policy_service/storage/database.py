"""Engine construction for the two supported databases.

SQLite is the embedded default; PostgreSQL is the production store. Both get the same schema
through the Alembic migrations. On SQLite the driver's own transaction handling is switched
off so that a unit of work can ask for ``BEGIN IMMEDIATE``: a writer then takes the database
write lock at the start of its transaction instead of failing half-way with "database is
locked" when it first writes.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
BEGIN_MODE_OPTION = "sqlite_begin"
# A worker blocked on connecting to a host that drops packets would hit gunicorn's worker
# timeout and be killed; failing the connect after a few seconds answers 503 instead.
POSTGRES_CONNECT_TIMEOUT_S = 5


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def normalise_url(url: str) -> str:
    """Let operators write ``postgresql://``; the service speaks psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_database_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    # Recycle rather than pre-ping: a pre-ping costs a round trip on every checkout, i.e. on
    # nearly every request. Only a connection that sat idle is pinged (see below).
    kwargs.setdefault("pool_recycle", 1800)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    if "connect_timeout" not in make_url(url).query:  # the URL's own setting wins
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("connect_timeout", POSTGRES_CONNECT_TIMEOUT_S)
        kwargs["connect_args"] = connect_args
    engine = create_engine(url, **kwargs)
    _ping_idle_connections(engine)
    return engine


IDLE_PING_AFTER_S = 10.0
_CHECKED_IN_AT = "policy_service_checked_in_at"


def _ping_idle_connections(engine: Engine) -> None:
    """Ping a pooled connection before use when it has been idle for a while.

    After the database restarts or fails over, every idle pooled connection is dead. Without
    a check the first request on each would fail; a failed ping instead makes the pool drop
    every connection made before it and connect afresh, so the request does not notice.
    Busy connections are not pinged, which keeps the round trip off the hot path.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or time.monotonic() - checked_in_at < IDLE_PING_AFTER_S:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            # The ping opened a transaction; end it so the connection is handed out idle.
            dbapi_connection.rollback()
        except Exception as exc:
            raise sa_exc.InvalidatePoolError(f"idle connection failed its ping: {exc}") from exc


_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no pooled connection came free in time
    # Driver errors can reach us unwrapped, e.g. from code on a raw DBAPI connection.
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlite3.OperationalError,
    sqlite3.InterfaceError,
)
# "Can't reconnect until invalid transaction is rolled back": the connection under a
# transaction was lost and the code carried on with it.
_INVALIDATED_TRANSACTION_CODE = "8s2b"


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) means the database cannot be used
    right now: down, refusing connections, the connection lost, the pool exhausted, or a
    lock or serialisation conflict that outlasted its wait. Such a request changed nothing
    and may be retried; anything else is a fault in the statement or the data."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, _UNAVAILABLE):
            return True
        if (
            isinstance(current, sa_exc.PendingRollbackError)
            and current.code == _INVALIDATED_TRANSACTION_CODE
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def ping(connection: Connection) -> None:
    """Ask the database for the simplest answer there is (``/health``); raises if it is away."""
    connection.execute(text("SELECT 1"))


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(BEGIN_MODE_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
