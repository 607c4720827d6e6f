"""Clones of the template cases, rendered and loaded: a clone fills a template's placeholders with a new case, another
commune and times shifted within the local day, and recomputes every digest and hash in chain order
(``render_clones``, in worker processes); ``load`` COPYs them in (optionally with the audit table's secondary indexes
rebuilt after, and with the audit events interleaved in time order across every case through ``DaySpool``);
``check_clones`` proves samples verify and replay like cases the engine wrote.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import multiprocessing
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.databases import dsn
from bench.datagen.case_templates import TABLES, Template, pg_time

MAX_SHIFT_SECONDS = 4 * 3600  # template events are at 09:xx–10:xx local time; +4 h stays on the same local day


@dataclass(frozen=True)
class Clone:
    serial: int  # unique among every clone of the database (evidence ids are built from it)
    commune: str
    province: str
    template: int  # index into the templates


def shift_of(serial: int) -> float:
    """Seconds a clone's times are moved by: spread over ``MAX_SHIFT_SECONDS`` in a scrambled order (a
    multiplicative hash of the serial), so that the communes acting on one day interleave across provinces, not in
    runs of neighbouring communes."""
    return (serial * 2654435761 % 2**32) / 2**32 * MAX_SHIFT_SECONDS


_TEMPLATES: list[Template] = []
_TIME_CACHE: dict[tuple[int, int], tuple[list[str], list[str]]] = {}


def _init(templates: list[Template]) -> None:
    global _TEMPLATES
    _TEMPLATES = templates
    _TIME_CACHE.clear()


def _times(index: int, template: Template, shift_ms: int) -> tuple[list[str], list[str]]:
    key = (index, shift_ms)
    found = _TIME_CACHE.get(key)
    if found is None:
        delta = timedelta(milliseconds=shift_ms)
        moved = [t + delta for t in template.times]
        found = ([t.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for t in moved], [pg_time(t) for t in moved])
        if len(_TIME_CACHE) > 20000:
            _TIME_CACHE.clear()
        _TIME_CACHE[key] = found
    return found


def render_clones(clones: Sequence[Clone], keyed: bool = False) -> tuple[dict[str, Any], list[str]]:
    """COPY text per table for the clones, and their case ids. With ``keyed`` the audit events come apart, as
    ``{UTC day: lines}`` with each line led by its time (fixed width, so the lines sort by time) and a tab."""
    from service.domain.audit.digest import digest_of_text

    out: dict[str, list[str]] = {table: [] for table in TABLES}
    days: dict[str, list[str]] = {}
    case_ids = []
    urandom, sha256 = os.urandom, hashlib.sha256
    for clone in clones:
        template = _TEMPLATES[clone.template]
        case_id = str(uuid.UUID(bytes=urandom(16), version=4))
        case_ids.append(case_id)
        values: dict[str, str] = {"CASE": case_id, "XA": clone.commune, "TINH": clone.province}
        tail = urandom(6).hex()
        for rank in range(template.evidence):
            values[f"EV{rank}"] = f"{clone.serial:08x}-{rank:04x}-4000-8000-{tail}"
        iso, pg = _times(clone.template, template, int(shift_of(clone.serial) * 1000))
        for k in range(1, template.events + 1):
            values[f"U{k}"] = str(uuid.UUID(bytes=urandom(16), version=4))
            values[f"R{k}"] = urandom(16).hex()
            values[f"T{k}"] = iso[k - 1]
            values[f"P{k}"] = pg[k - 1]
        for k in range(1, template.events + 1):
            values[f"D{k}"] = digest_of_text(template.digests[k - 1].render(values))
            values[f"H{k}"] = sha256(template.hashed[k - 1].render(values).encode()).hexdigest()
        for table in TABLES:
            if keyed and table == "audit_event":
                for k, row in enumerate(template.rows[table]):
                    days.setdefault(iso[k][:10], []).append(iso[k] + "\t" + row.render(values))
                continue
            rows = out[table]
            for row in template.rows[table]:
                rows.append(row.render(values))
    data: dict[str, Any] = {
        table: ("\n".join(lines) + "\n").encode("utf-8") if lines else b"" for table, lines in out.items()
    }
    if keyed:
        data["audit_event"] = {day: ("\n".join(lines) + "\n").encode("utf-8") for day, lines in days.items()}
    return data, case_ids


def _chunks(clones: Sequence[Clone], size: int) -> Iterator[Sequence[Clone]]:
    for start in range(0, len(clones), size):
        yield clones[start : start + size]


async def _audit_indexes(connection: asyncpg.Connection) -> tuple[list[tuple[str, str]], list[str]]:
    constraints = [
        (r["conname"], r["def"])
        for r in await connection.fetch(
            "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
            "WHERE conrelid = 'audit_event'::regclass AND contype = 'u'"
        )
    ]
    owned = {name for name, _ in constraints}
    indexes = [
        r["indexdef"]
        for r in await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_event' AND indexname NOT LIKE 'pk_%'"
        )
        if r["indexname"] not in owned
    ]
    return constraints, indexes


class DaySpool:
    """Audit events held back per UTC day in files, each day COPY-loaded sorted by time once it is complete."""

    KEY = len("2025-01-20T02:01:00.000001Z\t")

    def __init__(self, columns: list[str]) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="cdht-datagen-days-"))
        self.columns, self.days, self.events = columns, set[str](), 0

    def add(self, days: dict[str, bytes]) -> None:
        for day, lines in days.items():
            with (self.directory / day).open("ab") as file:
                file.write(lines)
            self.days.add(day)

    async def flush(self, connection: asyncpg.Connection, before: str | None) -> None:
        """COPY every spooled day earlier than ``before`` (all of them with None), in time order."""
        for day in sorted(d for d in self.days if before is None or d < before):
            path = self.directory / day
            lines = path.read_bytes().split(b"\n")[:-1]
            lines.sort()
            body = b"\n".join(line[self.KEY :] for line in lines) + b"\n"
            await connection.copy_to_table("audit_event", source=io.BytesIO(body), columns=self.columns, format="text")
            self.events += len(lines)
            path.unlink()
            self.days.discard(day)

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def first_days_ahead(templates: list[Template], clones: Sequence[Clone]) -> list[str]:
    """For each position in ``clones``, the earliest UTC day an event of that clone or a later one can fall on
    (a clone's times are its template's plus less than ``MAX_SHIFT_SECONDS``, never past the day)."""
    first = [format_day(t.times[0]) for t in templates]
    ahead, low = [""] * len(clones), "9999-12-31"
    for i in range(len(clones) - 1, -1, -1):
        low = min(low, first[clones[i].template])
        ahead[i] = low
    return ahead


def format_day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


async def load(
    database: str,
    templates: list[Template],
    clones: Sequence[Clone],
    *,
    processes: int = 2,
    chunk: int = 200,
    rebuild_indexes: bool = False,
    interleave: bool = False,
    progress: Callable[[str], None] = print,
) -> list[str]:
    """Render the clones in ``processes`` processes and COPY them in; returns the new case ids in clone order.
    With ``rebuild_indexes`` the audit table's secondary indexes are dropped first and built again after; with
    ``interleave`` the audit events are loaded in time order across all cases (``DaySpool``)."""
    connection = await asyncpg.connect(dsn(database))
    await connection.execute("SET maintenance_work_mem = '1GB'")
    constraints: list[tuple[str, str]] = []
    indexes: list[str] = []
    if rebuild_indexes:
        constraints, indexes = await _audit_indexes(connection)
        for name, _ in constraints:
            await connection.execute(f"ALTER TABLE audit_event DROP CONSTRAINT {name}")
        for definition in indexes:
            name = definition.split(" INDEX ", 1)[1].split(" ON ", 1)[0]
            await connection.execute(f"DROP INDEX {name}")
    case_ids: list[str] = []
    started, done, events = time.monotonic(), 0, 0
    columns = templates[0].columns
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("fork")
    spool = DaySpool(columns["audit_event"]) if interleave else None
    ahead = first_days_ahead(templates, clones) if interleave else []
    try:
        with context.Pool(processes, initializer=_init, initargs=(templates,)) as pool:
            render = functools.partial(render_clones, keyed=interleave)
            results = pool.imap(render, _chunks(clones, chunk))
            while True:
                item = await loop.run_in_executor(None, next, results, None)
                if item is None:
                    break
                data, ids = item
                for table in TABLES:
                    if spool is not None and table == "audit_event":
                        spool.add(data[table])
                        events += sum(lines.count(b"\n") for lines in data[table].values())
                    elif data[table]:
                        await connection.copy_to_table(
                            table, source=io.BytesIO(data[table]), columns=columns[table], format="text"
                        )
                if spool is None:
                    events += data["audit_event"].count(b"\n")
                case_ids.extend(ids)
                done += len(ids)
                if spool is not None:
                    await spool.flush(connection, ahead[done] if done < len(clones) else None)
                _progress(progress, done, len(clones), chunk, events, started)
    finally:
        if spool is not None:
            spool.close()
    if rebuild_indexes:
        t0 = time.monotonic()
        for definition in indexes:
            await connection.execute(definition)
        for name, definition in constraints:
            await connection.execute(f"ALTER TABLE audit_event ADD CONSTRAINT {name} {definition}")
        progress(f"[datagen] audit indexes rebuilt in {time.monotonic() - t0:,.0f} s")
    if interleave:  # as autovacuum leaves a table written over years: its visibility map set (index-only scans)
        await connection.execute("VACUUM (ANALYZE) audit_event")
    await connection.execute("ANALYZE")
    await connection.close()
    return case_ids


def _progress(progress: Callable[[str], None], done: int, total: int, chunk: int, events: int, started: float) -> None:
    if done % (chunk * 50) < chunk or done == total:
        rate = events / max(time.monotonic() - started, 1e-9)
        progress(f"[datagen] {done:,}/{total:,} cases, {events:,} events rendered ({rate:,.0f} events/s)")


async def check_clones(database: str, case_ids: Sequence[str], at_seq: int | None = None) -> None:
    """Prove clones valid the way the service would: their chains verify and replay to their recorded digests."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from bench.databases import sa_url
    from service.domain.audit.verify import verify
    from service.domain.cases import replay
    from service.persistence.db import session_factory
    from workflows.registry import default_registry

    engine = create_async_engine(sa_url(database))
    try:
        async with session_factory(engine)() as session:
            for case_id in case_ids:
                report = await verify(session, case_id=case_id)
                if not report.ok:
                    raise RuntimeError(f"clone {case_id} does not verify: {report.first_bad_event}")
                cf, last = await replay.case_as_of(session, default_registry(), case_id, position=at_seq)
                if not cf.holds_recorded_digest(last.state_digest):
                    raise RuntimeError(f"clone {case_id} does not replay to its digest at seq {last.seq}")
    finally:
        await engine.dispose()
