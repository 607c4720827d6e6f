"""Template cases: a case of a template commune walked through the service's own HTTP operations on a frozen clock
(``walk``), then captured as text with placeholders (``capture``): its rows in COPY format, and per audit event the
canonical JSON its hash covers and the canonical JSON of the case digest it records, each checked to render back to
the template's own hashes and digests. ``make_templates`` walks and captures one per cycle.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.databases import dsn
from bench.datagen.in_process import InProcess
from bench.datagen.unit_tree import TPL_PROVINCE, template_commune
from bench.service_config import token

GENESIS = "0" * 64
EVENTS_PER_FULL_CASE = 94  # the full template below: 10 case events + 13 indicators × 6 + 2 × 3


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
    from bench.databases import sa_url
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
