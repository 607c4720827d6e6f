"""A full verify that, when it finds nothing, signs a checkpoint of the very heads it read, marked verified.

The incremental verify (``service.domain.audit.incremental``) takes every event up to a checkpoint's heads on the
checkpoint's word; that word is worth what the last full verify over those events found. So a checkpoint may say,
signed with its heads (``verified``: ``{"mode": "full", "events_checked", "chains_checked"}``), that a full verify
passed over exactly them, and the incremental verify starts from the newest checkpoint so marked.

For the mark to be true, the heads signed must be the ones the verify read. Everything here runs in one
transaction: on PostgreSQL a REPEATABLE READ one, whose snapshot the verify's worker processes import
(``pg_export_snapshot``), so that every range of chains, and then the heads the checkpoint signs and the seals it
makes, are read as of one moment; writes that commit meanwhile are neither verified nor signed (the next checkpoint
signs them). On SQLite the transaction takes the write lock first (``BEGIN IMMEDIATE``), so nothing is written
meanwhile. ``create_checkpoint`` checks besides that the heads it signs count the events and chains the verify
checked. A verify that finds anything signs nothing: the report says what it found.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.config import Settings
from service.domain.actor import Actor
from service.domain.audit.checkpoints import create_checkpoint
from service.domain.audit.verify import VerifyReport, verify
from service.persistence.db import WRITE
from service.persistence.tables import AuditCheckpoint
from service.workers.verify_processes import processes_for, verify_in_processes


def verified_record(report: VerifyReport) -> dict[str, Any]:
    """What a passed full verify covered, as a checkpoint signs it."""
    return {"mode": "full", "events_checked": report.events_checked, "chains_checked": report.chains_checked}


async def _full_verify(session: AsyncSession, settings: Settings) -> VerifyReport:
    """The full verify of every chain in ``session``'s snapshot: in worker processes that import it where a full
    verify would use them (``processes_for``), else in ``session`` itself."""
    processes = await processes_for(session, settings)
    if processes < 2:
        return await verify(session)
    snapshot = (await session.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
    url = settings.resolved_database_url
    return await verify_in_processes(session, url, processes=processes, snapshot=snapshot)


async def verify_and_sign(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    actor: Actor,
    now: datetime,
    reseal: bool = False,
) -> tuple[VerifyReport, AuditCheckpoint | None]:
    """Verify every chain in full; if nothing is found, sign (and commit) a checkpoint of the heads the verify read,
    marked verified. The report, and the checkpoint or None (nothing is signed when the verify found something)."""
    async with sessions() as session:
        options: dict[str, Any] = {WRITE: True}
        if session.get_bind().dialect.name == "postgresql":
            options["isolation_level"] = "REPEATABLE READ"
        await session.connection(execution_options=options)
        report = await _full_verify(session, settings)
        if not report.ok:
            await session.rollback()
            return report, None
        checkpoint = await create_checkpoint(
            session, settings=settings, actor=actor, now=now, reseal=reseal, verified=verified_record(report)
        )
        await session.commit()
        return report, checkpoint
