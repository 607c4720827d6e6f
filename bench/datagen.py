"""Realistic data, fast: a few cases walked through the real API (in-process), then cloned by the thousand.

A *template* is a case of a template commune (``XTPLZnn`` in province ``PTPLZ``) walked through the service's own
HTTP operations on a frozen clock, so every row and audit event is what the engine writes. It is captured as text:
its rows in PostgreSQL's COPY text format, and for each audit event the canonical JSON its hash covers and the
canonical JSON of the case digest it records (``state_digest``, obtained by replaying the case to that event and
capturing what ``case_state_digest`` hashes). Every occurrence of what differs between two cases — the case id,
the commune and province codes, evidence ids, event uids, request ids, times, hashes and digests — becomes a
placeholder.

A *clone* fills the placeholders with a new case id, another commune and its province, new evidence ids (kept in
the same order, since the digest sorts evidence by id), new uids and request ids, and the template's times shifted
by a few seconds to hours (never past a day boundary in Asia/Ho_Chi_Minh, so no deadline or date rule reads them
differently), then recomputes each event's digest and hash in chain order. The result verifies
(``GET /v1/audit/verify``) and replays (``GET /v1/cases/{id}?as_of=``) like a case the engine wrote; ``check_clones``
proves it on samples. Rows are loaded with COPY; for a large audit table its secondary indexes are dropped first
and built again after (``load``).

With ``interleave`` (the audit benchmark) the audit events are loaded as real years write them: in time order across
every case, so the events of all provinces interleave in id order (a clone's events are spread over the year, not
one block of ids per case or per province). The rendered events are spooled to a file per UTC day and each day is
loaded sorted by time once no clone still to render can have an event on it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import multiprocessing
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import dsn, settings_for, token

TPL_PROVINCE = "PTPLZ"
TPL_NAME = "Tỉnh Mẫu"
GENESIS = "0" * 64
EVENTS_PER_FULL_CASE = 94  # the full template below: 10 case events + 13 indicators × 6 + 2 × 3


# --- the unit tree -------------------------------------------------------------------------------------------------


def tree(communes: int, provinces: int = 34, *, prefix: str = "") -> list[tuple[str, str, str, str | None]]:
    """``(code, name, level, parent)``: ``provinces`` provinces under VN, ``communes`` communes in contiguous runs."""
    provinces = max(1, min(provinces, communes))
    rows: list[tuple[str, str, str, str | None]] = [
        (f"{prefix}P{p + 1:02d}", f"Tỉnh số {p + 1}", "province", "VN") for p in range(provinces)
    ]
    for i in range(communes):
        p = i * provinces // communes
        rows.append((f"{prefix}X{i + 1:05d}", f"Xã số {i + 1}", "commune", f"{prefix}P{p + 1:02d}"))
    return rows


def communes_of(rows: Sequence[tuple[str, str, str, str | None]]) -> list[tuple[str, str]]:
    """``(commune, province)`` pairs of a tree."""
    return [(code, parent) for code, _, level, parent in rows if level == "commune" and parent]


async def add_units(database: str, rows: Sequence[tuple[str, str, str, str | None]]) -> None:
    connection = await asyncpg.connect(dsn(database))
    try:
        await connection.copy_records_to_table(
            "admin_unit",
            records=[(code, name, level, parent, False) for code, name, level, parent in rows],
            columns=["code", "name", "level", "parent_code", "disadvantaged"],
        )
    finally:
        await connection.close()


def template_units(count: int) -> list[tuple[str, str, str, str | None]]:
    return [(TPL_PROVINCE, TPL_NAME, "province", "VN")] + [
        (template_commune(i), f"Xã mẫu {i}", "commune", TPL_PROVINCE) for i in range(count)
    ]


def template_commune(index: int) -> str:
    return f"XTPLZ{index:02d}"


# --- the service in-process ----------------------------------------------------------------------------------------


class InProcess:
    """The real app (create_app) behind an in-process ASGI client; the frozen clock is ``at``."""

    def __init__(self, database: str, data_dir: Path, now: datetime) -> None:
        from service.main import create_app

        self.settings = settings_for(database, now, data_dir)
        self.app = create_app(self.settings)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://bench", timeout=None
        )

    def at(self, moment: datetime) -> None:
        self.settings.now = moment

    async def call(
        self, method: str, path: str, tok: str, *, json: Any = None, files: Any = None, data: Any = None
    ) -> Any:
        response = await self.client.request(
            method, path, headers={"Authorization": f"Bearer {tok}"}, json=json, files=files, data=data
        )
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:800]}")
        return response.json()

    async def close(self) -> None:
        await self.client.aclose()
        await self.app.state.services.engine.dispose()


# --- walking a template case -----------------------------------------------------------------------------------------


@dataclass
class Actors:
    leader: str
    officer: str
    reviewer: str
    director: str
    secretary: str
    secretary_sub: str


def actors(commune: str, province: str) -> Actors:
    return Actors(
        leader=token(f"chu-tich.{commune}", "commune_leader", commune),
        officer=token(f"can-bo.{commune}", "commune_officer", commune),
        reviewer=token(f"chuyen-vien.{province}", "province_officer", province),
        director=token(f"giam-doc.{province}", "province_director", province),
        secretary=token(f"thu-ky.{province}", "council_member", province),
        secretary_sub=f"thu-ky.{province}",
    )


class Timeline:
    """Distinct event times: 09:00 local on the given day plus a minute and a microsecond per event, so every
    time string of a case is unique (a placeholder maps back to exactly one event)."""

    def __init__(self) -> None:
        self.k = 0

    def at(self, day: date) -> datetime:
        self.k += 1
        return datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC) + timedelta(minutes=self.k, microseconds=self.k)


UNTIL = ("planning", "review_meeting_held", "recognized")


async def walk(
    api: InProcess, commune: str, province: str, cycle: int, *, until: str = "recognized", returns: int = 13
) -> str:
    """Open a case of ``commune`` for ``cycle`` and walk it to ``until`` (one of ``UNTIL``) along the happy path:
    15 indicators with evidence, the first ``returns`` of them returned once and resubmitted. To ``recognized``
    with 13 returns that is 94 events, the size of an average case at the issue's national scale."""
    from service import walkthrough as w
    from workflows.registry import default_registry

    definition = default_registry().get("cdht_xa", "tt25-2023").definition
    who, line = actors(commune, province), Timeline()
    api.at(line.at(date(cycle, 1, 20)))
    case = await api.call(
        "POST", "/v1/cases", who.leader, json={"procedure": "cdht_xa", "unit": commune, "cycle": cycle}
    )
    case_id = case["id"]
    if until == "planning":
        return case_id

    async def fire(tok: str, trigger: str, data: dict[str, Any], day: date) -> None:
        api.at(line.at(day))
        await api.call("POST", f"/v1/cases/{case_id}/transitions/{trigger}", tok, json={"data": data})

    async def fire_indicator(tok: str, code: str, trigger: str, data: dict[str, Any], day: date) -> None:
        api.at(line.at(day))
        await api.call("POST", f"/v1/cases/{case_id}/indicators/{code}/transitions/{trigger}", tok, json={"data": data})

    async def upload(code: str, day: date) -> None:
        api.at(line.at(day))
        files = {"file": ("minh-chung.pdf", w.MINIMAL_PDF, "application/pdf")}
        await api.call(
            "POST", f"/v1/cases/{case_id}/indicators/{code}/evidence", who.officer, files=files, data={"title": code}
        )

    await fire(who.leader, "issue_plan", w.issue_plan(cycle), date(cycle, 1, 21))
    await fire(who.leader, "assign_indicators", w.assign_indicators(definition), date(cycle, 1, 22))
    for i, indicator in enumerate(definition.indicators):
        day = date(cycle, 2, 1) + timedelta(days=15 * i)
        payload = w.submit_evidence(definition, indicator.code)
        await upload(indicator.code, day)
        await fire_indicator(who.officer, indicator.code, "submit_evidence", payload, day)
        if i < returns:
            reason = {"reason": "Bổ sung biên bản và số liệu minh chứng"}
            await fire_indicator(who.leader, indicator.code, "return", reason, day + timedelta(days=2))
            await upload(indicator.code, day + timedelta(days=5))
            await fire_indicator(who.officer, indicator.code, "submit_evidence", payload, day + timedelta(days=5))
        await fire_indicator(who.leader, indicator.code, "accept", {}, day + timedelta(days=7))
    n1 = cycle + 1
    await fire(who.leader, "complete_self_assessment", w.complete_self_assessment(cycle), date(n1, 1, 10))
    await fire(who.leader, "record_review_meeting", w.record_review_meeting(cycle), date(n1, 1, 20))
    if until == "review_meeting_held":
        return case_id
    await fire(who.leader, "submit_dossier", w.submit_dossier(cycle, 1), date(n1, 2, 10))
    await fire(who.reviewer, "receive_dossier", {"received_on": f"{n1}-02-12"}, date(n1, 2, 12))
    await fire(who.director, "form_council", w.form_council(cycle, secretary_sub=who.secretary_sub), date(n1, 3, 1))
    await fire(who.secretary, "record_appraisal", w.record_appraisal(definition, cycle), date(n1, 3, 10))
    await fire(who.director, "recognize", w.recognize(cycle), date(n1, 3, 20))
    return case_id


# --- capturing a template as text with placeholders ----------------------------------------------------------------


@dataclass
class Parts:
    """A text cut at its placeholders: ``parts`` with the slots (index, key) to fill."""

    parts: list[str]
    slots: list[tuple[int, str]]

    def render(self, values: dict[str, str]) -> str:
        buf = self.parts.copy()
        for index, key in self.slots:
            buf[index] = values[key]
        return "".join(buf)


def cut(text: str, pattern: re.Pattern[str], names: dict[str, str]) -> Parts:
    parts, slots, pos = [], [], 0
    for match in pattern.finditer(text):
        parts.append(text[pos : match.start()])
        slots.append((len(parts), names[match.group(0)]))
        parts.append("")
        pos = match.end()
    parts.append(text[pos:])
    return Parts(parts, slots)


TABLES = ("cases", "case_indicator", "deadline", "evidence", "audit_event")  # in the order COPY loads them
SERIAL = {"deadline", "audit_event"}  # their ``id`` comes from the sequence


@dataclass
class Template:
    cycle: int
    commune: str
    events: int
    times: list[datetime]  # the template's event times, seq 1..n
    evidence: int
    columns: dict[str, list[str]]
    rows: dict[str, list[Parts]]  # COPY text lines (without the newline) per table; audit_event's per seq
    hashed: list[Parts]  # per seq: the canonical JSON the event hash covers
    digests: list[Parts]  # per seq: the canonical JSON of the case digest the event records
    keys_checked: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def pg_time(moment: datetime) -> str:
    """A time as PostgreSQL's COPY prints a timestamptz in UTC (no trailing zeros in the fraction)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".") + "+00"


async def capture(database: str, registry: Any, case_id: str, commune: str, province: str) -> Template:
    """The template of one case, checked: rendering it with its own values gives back its hashes and digests."""
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import create_async_engine

    import service.domain.audit.digest as audit_module
    from bench.common import sa_url
    from service.domain.audit.canonical import HASHED_FIELDS, canonical_json, format_time
    from service.domain.audit.digest import digest_of_text
    from service.domain.cases import replay
    from service.domain.cases.appliers import replayed
    from service.persistence.db import session_factory
    from service.persistence.tables import AuditEvent, Evidence

    engine = create_async_engine(sa_url(database))
    sessions = session_factory(engine)
    async with sessions() as session:
        events = (
            (await session.execute(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq)))
            .scalars()
            .all()
        )
        evidence_ids = sorted(
            (await session.execute(select(Evidence.id).where(Evidence.case_id == case_id))).scalars().all()
        )
        hashed_texts, digest_texts = [], []
        cf = None
        # replay.case_as_of replays a case from its first event; doing its steps ourselves gives every event's
        # digest in one pass. Its private steps may change: then one public replay per event (slower, same result).
        stepwise = hasattr(replay, "_opened") and hasattr(replay, "change_of")
        for event in events:
            fields = {name: getattr(event, name) for name in HASHED_FIELDS}
            fields["occurred_at"] = format_time(event.occurred_at)
            hashed_texts.append(canonical_json(fields))
            captured: list[str] = []
            original = audit_module.canonical_json

            def recording(value: Any, _original: Callable[[Any], str] = original, _into: list[str] = captured) -> str:
                text = _original(value)
                _into.append(text)
                return text

            if stepwise:  # one replay, event by event (the steps of replay.case_as_of)
                if cf is None:
                    cf = await replay._opened(session, registry, case_id, event)
                else:
                    replayed(cf, replay.change_of(event), registry)
            else:  # the public way: one replay per event
                cf, _ = await replay.case_as_of(session, registry, case_id, position=event.seq)
            audit_module.canonical_json = recording
            try:
                digest = cf.state_digest()
            finally:
                audit_module.canonical_json = original
            if digest != event.state_digest or digest_of_text(captured[-1]) != digest:
                raise RuntimeError(f"template {case_id}: the replay at seq {event.seq} does not give its digest")
            digest_texts.append(captured[-1])
    await engine.dispose()

    names: dict[str, str] = {case_id: "CASE", commune: "XA", province: "TINH"}
    for rank, evidence_id in enumerate(evidence_ids):
        names[evidence_id] = f"EV{rank}"
    times = [event.occurred_at for event in events]
    for k, event in enumerate(events, start=1):
        names[event.uid] = f"U{k}"
        if event.request_id:
            names[event.request_id] = f"R{k}"
        names[event.hash] = f"H{k}"
        names[event.state_digest] = f"D{k}"
        names[format_time(event.occurred_at)] = f"T{k}"
        names[pg_time(event.occurred_at)] = f"P{k}"
    if len(set(names.values())) != len(names):
        raise RuntimeError("template: two placeholders share a text")
    pattern = re.compile("|".join(re.escape(text) for text in sorted(names, key=len, reverse=True)))

    connection = await asyncpg.connect(dsn(database))
    await connection.execute("SET TIME ZONE 'UTC'")
    columns, rows = {}, {}
    for table in TABLES:
        cols = [
            r["column_name"]
            for r in await connection.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
                table,
            )
            if not (table in SERIAL and r["column_name"] == "id")
        ]
        key = "id" if table == "cases" else "case_id"
        order = "seq" if table == "audit_event" else ", ".join(cols[:2])
        buffer = io.BytesIO()
        query = f"SELECT {', '.join(cols)} FROM {table} WHERE {key} = '{case_id}' ORDER BY {order}"  # noqa: S608
        await connection.copy_from_query(query, output=buffer, format="text")
        lines = buffer.getvalue().decode("utf-8").split("\n")[:-1]
        columns[table], rows[table] = cols, [cut(line, pattern, names) for line in lines]
    await connection.close()

    template = Template(
        cycle=events[0].occurred_at.year,
        commune=commune,
        events=len(events),
        times=times,
        evidence=len(evidence_ids),
        columns=columns,
        rows=rows,
        hashed=[cut(text, pattern, names) for text in hashed_texts],
        digests=[cut(text, pattern, names) for text in digest_texts],
    )
    # Rendering the template with its own values must give its own hashes back.
    own = {v: k for k, v in names.items()}
    for k, event in enumerate(events, start=1):
        if digest_of_text(template.digests[k - 1].render(own)) != event.state_digest:
            raise RuntimeError(f"template: digest text of seq {k} does not render back")
        if hashlib.sha256(template.hashed[k - 1].render(own).encode()).hexdigest() != event.hash:
            raise RuntimeError(f"template: hash text of seq {k} does not render back")
    template.keys_checked = len(names)
    return template


async def make_templates(
    database: str,
    data_dir: Path,
    cycles: Sequence[int],
    *,
    until: str = "recognized",
    returns: int = 13,
    first_index: int = 0,
) -> list[Template]:
    """One template case per cycle, each on a template commune of its own (so every opening passes its guards)."""
    from workflows.registry import default_registry

    api = InProcess(database, data_dir, datetime(min(cycles), 1, 20, tzinfo=UTC))
    templates = []
    try:
        for i, cycle in enumerate(cycles):
            commune = template_commune(first_index + i)
            case_id = await walk(api, commune, TPL_PROVINCE, cycle, until=until, returns=returns)
            templates.append(await capture(database, default_registry(), case_id, commune, TPL_PROVINCE))
    finally:
        await api.close()
    return templates


# --- cloning -------------------------------------------------------------------------------------------------------

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

    from bench.common import sa_url
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
