"""A version of the unit tree, bumped by the database itself whenever ``admin_unit`` or ``unit_succession`` change.

Why: a write reads its case's unit path and the unit's successions on every request, and the tree changes a few
times a year (an import of the official lists, a unit added). Each API process keeps what it read under the version
it read it at and reads the version with the case row, in the same statement; any change to either table, by any
process or by hand (the service's admin endpoints, the import, ``COPY``, SQL typed in a console), bumps the version
in the changing transaction, so every process sees a stale entry as soon as the change commits. The triggers do the
bumping so that no writer can forget to: statement-level on PostgreSQL (TRUNCATE too; one bump per transaction),
per row on SQLite (which has no statement triggers). The row is upserted, so the version survives a table emptied by
hand (it then starts again at 1; a process's entries are kept per database engine and per version read).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("admin_unit", "unit_succession")
BUMP = (
    "INSERT INTO unit_tree_version (id, version) VALUES (1, 1) "
    "ON CONFLICT (id) DO UPDATE SET version = unit_tree_version.version + 1"
)


def upgrade() -> None:
    op.create_table(
        "unit_tree_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_tree_version")),
    )
    op.execute("INSERT INTO unit_tree_version (id, version) VALUES (1, 1)")
    if op.get_bind().dialect.name == "postgresql":
        # Once per transaction: an import runs thousands of statements, and thousands of updates of one row in one
        # transaction leave a chain of versions each next update walks (the import went from 0.5 s to 14 s). A
        # transaction-local setting remembers the bump (undone with it when a savepoint rolls back).
        op.execute(
            "CREATE FUNCTION cdht_unit_tree_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF current_setting('cdht.unit_tree_bumped', true) IS DISTINCT FROM 'yes' THEN "
            f"{BUMP}; PERFORM set_config('cdht.unit_tree_bumped', 'yes', true); "
            "END IF; RETURN NULL; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_tree_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION cdht_unit_tree_changed()"
            )
        return
    for table in TABLES:
        for what in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_tree_version_{what.lower()} AFTER {what} ON {table} "
                f"FOR EACH ROW BEGIN {BUMP}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_tree_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS cdht_unit_tree_changed()")
    else:
        for table in TABLES:
            for what in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_tree_version_{what}")
    op.drop_table("unit_tree_version")
