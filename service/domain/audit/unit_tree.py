"""The digest of the administrative tree the ``admin`` chain records: every unit and every succession as the
service left them.

Units and successions are authority data: a commune's ``parent_code`` decides which district and province read
and act on its cases, and a succession lets a successor act for its predecessor's. So every event that changes them
(adding a unit, importing lists) records, in its hashed ``state_digest``, the digest of the whole tree as that
change left it, and the online verify recomputes it from the tables: a unit moved, renamed, added or removed, or a
succession added or removed, in the database and not through the service, is reported like a case changed outside
the engine.

The digest is computed after the ``admin`` chain's head row is locked (``writer.append_chain_event``), so two
changes committed one after the other each record the tree including the one before, and the newest records the
tree as it is. A tree whose units were all put in place before the first such event (a fresh database, a test's
fixtures) has nothing recorded to compare with; from the first change through the service on, it is covered.

Written ``units:1:`` followed by the first 56 hex digits of the SHA-256 (224 bits, in the 64 characters of the
column), so it cannot be mistaken for a case digest and its version can grow as the case digest's did.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.audit.canonical import canonical_json, sha256_hex
from service.persistence.tables import AdminUnit, UnitSuccession

PREFIX = "units:1:"
UNIT_FIELDS = ("code", "name", "level", "parent_code", "disadvantaged", "valid_from", "valid_to", "source")
SUCCESSION_FIELDS = ("predecessor_code", "successor_code", "effective_on", "basis", "source")


def is_tree_digest(recorded: str | None) -> bool:
    return bool(recorded) and recorded.startswith("units:")


async def unit_tree_digest(session: AsyncSession) -> str:
    """The digest of every unit and succession in the database, as this transaction sees them."""
    units, successions = AdminUnit.__table__, UnitSuccession.__table__
    unit_rows = (await session.execute(select(*(units.c[name] for name in UNIT_FIELDS)).order_by(units.c.code))).all()
    succession_rows = (
        await session.execute(
            select(*(successions.c[name] for name in SUCCESSION_FIELDS)).order_by(
                successions.c.predecessor_code, successions.c.successor_code
            )
        )
    ).all()
    document = {
        "units": [list(row) for row in unit_rows],
        "successions": [list(row) for row in succession_rows],
    }
    return PREFIX + sha256_hex(canonical_json(document))[:56]
