"""The periodic checkpointer: signs the heads of every audit chain every ``audit_checkpoint_interval_hours``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.config import Settings
from service.domain.actor import system_actor
from service.domain.audit.checkpoints import create_checkpoint, newest_checkpoint_time
from service.persistence.db import unit_of_work
from service.persistence.keys import signing_key

log = logging.getLogger("cdht.audit.checkpoints")

CHECKPOINTER = system_actor("checkpoints")


async def run_checkpointer(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: Callable[[], datetime],
    stop: asyncio.Event,
    *,
    recheck_seconds: float = 300.0,
) -> None:
    """Create a checkpoint whenever the newest is ``audit_checkpoint_interval_hours`` old, until ``stop`` is set.

    It looks again at least every ``recheck_seconds``, so a checkpoint made meanwhile elsewhere (another worker,
    ``cdht audit checkpoint``, the API) pushes the next one back; an error is logged and retried."""
    interval = timedelta(hours=settings.audit_checkpoint_interval_hours)
    signing_key(settings)  # a missing or bad key stops the worker at once rather than at the first checkpoint
    while not stop.is_set():
        wait = recheck_seconds
        try:
            async with unit_of_work(sessions) as session:
                newest = await newest_checkpoint_time(session)
                now = clock()
                if newest is None or now - newest >= interval:
                    await create_checkpoint(session, settings=settings, actor=CHECKPOINTER, now=now)
                    newest = now
                wait = min(recheck_seconds, max((newest + interval - now).total_seconds(), 1.0))
        except Exception:
            log.exception("audit checkpoint failed; retrying in %.0f s", wait)
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
        except TimeoutError:
            pass
