"""A bulk-delete runner killed with SIGKILL mid-job: the next runner finishes it, and every
contact is deleted exactly once."""

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from policy_service.storage.database import create_database_engine
from tests.conftest import settings_for_tests
from tests.server_process import BIN, cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CONTACTS = 1200


def test_a_killed_job_runner_is_resumed_without_repeats_or_gaps(
    database_url: str, tmp_path: Path
) -> None:
    from policy_service.decisions.authorization import Caller
    from policy_service.lifecycle import jobs
    from policy_service.state import ServiceState

    settings = settings_for_tests(database_url, tmp_path, job_runner="off", job_chunk_size=20)
    state = ServiceState.build(settings)
    state.load()
    engine = create_database_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO accounts VALUES ('acme', 'Acme', 'cascade-on-delete', 60, true,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text("INSERT INTO memberships VALUES ('acme', 'ada', 'admin', CURRENT_TIMESTAMP)")
        )
        connection.execute(
            text(
                "INSERT INTO contacts (account_id, id, name, state, version, created_at,"
                " updated_at) VALUES ('acme', :id, 'Someone', 'active', 1, CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP)"
            ),
            [{"id": f"c{n:05d}"} for n in range(CONTACTS)],
        )
    state.load()
    job = jobs.create_bulk_delete(
        state, Caller("ada", "user"), "acme", ids=None, filter={"all": True}, confirm="DELETE",
        expected_count=CONTACTS, reason_code="data_cleanup", reason_text=None,
    )  # fmt: skip

    env = {
        "POLICY_SERVICE_DATABASE_URL": database_url,
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(settings.audit_signing_key),
        "POLICY_SERVICE_AUDIT_ENCRYPTION_KEY": str(settings.audit_encryption_key),
        "POLICY_SERVICE_JOB_CHUNK_SIZE": "20",
        "POLICY_SERVICE_JOB_RUNNER": "off",
    }
    runner = subprocess.Popen(
        [str(BIN / "policy-service"), "jobs", "run", "--job", job.id],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while jobs.get_job_unchecked(state, job.id).processed < 200:
        assert runner.poll() is None, "the runner finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    killed_at = jobs.get_job_unchecked(state, job.id)
    assert killed_at.status == "running"
    assert 0 < killed_at.processed < CONTACTS

    with engine.begin() as connection:  # the dead runner's lease runs out
        connection.execute(text("UPDATE jobs SET lease_until = '2000-01-01 00:00:00+00'"))
    resumed = cli("jobs", "run", env=env)
    assert resumed.returncode == 0, resumed.stderr

    done = jobs.get_job_unchecked(state, job.id)
    assert (done.status, done.processed, done.failed) == ("succeeded", CONTACTS, 0)
    with engine.connect() as connection:
        targets = Counter(
            connection.execute(
                text(
                    "SELECT target_id FROM audit_events WHERE action = 'contact.delete'"
                    " AND outcome = 'succeeded'"
                )
            ).scalars()
        )
        states = connection.execute(text("SELECT DISTINCT state FROM contacts")).scalars().all()
    assert len(targets) == CONTACTS
    assert set(targets.values()) == {1}
    assert states == ["trashed"]
    verified = cli("audit", "verify", "--account", "acme", env=env)
    assert verified.returncode == 0, verified.stdout
    engine.dispose()
    state.engine.dispose()
