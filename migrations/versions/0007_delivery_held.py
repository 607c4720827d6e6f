"""Deliveries held while their subscription is disabled, so that a claim never reads them.

Why: a disabled subscription's pending deliveries stay pending (nothing is lost: re-enabled, it gets them in their
order), and the claim walked them. It reads pending due deliveries in ``ix_delivery_due`` order (status,
next_attempt_at) and dropped those of a subscription that is not active row by row after the join, so a subscription
disabled with thousands of deliveries waiting made every claim of every dispatcher read all of them before it
reached one it could post. ``held`` is set on a subscription's pending deliveries when it is disabled and cleared when
it is enabled again (``service/webhooks/subscriptions.py``); the index leads with ``(status, held)``, so the claim's
``status = 'pending' AND NOT held`` range holds only what may be posted, still in ``next_attempt_at`` order. The
pending deliveries of subscriptions already disabled are held here.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELIVERIES = sa.table(
    "webhook_delivery", sa.column("held", sa.Boolean), sa.column("status", sa.String), sa.column("subscription_id")
)
SUBSCRIPTIONS = sa.table("webhook_subscription", sa.column("id"), sa.column("status", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.drop_index("ix_delivery_due")
        batch_op.create_index("ix_delivery_due", ["status", "held", "next_attempt_at"], unique=False)
    disabled = sa.select(SUBSCRIPTIONS.c.id).where(SUBSCRIPTIONS.c.status == "disabled")
    op.execute(
        DELIVERIES.update()
        .where(DELIVERIES.c.status == "pending", DELIVERIES.c.subscription_id.in_(disabled))
        .values(held=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_due")
        batch_op.create_index("ix_delivery_due", ["status", "next_attempt_at"], unique=False)
        batch_op.drop_column("held")
