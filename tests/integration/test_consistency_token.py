"""Read your own writes across workers: X-Consistency-Token.

Two apps on one database stand for two gunicorn workers. Their sync interval is a minute, so
whatever the second sees of a change made through the first within a test, it sees because
the token made it look."""

import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from policy_service.api.request_context import CONSISTENCY_HEADER
from policy_service.storage import changes
from policy_service.storage.tables import ChangeRow
from tests.conftest import Service
from tests.integration.conftest import evaluation
from tests.integration.conftest import two_workers as workers_on_one_database
from tests.integration.lifecycle_fixtures import make_crm

STALE_FOR_A_MINUTE = 60.0
PROBLEM_JSON = "application/problem+json"


def two_workers(make_service: Any, database_url: str, **overrides: Any) -> tuple[Service, Service]:
    return workers_on_one_database(make_service, database_url, STALE_FOR_A_MINUTE, **overrides)


def decide(service: Service, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {CONSISTENCY_HEADER: token} if token is not None else {}
    return service.request(
        "POST", "/access/v1/evaluation", service.tokens["pep"], json=body, headers=headers
    )


def grant(service: Service, user: str, roles: list[str]) -> Any:
    return service.request(
        "PUT", f"/v1/accounts/acme/members/{user}", service.tokens["root"], json={"roles": roles}
    )


def change_at(service: Service, version: int) -> ChangeRow:
    with service.state.session_factory() as session:
        return session.execute(select(ChangeRow).where(ChangeRow.version == version)).scalar_one()


def test_a_write_answers_with_the_version_of_the_change_it_committed(
    make_service: Any, database_url: str
) -> None:
    first, _ = two_workers(make_service, database_url)
    granted = grant(first, "uma", ["admin"])
    assert granted.status_code == 200
    token = int(granted.headers[CONSISTENCY_HEADER])
    row = change_at(first, token)
    assert (row.kind, row.account_id, row.subject_id) == ("membership", "acme", "uma")
    with first.state.session_factory() as session:
        assert changes.current_version(session) == token


def test_the_token_lets_another_worker_read_the_write_at_once(
    make_service: Any, database_url: str
) -> None:
    first, second = two_workers(make_service, database_url)
    body = evaluation("uma", "delete")
    assert decide(second, body).get_json()["decision"] is False  # cached in `second` now
    granted = grant(first, "uma", ["admin"])
    token = granted.headers[CONSISTENCY_HEADER]

    stale = decide(second, body)  # no token: the interval (a minute) has not passed
    assert stale.get_json()["decision"] is False
    assert int(stale.headers[CONSISTENCY_HEADER]) < int(token)  # and it says how old it is

    started = time.monotonic()
    fresh = decide(second, body, token)
    assert fresh.status_code == 200
    assert fresh.get_json()["decision"] is True
    assert time.monotonic() - started < 1.0  # a sync, not a wait
    assert int(fresh.headers[CONSISTENCY_HEADER]) >= int(token)
    # Having caught up, the worker answers everyone on the new state.
    assert decide(second, body).get_json()["decision"] is True


def test_a_withdrawal_reaches_the_other_worker_with_its_token(
    make_service: Any, database_url: str
) -> None:
    first, second = two_workers(make_service, database_url)
    body = evaluation("uma", "read")
    assert decide(second, body).get_json()["decision"] is True
    removed = first.request("DELETE", "/v1/accounts/acme/members/uma", first.tokens["root"])
    assert removed.status_code == 204
    token = removed.headers[CONSISTENCY_HEADER]
    assert decide(second, body).get_json()["decision"] is True  # stale without it
    assert decide(second, body, token).get_json()["decision"] is False


def test_a_revocation_applies_at_once_to_a_request_sending_its_token(
    make_service: Any, database_url: str
) -> None:
    from policy_service.accounts.tokens import issue_token, revoke_tokens

    first, second = two_workers(make_service, database_url)
    _, doomed = issue_token(first.state, "doomed")
    assert second.request("GET", "/v1/cascade-profiles", doomed).status_code == 200  # cached
    tracker = changes.start_tracking()
    try:
        revoke_tokens(first.state, principal_id="doomed")
    finally:
        changes.stop_tracking()
    assert tracker.version is not None
    assert second.request("GET", "/v1/cascade-profiles", doomed).status_code == 200  # stale
    answer = second.request(
        "GET", "/v1/cascade-profiles", doomed, headers={CONSISTENCY_HEADER: str(tracker.version)}
    )
    assert answer.status_code == 401


def test_reads_and_writes_that_change_nothing_answer_the_workers_version(
    make_service: Any, database_url: str
) -> None:
    _first, second = two_workers(make_service, database_url)
    synced = second.state.runtime.synced_version
    read = second.request("GET", "/v1/accounts/acme", second.tokens["root"])
    assert read.status_code == 200
    assert read.headers[CONSISTENCY_HEADER] == str(synced)
    # A refused write commits its audit event, but no change: still "at least this new".
    refused = second.request(
        "PUT", "/v1/accounts/acme/members/bob", second.tokens["uma"], json={"roles": ["admin"]}
    )
    assert refused.status_code == 403
    assert refused.headers[CONSISTENCY_HEADER] == str(synced)
    # Nobody unauthenticated learns anything.
    assert CONSISTENCY_HEADER not in second.request("GET", "/v1/accounts", None).headers
    assert CONSISTENCY_HEADER not in second.client.get("/health").headers


def test_concurrent_writes_each_answer_their_own_change(
    make_service: Any, database_url: str
) -> None:
    first, _ = two_workers(make_service, database_url)
    users = [f"user-{n}" for n in range(6)]
    tokens: dict[str, int] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(users))

    def write(user: str) -> None:
        try:
            client = first.app.test_client()
            start.wait()
            answer = client.put(
                f"/v1/accounts/acme/members/{user}",
                json={"roles": ["user"]},
                headers={"Authorization": f"Bearer {first.tokens['root']}"},
            )
            assert answer.status_code == 200, answer.get_json()
            tokens[user] = int(answer.headers[CONSISTENCY_HEADER])
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=write, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(set(tokens.values())) == len(users)
    for user, version in tokens.items():
        assert change_at(first, version).subject_id == user


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "", " ", "1e3", "9" * 19, "0x10"])
def test_a_malformed_token_is_400(make_service: Any, database_url: str, bad: str) -> None:
    _, second = two_workers(make_service, database_url)
    answer = decide(second, evaluation("uma", "read"), bad)
    assert answer.status_code == 400
    assert answer.mimetype == PROBLEM_JSON
    assert answer.get_json()["type"].endswith("invalid-consistency-token")


def test_authentication_comes_before_the_token(make_service: Any, database_url: str) -> None:
    _, second = two_workers(make_service, database_url)
    answer = second.request(
        "GET", "/v1/accounts", "pst_nonsense", headers={CONSISTENCY_HEADER: "garbage"}
    )
    assert answer.status_code == 401


def test_a_version_the_database_never_issued_is_400_at_once(
    make_service: Any, database_url: str
) -> None:
    _, second = two_workers(make_service, database_url, consistency_wait_seconds=5.0)
    future = str(second.state.runtime.synced_version + 1_000)
    started = time.monotonic()
    answer = decide(second, evaluation("uma", "read"), future)
    assert time.monotonic() - started < 2.0  # no wait for what cannot come
    assert answer.status_code == 400
    assert answer.mimetype == PROBLEM_JSON
    assert answer.get_json()["type"].endswith("unknown-consistency-token")


def test_a_worker_that_cannot_catch_up_in_time_answers_503_with_retry_after(
    make_service: Any, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wait = 0.3
    first, second = two_workers(make_service, database_url, consistency_wait_seconds=wait)
    token = grant(first, "uma", ["admin"]).headers[CONSISTENCY_HEADER]
    # This worker sees that change N exists but cannot read it (a change log it reads slowly).
    monkeypatch.setattr(second.state.source, "changes_since", lambda version: [])
    started = time.monotonic()
    answer = decide(second, evaluation("uma", "delete"), token)
    waited = time.monotonic() - started
    assert answer.status_code == 503
    assert answer.mimetype == PROBLEM_JSON
    assert answer.headers["Retry-After"] == "1"
    assert answer.get_json()["type"].endswith("not-yet-consistent")
    assert wait <= waited < wait + 1.0
    monkeypatch.undo()
    assert decide(second, evaluation("uma", "delete"), token).get_json()["decision"] is True


def test_without_the_token_the_decision_path_makes_no_query(
    make_service: Any, database_url: str
) -> None:
    from sqlalchemy import event

    _, second = two_workers(make_service, database_url)
    body = evaluation("uma", "read")
    decide(second, body)  # warm: caches filled
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = second.state.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert decide(second, body).status_code == 200
        # A token the worker has already reached costs nothing either.
        current = str(second.state.runtime.synced_version)
        assert decide(second, body, current).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert statements == []


def test_the_header_is_in_the_openapi_document(make_service: Any, sqlite_url: str) -> None:
    service = make_service(sqlite_url)
    components = service.client.get("/openapi.json").get_json()["components"]
    assert components["parameters"]["ConsistencyToken"]["name"] == CONSISTENCY_HEADER
    assert "ConsistencyToken" in components["headers"]


def test_the_tracker_counts_only_changes_that_commit(database_url: str) -> None:
    from policy_service.storage.database import create_database_engine, make_session_factory

    engine = create_database_engine(database_url)
    sessions = make_session_factory(engine)
    tracker = changes.start_tracking()
    try:
        with sessions() as session:
            changes.record_change(session, "account", account_id="acme")
            session.rollback()
        assert tracker.version is None
        with sessions() as session:
            changes.record_change(session, "account", account_id="acme")
            session.close()  # closed without commit: rolled back too
        assert tracker.version is None
        with sessions() as session:
            changes.record_change(session, "account", account_id="acme")
            changes.record_change(session, "contacts", account_id="acme")
            session.commit()
        with sessions() as session:
            written = [c.version for c in changes.changes_since(session, 0)]
        assert len(written) == 2
        assert tracker.version == max(written)  # the last of the transaction's versions
        second = tracker.version
        changes.stop_tracking()
        with sessions() as session:  # not tracked any more
            changes.record_change(session, "account", account_id="acme")
            session.commit()
        assert tracker.version == second
    finally:
        changes.stop_tracking()
        engine.dispose()


def test_a_contact_action_answers_with_the_version_its_change_committed_with(
    service: Service,
) -> None:
    """On PostgreSQL the change record goes ahead of the action's audit event, in its round
    trip; the version it took must still be the one the answer names, and be written once."""
    crm = make_crm(service, "cascade-on-delete", purge_enabled=True)
    crm.contact("c-1")
    for call in (crm.delete, crm.restore, crm.delete, crm.purge):
        answer = call("c-1")
        assert answer.status_code == 200, answer.get_json()
        token = int(answer.headers[CONSISTENCY_HEADER])
        row = change_at(service, token)
        assert (row.kind, row.account_id) == ("contacts", "acme")
        with service.state.session_factory() as session:
            assert changes.changes_since(session, token) == []  # nothing after it: once


def test_a_change_sent_ahead_of_an_event_is_written_once(service: Service) -> None:
    from sqlalchemy import text

    from audit import AuditEvent
    from policy_service.storage.sql_constructs import statement_ahead

    tracker = changes.start_tracking()
    try:
        with service.state.unit_of_work() as uow:
            changes.record_change(uow.session, "contacts", account_id="acme")
            # A write of the caller's own ahead of the event, as a lifecycle action sends:
            # the change record goes with it.
            write = statement_ahead(uow.session, text("SELECT 1"), {})
            uow.record(
                AuditEvent(action="test.ahead", outcome="succeeded", actor_type="system"),
                ahead=[write],
            )
            changes.record_change(uow.session, "contacts", account_id="acme")  # noted again
            changes.record_change(uow.session, "account", account_id="acme")  # and another
            uow.commit()
        with service.state.session_factory() as session:
            written = changes.changes_since(session, 0)
        assert sorted(c.kind for c in written if c.account_id == "acme") == ["account", "contacts"]
        assert tracker.version == max(c.version for c in written)
    finally:
        changes.stop_tracking()


def test_a_change_whose_statement_was_never_sent_is_written_at_commit(
    database_url: str,
) -> None:
    """Should an event fail before its pipeline went out, and the caller still commit, the
    change noted for it is not lost."""
    from policy_service.storage.database import create_database_engine, make_session_factory

    engine = create_database_engine(database_url)
    tracker = changes.start_tracking()
    try:
        with make_session_factory(engine)() as session:
            changes.record_change(session, "contacts", account_id="acme")
            changes.changes_ahead(session)  # taken, never sent
            session.commit()
        with make_session_factory(engine)() as session:
            written = changes.changes_since(session, 0)
        assert [(c.kind, c.account_id) for c in written] == [("contacts", "acme")]
        assert tracker.version == written[0].version
    finally:
        changes.stop_tracking()
        engine.dispose()
