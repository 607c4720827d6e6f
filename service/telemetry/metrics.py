"""The service's Prometheus metrics that events change (counters and histograms), and the exposition.

Counted where things happen: the deadline sweeper (sweeps, their duration, the cases they acted on, breaches and
reminders), the webhook dispatcher (attempts by result and status class, their latency). The state of the
database (open deadlines, queue depth, disabled subscriptions, outbox lag, checkpoint age) is not counted here: it
is read at each scrape (``service.workers.state_metrics``), so every process answers the same.

Several processes (``cdht serve --workers N``): when ``PROMETHEUS_MULTIPROC_DIR`` names a directory, every process
writes its samples there (prometheus_client's multiprocess mode) and a scrape of any of them sums them all. The
variable must be set before the process starts; importing the package ``service`` creates the directory (before any
metric is made) and ``cdht serve`` empties it before it starts its worker processes."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

SWEEP_SECONDS = Histogram(
    "cdht_sweep_duration_seconds",
    "Duration of one deadline sweep",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300),
)
SWEEP_CASES = Counter(
    "cdht_sweep_cases_total",
    "Cases a sweep acted on, by what it did: fired (lapse/expire), flagged (overdue), reminded, refused, skipped",
    ["outcome"],
)
DEADLINE_BREACHES = Counter(
    "cdht_deadline_breaches_total",
    "Deadlines found breached by the sweeper, by procedure, deadline and what the breach did (fire, flag)",
    ["procedure", "deadline", "action"],
)
DEADLINE_REMINDERS = Counter(
    "cdht_deadline_reminders_total",
    "Reminders sent before a deadline (deadline.approaching), by procedure and deadline",
    ["procedure", "deadline"],
)
WEBHOOK_ATTEMPTS = Counter(
    "cdht_webhook_attempts_total",
    "Webhook delivery attempts, by result (delivered, retrying, failed) and the receiver's status class "
    "(2xx, 3xx, 4xx, 5xx, or none when nothing answered)",
    ["result", "status_class"],
)
WEBHOOK_SECONDS = Histogram(
    "cdht_webhook_attempt_duration_seconds",
    "Duration of one webhook delivery attempt (resolution, connection, response)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def status_class(status_code: int | None) -> str:
    return "none" if status_code is None else f"{status_code // 100}xx"


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def clear_multiprocess_dir() -> None:
    """Empty the multiprocess directory before a server starts its workers (samples of earlier runs would be
    summed in otherwise)."""
    directory = multiprocess_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def registry(*extra: Collector) -> CollectorRegistry:
    """This process's metrics (or, in multiprocess mode, every process's), then ``extra``."""
    combined = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory is not None:
        MultiProcessCollector(combined, path=str(directory))
    else:
        combined.register(REGISTRY)
    for collector in extra:
        combined.register(collector)
    return combined


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """The text exposition of ``registry(*extra)``."""
    return generate_latest(registry(*extra))
