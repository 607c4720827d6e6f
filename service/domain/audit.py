"""The audit log: append-only, hash-chained per case, verifiable.

Each event's hash is SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of its fields and the
previous event's hash. Chains are per case (``case:<id>``), not global: the case row lock that serialises a case's
transitions already orders its chain, so appending needs no global lock that would serialise every transition in
the country. A case row keeps its chain's head (``event_seq``, ``last_hash``), so removing the newest events is
caught too; events outside any case (administrative units) go to the ``admin`` chain.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from sqlalchemy import exists, func, literal, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.actor import Actor
from service.persistence.tables import AuditEvent, Case, CaseIndicator, ChainHead, Deadline, Evidence

GENESIS = "0" * 64
HASHED_FIELDS = (
    "uid",
    "chain",
    "seq",
    "case_id",
    "procedure",
    "unit_code",
    "kind",
    "trigger",
    "indicator",
    "from_state",
    "to_state",
    "actor_sub",
    "actor_name",
    "actor_role",
    "actor_unit",
    "on_behalf_of",
    "occurred_at",
    "payload",
    "citation",
    "request_id",
    "idempotency_key",
    "state_digest",
    "prev_hash",
)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} in an audit payload")


def _cached_canonical_encoder() -> Callable[[Any], str]:
    """``canonical_json`` without its cost per call: ``json.dumps`` builds a JSONEncoder and then a C encoder for every
    value, a large share of hashing one event. This builds the C encoder once, with the options ``json.dumps`` hands
    it, so it writes the same bytes; it only skips the check for circular references, which rows cannot hold."""
    if c_make_encoder is None:  # not CPython: the pure-Python encoder, built once
        return json.JSONEncoder(
            sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default, allow_nan=False
        ).encode
    encode = c_make_encoder(None, _default, encode_basestring, None, ":", ",", True, False, False)
    return lambda value: "".join(encode(value, 0))


_encode_canonical = _cached_canonical_encoder()


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 as is, no NaN: the text every hash and digest covers (``json.dumps`` with those
    options, its C encoder built once)."""
    return _encode_canonical(value)


def format_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(event: AuditEvent) -> str:
    fields = {name: getattr(event, name) for name in HASHED_FIELDS}
    fields["occurred_at"] = format_time(event.occurred_at)
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


def case_chain(case_id: str) -> str:
    return f"case:{case_id}"


@dataclass(frozen=True)
class EventFacts:
    """What happened, apart from who and when."""

    kind: str
    trigger: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    indicator: str | None = None
    payload: Any = None
    citation: str | None = None


def _build(
    *,
    chain: str,
    seq: int,
    prev_hash: str,
    case: Case | None,
    facts: EventFacts,
    actor: Actor,
    actor_role: str | None,
    now: datetime,
    request_id: str | None,
    idempotency_key: str | None,
    unit_code: str | None = None,
    state_digest: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        uid=str(uuid.uuid4()),
        chain=chain,
        seq=seq,
        case_id=case.id if case else None,
        procedure=case.procedure if case else None,
        unit_code=case.unit_code if case else unit_code,
        kind=facts.kind,
        trigger=facts.trigger,
        indicator=facts.indicator,
        from_state=facts.from_state,
        to_state=facts.to_state,
        actor_sub=actor.sub,
        actor_name=actor.name,
        actor_role=actor_role,
        actor_unit=actor.unit,
        on_behalf_of=actor.on_behalf_of,
        occurred_at=now,
        payload=canonical_json(facts.payload if facts.payload is not None else {}),
        citation=facts.citation,
        request_id=request_id,
        idempotency_key=idempotency_key,
        state_digest=state_digest,
        prev_hash=prev_hash,
        hash="",
    )
    event.hash = event_hash(event)
    return event


def case_state_digest(
    case: Case, indicators: Iterable[CaseIndicator], deadlines: Iterable[Deadline], evidence: Iterable[Evidence]
) -> str:
    """SHA-256 of everything a case is, as its newest event left it: the row, its indicators, deadlines and
    evidence. Verification recomputes it from the tables, so a change made outside the engine is caught."""
    return _state_digest(
        {name: getattr(case, name) for name in CASE_FIELDS},
        ([i.code, i.assignee_org, i.state, i.rating, i.figures, i.note] for i in indicators),
        (
            [
                d.key,
                d.due_at,
                d.status,
                d.rule,
                d.explanation,
                d.inputs,
                d.calendar_version,
                d.on_breach,
                d.breached_at,
                d.closed_at,
            ]
            for d in deadlines
        ),
        ([e.id, e.indicator_code, e.sha256, e.size] for e in evidence),
    )


def _state_digest(
    case: dict[str, Any],
    indicators: Iterable[Sequence[Any]],
    deadlines: Iterable[Sequence[Any]],
    evidence: Iterable[Sequence[Any]],
) -> str:
    """``case_state_digest`` of the values themselves (lists or tuples, both JSON arrays), as verify reads them."""
    document = {
        "case": case,
        "indicators": sorted(indicators, key=lambda r: r[0]),
        "deadlines": sorted(deadlines, key=lambda r: r[0]),
        "evidence": sorted(evidence),
    }
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


CASE_FIELDS = (
    "id",
    "procedure",
    "version",
    "profile",
    "unit_code",
    "cycle",
    "kind",
    "state",
    "target_level",
    "assessed_level",
    "requested_level",
    "level",
    "decided_on",
    "dossier",
    "row_version",
)


def append_case_event(
    session: AsyncSession,
    *,
    case: Case,
    facts: EventFacts,
    actor: Actor,
    actor_role: str | None,
    now: datetime,
    state_digest: str,
    request_id: str | None = None,
    idempotency_key: str | None = None,
) -> AuditEvent:
    """Append to the case's chain. The caller holds the case row lock and never commits here."""
    event = _build(
        chain=case_chain(case.id),
        seq=case.event_seq + 1,
        prev_hash=case.last_hash or GENESIS,
        case=case,
        facts=facts,
        actor=actor,
        actor_role=actor_role,
        now=now,
        request_id=request_id,
        idempotency_key=idempotency_key,
        state_digest=state_digest,
    )
    case.event_seq = event.seq
    case.last_hash = event.hash
    session.add(event)
    return event


async def append_chain_event(
    session: AsyncSession,
    *,
    chain: str,
    facts: EventFacts,
    actor: Actor,
    actor_role: str | None,
    now: datetime,
    unit_code: str | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Append to a chain that has no case row (e.g. ``admin``), holding its head row's lock."""
    head_query = select(ChainHead).where(ChainHead.chain == chain).with_for_update()
    head = (await session.execute(head_query.execution_options(populate_existing=True))).scalar_one_or_none()
    if head is None:
        # The first event of a chain: create its head; a concurrent creator loses on the primary key (409).
        head = ChainHead(chain=chain, seq=0, hash=GENESIS)
        session.add(head)
        await session.flush()
    event = _build(
        chain=chain,
        seq=head.seq + 1,
        prev_hash=head.hash,
        case=None,
        facts=facts,
        actor=actor,
        actor_role=actor_role,
        now=now,
        request_id=request_id,
        idempotency_key=None,
        unit_code=unit_code,
    )
    head.seq, head.hash = event.seq, event.hash
    session.add(event)
    return event


def _terms_digest(pinned: dict[str, Any], subject: str) -> str:
    return hashlib.sha256(canonical_json({"pinned": pinned, "subject": subject}).encode("utf-8")).hexdigest()


async def current_state_digest(session: AsyncSession, case: Case) -> str:
    indicators = (await session.execute(select(CaseIndicator).where(CaseIndicator.case_id == case.id))).scalars()
    deadlines = (await session.execute(select(Deadline).where(Deadline.case_id == case.id))).scalars()
    evidence = (await session.execute(select(Evidence).where(Evidence.case_id == case.id))).scalars()
    return case_state_digest(case, list(indicators), list(deadlines), list(evidence))


@dataclass
class VerifyReport:
    ok: bool
    events_checked: int
    chains_checked: int
    first_bad_event: dict[str, Any] | None


# --- verifying -----------------------------------------------------------------------------------------------------
#
# A full verify reads every event of the country, so it reads plain rows in keyset pages (no ORM instance per
# event), has them hashed by PostgreSQL or here by an encoder built once, checks the chains' heads and the cases'
# digests a few hundred chains per query, and keeps only the chain it is in and the chains awaiting their head check
# (memory stays flat however many events there are). Chains are independent, so a range of chains
# can be verified apart (in a worker process, see ``verify_parallel``) and the parts merged into the same report.

ChainRange = tuple[str | None, str | None]
"""The chains from the first name (inclusive) to the second (exclusive), in the database's order; None is open."""

EVERY_CHAIN: ChainRange = (None, None)
_SORTED_FIELDS = tuple(sorted(HASHED_FIELDS))  # the key order of the canonical JSON
_EVENT_COLUMNS = (*_SORTED_FIELDS, "id", "hash")  # an event as ``row_hash`` reads it
_TIME = _EVENT_COLUMNS.index("occurred_at")
# What the chain walk reads of an event, and last the hash recomputed from its contents.
_CHECK_COLUMNS = ("id", "uid", "chain", "seq", "case_id", "kind", "payload", "prev_hash", "hash", "state_digest")
_ID, _UID, _CHAIN, _SEQ, _CASE_ID, _KIND, _PAYLOAD, _PREV, _HASH, _STATE, _COMPUTED = range(len(_CHECK_COLUMNS) + 1)
_CHANGED = "hash does not match the event's contents: the event was changed"
_CASE_COLUMNS = (*CASE_FIELDS, "pinned", "subject", "event_seq", "last_hash")
_C_ID, _C_PINNED, _C_SUBJECT, _C_SEQ, _C_HASH = (
    _CASE_COLUMNS.index(name) for name in ("id", "pinned", "subject", "event_seq", "last_hash")
)
_INDICATOR_COLUMNS = ("case_id", "code", "assignee_org", "state", "rating", "figures", "note")
_DEADLINE_COLUMNS = (
    "case_id",
    "key",
    "due_at",
    "status",
    "rule",
    "explanation",
    "inputs",
    "calendar_version",
    "on_breach",
    "breached_at",
    "closed_at",
)
_EVIDENCE_COLUMNS = ("case_id", "id", "indicator_code", "sha256", "size")


def _format_stored_time(moment: datetime) -> str:
    """``format_time`` for the aware UTC times the database returns, without the slower ``strftime``; other times
    (and years before 1000, which ``strftime`` does not pad) take ``format_time`` itself."""
    if moment.tzinfo is timezone.utc and moment.year >= 1000:
        return moment.isoformat(timespec="microseconds")[:-6] + "Z"
    return format_time(moment)


def row_hash(row: Any) -> str:
    """``event_hash`` of an event read as a row of ``_EVENT_COLUMNS``: the same canonical JSON, the same bytes."""
    fields = dict(zip(_SORTED_FIELDS, row, strict=False))  # the row goes on with id and hash
    fields["occurred_at"] = _format_stored_time(row[_TIME])
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


@dataclass
class PartReport:
    """What verifying some chains found, kept apart so that parts verified separately merge (``merge_parts``) into
    the report one pass over every chain gives: the first bad event in chain order wins over any head problem,
    and among head problems the one of the first chain by name."""

    events_checked: int = 0
    chains_checked: int = 0
    event_problem: dict[str, Any] | None = None
    head_problem: tuple[str, dict[str, Any]] | None = None  # (chain, problem)

    def note_head_problem(self, chain: str, problem: dict[str, Any]) -> None:
        if self.head_problem is None or chain < self.head_problem[0]:
            self.head_problem = (chain, problem)


def merge_parts(parts: Iterable[PartReport]) -> VerifyReport:
    """One report from the parts of consecutive chain ranges, given in the database's chain order."""
    checked = chains = 0
    head_problems = []
    for part in parts:
        checked += part.events_checked
        chains += part.chains_checked
        if part.event_problem is not None:
            return VerifyReport(False, checked, chains, part.event_problem)
        if part.head_problem is not None:
            head_problems.append(part.head_problem)
    if head_problems:
        return VerifyReport(False, checked, chains, min(head_problems, key=lambda found: found[0])[1])
    return VerifyReport(True, checked, chains, None)


def _problem(row: Any, problem: str, chain: str | None = None) -> dict[str, Any]:
    return {
        "id": row[_ID] if row else None,
        "uid": row[_UID] if row else None,
        "chain": row[_CHAIN] if row else chain,
        "seq": row[_SEQ] if row else None,
        "case_id": row[_CASE_ID] if row else None,
        "problem": problem,
    }


@dataclass
class _Finished:
    """A chain whose events all held, awaiting its head check."""

    chain: str
    tail: Any  # its newest event's row
    terms: tuple[dict[str, Any], str] | None  # (pinned, subject) as its events recorded them, for a case's chain


class _ChainWalker:
    """Follows the events in (chain, seq) order: sequence, link and hash of each, and what each chain recorded."""

    def __init__(self, part: PartReport) -> None:
        self.part = part
        self.finished: list[_Finished] = []
        self.chain: str | None = None
        self.tail: Any = None
        self.expected_seq, self.prev = 0, GENESIS
        self.terms: dict[str, Any] | None = None
        self.recorded: tuple[dict[str, Any], str] | None = None

    def close_chain(self) -> None:
        if self.tail is not None:
            self.finished.append(_Finished(self.tail[_CHAIN], self.tail, self.recorded))
        self.tail = None

    def check(self, row: Any) -> str | None:
        """What is wrong with the next event (its sequence, its link, its hash), or None."""
        if row[_CHAIN] != self.chain:
            self.close_chain()
            self.chain, self.expected_seq, self.prev, self.terms, self.recorded = row[_CHAIN], 0, GENESIS, None, None
        self.expected_seq += 1
        if row[_SEQ] != self.expected_seq:
            return f"sequence {row[_SEQ]} where {self.expected_seq} was expected: an event is missing"
        if row[_PREV] != self.prev:
            return "prev_hash does not match the previous event's hash"
        if row[_COMPUTED] != row[_HASH]:
            return _CHANGED
        return None

    def accept(self, row: Any) -> None:
        self.prev = row[_HASH]
        self.part.events_checked += 1
        if self.tail is None:
            self.part.chains_checked += 1
        self.tail = row
        self._follow_terms(row)

    def _follow_terms(self, row: Any) -> None:
        """What a case's events say it was opened under (pinned settings and unit facts, subject): the case row
        must still say the same, since other cases' kinds and TC4.1 counts read it."""
        if row[_KIND] == "case_opened":
            opened = json.loads(row[_PAYLOAD])
            self.terms = {"pinned": opened.get("pinned") or {}, "subject": opened.get("subject") or ""}
        elif row[_KIND] == "case_migrated" and self.terms is not None:
            added = json.loads(row[_PAYLOAD]).get("settings_added") or {}
            if "settings" in self.terms["pinned"]:
                pinned = self.terms["pinned"]
                self.terms["pinned"] = {**pinned, "settings": {**pinned["settings"], **added}}
        if self.terms is not None and row[_CASE_ID] is not None:
            # The values are replaced, never changed in place, so this pair keeps what they were here.
            self.recorded = (self.terms["pinned"], self.terms["subject"])

    def take_finished(self) -> list[_Finished]:
        finished, self.finished = self.finished, []
        return finished


def _columns(table: Any, names: Iterable[str]) -> list[Any]:
    return [table.c[name] for name in names]


def _in_range(column: Any, chains: ChainRange) -> list[Any]:
    low, high = chains
    return [*([column >= low] if low is not None else []), *([column < high] if high is not None else [])]


class _CoreEvents:
    """The events of any database through SQLAlchemy, hashed here by ``row_hash``."""

    def __init__(self, session: AsyncSession, chains: ChainRange, case_id: str | None) -> None:
        events = AuditEvent.__table__
        query = select(*_columns(events, _EVENT_COLUMNS)).where(*_in_range(events.c.chain, chains))
        if case_id is not None:
            query = query.where(events.c.chain == case_chain(case_id))
        self.session, self.query = session, query.order_by(events.c.chain, events.c.seq)
        self.keyset = tuple_(events.c.chain, events.c.seq)
        self.picked = [_EVENT_COLUMNS.index(name) for name in _CHECK_COLUMNS]

    async def page(self, after: tuple[str, int] | None, limit: int) -> Sequence[Any]:
        query = self.query if after is None else self.query.where(self.keyset > tuple_(*after))
        rows = (await self.session.execute(query.limit(limit))).all()
        return [(*(row[index] for index in self.picked), row_hash(row)) for row in rows]

    async def hash_here(self, row: Any) -> str:
        return row[_COMPUTED]


_PG_READ = {  # the payload is read only where the chain walk needs it
    "payload": "CASE WHEN e.kind IN ('case_opened', 'case_migrated') THEN e.payload END AS payload"
}


class _PostgresEvents:
    """On PostgreSQL the server writes each event's canonical JSON (``row_to_json`` of the hashed fields in key
    order: the same compact form as ``canonical_json``, and the same string escapes: ``"``, ``\\`` and \\b \\f \\n
    \\r \\t as such, other control characters as \\u00xx, the rest as UTF-8) and hashes it, so the events
    cross the wire with their recomputed hash and Python only compares. An event whose hash differs is hashed
    again here by ``row_hash`` before it is reported, so the report never rests on the server's encoding alone.
    The pages are read by asyncpg itself, inside the session's transaction: SQLAlchemy's rows cost more than the
    comparisons."""

    _HASHED = ", ".join(
        "to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS occurred_at"
        if name == "occurred_at"
        else f'e."{name}"'
        for name in _SORTED_FIELDS
    )
    _SELECT = (
        f"SELECT {', '.join(_PG_READ.get(name, f'e.{name}') for name in _CHECK_COLUMNS)}, "
        "encode(sha256(convert_to(row_to_json(h)::text, 'UTF8')), 'hex') "
        f"FROM audit_event AS e CROSS JOIN LATERAL (SELECT {_HASHED}) AS h"
    )

    def __init__(self, session: AsyncSession, driver: Any, chains: ChainRange, case_id: str | None) -> None:
        self.session, self.driver = session, driver
        filters = (
            ("e.chain >= ${}", chains[0]),
            ("e.chain < ${}", chains[1]),
            ("e.chain = ${}", case_chain(case_id) if case_id is not None else None),
        )
        self.params: list[str] = []
        self.conditions: list[str] = []
        for condition, value in filters:
            if value is not None:
                self.params.append(value)
                self.conditions.append(condition.format(len(self.params)))
        self.keyset = f"(e.chain, e.seq) > (${len(self.params) + 1}, ${len(self.params) + 2})"

    @classmethod
    async def open(cls, session: AsyncSession, chains: ChainRange, case_id: str | None) -> _PostgresEvents:
        connection = await session.connection()
        # This starts the session's transaction (and snapshot), in which the pages are read. asyncpg prepares the
        # page query once; after a few runs PostgreSQL would plan it generically, without the keyset's values, and
        # sort a whole range of chains for every page instead of walking the (chain, seq) index.
        await connection.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        return cls(session, (await connection.get_raw_connection()).driver_connection, chains, case_id)

    async def page(self, after: tuple[str, int] | None, limit: int) -> Sequence[Any]:
        where = " AND ".join([*self.conditions, *([self.keyset] if after else [])]) or "true"
        sql = f"{self._SELECT} WHERE {where} ORDER BY e.chain, e.seq LIMIT {int(limit)}"
        return await self.driver.fetch(sql, *self.params, *(after or ()))

    async def hash_here(self, row: Any) -> str:
        events = AuditEvent.__table__
        query = select(*_columns(events, _EVENT_COLUMNS)).where(events.c.id == row[_ID])
        return row_hash((await self.session.execute(query)).one())


async def _event_reader(
    session: AsyncSession, chains: ChainRange, case_id: str | None
) -> _CoreEvents | _PostgresEvents:
    if session.get_bind().dialect.name == "postgresql":
        return await _PostgresEvents.open(session, chains, case_id)
    return _CoreEvents(session, chains, case_id)


async def _rows_where_in(
    session: AsyncSession, table: Any, columns: Sequence[str], key: str, values: list[str]
) -> Sequence[Sequence[Any]]:
    """The ``columns`` of the rows whose ``key`` is one of ``values``. On PostgreSQL through asyncpg itself (one
    array parameter; the same values, JSON decoded by the codecs SQLAlchemy set on the connection): SQLAlchemy's
    rows cost more than the digests."""
    if not values:
        return []
    if session.get_bind().dialect.name == "postgresql":
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        names = ", ".join(f'"{name}"' for name in columns)
        return await driver.fetch(f'SELECT {names} FROM "{table.name}" WHERE "{key}" = ANY($1::text[])', values)
    return (await session.execute(select(*_columns(table, columns)).where(table.c[key].in_(values)))).all()


async def _rows_by_case(
    session: AsyncSession, table: Any, columns: Sequence[str], ids: list[str]
) -> dict[str, list[Sequence[Any]]]:
    """A case's rows of a table, without their leading case_id: the lists ``_state_digest`` reads."""
    grouped: dict[str, list[Sequence[Any]]] = {}
    for row in await _rows_where_in(session, table, columns, "case_id", ids):
        grouped.setdefault(row[0], []).append(row[1:])
    return grouped


async def _check_heads(session: AsyncSession, finished: list[_Finished], part: PartReport) -> None:
    """Each finished chain against its head (case row or chain_head) and each case row against its newest event:
    a few queries for all of them, not three per case."""
    if not finished:
        return
    names = [f.chain for f in finished]
    ids = [name.removeprefix("case:") for name in names if name.startswith("case:")]
    chain_heads = ChainHead.__table__
    heads: dict[str, tuple[int, str, Any]] = {
        case_chain(row[_C_ID]): (row[_C_SEQ], row[_C_HASH], row)
        for row in await _rows_where_in(session, Case.__table__, _CASE_COLUMNS, "id", ids)
    }
    found = select(chain_heads.c.chain, chain_heads.c.seq, chain_heads.c.hash).where(chain_heads.c.chain.in_(names))
    heads.update({row.chain: (row.seq, row.hash, None) for row in (await session.execute(found)).all()})
    with_case = [case[_C_ID] for _, _, case in heads.values() if case is not None]
    indicators = await _rows_by_case(session, CaseIndicator.__table__, _INDICATOR_COLUMNS, with_case)
    deadlines = await _rows_by_case(session, Deadline.__table__, _DEADLINE_COLUMNS, with_case)
    evidence = await _rows_by_case(session, Evidence.__table__, _EVIDENCE_COLUMNS, with_case)
    for chain in finished:
        seq, head_hash, case = heads.get(chain.chain, (None, None, None))
        tail = chain.tail
        if seq is None:
            problem = f"chain {chain.chain} has events but no head: its case or head row was removed"
        elif (tail[_SEQ], tail[_HASH]) != (seq, head_hash):
            problem = f"chain {chain.chain} ends at seq {tail[_SEQ]} but its head records seq {seq}: events are missing"
        elif (
            case is not None
            and chain.terms is not None
            and _terms_digest(*chain.terms) != _terms_digest(case[_C_PINNED] or {}, case[_C_SUBJECT] or "")
        ):
            problem = (
                f"case {case[_C_ID]}'s pinned settings or subject differ from what its opening recorded: "
                "it was changed outside the engine"
            )
        elif case is not None and tail[_STATE] != _state_digest(
            dict(zip(CASE_FIELDS, case, strict=False)),  # the row begins with CASE_FIELDS
            indicators.get(case[_C_ID], []),
            deadlines.get(case[_C_ID], []),
            evidence.get(case[_C_ID], []),
        ):
            problem = (
                f"case {case[_C_ID]} differs from the state its newest event recorded: "
                "it was changed outside the engine"
            )
        else:
            continue
        part.note_head_problem(chain.chain, _problem(tail, problem))


async def _check_heads_without_events(
    session: AsyncSession, case_id: str | None, chains: ChainRange, part: PartReport
) -> None:
    """A head (case row or chain_head) whose chain has no events at all: every event of it was removed."""
    cases, chain_heads, events = Case.__table__, ChainHead.__table__, AuditEvent.__table__
    name = literal("case:") + cases.c.id
    orphan_cases = select(name.label("chain"), cases.c.event_seq.label("seq")).where(
        ~exists().where(events.c.chain == name), *_in_range(name, chains)
    )
    orphan_heads = select(chain_heads.c.chain, chain_heads.c.seq).where(
        ~exists().where(events.c.chain == chain_heads.c.chain), *_in_range(chain_heads.c.chain, chains)
    )
    if case_id is not None:
        orphan_cases = orphan_cases.where(cases.c.id == case_id)
        orphan_heads = orphan_heads.where(chain_heads.c.chain == case_chain(case_id))
    heads = {row.chain: row.seq for row in (await session.execute(orphan_cases)).all()}
    heads.update({row.chain: row.seq for row in (await session.execute(orphan_heads)).all()})
    for chain, seq in heads.items():
        problem = f"chain {chain} ends at seq 0 but its head records seq {seq}: events are missing"
        part.note_head_problem(chain, _problem(None, problem, chain))


async def verify_part(
    session: AsyncSession,
    *,
    case_id: str | None = None,
    chains: ChainRange = EVERY_CHAIN,
    batch: int = 2000,
    heads_batch: int = 500,
) -> PartReport:
    """Verify the chains of one range (or one case's chain): every event in order, then each chain's head and
    case row, ``heads_batch`` chains at a time as they are read."""
    part = PartReport()
    walker = _ChainWalker(part)
    events = await _event_reader(session, chains, case_id)
    after: tuple[str, int] | None = None
    while rows := await events.page(after, batch):
        for row in rows:
            problem = walker.check(row)
            if problem == _CHANGED and await events.hash_here(row) == row[_HASH]:
                problem = None  # the reference encoder agrees with the stored hash
            if problem is not None:
                part.event_problem = _problem(row, problem)
                return part
            walker.accept(row)
        if len(walker.finished) >= heads_batch:
            await _check_heads(session, walker.take_finished(), part)
        if len(rows) < batch:
            break
        after = (rows[-1][_CHAIN], rows[-1][_SEQ])
    walker.close_chain()
    await _check_heads(session, walker.take_finished(), part)
    await _check_heads_without_events(session, case_id, chains, part)
    return part


async def verify(session: AsyncSession, *, case_id: str | None = None, batch: int = 2000) -> VerifyReport:
    """Recompute every hash in order and report the first event whose hash, link or sequence is wrong; then
    check each chain against its head (case row or chain_head) and each case row against its newest event."""
    return merge_parts([await verify_part(session, case_id=case_id, batch=batch)])


async def count_events(session: AsyncSession, case_id: str) -> int:
    return (await session.execute(select(func.count()).where(AuditEvent.case_id == case_id))).scalar_one()
