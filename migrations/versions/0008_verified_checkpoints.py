"""A checkpoint may record, signed, that a full verify of the heads it signs passed (``audit_checkpoint.verified``).

Why: the incremental verify takes every event up to a checkpoint's heads on the checkpoint's word; that word is only
as good as the full verify that last passed over those events. A checkpoint signed by ``cdht audit checkpoint
--verify`` (or ``POST /v1/audit/checkpoints?verify=true``) right after a full verify found nothing, in the verify's
own snapshot, records what that verify covered (``{"mode": "full", "events_checked", "chains_checked"}``) and signs
it with the heads; the incremental verify starts from the newest checkpoint so marked. SQL NULL for every other
checkpoint (those signed before this revision included: their signature never covered the field).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_checkpoint") as batch:
        batch.add_column(
            sa.Column(
                "verified",
                sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_checkpoint") as batch:
        batch.drop_column("verified")
