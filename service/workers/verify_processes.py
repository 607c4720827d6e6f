"""A full audit verify spread over worker processes (PostgreSQL only).

Hashing every event of the country is CPU-bound Python, so one process uses one core however fast it is made.
Chains are independent: the chain names are cut into consecutive ranges (about as many cases each), each range is
verified by ``verify_part`` (``service.domain.audit.verify``) in a worker process with a connection and a snapshot
of its own, and the parts are merged by ``merge_parts`` into exactly the report one pass over every chain gives.
The workers are spawned (not forked) so that nothing of the API process (its event loop, its pooled connections)
is inherited.
SQLite and small databases stay in the calling process: starting the workers costs about a second.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from service.config import Settings
from service.domain.audit.event_reader import EVERY_CHAIN, ChainRange
from service.domain.audit.verify import PartReport, VerifyReport, merge_parts, verify, verify_part
from service.persistence.db import is_sqlite

RANGES_PER_PROCESS = 4  # more ranges than workers, so that a worker done early takes another one


def default_processes() -> int:
    """The CPUs this process may run on (a container's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


async def chain_ranges(session: AsyncSession, count: int) -> list[ChainRange]:
    """``count`` consecutive ranges of chain names (fewer when there are few cases), cut at the cases' chain names
    in the database's own order, which is the order ``verify_part`` reads and compares them in."""
    if count < 2:
        return [EVERY_CHAIN]
    fractions = [index / count for index in range(1, count)]
    query = text(
        "SELECT percentile_disc(CAST(:fractions AS float8[])) WITHIN GROUP (ORDER BY 'case:' || id) FROM cases"
    ).bindparams(fractions=fractions)
    cuts = (await session.execute(query)).scalar_one() or []
    bounds = [None, *dict.fromkeys(cut for cut in cuts if cut is not None), None]
    return list(zip(bounds, bounds[1:], strict=False))


def _verify_range(url: str, chains: ChainRange, batch: int) -> PartReport:
    """In a worker process: one range of chains on a connection of its own."""
    return asyncio.run(_verify_range_async(url, chains, batch))


async def _verify_range_async(url: str, chains: ChainRange, batch: int) -> PartReport:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with AsyncSession(engine) as session:
            # One snapshot for the whole range: a chain and its head are read as of the same moment.
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            return await verify_part(session, chains=chains, batch=batch)
    finally:
        await engine.dispose()


async def verify_in_processes(session: AsyncSession, url: str, *, processes: int, batch: int = 5000) -> VerifyReport:
    """Every chain, over ``processes`` spawned workers; ``session`` only cuts the ranges."""
    ranges = await chain_ranges(session, processes * RANGES_PER_PROCESS)
    loop = asyncio.get_running_loop()
    pool = ProcessPoolExecutor(max_workers=min(processes, len(ranges)), mp_context=multiprocessing.get_context("spawn"))
    try:
        parts = await asyncio.gather(
            *(loop.run_in_executor(pool, _verify_range, url, chains, batch) for chains in ranges)
        )
    finally:
        # Never block the event loop on the workers: on success they are done; on failure the rest is dropped.
        pool.shutdown(wait=False, cancel_futures=True)
    return merge_parts(parts)


async def _has_at_least(session: AsyncSession, events: int) -> bool:
    if events <= 0:
        return True
    query = text("SELECT count(*) FROM (SELECT 1 FROM audit_event LIMIT :n) AS first_events").bindparams(n=events)
    return (await session.execute(query)).scalar_one() >= events


async def verify_every_chain(session: AsyncSession, settings: Settings) -> VerifyReport:
    """The full verify: in worker processes on a large PostgreSQL database (``verify_processes``,
    ``verify_parallel_min_events``), else in this process on ``session``."""
    url = settings.resolved_database_url
    processes = settings.verify_processes or default_processes()
    if (
        processes < 2
        or is_sqlite(url)
        or multiprocessing.current_process().daemon  # a daemonic process may not start workers
        or not await _has_at_least(session, settings.verify_parallel_min_events)
    ):
        return await verify(session)
    return await verify_in_processes(session, url, processes=processes)
