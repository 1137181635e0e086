"""Console sessions kept on the server: the cookie is a random id, sign-out deletes the row,
revoking the token ends the session at the next request, and sessions go idle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from policy_service.accounts.tokens import revoke_tokens
from policy_service.console import session as console_session
from policy_service.storage.console_sessions import hash_session_id
from policy_service.storage.tables import ConsoleSessionRow
from tests.conftest import Service
from tests.console.conftest import Console, csrf_token, sign_in


def _rows(console: Console) -> list[ConsoleSessionRow]:
    with console.service.state.unit_of_work(write=False) as uow:
        rows = list(uow.session.execute(select(ConsoleSessionRow)).scalars())
        uow.session.expunge_all()
        return rows


def _sid(response: object) -> str:
    cookies = response.headers.getlist("Set-Cookie")  # type: ignore[attr-defined]
    found = [c for c in cookies if c.startswith(console_session.SID_COOKIE + "=")]
    assert len(found) == 1, cookies
    return str(found[0].split(";")[0].split("=", 1)[1])


def test_the_cookie_holds_only_a_random_session_id_whose_hash_is_stored(console: Console) -> None:
    response = sign_in(console.client(), console.admin)
    assert response.status_code == 302
    sid = _sid(response)
    cookie = next(
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("policy_console_sid=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/console" in cookie
    assert sid.startswith("cs_")
    assert console.admin not in cookie
    (row,) = _rows(console)
    assert row.id_hash == hash_session_id(sid)
    assert row.id_hash != sid
    assert row.principal_id == "ann"
    assert row.token_id.startswith("tok_")
    # Neither the token nor the session id is stored anywhere in the row.
    stored = " ".join(str(getattr(row, c)) for c in ("id_hash", "principal_id", "token_id"))
    assert console.admin not in stored
    assert sid not in stored


def test_sign_out_deletes_the_session_row_and_the_old_cookie_opens_nothing(
    console: Console,
) -> None:
    client = console.signed_in(console.admin)
    assert len(_rows(console)) == 1
    token = csrf_token(client, "/console/")
    signed_out = client.post("/console/sign-out", data={"csrf_token": token})
    assert signed_out.status_code == 302
    assert _rows(console) == []
    assert client.get("/console/accounts/a").status_code == 302


def test_revoking_the_token_ends_the_session_on_the_next_request(console: Console) -> None:
    client = console.signed_in(console.officer)
    assert client.get("/console/accounts/a/audit").status_code == 200
    assert revoke_tokens(console.service.state, principal_id="olga") == 1
    response = client.get("/console/accounts/a/audit")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/console/sign-in")
    # A POST is refused too, and changes nothing.
    refused = client.post("/console/accounts/a/contacts/ada/restore", data={})
    assert refused.status_code == 401


def test_an_idle_session_expires_before_its_absolute_limit(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = console.signed_in(console.admin)
    idle = timedelta(minutes=console_session.IDLE_MINUTES, seconds=1)
    later = datetime.now(UTC) + idle
    monkeypatch.setattr(console_session, "utcnow", lambda: later)
    response = client.get("/console/accounts/a")
    assert response.status_code == 302
    assert "policy_console_sid=;" in " ".join(response.headers.getlist("Set-Cookie"))


def test_activity_keeps_a_session_alive_until_its_absolute_limit(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = console.signed_in(console.admin)
    start = datetime.now(UTC)
    for minutes in (20, 40, 59):
        moment = start + timedelta(minutes=minutes)
        monkeypatch.setattr(console_session, "utcnow", lambda m=moment: m)
        assert client.get("/console/accounts/a").status_code == 200, minutes
    moment = start + timedelta(minutes=61)
    monkeypatch.setattr(console_session, "utcnow", lambda: moment)
    assert client.get("/console/accounts/a").status_code == 302


def test_signing_in_again_replaces_the_old_session(console: Console) -> None:
    client = console.signed_in(console.admin)
    first = _rows(console)[0].id_hash
    form = {"token": console.admin, "csrf_token": csrf_token(client, "/console/")}
    response = client.post("/console/sign-in", data=form)
    assert response.status_code == 302
    assert [row.id_hash for row in _rows(console)] != [first]
    assert len(_rows(console)) == 1


def test_sessions_open_expire_and_end_on_both_databases(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.account("a")
    token = service.caller("ann", roles={"a": ["admin"]})
    client = service.app.test_client()
    assert sign_in(client, token).status_code == 302
    assert client.get("/console/accounts/a").status_code == 200
    later = datetime.now(UTC) + timedelta(minutes=console_session.IDLE_MINUTES - 1)
    monkeypatch.setattr(console_session, "utcnow", lambda: later)
    assert client.get("/console/accounts/a").status_code == 200  # and touched
    idle_end = later + timedelta(minutes=console_session.IDLE_MINUTES - 1)
    monkeypatch.setattr(console_session, "utcnow", lambda: idle_end)
    assert client.get("/console/accounts/a").status_code == 200  # still within idle
    monkeypatch.undo()
    revoke_tokens(service.state, principal_id="ann")
    assert client.get("/console/accounts/a").status_code == 302


def test_sign_in_and_sign_out_are_recorded_in_the_audit_log_with_the_token_used(
    console: Console,
) -> None:
    from audit.tables import audit_events

    client = console.signed_in(console.admin)
    token = csrf_token(client, "/console/")
    assert client.post("/console/sign-out", data={"csrf_token": token}).status_code == 302
    with console.service.state.engine.connect() as connection:
        rows = connection.execute(
            select(audit_events.c.action, audit_events.c.actor_id, audit_events.c.target_id)
            .where(audit_events.c.action.like("console.%"))
            .order_by(audit_events.c.event_id)
        ).all()
    assert [(action, actor) for action, actor, _ in rows] == [
        ("console.sign_in", "ann"),
        ("console.sign_out", "ann"),
    ]
    assert all(target.startswith("tok_") for _, _, target in rows)  # the token's id, not it
