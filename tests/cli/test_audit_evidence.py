"""Issue 10 at the command line: exports with a dropped tail, ``audit prove`` with nothing
but the public key, and ``audit verify --witness``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from audit import prove_consistency, prove_event
from tests.cli.runner import cli

OFFLINE = {"POLICY_SERVICE_DATABASE_URL": "sqlite:////nonexistent/never-opened.db"}


@pytest.fixture
def audited(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Six events in the platform chain, a witness directory, checkpoints every two."""
    environment = {
        **env,
        "POLICY_SERVICE_AUDIT_CHECKPOINT_EVERY": "2",
        "POLICY_SERVICE_AUDIT_WITNESS_DIR": str(tmp_path / "witness"),
    }
    for principal in ("ops-1", "ops-2", "ops-3", "ops-4", "ops-5", "ops-6"):
        assert cli("tokens", "create", "--principal", principal, env=environment).exit_code == 0
    return environment


def _public_key(env: dict[str, str], tmp_path: Path) -> Path:
    key = tmp_path / "public.pem"
    key.write_text(cli("audit", "public-key", env=env).stdout)
    return key


def _as_served(proof: Any) -> dict[str, Any]:
    data: dict[str, Any] = dataclasses.asdict(proof)
    for name in ("checkpoint", "first_checkpoint", "second_checkpoint"):
        if name in data:
            data[name]["tree_size"] = getattr(proof, name).tree_size
    return json.loads(json.dumps(data, default=str))  # type: ignore[no-any-return]


def test_an_export_with_its_newest_events_dropped_and_counts_fixed_exits_1(
    audited: dict[str, str], tmp_path: Path
) -> None:
    export = tmp_path / "audit.ndjson"
    assert cli("audit", "export", "--output", str(export), env=audited).exit_code == 0
    key = _public_key(audited, tmp_path)
    verify = ("audit", "verify", "--export", str(export), "--public-key", str(key))
    assert cli(*verify, env=OFFLINE).exit_code == 0
    lines = export.read_text().splitlines(keepends=True)
    events = [i for i, line in enumerate(lines) if line.startswith('{"type":"event"')]
    kept = [line for i, line in enumerate(lines) if i not in events[-2:]]
    end = json.loads(kept[-1])
    end["events"] -= 2
    kept[-1] = json.dumps(end) + "\n"
    export.write_text("".join(kept))
    result = cli(*verify, env=OFFLINE)
    assert result.exit_code == 1
    assert "unsigned_tail" in result.stdout or "truncated" in result.stdout


def test_prove_checks_an_inclusion_and_a_consistency_proof_offline(
    audited: dict[str, str], tmp_path: Path
) -> None:
    assert cli("audit", "checkpoint", env=audited).exit_code == 0
    engine = create_engine(audited["POLICY_SERVICE_DATABASE_URL"])
    with Session(engine) as session:
        event_id = session.execute(
            text("SELECT event_id FROM audit_events WHERE seq = 3")
        ).scalar_one()
        inclusion = _as_served(prove_event(session, event_id))
        consistency = _as_served(prove_consistency(session, "platform", 2, 4))
    engine.dispose()
    key = _public_key(audited, tmp_path)
    for name, proof in (("inclusion", inclusion), ("consistency", consistency)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(proof))
        result = cli("audit", "prove", str(path), "--public-key", str(key), env=OFFLINE)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("OK: ")
    inclusion["leaf_index"] = 0
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(inclusion))
    result = cli("audit", "prove", str(forged), "--public-key", str(key), env=OFFLINE)
    assert result.exit_code == 1
    assert result.stdout.startswith("FAILED: ")


def test_verify_witness_fails_truncated_after_a_superuser_rewrite(
    audited: dict[str, str], tmp_path: Path
) -> None:
    assert cli("audit", "checkpoint", env=audited).exit_code == 0
    witness = tmp_path / "witness"
    assert any(witness.rglob("*.note"))
    ok = cli("audit", "verify", "--witness", str(witness), env=audited)
    assert ok.exit_code == 0, ok.output
    engine = create_engine(audited["POLICY_SERVICE_DATABASE_URL"])
    with engine.begin() as connection:
        triggers = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit%'")
        ).scalars()
        for name in list(triggers):
            connection.execute(text(f'DROP TRIGGER "{name}"'))
        connection.execute(text("DELETE FROM audit_events WHERE seq > 3"))
        connection.execute(text("DELETE FROM audit_checkpoints WHERE seq > 3"))
        connection.execute(text("DELETE FROM audit_merkle_nodes"))
        connection.execute(
            text(
                "UPDATE audit_chain_heads SET seq = 3, hash = "
                "(SELECT hash FROM audit_events WHERE seq = 3)"
            )
        )
    engine.dispose()
    result = cli("audit", "verify", "--witness", str(witness), env=audited)
    assert result.exit_code == 1
    assert "truncated" in result.stdout


def test_a_checkpoint_signed_at_the_command_line_goes_to_the_http_witness(
    audited: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from tests.audit.witness_receiver import Receiver, serving, without_retry_pauses

    without_retry_pauses(monkeypatch)

    key = load_pem_public_key(_public_key(audited, tmp_path).read_bytes())
    receiver = Receiver(key)  # type: ignore[arg-type]
    with serving(receiver) as url:
        result = cli(
            "audit", "checkpoint", env={**audited, "POLICY_SERVICE_AUDIT_WITNESS_URL": url}
        )
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stdout
    size = int(result.stdout.split()[3])
    assert receiver.trees["policy-service/audit/platform"][0] == size
    assert receiver.requests == [(0, size)]

    receiver_down = {**audited, "POLICY_SERVICE_AUDIT_WITNESS_URL": "http://127.0.0.1:9/w"}
    assert cli("tokens", "create", "--principal", "ops-7", env=audited).exit_code == 0
    result = cli("audit", "checkpoint", env=receiver_down)
    assert result.exit_code == 0  # signed and stored all the same
    assert "did not cosign" in result.stdout
