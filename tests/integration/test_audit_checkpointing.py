"""Issue 10: the periodic checkpoint signs every chain with unsigned events, and the witness
directory receives each chain's newest checkpoint once it has committed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from audit import verify_database
from audit.witness import verify_witness
from policy_service.audit_trail.checkpointing import sign_due_checkpoints
from tests.conftest import Service


@dataclass
class Witnessed:
    """The service writing each checkpoint to a witness directory too, with acme and a
    platform admin (root)."""

    service: Service
    directory: Path
    root: str

    def verify(self) -> Any:
        """Verify acme's chain over HTTP (an audited call: one more event)."""
        return self.service.request(
            "POST", "/v1/audit/verify", self.root, json={"account_id": "acme"}
        )


@pytest.fixture
def witnessed(make_service: Any, database_url: str, tmp_path: Path) -> Witnessed:
    directory = tmp_path / "witness"
    service = make_service(database_url, audit_witness_dir=directory)
    service.account("acme")
    return Witnessed(service, directory, service.caller("root", platform_admin=True))


def test_the_periodic_checkpoint_signs_unsigned_chains_and_feeds_the_witness(
    witnessed: Witnessed,
) -> None:
    witnessed.service.account("globex")
    witnessed.verify()
    state = witnessed.service.state
    with state.unit_of_work(write=False) as uow:
        before = verify_database(uow.session, state.signing_key)
    assert before.unanchored_events > 0

    first = sign_due_checkpoints(state)
    assert first["signed"] == first["chains_due"] > 0
    assert first["witnessed"] == first["signed"]
    with state.unit_of_work(write=False) as uow:
        after = verify_database(uow.session, state.signing_key)
        assert after.ok, after
        assert after.unanchored_events == 0
        witness_report = verify_witness(uow.session, witnessed.directory, state.signing_key)
    assert witness_report.ok, witness_report
    assert witness_report.checkpoints_valid == first["witnessed"]

    again = sign_due_checkpoints(state)  # nothing new: nothing signed, nothing rewritten
    assert again == {"chains_due": 0, "signed": 0, "witnessed": 0}


def test_a_checkpoint_signed_on_demand_goes_to_the_witness(witnessed: Witnessed) -> None:
    witnessed.verify()
    response = witnessed.service.request(
        "POST", "/v1/audit/checkpoints", witnessed.root, json={"account_id": "acme"}
    )
    assert response.status_code == 200, response.get_json()
    size = response.get_json()["tree_size"]
    note = witnessed.directory / "acme" / f"{size:020d}.note"
    assert note.read_text() == response.get_json()["note"]


def test_verification_over_http_checks_the_witness_too(witnessed: Witnessed) -> None:
    """A superuser deletes a chain's newest events and everything that would betray them in
    the database; with triggers off, as the outside test did. The witness still knows."""
    from tests.audit.conftest import disable_append_only

    for _ in range(3):
        witnessed.verify()
    sign_due_checkpoints(witnessed.service.state)
    ok = witnessed.verify()
    assert ok.get_json()["ok"] is True, ok.get_json()
    engine = witnessed.service.state.engine
    disable_append_only(engine)
    with engine.begin() as connection:
        keep = 2
        for statement in (
            f"DELETE FROM audit_events WHERE chain = 'acme' AND seq > {keep}",
            "DELETE FROM audit_checkpoints WHERE chain = 'acme'",
            "DELETE FROM audit_merkle_nodes WHERE chain = 'acme'",
            f"UPDATE audit_chain_heads SET seq = {keep}, hash = (SELECT hash FROM audit_events "
            f"WHERE chain = 'acme' AND seq = {keep}) WHERE chain = 'acme'",
        ):
            connection.exec_driver_sql(statement)
    body = witnessed.verify().get_json()
    assert body["ok"] is False
    assert body["reason"].startswith("truncated"), body


def test_checkpoints_go_to_the_http_witness_after_they_commit(
    make_service: Any, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from policy_service.audit_trail.witnesses import http_witness
    from tests.audit.witness_receiver import Receiver, serving, without_retry_pauses

    without_retry_pauses(monkeypatch)

    service = make_service(database_url)
    state = service.state
    receiver = Receiver(state.signing_key.public_key())
    with serving(receiver) as url:
        service = make_service(database_url, audit_witness_url=url)
        state = service.state
        service.account("acme")
        root = service.caller("root", platform_admin=True)
        service.request("POST", "/v1/audit/verify", root, json={"account_id": "acme"})

        first = sign_due_checkpoints(state)  # the periodic pass: every chain it signed
        assert first["http_witness"]["accepted"] == first["signed"] > 0
        assert first["http_witness"]["failures"] == 0
        origin = "policy-service/audit/acme"
        held = receiver.trees[origin][0]

        service.request("POST", "/v1/audit/verify", root, json={"account_id": "acme"})
        signed = service.request(
            "POST", "/v1/audit/checkpoints", root, json={"account_id": "acme"}
        ).get_json()  # on demand: queued to the background sender
        sender = http_witness(state)
        assert sender is not None
        assert sender.drain(timeout=10)
        assert receiver.trees[origin][0] == signed["tree_size"] > held
        assert (held, signed["tree_size"]) in receiver.requests  # proven from what it held

    # The witness is gone: signing still works, the failure is counted and sent again later.
    service.request("POST", "/v1/audit/verify", root, json={"account_id": "acme"})
    again = sign_due_checkpoints(state)
    assert again["signed"] >= 1
    assert again["http_witness"]["failures"] >= 1
    assert again["http_witness"]["pending"] >= 1


def test_a_chain_with_deleted_events_does_not_stop_the_others_being_signed(
    witnessed: Witnessed,
) -> None:
    from audit import PLATFORM_CHAIN, list_checkpoints
    from tests.audit.conftest import disable_append_only

    witnessed.service.account("globex")  # an event in the platform chain
    for _ in range(3):
        witnessed.verify()  # events in acme's chain, none signed yet
    state = witnessed.service.state
    disable_append_only(state.engine)
    with state.engine.begin() as connection:  # a superuser deletes one of acme's events
        connection.exec_driver_sql("DELETE FROM audit_events WHERE chain = 'acme' AND seq = 2")
    signed = sign_due_checkpoints(state)  # acme's tree cannot be built past the gap
    assert signed["signed"] == signed["chains_due"] >= 2
    with state.unit_of_work(write=False) as uow:
        acme = list_checkpoints(uow.session, "acme")
        platform = list_checkpoints(uow.session, PLATFORM_CHAIN)
        report = verify_database(uow.session, state.signing_key)
    assert acme[-1].root_hash is None  # signed all the same, without a root
    assert platform[-1].root_hash is not None
    assert not report.ok
    assert ("acme", 2, 2) in report.gaps
