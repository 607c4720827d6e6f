"""From the outbox to the subscriber: fan-out, claiming, signing, posting, retrying, recording every attempt.

Fan-out turns each outbox row into one delivery per matching active subscription (event type, and the event's
unit within one of the subscription's units), then marks the row dispatched — in one transaction, so an event is
fanned out once. Delivering claims due deliveries with ``FOR UPDATE SKIP LOCKED`` and leases them (their next
attempt moves ``webhook_lease_seconds`` ahead) in a first, committed transaction, so two dispatchers never post the
same attempt; posts them; and records each outcome in a second transaction. A dispatcher killed between the two
leaves leased deliveries that become due again when the lease ends: every event is delivered at least once, and
a duplicate carries the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.config import Settings
from service.domain.actor import system_actor
from service.domain.casefile import unit_path
from service.domain.errors import DomainError, NotFound
from service.persistence.db import unit_of_work
from service.persistence.tables import OutboxMessage, WebhookAttempt, WebhookDelivery, WebhookSubscription
from service.webhooks import subscriptions
from service.webhooks.safety import post_pinned
from service.webhooks.signing import webhook_headers

log = logging.getLogger("cdht.webhooks")
DISPATCHER = system_actor("webhooks")
EXCERPT = 300


def body_bytes(message: OutboxMessage) -> bytes:
    """The exact bytes sent: canonical JSON of the outbox body, the same on every retry."""
    return json.dumps(message.body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def msg_id(message: OutboxMessage) -> str:
    return f"msg_{message.event_uid}"


async def _ancestors(
    session: AsyncSession, unit_code: str | None, cache: dict[str, tuple[str, ...]]
) -> tuple[str, ...]:
    if unit_code is None:
        return ()
    if unit_code not in cache:
        try:
            _, path = await unit_path(session, unit_code)
            cache[unit_code] = path.codes
        except NotFound:
            cache[unit_code] = (unit_code,)
    return cache[unit_code]


def matches(subscription: WebhookSubscription, message: OutboxMessage, ancestors: Sequence[str]) -> bool:
    if message.type not in subscription.events:
        return False
    if subscription.units is None:
        return True
    return any(unit in ancestors for unit in subscription.units)


def new_delivery(subscription: WebhookSubscription, message: OutboxMessage, now: datetime) -> WebhookDelivery:
    return WebhookDelivery(
        id=str(uuid.uuid4()),
        subscription_id=subscription.id,
        outbox_id=message.id,
        msg_id=msg_id(message),
        event_type=message.type,
        case_id=message.case_id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


async def fan_out(sessions: async_sessionmaker[AsyncSession], *, now: datetime, batch: int = 500) -> int:
    """Deliveries for the oldest undispatched outbox rows; returns how many rows were dispatched."""
    async with unit_of_work(sessions) as session:
        messages = (
            (
                await session.execute(
                    select(OutboxMessage)
                    .where(OutboxMessage.dispatched_at.is_(None))
                    .order_by(OutboxMessage.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        if not messages:
            return 0
        active = (
            (await session.execute(select(WebhookSubscription).where(WebhookSubscription.status == "active")))
            .scalars()
            .all()
        )
        cache: dict[str, tuple[str, ...]] = {}
        for message in messages:
            ancestors = await _ancestors(session, message.unit_code, cache)
            for subscription in active:
                if matches(subscription, message, ancestors):
                    session.add(new_delivery(subscription, message, now))
            message.dispatched_at = now
    return len(messages)


@dataclass(frozen=True)
class Claimed:
    delivery_id: str
    number: int
    url: str
    msg_id: str
    body: bytes
    secrets: tuple[str, ...] = field(repr=False)


async def claim(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, *, now: datetime, batch: int = 50
) -> list[Claimed]:
    """Lease the due deliveries of active subscriptions; committed before anything is posted."""
    sealer = subscriptions.Sealer(settings.sealing_key())
    async with unit_of_work(sessions) as session:
        rows = (
            await session.execute(
                select(WebhookDelivery, WebhookSubscription, OutboxMessage)
                .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
                .join(OutboxMessage, OutboxMessage.id == WebhookDelivery.outbox_id)
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                    WebhookSubscription.status == "active",
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(batch)
                .with_for_update(of=WebhookDelivery, skip_locked=True)
            )
        ).all()
        claimed = []
        for delivery, subscription, message in rows:
            delivery.attempts += 1
            delivery.next_attempt_at = now + timedelta(seconds=settings.webhook_lease_seconds)
            claimed.append(
                Claimed(
                    delivery.id,
                    delivery.attempts,
                    subscription.url,
                    delivery.msg_id,
                    body_bytes(message),
                    tuple(subscriptions.signing_secrets(subscription, sealer, now)),
                )
            )
    return claimed


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None
    excerpt: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def post(client: httpx.AsyncClient, settings: Settings, item: Claimed) -> Outcome:
    headers = webhook_headers(item.secrets, item.msg_id, int(time.time()), item.body)
    timeout = httpx.Timeout(settings.webhook_read_timeout_seconds, connect=settings.webhook_connect_timeout_seconds)
    started = time.perf_counter()
    try:
        response = await post_pinned(
            client,
            item.url,
            content=item.body,
            headers=headers,
            allow_private=settings.allow_private_webhooks,
            timeout=timeout,
        )
    except DomainError as exc:  # the target became unsafe (e.g. DNS now points inside): not posted
        return Outcome(None, _ms(started), "; ".join(r.message for r in exc.reasons) or exc.detail, None)
    except httpx.HTTPError as exc:
        return Outcome(None, _ms(started), f"{type(exc).__name__}: {exc}"[:500], None)
    excerpt = response.text[:EXCERPT] if response.content else None
    error = None
    if 300 <= response.status_code < 400:
        error = f"redirect to {response.headers.get('location', '?')} refused"[:500]
    return Outcome(response.status_code, _ms(started), error, excerpt)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def next_wait(settings: Settings, attempts: int) -> timedelta | None:
    """The wait before attempt ``attempts + 1`` (exponential schedule with ±10% jitter), or None when spent."""
    schedule = settings.webhook_retry_schedule_seconds
    if attempts > len(schedule):
        return None
    return timedelta(seconds=schedule[attempts - 1] * random.uniform(0.9, 1.1))


async def record(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, item: Claimed, outcome: Outcome, *, now: datetime
) -> str:
    """Record the attempt and decide what follows: delivered, retry later, or failed (and the subscription
    disabled on 410 Gone or when the whole retry window is spent)."""
    async with unit_of_work(sessions) as session:
        delivery = (
            await session.execute(
                select(WebhookDelivery).where(WebhookDelivery.id == item.delivery_id).with_for_update()
            )
        ).scalar_one()
        session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                number=item.number,
                started_at=now,
                status_code=outcome.status_code,
                latency_ms=outcome.latency_ms,
                error=outcome.error,
                response_excerpt=outcome.excerpt,
            )
        )
        delivery.last_status_code, delivery.last_error = outcome.status_code, outcome.error
        if delivery.status != "pending" or delivery.attempts != item.number:
            return delivery.status  # redelivered or taken over meanwhile; this attempt is only logged
        if outcome.delivered:
            delivery.status, delivery.delivered_at = "delivered", now
            return "delivered"
        wait = None if outcome.status_code == 410 else next_wait(settings, delivery.attempts)
        if wait is not None:
            delivery.next_attempt_at = now + wait
            return "retrying"
        delivery.status = "failed"
        subscription = await session.get(WebhookSubscription, delivery.subscription_id, with_for_update=True)
        if subscription is not None and subscription.status == "active":
            reason = (
                "the receiver answered 410 Gone"
                if outcome.status_code == 410
                else f"failed for the whole retry window ({delivery.attempts} attempts); last: "
                f"{outcome.status_code or outcome.error}"
            )
            await subscriptions.disable(session, subscription=subscription, actor=DISPATCHER, reason=reason, now=now)
            log.warning("webhook subscription %s disabled: %s", subscription.id, reason)
        return "failed"


@dataclass
class DispatchReport:
    dispatched: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


async def dispatch(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    client: httpx.AsyncClient,
    *,
    now: datetime,
    batch: int = 50,
    concurrency: int = 10,
) -> DispatchReport:
    """One pass: fan out, then post every due delivery (at most ``concurrency`` at once)."""
    report = DispatchReport(dispatched=await fan_out(sessions, now=now))
    claimed = await claim(sessions, settings, now=now, batch=batch)
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Claimed) -> None:
        async with gate:
            outcome = await post(client, settings, item)
        result = await record(sessions, settings, item, outcome, now=now)
        if result in ("delivered", "retrying", "failed"):
            setattr(report, result, getattr(report, result) + 1)

    await asyncio.gather(*(one(item) for item in claimed))
    return report


async def redeliver(
    session: AsyncSession, *, subscription: WebhookSubscription, delivery_id: str, now: datetime
) -> WebhookDelivery:
    delivery = (
        await session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.subscription_id == subscription.id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id} for this subscription")
    delivery.status, delivery.next_attempt_at = "pending", now
    return delivery


async def replay(
    session: AsyncSession, *, subscription: WebhookSubscription, since: datetime, now: datetime
) -> tuple[int, int]:
    """Deliver again every matching event since a time: new deliveries for events it never had, and the
    existing ones put back in the queue. Returns (created, requeued)."""
    messages = (
        (
            await session.execute(
                select(OutboxMessage).where(OutboxMessage.created_at >= since).order_by(OutboxMessage.id)
            )
        )
        .scalars()
        .all()
    )
    existing = {
        d.outbox_id: d
        for d in (
            await session.execute(
                select(WebhookDelivery).where(
                    WebhookDelivery.subscription_id == subscription.id,
                    WebhookDelivery.outbox_id.in_([m.id for m in messages]),
                )
            )
        ).scalars()
    }
    created = requeued = 0
    cache: dict[str, tuple[str, ...]] = {}
    for message in messages:
        if not matches(subscription, message, await _ancestors(session, message.unit_code, cache)):
            continue
        if message.id in existing:
            delivery = existing[message.id]
            delivery.status, delivery.next_attempt_at = "pending", now
            requeued += 1
        else:
            session.add(new_delivery(subscription, message, now))
            created += 1
    return created, requeued
