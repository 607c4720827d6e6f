"""The national root unit ``VN``: every province hangs under it, and a national auditor or admin holds unit VN.

Why: jurisdiction is decided by walking up the unit tree; without a root, nothing could be scoped to the whole
country. Data, not schema.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

admin_unit = sa.table(
    "admin_unit",
    sa.column("code", sa.String),
    sa.column("name", sa.String),
    sa.column("level", sa.String),
    sa.column("disadvantaged", sa.Boolean),
    sa.column("source", sa.String),
)


def upgrade() -> None:
    op.bulk_insert(
        admin_unit,
        [
            {
                "code": "VN",
                "name": "Việt Nam",
                "level": "national",
                "disadvantaged": False,
                "source": "national root (migration 0002)",
            }
        ],
    )


def downgrade() -> None:
    op.execute(admin_unit.delete().where(admin_unit.c.code == "VN"))
