"""Units over time, case subjects, campaigns and version migrations (issue 6).

Why: after the two-tier reform of 1 July 2025 a commune's recognition history must follow it into its successor
(``unit_succession``); a TT24 learning-unit case is about an organisation inside a unit, so the one-case rule
becomes per unit, subject, cycle and kind (``cases.subject``, "" for a unit's own case); ``campaign`` records each
opening of a whole cycle's cases, and ``case_migration`` the resumable move of open cases to a new definition
version.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_migration",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("procedure", sa.String(length=64), nullable=False),
        sa.Column("from_version", sa.String(length=64), nullable=False),
        sa.Column("to_version", sa.String(length=64), nullable=False),
        sa.Column("state_map", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("after_case_id", sa.String(length=36), nullable=False),
        sa.Column("moved", sa.Integer(), nullable=False),
        sa.Column("refused", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_migration")),
    )
    op.create_table(
        "campaign",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("procedure", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("options", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("result", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["unit_code"], ["admin_unit.code"], name=op.f("fk_campaign_unit_code_admin_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign")),
    )
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_scope", ["procedure", "unit_code", "cycle"], unique=False)

    op.create_table(
        "unit_succession",
        sa.Column("predecessor_code", sa.String(length=32), nullable=False),
        sa.Column("successor_code", sa.String(length=32), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("basis", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["predecessor_code"], ["admin_unit.code"], name=op.f("fk_unit_succession_predecessor_code_admin_unit")
        ),
        sa.ForeignKeyConstraint(
            ["successor_code"], ["admin_unit.code"], name=op.f("fk_unit_succession_successor_code_admin_unit")
        ),
        sa.PrimaryKeyConstraint("predecessor_code", "successor_code", name=op.f("pk_unit_succession")),
    )
    with op.batch_alter_table("unit_succession", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unit_succession_successor_code"), ["successor_code"], unique=False)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject", sa.String(length=120), server_default="", nullable=False))
        batch_op.drop_constraint(batch_op.f("uq_case_per_unit_cycle_kind"), type_="unique")
        batch_op.create_unique_constraint(
            "uq_case_per_unit_subject_cycle_kind", ["procedure", "unit_code", "subject", "cycle", "kind"]
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint("uq_case_per_unit_subject_cycle_kind", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_case_per_unit_cycle_kind"), ["procedure", "unit_code", "cycle", "kind"]
        )
        batch_op.drop_column("subject")

    with op.batch_alter_table("unit_succession", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unit_succession_successor_code"))

    op.drop_table("unit_succession")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_scope")

    op.drop_table("campaign")
    op.drop_table("case_migration")
