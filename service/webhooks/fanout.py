"""What is queued for the subscribers: the outbox fanned out into deliveries, and deliveries put back in the queue.

Fan-out turns each outbox row into one delivery per matching active subscription (event type, and the event's
unit within one of the subscription's units), then marks the row dispatched — in one transaction, so an event is
fanned out once. An operator can put one delivery back in the queue (``redeliver``) or every matching event since a
time (``replay``), with the same ``webhook-id`` as before; a delivery a dispatcher is posting is left alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.domain.errors import Conflict, NotFound, Reason, UnknownUnit
from service.domain.units.paths import unit_path
from service.persistence.db import unit_of_work
from service.persistence.tables import OutboxMessage, WebhookDelivery, WebhookSubscription

Message = OutboxMessage | Row[Any]  # an outbox row as an object (replay) or as a plain row (fan-out)


def msg_id(message: Message) -> str:
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
        except UnknownUnit:
            cache[unit_code] = (unit_code,)
    return cache[unit_code]


def matches(subscription: WebhookSubscription, message: Message, ancestors: Sequence[str]) -> bool:
    if message.type not in subscription.events:
        return False
    if subscription.units is None:
        return True
    return any(unit in ancestors for unit in subscription.units)


def delivery_row(subscription: WebhookSubscription, message: Message, now: datetime) -> dict[str, Any]:
    """The columns of a new pending delivery of ``message`` to ``subscription`` (held while it is disabled)."""
    return {
        "id": str(uuid.uuid4()),
        "subscription_id": subscription.id,
        "outbox_id": message.id,
        "msg_id": msg_id(message),
        "event_type": message.type,
        "case_id": message.case_id,
        "status": "pending",
        "held": subscription.status != "active",
        "attempts": 0,
        "retries": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def new_delivery(subscription: WebhookSubscription, message: OutboxMessage, now: datetime) -> WebhookDelivery:
    return WebhookDelivery(**delivery_row(subscription, message, now))


async def fan_out(sessions: async_sessionmaker[AsyncSession], *, now: datetime, batch: int = 500) -> int:
    """Deliveries for the oldest undispatched outbox rows; returns how many rows were dispatched. A pair that
    exists already (a replay got there first) is left as it is. The outbox rows are read as plain rows (the columns
    a delivery needs, not the bodies) and marked dispatched in one statement."""
    async with unit_of_work(sessions) as session:
        messages = (
            await session.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.event_uid,
                    OutboxMessage.case_id,
                    OutboxMessage.type,
                    OutboxMessage.unit_code,
                )
                .where(OutboxMessage.dispatched_at.is_(None))
                .order_by(OutboxMessage.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not messages:
            return 0
        ids = [m.id for m in messages]
        active = (
            (await session.execute(select(WebhookSubscription).where(WebhookSubscription.status == "active")))
            .scalars()
            .all()
        )
        existing = set()
        if active:  # by (subscription, outbox) pair: the unique index's order, not a scan of every delivery
            existing = set(
                (
                    await session.execute(
                        select(WebhookDelivery.subscription_id, WebhookDelivery.outbox_id).where(
                            WebhookDelivery.subscription_id.in_([subscription.id for subscription in active]),
                            WebhookDelivery.outbox_id.in_(ids),
                        )
                    )
                ).all()
            )
        cache: dict[str, tuple[str, ...]] = {}
        by_unit = [subscription for subscription in active if subscription.units is not None]
        rows = []
        for message in messages:
            # A message's units above it are read only when a subscription filtered by unit wants its type.
            wanted = any(message.type in subscription.events for subscription in by_unit)
            ancestors = await _ancestors(session, message.unit_code, cache) if wanted else ()
            for subscription in active:
                if (subscription.id, message.id) not in existing and matches(subscription, message, ancestors):
                    rows.append(delivery_row(subscription, message, now))
        outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
        await session.execute(update(outbox).where(outbox.c.id.in_(ids)).values(dispatched_at=now))
        if rows:  # plain rows into the table itself: an object (or the ORM's bulk insert) per delivery cost more
            await session.execute(insert(WebhookDelivery.__table__), rows)  # type: ignore[attr-defined]
    return len(messages)


def requeue(delivery: WebhookDelivery, subscription: WebhookSubscription, now: datetime) -> None:
    """Back in the queue for a new cycle of retries (same webhook-id), held while the subscription is disabled;
    refused while a dispatcher holds it."""
    if delivery.leased_until is not None and delivery.leased_until > now:
        raise Conflict(
            "this delivery is being posted right now",
            reasons=[Reason("delivery_in_flight", "retry when the current attempt is recorded")],
        )
    delivery.status, delivery.next_attempt_at, delivery.retries, delivery.cycle_started_at = "pending", now, 0, None
    delivery.held = subscription.status != "active"


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
        raise NotFound(
            f"no delivery {delivery_id} for this subscription", reasons=[Reason("delivery_unknown", "check the ids")]
        )
    requeue(delivery, subscription, now)
    return delivery


async def replay(
    session: AsyncSession, *, subscription: WebhookSubscription, since: datetime, now: datetime, page: int = 1000
) -> tuple[int, int]:
    """Deliver again every matching event since a time that has been fanned out already (events still waiting
    for the fan-out reach the subscription anyway): new deliveries for events it never had, and the existing
    ones put back in the queue, page by page. Returns (created, requeued)."""
    created = requeued = 0
    cache: dict[str, tuple[str, ...]] = {}
    after = 0
    while True:
        messages = (
            (
                await session.execute(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.created_at >= since,
                        OutboxMessage.dispatched_at.is_not(None),
                        OutboxMessage.id > after,
                    )
                    .order_by(OutboxMessage.id)
                    .limit(page)
                )
            )
            .scalars()
            .all()
        )
        if not messages:
            return created, requeued
        after = messages[-1].id
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
        for message in messages:
            if not matches(subscription, message, await _ancestors(session, message.unit_code, cache)):
                continue
            if message.id not in existing:
                session.add(new_delivery(subscription, message, now))
                created += 1
            elif existing[message.id].leased_until is None or existing[message.id].leased_until <= now:
                requeue(existing[message.id], subscription, now)
                requeued += 1
