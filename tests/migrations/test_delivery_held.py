"""Migration 0007 holds the pending deliveries of subscriptions already disabled, and only those; its downgrade
takes the column away. On SQLite, and on a PostgreSQL database of its own when ``CDHT_TEST_POSTGRES_URL`` is set."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from service.persistence import migrate

AT = datetime(2026, 1, 5, 3, 0, tzinfo=timezone.utc)


async def _run(url: str, *statements: sa.TextClause) -> list[Any]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            return [(await connection.execute(statement)) for statement in statements][-1].all()
    finally:
        await engine.dispose()


def _subscription(sub_id: str, status: str) -> sa.TextClause:
    return sa.text(
        "INSERT INTO webhook_subscription (id, url, events, secret_sealed, status, created_by, owner_unit, "
        "created_at, updated_at) VALUES (:id, 'https://example.org/hook', '[\"case.opened\"]', 'x', :status, "
        "'admin', 'VN', :at, :at)"
    ).bindparams(id=sub_id, status=status, at=AT)


def _delivery(delivery_id: str, sub_id: str, outbox_id: int, status: str) -> sa.TextClause:
    return sa.text(
        "INSERT INTO webhook_delivery (id, subscription_id, outbox_id, msg_id, event_type, status, attempts, retries, "
        "next_attempt_at, created_at) VALUES (:id, :sub, :outbox, :id, 'case.opened', :status, 0, 0, :at, :at)"
    ).bindparams(id=delivery_id, sub=sub_id, outbox=outbox_id, status=status, at=AT)


async def test_0007_holds_the_pending_deliveries_of_disabled_subscriptions(url: str) -> None:
    await migrate.upgrade(url, "0006")
    outbox = [
        sa.text(
            "INSERT INTO outbox (id, event_uid, seq, type, body, created_at) "
            "VALUES (:id, :uid, 1, 'case.opened', '{}', :at)"
        ).bindparams(id=k, uid=f"uid-{k}", at=AT)
        for k in (1, 2)
    ]
    await _run(
        url,
        *outbox,
        _subscription("off", "disabled"),
        _subscription("on", "active"),
        _delivery("off-pending", "off", 1, "pending"),
        _delivery("off-failed", "off", 2, "failed"),
        _delivery("on-pending", "on", 1, "pending"),
        sa.text("SELECT 1"),
    )
    await migrate.upgrade(url, "0007")
    held = await _run(url, sa.text("SELECT id, held FROM webhook_delivery ORDER BY id"))
    assert [(delivery_id, bool(flag)) for delivery_id, flag in held] == [
        ("off-failed", False),
        ("off-pending", True),
        ("on-pending", False),
    ]

    await migrate.downgrade(url, "0006")
    columns = await _run(url, sa.text("SELECT * FROM webhook_delivery WHERE id = 'on-pending'"))
    assert "held" not in columns[0]._fields
