"""What signing a checkpoint costs on a kept audit database (``bench_audit --keep``), in this process: the first
checkpoint (no previous one: every case's tables sealed), then checkpoints signed after it with nothing new, and
with ``--changed K`` one as if K cases had new events since (the previous checkpoint's seals of K random cases
taken out and it signed again with the same key: those K are sealed anew, the cost per case being the same).

Each checkpoint is committed (the next one starts from it) and every checkpoint made here is deleted at the end, so
the database is left as it was. Per checkpoint: wall time, this process's CPU (Python) and its server backend's CPU
(from /proc, when the server runs on this machine), and how many cases' seals were carried forward or made anew.

    python -m bench.sign_cost DATABASE [--data-dir DIR] [--again N] [--changed K]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from bench.databases import sa_url
from bench.machine import backend_clock
from service.config import Settings
from service.domain.actor import system_actor
from service.domain.audit import checkpoints
from service.persistence.keys import signing_key
from service.persistence.tables import AuditCheckpoint

SIGNER = system_actor("bench")


async def _sign(engine: Any, settings: Settings, now: datetime) -> dict[str, Any]:
    async with AsyncSession(engine) as session, session.begin():
        clock = backend_clock((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        backend, python, wall = clock(), time.process_time(), time.perf_counter()
        made = await checkpoints.create_checkpoint(session, settings=settings, actor=SIGNER, now=now)
        backend, python, wall = clock() - backend, time.process_time() - python, time.perf_counter() - wall
        cases = [head for chain, head in made.heads.items() if chain.startswith("case:")]
        return {
            "id": made.id,
            "wall s": round(wall, 2),
            "Python CPU s": round(python, 2),
            "backend CPU s": round(backend, 2),
            "cases": len(cases),
            "sealed cases": sum(1 for head in cases if len(head) == 3),
        }


async def _unseal(engine: Any, settings: Settings, checkpoint_id: str, changed: int) -> None:
    """Take the seals of ``changed`` random cases out of a checkpoint and sign it again with the same key."""
    key = signing_key(settings)
    async with AsyncSession(engine) as session, session.begin():
        row = await session.get(AuditCheckpoint, checkpoint_id)
        assert row is not None
        heads = dict(row.heads)
        sealed = [chain for chain, head in heads.items() if len(head) == 3]
        for chain in random.Random(5).sample(sealed, min(changed, len(sealed))):
            heads[chain] = heads[chain][:2]
        row.heads = heads
        row.digest = checkpoints.checkpoint_digest(checkpoints.document_of(row))
        row.signature = base64.b64encode(key.sign(bytes.fromhex(row.digest))).decode("ascii")


async def main_async(database: str, data_dir: Path, again: int, changed: int) -> None:
    settings = Settings(env="dev", database_url=sa_url(database), data_dir=data_dir)
    engine = create_async_engine(sa_url(database), poolclass=NullPool)
    made: list[str] = []
    now = datetime(2040, 1, 1, tzinfo=UTC)
    try:
        print(f"load average before: {os.getloadavg()}")
        first = await _sign(engine, settings, now)
        made.append(first["id"])
        print(f"first checkpoint (nothing to carry forward): {first}")
        for n in range(again):
            found = await _sign(engine, settings, now + timedelta(seconds=n + 1))
            made.append(found["id"])
            print(f"again, nothing new since: {found}")
        if changed:
            await _unseal(engine, settings, made[-1], changed)
            found = await _sign(engine, settings, now + timedelta(seconds=again + 1))
            made.append(found["id"])
            print(f"again, {changed} cases as if with new events: {found}")
        print(f"load average after: {os.getloadavg()}")
    finally:
        async with AsyncSession(engine) as session, session.begin():
            await session.execute(delete(AuditCheckpoint).where(AuditCheckpoint.id.in_(made)))
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database")
    parser.add_argument("--data-dir", type=Path, help="where the dev signing key is kept (default: a temp dir)")
    parser.add_argument("--again", type=int, default=1, help="checkpoints signed after the first with nothing new")
    parser.add_argument("--changed", type=int, default=0, help="then one as if this many cases had new events")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="cdht-sign-cost-"))
    asyncio.run(main_async(args.database, data_dir, args.again, args.changed))


if __name__ == "__main__":
    main()
