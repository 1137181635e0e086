"""Prometheus metrics: counters and histograms updated as requests are answered, and gauges
read from the database (and this worker) when /metrics is scraped.

Several gunicorn workers: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by
the workers (cleared at each start), and prometheus-client keeps each worker's counters and
histograms in files there that a scrape of any worker adds up. Without it, each worker
answers with its own counts. The gauges read from the database (jobs, the last retention
sweep) are the same from every worker; the decision-cache figures are the answering
worker's own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from policy_service.storage import jobs as stored_jobs
from policy_service.storage import scheduled_tasks, webhooks

if TYPE_CHECKING:
    from policy_service.ports import Inspects

log = structlog.get_logger(__name__)

REQUEST_SECONDS = Histogram(
    "policy_service_request_duration_seconds",
    "Time to answer a request, by route template, method and status",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DECISIONS = Counter(
    "policy_service_decisions_total",
    "Decisions answered, by endpoint and outcome (allow, deny)",
    ["endpoint", "outcome"],
)
DECISION_LOG_DROPPED = Counter(
    "policy_service_decision_log_dropped_total",
    "Decision log entries dropped because the in-memory queue was full",
)
DECISION_LOG_WRITTEN = Counter(
    "policy_service_decision_log_written_total", "Decision log entries written"
)
DECISION_LOG_FAILED = Counter(
    "policy_service_decision_log_failed_total",
    "Decision log entries lost because their batch could not be written",
)

AUDIT_APPEND_SECONDS = Histogram(
    "policy_service_audit_append_seconds",
    "Time to append audit events inside their transaction (hash chain, Merkle nodes, "
    "encryption), one observation per append",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
)
AUDIT_EVENTS_APPENDED = Counter(
    "policy_service_audit_events_appended_total", "Audit events appended by this worker"
)


def observe_audit_append(seconds: float, events: int) -> None:
    AUDIT_APPEND_SECONDS.observe(seconds)
    AUDIT_EVENTS_APPENDED.inc(events)


WEBHOOK_DELIVERIES = Counter(
    "policy_service_webhook_deliveries_total",
    "Webhook delivery attempts, by event type and what the delivery became (succeeded, "
    "pending: to be retried, failed: given up)",
    ["event", "outcome"],
)
WEBHOOK_FAILURES = Counter(
    "policy_service_webhook_failures_total",
    "Webhook delivery attempts that failed (not a 2xx answer, or none), by event type",
    ["event"],
)


class _StateCollector(Collector):
    """Gauges computed at scrape time from the service state."""

    def __init__(self, state: Inspects) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        cache = self.state.runtime.cache
        lookups = cache.hits + cache.misses
        ratio = GaugeMetricFamily(
            "policy_service_decision_cache_hit_ratio",
            "Share of decisions answered from this worker's decision cache since it started",
        )
        ratio.add_metric([], cache.hits / lookups if lookups else 0.0)
        yield ratio
        entries = GaugeMetricFamily(
            "policy_service_decision_cache_entries", "Decisions in this worker's cache"
        )
        entries.add_metric([], float(len(cache)))
        yield entries
        jobs = GaugeMetricFamily(
            "policy_service_jobs", "Bulk jobs by status (all workers)", labels=["status"]
        )
        sweep = GaugeMetricFamily(
            "policy_service_scheduled_task_last_finished_timestamp_seconds",
            "When each scheduled task (the retention sweep, ...) last finished",
            labels=["task", "outcome"],
        )
        outbox = GaugeMetricFamily(
            "policy_service_webhook_outbox",
            "Webhook deliveries in the outbox by status: pending (to send or retry), "
            "succeeded, failed (given up; all workers)",
            labels=["status"],
        )
        try:
            with self.state.session_factory() as session:
                for status, count in stored_jobs.count_by_status(session).items():
                    jobs.add_metric([status], float(count))
                for name, finished, outcome in scheduled_tasks.last_runs(session):
                    if finished is not None:
                        sweep.add_metric([name, outcome or ""], finished.timestamp())
                for status, count in webhooks.count_by_status(session).items():
                    outbox.add_metric([status], float(count))
        except Exception:  # a scrape answers what it can while the database is away
            log.warning("metrics could not read the database", exc_info=True)
        yield jobs
        yield sweep
        yield outbox


def exposition(state: Inspects) -> tuple[bytes, str]:
    """The text a scrape gets, and its content type."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for collector in _default_collectors():
            registry.register(collector)
    registry.register(_StateCollector(state))
    return generate_latest(registry), CONTENT_TYPE_LATEST


# This worker's own metrics, in the order a scrape lists them.
OWN_METRICS: tuple[Collector, ...] = (
    REQUEST_SECONDS,
    DECISIONS,
    DECISION_LOG_DROPPED,
    DECISION_LOG_WRITTEN,
    DECISION_LOG_FAILED,
    AUDIT_APPEND_SECONDS,
    AUDIT_EVENTS_APPENDED,
    WEBHOOK_DELIVERIES,
    WEBHOOK_FAILURES,
)


def _default_collectors() -> list[Collector]:
    return list(OWN_METRICS)
