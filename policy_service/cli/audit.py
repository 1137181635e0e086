"""``policy-service audit``: verify, export and checkpoint the append-only audit log."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from policy_service.cli.common import load_settings, load_state


@click.group()
def audit() -> None:
    """The append-only audit log."""


def _print_report(report: object, as_json: bool) -> None:
    import dataclasses
    import json

    data = dataclasses.asdict(report)  # type: ignore[call-overload]
    if as_json:
        click.echo(json.dumps(data, default=str, indent=2))
        return
    status = "OK" if data["ok"] else "FAILED"
    click.echo(
        f"{status}: {data['events_checked']} events in {data['chains_checked']} chain(s); "
        f"checkpoints valid {data['checkpoints_valid']}/{data['checkpoints_total']}; "
        f"gaps {len(data['gaps'])}; events after the last checkpoint "
        f"{data['unanchored_events']}"
    )
    if not data["ok"]:
        click.echo(
            f"first bad: chain {data['first_bad_chain']} seq {data['first_bad_seq']}: "
            f"{data['reason']}"
        )
        for gap in data["gaps"]:
            click.echo(f"gap: chain {gap[0]} seq {gap[1]}..{gap[2]}")


@audit.command("verify")
@click.option("--account", help="Verify this account's chain only (default: every chain).")
@click.option(
    "--export",
    "export_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Verify an NDJSON export offline instead of the database.",
)
@click.option(
    "--public-key",
    "public_key_file",
    type=click.Path(exists=True, dir_okay=False),
    help="The PEM public key to check signatures with (required with --export).",
)
@click.option(
    "--witness",
    "witness_dir",
    type=click.Path(exists=True, file_okay=False),
    help="Also check the database against this witness directory of signed checkpoints "
    "(fails 'truncated' or 'fork').",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
def audit_verify(
    account: str | None,
    export_file: str | None,
    public_key_file: str | None,
    witness_dir: str | None,
    as_json: bool,
) -> None:
    """Verify the audit log; exit 1 on any failure. With --export, no database is used."""
    if export_file is not None:
        from audit import verify_export

        if public_key_file is None:
            raise click.UsageError("--export needs --public-key")
        if witness_dir is not None:
            raise click.UsageError("--witness checks the database, not an export")
        report = verify_export(export_file, Path(public_key_file).read_text())
    else:
        from policy_service.audit_trail.access import verify

        witness = Path(witness_dir) if witness_dir is not None else None
        report = verify(load_state(load_settings()), None, account, witness)
    _print_report(report, as_json)
    if not report.ok:
        sys.exit(1)


@audit.command("export")
@click.option("--account", help="One account's chain (default: every chain).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True)
@click.option(
    "--format",
    "export_format",
    type=click.Choice(["ndjson", "csv"]),
    default="ndjson",
    show_default=True,
)
def audit_export(account: str | None, output: str, export_format: str) -> None:
    """Write an export to a file (NDJSON verifies offline)."""
    from audit import EventFilter, export_events
    from policy_service.audit_trail.recording import operator_event

    state = load_state(load_settings())
    with state.unit_of_work() as uow:  # an export is itself an audit event
        uow.record(
            operator_event(
                state.runtime,
                "audit.export",
                target_type="audit_log",
                target_id=account or "all",
                account_id=account,
                details={"format": export_format, "destination": "file"},
            )
        )
        uow.commit()
    count = 0
    with state.engine.connect() as connection, open(output, "w", encoding="utf-8") as handle:
        for chunk in export_events(
            connection,
            EventFilter(account_id=account),
            export_format,  # type: ignore[arg-type]
            key_encryption_key=state.audit.key_encryption_key,
            signing_key=state.signing_key,
        ):
            handle.write(chunk)
            count += chunk.count("\n")
    click.echo(f"wrote {count} lines to {output}")


@audit.command("create-keys")
def audit_create_keys() -> None:
    """Create the audit keys at POLICY_SERVICE_AUDIT_SIGNING_KEY and
    POLICY_SERVICE_AUDIT_ENCRYPTION_KEY (mode 0600), keeping any that exist."""
    from audit import load_or_create_signing_key
    from policy_service.audit_trail.keys import load_or_create_kek

    settings = load_settings()
    for path, make in (
        (settings.audit_signing_key, lambda p: load_or_create_signing_key(p, create=True)),
        (settings.audit_encryption_key, lambda p: load_or_create_kek(p, create=True)),
    ):
        existed = path.exists()
        make(path)  # loads (and so checks) a key that exists
        click.echo(f"{'kept' if existed else 'created'} {path}")


@audit.command("public-key")
def audit_public_key() -> None:
    """Print the PEM public key that verifies checkpoints."""
    from audit import public_key_pem

    click.echo(public_key_pem(load_state(load_settings()).signing_key), nl=False)


@audit.command("checkpoint")
@click.option("--account", help="The account's chain (default: the platform chain).")
def audit_checkpoint(account: str | None) -> None:
    """Sign a checkpoint of a chain's current head now."""
    from audit import chain_for

    state = load_state(load_settings())
    from policy_service.audit_trail.checkpointing import witness

    with state.unit_of_work() as uow:
        checkpoint = state.audit.checkpoint(uow.session, chain_for(account))
        uow.commit()
    witness(state, checkpoint)  # to POLICY_SERVICE_AUDIT_WITNESS_DIR / _URL, if set
    from policy_service.audit_trail.witnesses import http_witness

    sender = http_witness(state)
    if sender is not None and not (
        sender.drain(timeout=30) and sender.known_size(checkpoint.chain) >= checkpoint.seq
    ):
        click.echo("warning: the HTTP witness did not cosign it (the periodic pass retries)")
    click.echo(f"checkpoint {checkpoint.chain} seq {checkpoint.seq} {checkpoint.hash}")


# The offline checks' one input besides the document: the key anyone may fetch.
PUBLIC_KEY_OPTION = click.option(
    "--public-key",
    "public_key_file",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="The PEM public key (GET /v1/audit/public-key).",
)


@audit.command("prove")
@click.argument("proof_file", type=click.Path(exists=True, dir_okay=False))
@PUBLIC_KEY_OPTION
def audit_prove(proof_file: str, public_key_file: str) -> None:
    """Check a proof offline: an event's inclusion proof (GET /v1/audit/events/ID/proof) or
    a consistency proof (GET /v1/audit/consistency), with its signed checkpoint(s). No
    database is used. Exit 1 if it does not hold."""
    import json

    from audit import verify_consistency_proof, verify_inclusion_proof

    try:
        proof = json.loads(Path(proof_file).read_text(encoding="utf-8"))
    except ValueError:
        raise click.UsageError(f"{proof_file} is not JSON") from None
    key = Path(public_key_file).read_text()
    if isinstance(proof, dict) and "audit_path" in proof:
        problem = verify_inclusion_proof(proof, key)
        what = (
            f"event {proof.get('event_id')} is leaf {proof.get('leaf_index')} of chain "
            f"{proof.get('chain')}'s signed tree of {proof.get('tree_size')}"
        )
    elif isinstance(proof, dict) and "first_checkpoint" in proof:
        problem = verify_consistency_proof(proof, key)
        what = (
            f"chain {proof.get('chain')}'s signed tree of {proof.get('second')} extends "
            f"its signed tree of {proof.get('first')}"
        )
    else:
        raise click.UsageError("not an inclusion or consistency proof")
    if problem is not None:
        click.echo(f"FAILED: {problem}")
        sys.exit(1)
    click.echo(f"OK: {what}")


@audit.command("verify-certificate")
@click.argument("certificate_file", type=click.Path(exists=True, dir_okay=False))
@PUBLIC_KEY_OPTION
def audit_verify_certificate(certificate_file: str, public_key_file: str) -> None:
    """Check a DSR completion certificate (GET /v1/dsr/ID/certificate) offline: its
    signature, and for every audit event it embeds, the record, the inclusion proof and the
    signed checkpoint. No database is used. Exit 1 if anything does not hold."""
    import json

    from policy_service.privacy.certificate_check import verify_certificate

    try:
        document = json.loads(Path(certificate_file).read_text(encoding="utf-8"))
    except ValueError:
        raise click.UsageError(f"{certificate_file} is not JSON") from None
    if not isinstance(document, dict):
        raise click.UsageError("not a certificate")
    problems, events = verify_certificate(document, Path(public_key_file).read_text())
    for problem in problems:
        click.echo(f"FAILED: {problem}")
    if problems:
        sys.exit(1)
    click.echo(
        f"OK: certificate of request {document['certificate'].get('dsr_id')} is signed; "
        f"{events} audit event(s) proven against signed checkpoints"
    )
