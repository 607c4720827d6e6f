"""Metrics of the state in the database, read at each scrape: deadlines by status (and those past due still open),
the webhook queue, subscriptions by status, the outbox not yet fanned out and its lag, the newest checkpoint's age.

Read, not counted, so that every process (each API worker, ``cdht worker``) answers the same figures and a restart
loses nothing; a scrape costs a handful of aggregate queries. Times are measured against the service's clock."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.config import ConfigurationError
from service.persistence.tables import AuditCheckpoint, Case, Deadline, OutboxMessage, WebhookDelivery
from service.persistence.tables import WebhookSubscription as Subscription
from service.telemetry import metrics as exposition

log = logging.getLogger("cdht.metrics")


class Sampled(Collector):
    """Metric families read once, handed to the exposition."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


async def sample(sessions: async_sessionmaker[AsyncSession], now: datetime) -> Sampled:
    async with sessions() as session:
        families = [
            *await _deadlines(session, now),
            *await _webhooks(session),
            *await _outbox(session, now),
            *await _checkpoints(session, now),
        ]
    return Sampled(families)


async def _deadlines(session: AsyncSession, now: datetime) -> list[Metric]:
    by_status = GaugeMetricFamily(
        "cdht_deadlines",
        "Deadline rows by procedure, deadline and status (open, met, breached, waived)",
        labels=["procedure", "deadline", "status"],
    )
    past_due = GaugeMetricFamily(
        "cdht_deadlines_past_due",
        "Open deadlines whose due time has passed (the sweeper has not acted on them yet)",
        labels=["procedure", "deadline"],
    )
    overdue = func.sum(case(((Deadline.status == "open") & (Deadline.due_at < now), 1), else_=0))
    rows = await session.execute(
        select(Case.procedure, Deadline.key, Deadline.status, func.count(), overdue)
        .join(Case, Case.id == Deadline.case_id)
        .group_by(Case.procedure, Deadline.key, Deadline.status)
        .order_by(Case.procedure, Deadline.key, Deadline.status)
    )
    for procedure, key, status, count, late in rows:
        by_status.add_metric([procedure, key, status], count)
        if status == "open":
            past_due.add_metric([procedure, key], late or 0)
    return [by_status, past_due]


async def _webhooks(session: AsyncSession) -> list[Metric]:
    depth = GaugeMetricFamily(
        "cdht_webhook_queue_depth",
        "Webhook deliveries waiting to be delivered (pending, to active subscriptions)",
    )
    pending = await session.scalar(
        select(func.count())
        .select_from(WebhookDelivery)
        .join(Subscription, Subscription.id == WebhookDelivery.subscription_id)
        .where(WebhookDelivery.status == "pending", Subscription.status == "active")
    )
    depth.add_metric([], pending or 0)
    subscriptions = GaugeMetricFamily(
        "cdht_webhook_subscriptions",
        "Webhook subscriptions by status (active, disabled, deleted)",
        labels=["status"],
    )
    counts = dict(
        (await session.execute(select(Subscription.status, func.count()).group_by(Subscription.status))).all()
    )
    for status in sorted({"active", "disabled", *counts}):
        subscriptions.add_metric([status], counts.get(status, 0))
    return [depth, subscriptions]


async def _outbox(session: AsyncSession, now: datetime) -> list[Metric]:
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(OutboxMessage.created_at)).where(OutboxMessage.dispatched_at.is_(None))
        )
    ).one()
    pending = GaugeMetricFamily("cdht_outbox_pending", "Outbox events not yet fanned out to the subscriptions")
    pending.add_metric([], count or 0)
    lag = GaugeMetricFamily(
        "cdht_outbox_lag_seconds", "Age of the oldest outbox event not yet fanned out (0 when none waits)"
    )
    lag.add_metric([], max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0)
    return [pending, lag]


async def _checkpoints(session: AsyncSession, now: datetime) -> list[Metric]:
    newest = await session.scalar(select(func.max(AuditCheckpoint.created_at)))
    age = GaugeMetricFamily(
        "cdht_audit_checkpoint_age_seconds",
        "Age of the newest signed audit checkpoint (no sample until the first checkpoint)",
    )
    if newest is not None:
        age.add_metric([], max((now - newest).total_seconds(), 0.0))
    return [age]


class LoopSampler(Collector):
    """The state read on the worker's event loop when a scrape comes in on the metrics server's thread."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
        timeout: float = 10.0,
    ) -> None:
        self.loop, self.sessions, self.clock, self.timeout = loop, sessions, clock, timeout

    def collect(self) -> Iterator[Metric]:
        future = asyncio.run_coroutine_threadsafe(sample(self.sessions, self.clock()), self.loop)
        return future.result(timeout=self.timeout).collect()


def serve_worker_metrics(
    host: str, port: int, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]
) -> tuple[WSGIServer, threading.Thread]:
    """``cdht worker``'s own metrics endpoint (prometheus_client's HTTP server, in a thread): its counters and the
    state of the database. Returns the server (``server_port`` is the port bound, for port 0) and its thread."""
    sampler = LoopSampler(asyncio.get_running_loop(), sessions, clock)
    try:
        server, thread = start_http_server(port, addr=host, registry=exposition.registry(sampler))
    except OSError as exc:
        raise ConfigurationError(
            f"cdht worker cannot serve its metrics on {host}:{port} ({exc}); set CDHT_WORKER_METRICS_HOST and "
            "CDHT_WORKER_METRICS_PORT (0: no metrics endpoint)"
        ) from exc
    log.info("worker metrics on http://%s:%s/metrics", host, server.server_port)
    return server, thread
