"""The audit benchmark's data: ``--events`` audit events made as whole, valid case chains (templates walked per
cycle, cloned onto every commune, COPY-loaded in time order across every case, sample clones checked), or what a kept
database holds (``--reuse``); and where an ``as_of`` replay stops in a case (the middle of its history).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.databases import database, dsn
from bench.datagen import case_clones, case_templates, unit_tree

FIRST_CYCLE = 2025


async def build(db: str, data: Path, events: int, cycles: int, log: Any) -> dict[str, Any]:
    cases = math.ceil(events / case_templates.EVENTS_PER_FULL_CASE)
    communes = math.ceil(cases / cycles)
    rows = unit_tree.tree(communes, 34)
    await unit_tree.add_units(db, unit_tree.template_units(cycles) + rows)
    t0 = time.monotonic()
    templates = await case_templates.make_templates(db, data, [FIRST_CYCLE + c for c in range(cycles)])
    log(f"[audit] {cycles} templates walked through the API in {time.monotonic() - t0:.0f} s")
    pairs = unit_tree.communes_of(rows)
    clones = []
    for c in range(cycles):  # cycle after cycle, as the years go by (ids follow time)
        for commune, province in pairs:
            if len(clones) < cases:
                clones.append(case_clones.Clone(len(clones), commune, province, c))
    t0 = time.monotonic()
    ids = await case_clones.load(db, templates, clones, rebuild_indexes=events > 300_000, interleave=True, progress=log)
    load_seconds = time.monotonic() - t0
    sample = random.Random(7).sample(range(len(ids)), 3)
    await case_clones.check_clones(db, [ids[i] for i in sample])
    connection = await asyncpg.connect(dsn(db))
    total = await connection.fetchval("SELECT count(*) FROM audit_event")
    size = await connection.fetchval("SELECT pg_size_pretty(pg_total_relation_size('audit_event'))")
    db_size = await connection.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    await connection.close()
    return {
        "case_ids": ids,
        "clones": clones,
        "templates": templates,
        "events": total,
        "load_seconds": load_seconds,
        "table_size": size,
        "db_size": db_size,
        "communes": communes,
    }


@contextlib.contextmanager
def reuse_or_create(name: str | None, *, keep: bool) -> Iterator[str]:
    """The kept database ``name`` as it is (never dropped here), or a new one (``bench.databases.database``)."""
    if name:
        yield name
        return
    with database("audit", keep=keep) as db:
        yield db


async def reused(db: str) -> dict[str, Any]:
    """What ``build`` returns, read from a kept database (``--reuse``)."""
    connection = await asyncpg.connect(dsn(db))
    try:
        rows = await connection.fetch(
            "SELECT c.id, c.unit_code, u.parent_code FROM cases AS c JOIN admin_unit AS u ON u.code = c.unit_code "
            f"WHERE u.parent_code <> '{unit_tree.TPL_PROVINCE}' ORDER BY c.created_at, c.id"
        )
        total = await connection.fetchval("SELECT count(*) FROM audit_event")
        size = await connection.fetchval("SELECT pg_size_pretty(pg_total_relation_size('audit_event'))")
        db_size = await connection.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    finally:
        await connection.close()
    clones = [case_clones.Clone(i, row["unit_code"], row["parent_code"], 0) for i, row in enumerate(rows)]
    return {
        "case_ids": [row["id"] for row in rows],
        "clones": clones,
        "events": total,
        "load_seconds": float("nan"),
        "table_size": size,
        "db_size": db_size,
        "communes": len({clone.commune for clone in clones}),
    }


async def middle_times(db: str, case_ids: list[str]) -> list[datetime]:
    """The time of the event in the middle of each case's history (where an as_of replay stops)."""
    connection = await asyncpg.connect(dsn(db))
    try:
        return [
            await connection.fetchval(
                "SELECT occurred_at FROM audit_event WHERE case_id = $1 ORDER BY seq "
                "OFFSET (SELECT count(*) / 2 FROM audit_event WHERE case_id = $1) LIMIT 1",
                case_id,
            )
            for case_id in case_ids
        ]
    finally:
        await connection.close()
