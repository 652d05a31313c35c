"""Prometheus metrics, at GET /metrics.

With several workers each process counts in its own files under
PROMETHEUS_MULTIPROC_DIR (set by `pol serve` before the workers start) and
/metrics adds them up, so whichever worker answers, the figures are the
server's.
"""
from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# The *_created series double the exposition and no dashboard reads them.
disable_created_metrics()

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

REQUESTS = Counter("pol_requests", "HTTP requests, by route and status", ["route", "status"])
LATENCY = Histogram("pol_request_seconds", "Time to answer a request, by route", ["route"], buckets=_BUCKETS)
DECISIONS = Counter("pol_decisions", "Decisions made, by policy, version and arm", ["policy", "version", "arm"])
OFFERS = Counter("pol_offers", "Offers given, by policy, offer and whether a holdout control",
                 ["policy", "offer", "control"])
CAPACITY_REFUSED = Counter("pol_capacity_exhausted", "Ledger refusals: a capacity found used up (a process "
                           "then skips the offer for the period without asking)", ["policy", "offer"])
RELOADS = Counter("pol_reloads", "Policy loads and reloads, by result", ["policy", "result"])
ERRORS = Counter("pol_errors", "Requests answered with an error, by route and code", ["route", "code"])
LOG_DROPPED = Counter("pol_decision_log_dropped", "Decision log lines dropped because the queue was full")

CONTENT_TYPE = CONTENT_TYPE_LATEST


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


def worker_exit(pid: int) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(pid)
