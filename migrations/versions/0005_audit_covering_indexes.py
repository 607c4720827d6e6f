"""Covering columns for the audit search's indexes, so that a filtered first page is read from the index alone.

Why: on data laid out as real years are (the events of every province interleaved in id order), a search within a
province that leads with an actor or a trigger walks that value's ids in order and keeps those of the province's
units; with the unit (and the kind) in the index's leaf the walk reads no row (an index-only scan on a vacuumed
table) and the page's rows are read by id after (``service/api/audit.py``). Measured at 2M events: a rare trigger
in a province 19.6 ms (the trigger's and the province's whole index lists intersected as bitmaps), an actor 8.9 ms
(the same), growing with the table. A province's week is read per unit through ``(unit_code, occurred_at)``, now
with the id in its leaf so that the page's ids are sorted without reading rows.

``INCLUDE`` is PostgreSQL's (``postgresql_include``); SQLite builds the same indexes without the covering columns.
Plain ``CREATE INDEX`` (not ``CONCURRENTLY``, which cannot run inside Alembic's transaction): it blocks writes to
``audit_event`` while it builds, about a minute per index at 10 million events.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name: (columns, covering columns)
COVERED = {
    "ix_audit_actor_id": (["actor_sub", "id"], ["unit_code"]),
    "ix_audit_trigger_id_time": (["trigger", "id", "occurred_at"], ["unit_code", "kind"]),
    "ix_audit_unit_time": (["unit_code", "occurred_at"], ["id"]),
}


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        for name, (columns, covering) in COVERED.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, columns, unique=False, postgresql_include=covering)


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        for name, (columns, _) in COVERED.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, columns, unique=False)
