"""A full audit verify spread over worker processes (PostgreSQL only).

Hashing every event of the country is CPU-bound Python, so one process uses one core however fast it is made.
Chains are independent: the chain names are cut into consecutive ranges (about as many cases each), each range is
verified by ``verify_part`` (``service.domain.audit.verify``) in a worker process with a connection and a snapshot
of its own, and the parts are merged by ``merge_parts`` into exactly the report one pass over every chain gives.
The workers are spawned (not forked) so that nothing of the API process (its event loop, its pooled connections)
is inherited; each freezes what it imported before it walks (``service.heap.settle_heap``).
SQLite and small databases stay in the calling process: starting the workers costs about a second.
``verify_with_progress`` is the same verify reported range by range (the console's "verify everything");
``verify_since_checkpoint`` runs an incremental verify's plan (``service.domain.audit.incremental``) the same way.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from service.config import Settings
from service.domain.audit.case_walk import PartReport
from service.domain.audit.event_reader import EVERY_CHAIN, ChainRange
from service.domain.audit.incremental import IncrementalReport, batches, check_chains, plan_since
from service.domain.audit.verify import VerifyReport, merge_parts, verify, verify_part
from service.heap import settle_heap
from service.persistence.db import is_sqlite

T = TypeVar("T")
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
    if session.bind.dialect.name == "sqlite":  # no percentile_disc: the names at the cut positions, one by one
        cases = (await session.execute(text("SELECT count(*) FROM cases"))).scalar_one()
        at = text("SELECT 'case:' || id FROM cases ORDER BY 1 LIMIT 1 OFFSET :n")
        cuts = [(await session.execute(at.bindparams(n=cases * i // count))).scalar() for i in range(1, count)]
    else:
        fractions = [index / count for index in range(1, count)]
        query = text(
            "SELECT percentile_disc(CAST(:fractions AS float8[])) WITHIN GROUP (ORDER BY 'case:' || id) FROM cases"
        ).bindparams(fractions=fractions)
        cuts = (await session.execute(query)).scalar_one() or []
    bounds = [None, *dict.fromkeys(cut for cut in cuts if cut is not None), None]
    return list(zip(bounds, bounds[1:], strict=False))


def _verify_range(url: str, chains: ChainRange, batch: int, snapshot: str | None = None) -> PartReport:
    """In a worker process: one range of chains on a connection of its own (in ``snapshot``, if given)."""
    return asyncio.run(_verify_range_async(url, chains, batch, snapshot))


async def _verify_range_async(url: str, chains: ChainRange, batch: int, snapshot: str | None) -> PartReport:
    return await in_own_session(
        url, lambda session: verify_part(session, chains=chains, batch=batch), snapshot=snapshot
    )


async def in_own_session(url: str, work: Callable[[AsyncSession], Awaitable[T]], *, snapshot: str | None = None) -> T:
    """``work`` on a connection of its own, in one snapshot: a chain and its head are read as of the same moment;
    with ``snapshot`` (``pg_export_snapshot()`` of a transaction still open) as of that transaction's moment."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with AsyncSession(engine) as session:
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            if snapshot is not None:
                if not re.fullmatch(r"[0-9A-F-]+", snapshot):
                    raise ValueError(f"not a snapshot id: {snapshot!r}")
                await session.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
            return await work(session)
    finally:
        await engine.dispose()


async def in_workers(function: Callable[..., T], calls: list[tuple[Any, ...]], processes: int) -> list[T]:
    """``function(*args)`` for each of ``calls`` in spawned worker processes, the results in the calls' order."""
    loop = asyncio.get_running_loop()
    pool = _pool(processes, len(calls))
    try:
        return list(await asyncio.gather(*(loop.run_in_executor(pool, function, *args) for args in calls)))
    finally:
        # Never block the event loop on the workers: on success they are done; on failure the rest is dropped.
        pool.shutdown(wait=False, cancel_futures=True)


async def processes_for(session: AsyncSession, settings: Settings) -> int:
    """How many worker processes a verify of every chain uses here (1: it stays in this process)."""
    url, processes = settings.resolved_database_url, settings.verify_processes or default_processes()
    return processes if await _in_processes(session, url, processes, settings) else 1


def _pool(processes: int, ranges: int) -> ProcessPoolExecutor:
    # Each worker freezes what it imported before it walks (``settle_heap``), so that the collections the walk's
    # many short-lived objects set off do not walk the modules every time (measured over an eighth of 1M events:
    # 7.5–8 µs of Python an event → 5.2–5.9).
    return ProcessPoolExecutor(
        max_workers=min(processes, ranges), mp_context=multiprocessing.get_context("spawn"), initializer=settle_heap
    )


async def verify_in_processes(
    session: AsyncSession, url: str, *, processes: int, batch: int = 5000, snapshot: str | None = None
) -> VerifyReport:
    """Every chain, over ``processes`` spawned workers; ``session`` only cuts the ranges. With ``snapshot``
    (``pg_export_snapshot()`` of a transaction still open) every worker reads as of that transaction's moment."""
    ranges = await chain_ranges(session, processes * RANGES_PER_PROCESS)
    calls = [(url, chains, batch, snapshot) for chains in ranges]
    return merge_parts(await in_workers(_verify_range, calls, processes))


@dataclass(frozen=True)
class Progress:
    """One range of chains verified: its place in the database's chain order, how many ranges are done of how many,
    and what its verification found."""

    index: int
    done: int
    total: int
    chains: ChainRange
    part: PartReport


async def verify_with_progress(session: AsyncSession, settings: Settings, ranges: int) -> AsyncIterator[Progress]:
    """The full verify cut into about ``ranges`` ranges of chains, each reported as it is done: in worker
    processes where ``verify_every_chain`` would use them (in the order they finish), else one after the other in
    this process. ``merge_parts`` of the parts in ``index`` order is the report of ``verify_every_chain``; the walk
    stops after a range that found a bad event (the first in chain order is the one reported)."""
    cut = await chain_ranges(session, ranges)
    url, processes = settings.resolved_database_url, settings.verify_processes or default_processes()
    if await _in_processes(session, url, processes, settings):
        loop = asyncio.get_running_loop()
        pool = _pool(processes, len(cut))

        async def one(index: int, chains: ChainRange) -> tuple[int, PartReport]:
            return index, await loop.run_in_executor(pool, _verify_range, url, chains, 5000)

        try:
            for done, finished in enumerate(asyncio.as_completed([one(i, c) for i, c in enumerate(cut)]), 1):
                index, part = await finished
                yield Progress(index, done, len(cut), cut[index], part)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return
    for index, chains in enumerate(cut):
        part = await verify_part(session, chains=chains)
        yield Progress(index, index + 1, len(cut), chains, part)
        if part.event_problem is not None:
            return


async def _in_processes(session: AsyncSession, url: str, processes: int, settings: Settings) -> bool:
    return not (
        processes < 2
        or is_sqlite(url)
        or multiprocessing.current_process().daemon  # a daemonic process may not start workers
        or not await _has_at_least(session, settings.verify_parallel_min_events)
    )


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
    if not await _in_processes(session, url, processes, settings):
        return await verify(session)
    return await verify_in_processes(session, url, processes=processes)


async def verify_since_checkpoint(
    session: AsyncSession,
    settings: Settings,
    *,
    checkpoint_id: str | None = None,
    case_id: str | None = None,
) -> IncrementalReport:
    """Verify what changed since a checkpoint (the newest, or ``checkpoint_id``), every chain or one case's.

    Everything is read as of one moment, so that a chain written meanwhile is not taken for a broken one: on
    PostgreSQL in a REPEATABLE READ transaction of its own, whose snapshot the worker processes import."""
    if session.get_bind().dialect.name != "postgresql":
        return await _since(session, settings, checkpoint_id, case_id)  # a transaction's reads hold still
    async with AsyncSession(session.bind) as own:
        await own.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return await _since(own, settings, checkpoint_id, case_id)


async def _since(
    session: AsyncSession, settings: Settings, checkpoint_id: str | None, case_id: str | None
) -> IncrementalReport:
    plan = await plan_since(session, settings, checkpoint_id, case_id)
    processes = 1 if case_id is not None else await processes_for(session, settings)
    if processes > 1 and len(plan.steps) > 1:
        size = -(-len(plan.steps) // (processes * RANGES_PER_PROCESS))
        snapshot = (await session.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
        url = settings.resolved_database_url
        calls = [(url, chunk, snapshot) for chunk in batches(plan.steps, size)]
        return plan.report(await in_workers(_check_in_worker, calls, processes))
    return plan.report([await check_chains(session, plan.steps)] if plan.steps else [])


def _check_in_worker(url: str, steps: list[tuple[str, Any, bool, str | None]], snapshot: str) -> PartReport:
    """In a worker process: ``check_chains`` on a connection of its own, in the snapshot the plan was made in."""
    return asyncio.run(in_own_session(url, lambda session: check_chains(session, steps), snapshot=snapshot))
