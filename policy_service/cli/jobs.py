"""``policy-service jobs``: run bulk jobs outside the server's workers."""

from __future__ import annotations

import click

from policy_service.cli.common import load_settings, load_state


@click.group()
def jobs() -> None:
    """Bulk jobs."""


@jobs.command("run")
@click.option("--job", "job_id", help="Run this job only (default: every queued or orphaned job).")
def jobs_run(job_id: str | None) -> None:
    """Run queued jobs, and resume jobs whose runner died, to their end."""
    from policy_service.lifecycle.job_runner import run_job, run_pending
    from policy_service.lifecycle.jobs import get_job_unchecked

    state = load_state(load_settings())
    if job_id is not None:
        ran = run_job(state, job_id)
        job = get_job_unchecked(state, job_id)
        click.echo(
            f"job {job.id}: {job.status}, {job.processed}/{job.total} processed, "
            f"{job.failed} skipped" + ("" if ran else " (held by another runner)")
        )
        return
    count = run_pending(state)
    click.echo(f"ran {count} job(s)")
