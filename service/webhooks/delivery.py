"""From the queue to the subscriber: claiming, signing, posting, retrying, recording every attempt.

Delivering claims due deliveries with ``FOR UPDATE SKIP LOCKED`` and leases them (their next attempt moves
``webhook_lease_seconds`` ahead) in a first, committed transaction, so two dispatchers never post the same attempt;
posts them (each attempt bounded as a whole, below the lease); and records each outcome in a second transaction.
A dispatcher killed between the two leaves leased deliveries that become due again when the lease ends: every
event is delivered at least once, and a duplicate carries the same ``webhook-id``. The deliveries come from the
outbox through ``service.webhooks.fanout``; ``service.webhooks.pipeline`` keeps a bounded number of them in
flight, claiming, posting and recording in overlapping batches.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import false, func, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.config import Settings
from service.domain.actor import system_actor
from service.domain.errors import DomainError
from service.persistence.db import unit_of_work
from service.persistence.tables import OutboxMessage, WebhookAttempt, WebhookDelivery, WebhookSubscription
from service.webhooks import subscriptions
from service.webhooks.safety import post_pinned
from service.webhooks.signing import webhook_headers

log = logging.getLogger("cdht.webhooks")
# The tables themselves for the statements of every round (claim, record): plain rows in and out, without the ORM's
# compile and bulk-persistence steps per execution.
DELIVERIES, SUBSCRIPTIONS, OUTBOX, ATTEMPTS = (
    model.__table__  # type: ignore[attr-defined]
    for model in (WebhookDelivery, WebhookSubscription, OutboxMessage, WebhookAttempt)
)
D, S = DELIVERIES.c, SUBSCRIPTIONS.c
DISPATCHER = system_actor("webhooks")
EXCERPT = 300
USER_AGENT = "cdht-webhooks"
SUCCESS_RESOLUTION = timedelta(seconds=5)  # how stale a subscription's last_success_at may be


def canonical(body: dict[str, Any]) -> bytes:
    """The exact bytes sent: canonical JSON of the outbox body, the same on every retry."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Claimed:
    delivery_id: str
    number: int
    url: str
    msg_id: str
    body: bytes
    secrets: tuple[str, ...] = field(repr=False)
    subscription_id: str = ""
    retries: int = 0  # the attempt's place in its cycle (``next_wait``)


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    now: datetime,
    batch: int = 10,
    room: Callable[[str], int] | None = None,
    skip: Collection[str] = (),
) -> list[Claimed]:
    """Lease the due deliveries of active subscriptions; committed before anything is posted. Take no more than
    can be posted at once, so a lease never runs out while its delivery waits its turn: ``batch`` in all, none of
    the subscriptions in ``skip``, and at most ``room(subscription_id)`` of each (the rows beyond it are left as
    they were, unleased, for a later claim)."""
    sealer = subscriptions.Sealer(settings.sealing_key())
    conditions = [
        D.status == "pending",
        D.held == false(),  # a disabled subscription's deliveries are never read (subscriptions.hold)
        D.next_attempt_at <= now,
        or_(D.leased_until.is_(None), D.leased_until <= now),
        S.status == "active",
    ]
    if skip:
        conditions.append(D.subscription_id.not_in(sorted(skip)))
    lease = now + timedelta(seconds=settings.webhook_lease_seconds)
    async with unit_of_work(sessions) as session:
        # Plain rows, not objects: only what the post needs (the subscription's address and sealed secrets with
        # each row), then one UPDATE leasing the rows taken.
        rows = (
            await session.execute(
                select(
                    D.id,
                    D.attempts,
                    D.retries,
                    D.msg_id,
                    D.subscription_id,
                    OUTBOX.c.body,
                    S.url,
                    S.secret_sealed,
                    S.previous_secret_sealed,
                    S.previous_secret_until,
                )
                .join(SUBSCRIPTIONS, S.id == D.subscription_id)
                .join(OUTBOX, OUTBOX.c.id == D.outbox_id)
                .where(*conditions)
                # The order ix_delivery_due (status, held, next_attempt_at) gives, so the scan stops at ``batch``
                # rows: a tie-break by id sorted every due delivery first (a fan-out's hundreds share one time; 40 ms
                # a claim with 5,000 waiting). No order between deliveries is promised (``data.seq`` orders a case).
                .order_by(D.next_attempt_at)
                .limit(batch)
                .with_for_update(of=DELIVERIES, skip_locked=True)
            )
        ).all()
        if not rows:
            return []
        targets: dict[str, tuple[str, tuple[str, ...] | RuntimeError]] = {}
        for row in rows:
            if row.subscription_id not in targets:
                try:  # each subscription's secrets unsealed once per claim
                    targets[row.subscription_id] = (row.url, tuple(subscriptions.signing_secrets(row, sealer, now)))
                except RuntimeError as exc:
                    targets[row.subscription_id] = (row.url, exc)
        claimed: list[Claimed] = []
        taken: dict[str, int] = {}
        for row in rows:
            if room is not None and taken.get(row.subscription_id, 0) >= room(row.subscription_id):
                continue
            url, secrets = targets[row.subscription_id]
            if isinstance(secrets, RuntimeError):  # one unreadable secret must not hold up every other subscriber
                log.error("delivery %s: %s", row.id, secrets)
                await session.execute(
                    update(DELIVERIES)
                    .where(D.id == row.id)
                    .values(next_attempt_at=now + timedelta(hours=1), last_error=str(secrets))
                    .execution_options(synchronize_session=False)
                )
                continue
            taken[row.subscription_id] = taken.get(row.subscription_id, 0) + 1
            claimed.append(
                Claimed(
                    row.id,
                    row.attempts + 1,
                    url,
                    row.msg_id,
                    canonical(row.body),
                    secrets,
                    row.subscription_id,
                    row.retries + 1,
                )
            )
        if claimed:
            await session.execute(
                update(DELIVERIES)
                .where(D.id.in_([item.delivery_id for item in claimed]))
                .values(
                    attempts=D.attempts + 1,
                    retries=D.retries + 1,
                    cycle_started_at=func.coalesce(D.cycle_started_at, now),
                    leased_until=lease,
                )
                .execution_options(synchronize_session=False)
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


async def post(sender: httpx.AsyncClient | httpx.AsyncBaseTransport, settings: Settings, item: Claimed) -> Outcome:
    """One attempt, bounded as a whole (resolution, connection, response) below the lease."""
    headers = webhook_headers(item.secrets, item.msg_id, int(time.time()), item.body)
    headers["user-agent"] = USER_AGENT
    timeout = httpx.Timeout(settings.webhook_read_timeout_seconds, connect=settings.webhook_connect_timeout_seconds)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(settings.webhook_attempt_timeout_seconds):
            response = await post_pinned(
                sender,
                item.url,
                content=item.body,
                headers=headers,
                allow_private=settings.allow_private_webhooks,
                allowed_ports=settings.webhook_ports,
                timeout=timeout,
            )
    except TimeoutError:
        return Outcome(None, _ms(started), f"no answer within {settings.webhook_attempt_timeout_seconds:g} s", None)
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


def ends_cycle(settings: Settings, item: Claimed, outcome: Outcome) -> bool:
    """Whether this outcome ends its delivery's cycle as failed (``_record_one`` may then disable the subscription)."""
    if outcome.delivered:
        return False
    return outcome.status_code == 410 or item.retries > len(settings.webhook_retry_schedule_seconds)


def next_wait(settings: Settings, retries: int) -> timedelta | None:
    """The wait after the ``retries``-th attempt of a cycle (the schedule with ±10% jitter), or None when spent."""
    schedule = settings.webhook_retry_schedule_seconds
    if retries > len(schedule):
        return None
    return timedelta(seconds=schedule[retries - 1] * random.uniform(0.9, 1.1))


async def record(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    attempts: Sequence[tuple[Claimed, Outcome]],
    *,
    now: datetime,
    reached_at: dict[str, datetime] | None = None,
) -> list[str]:
    """Record a round of attempts in one transaction and decide what follows each failure (``_record_failure``).

    The successes first, without reading their rows: one UPDATE per status code marks delivered each delivery still
    pending at this attempt's number and returns which it marked (a failure recorded after them in the same round
    sees that the subscriber was reached). The rest (failures, and successes whose delivery was redelivered or taken
    over meanwhile) are locked in id order and decided one by one. Two dispatchers hold the same delivery only when
    one took over the other's expired lease; should their records wait on each other, PostgreSQL ends one, whose
    attempts stay claimed and are recorded again by the next round. ``reached_at`` (the caller's, across rounds)
    remembers when this dispatcher last wrote a subscription's ``last_success_at``, so that write is not sent again
    within ``SUCCESS_RESOLUTION``."""
    async with unit_of_work(sessions) as session:
        recorded: dict[str, str] = {}
        by_code: dict[int | None, list[Claimed]] = {}
        for item, outcome in attempts:
            if outcome.delivered:
                by_code.setdefault(outcome.status_code, []).append(item)
        for status_code, items in by_code.items():
            marked = await session.execute(
                update(DELIVERIES)
                .where(
                    tuple_(D.id, D.attempts).in_([(item.delivery_id, item.number) for item in items]),
                    D.status == "pending",
                )
                .values(
                    status="delivered",
                    delivered_at=now,
                    leased_until=None,
                    last_status_code=status_code,
                    last_error=None,
                )
                .returning(D.id)
                .execution_options(synchronize_session=False)
            )
            recorded.update((delivery_id, "delivered") for delivery_id in marked.scalars())
        rest = [(item, outcome) for item, outcome in attempts if item.delivery_id not in recorded]
        state = {}
        if rest:
            locked = await session.execute(
                select(D.id, D.status, D.attempts)
                .where(D.id.in_(sorted(item.delivery_id for item, _ in rest)))
                .order_by(D.id)
                .with_for_update()
            )
            state = {row.id: row for row in locked}
        await session.execute(
            insert(ATTEMPTS),
            [
                {
                    "delivery_id": item.delivery_id,
                    "number": item.number,
                    "started_at": now,
                    "status_code": outcome.status_code,
                    "latency_ms": outcome.latency_ms,
                    "error": outcome.error,
                    "response_excerpt": outcome.excerpt,
                }
                for item, outcome in attempts
            ],
        )
        answered, failures = [], []
        for item, outcome in rest:
            row = state[item.delivery_id]
            if row.status != "pending" or row.attempts != item.number or outcome.delivered:
                recorded[item.delivery_id] = row.status  # redelivered or taken over meanwhile; only logged
                answered.append(
                    {"id": item.delivery_id, "last_status_code": outcome.status_code, "last_error": outcome.error}
                )
            else:
                failures.append((item, outcome))
        if answered:
            await session.execute(update(WebhookDelivery), answered)
        for item, outcome in failures:
            delivery = await session.get(WebhookDelivery, item.delivery_id)  # locked above
            assert delivery is not None
            delivery.last_status_code, delivery.last_error = outcome.status_code, outcome.error
            recorded[item.delivery_id] = await _record_failure(session, settings, delivery, outcome, now=now)
        results = [recorded[item.delivery_id] for item, _ in attempts]
        known = reached_at if reached_at is not None else {}
        reached = {
            item.subscription_id
            for (item, _), result in zip(attempts, results, strict=True)
            if result == "delivered"
            and not (item.subscription_id in known and known[item.subscription_id] > now - SUCCESS_RESOLUTION)
        }
        if reached:
            # One write per subscription and round, and only when its last success is stale: a subscription's row
            # is not locked by every delivery (that would serialise all its deliveries on it).
            await session.execute(
                update(SUBSCRIPTIONS)
                .where(
                    S.id.in_(sorted(reached)),
                    or_(
                        S.last_success_at.is_(None),
                        S.last_success_at < now - SUCCESS_RESOLUTION,
                    ),
                )
                .values(last_success_at=now)
                .execution_options(synchronize_session=False)
            )
            known.update(dict.fromkeys(reached, now))
        return results


async def _record_failure(
    session: AsyncSession,
    settings: Settings,
    delivery: WebhookDelivery,
    outcome: Outcome,
    *,
    now: datetime,
) -> str:
    """Decide what follows a failed attempt of a delivery still in its cycle: retry later, or failed. A failed
    delivery disables its subscription on 410 Gone, or when nothing at all reached the subscriber since this
    delivery's cycle began (the endpoint has been down for the whole retry window); one event the receiver keeps
    refusing does not."""
    delivery.leased_until = None
    subscription = await session.get(WebhookSubscription, delivery.subscription_id, with_for_update=True)
    wait = None if outcome.status_code == 410 else next_wait(settings, delivery.retries)
    if wait is not None:
        delivery.next_attempt_at = now + wait
        return "retrying"
    delivery.status = "failed"
    if subscription is None or subscription.status != "active":
        return "failed"
    if outcome.status_code == 410:
        reason = "the receiver answered 410 Gone"
    elif not await _delivered_since(session, subscription.id, delivery.cycle_started_at or now):
        reason = (
            f"nothing was delivered for the whole retry window ({delivery.retries} attempts); "
            f"last: {outcome.status_code or outcome.error}"
        )
    else:
        return "failed"  # the subscriber is up; it keeps refusing this one event, which stays in the log
    await subscriptions.disable(session, subscription=subscription, actor=DISPATCHER, reason=reason, now=now)
    log.warning("webhook subscription %s disabled: %s", subscription.id, reason)
    return "failed"


async def _delivered_since(session: AsyncSession, subscription_id: str, since: datetime) -> bool:
    """Whether anything reached the subscriber since ``since``: read from the deliveries (this round's included,
    hence the flush), not from the subscription's ``last_success_at``, written at most every ``SUCCESS_RESOLUTION``."""
    await session.flush()
    found = await session.execute(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.subscription_id == subscription_id,
            WebhookDelivery.status == "delivered",
            WebhookDelivery.delivered_at >= since,
        )
        .limit(1)
    )
    return found.first() is not None
