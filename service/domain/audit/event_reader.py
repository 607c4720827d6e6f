"""How the online verify reads the audit log: events as plain rows in keyset pages, each with its recomputed hash,
and the rows of other tables by case, a few hundred cases per query.

A full verify reads every event of the country, so it reads plain rows (no ORM instance per event), has them
hashed by PostgreSQL or here by the encoder built once (``canonical.row_hash``), and reads a page of
``batch`` events at a time. A range of chains (``ChainRange``) can be read apart, so that ranges are verified in
separate processes and merged into the one report.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.audit.canonical import EVENT_COLUMNS, SORTED_FIELDS, case_chain, row_hash
from service.persistence.column_types import UTCDateTime
from service.persistence.tables import AuditEvent, Case

ChainRange = tuple[str | None, str | None]
"""The chains from the first name (inclusive) to the second (exclusive), in the database's order; None is open."""

EVERY_CHAIN: ChainRange = (None, None)

# What the chain walk reads of an event, and last the hash recomputed from its contents.
CHECK_COLUMNS = ("id", "uid", "chain", "seq", "case_id", "kind", "payload", "prev_hash", "hash", "state_digest")
ID, UID, CHAIN, SEQ, CASE_ID, KIND, PAYLOAD, PREV, HASH, STATE, COMPUTED = range(len(CHECK_COLUMNS) + 1)
# The kinds whose payload the verify reads: what a case was opened under, what a migration added to it, and what
# each evidence upload recorded of its file.
PAYLOAD_KINDS = ("case_opened", "case_migrated", "evidence_uploaded")


def columns(table: Any, names: Iterable[str]) -> list[Any]:
    return [table.c[name] for name in names]


def in_range(column: Any, chains: ChainRange) -> list[Any]:
    low, high = chains
    return [*([column >= low] if low is not None else []), *([column < high] if high is not None else [])]


class CoreEvents:
    """The events of any database through SQLAlchemy, hashed here by ``row_hash``."""

    def __init__(self, session: AsyncSession, chains: ChainRange, case_id: str | None) -> None:
        events = AuditEvent.__table__
        query = select(*columns(events, EVENT_COLUMNS)).where(*in_range(events.c.chain, chains))
        if case_id is not None:
            query = query.where(events.c.chain == case_chain(case_id))
        self.session, self.query = session, query.order_by(events.c.chain, events.c.seq)
        self.keyset = tuple_(events.c.chain, events.c.seq)
        self.picked = [EVENT_COLUMNS.index(name) for name in CHECK_COLUMNS]

    async def page(self, after: tuple[str, int] | None, limit: int) -> Sequence[Any]:
        query = self.query if after is None else self.query.where(self.keyset > tuple_(*after))
        rows = (await self.session.execute(query.limit(limit))).all()
        return [(*(row[index] for index in self.picked), row_hash(row)) for row in rows]

    async def hash_here(self, row: Any) -> str:
        return row[COMPUTED]


_PG_READ = {  # the payload is read only where the chain walk needs it
    "payload": "CASE WHEN e.kind IN ({}) THEN e.payload END AS payload".format(
        ", ".join(f"'{kind}'" for kind in PAYLOAD_KINDS)
    )
}


class PostgresEvents:
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
        for name in SORTED_FIELDS
    )
    _SELECT = (
        f"SELECT {', '.join(_PG_READ.get(name, f'e.{name}') for name in CHECK_COLUMNS)}, "
        "encode(sha256(convert_to(row_to_json(h)::text, 'UTF8')), 'hex') AS computed "
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
    async def open(cls, session: AsyncSession, chains: ChainRange, case_id: str | None) -> PostgresEvents:
        connection = await session.connection()
        # This starts the session's transaction (and snapshot), in which the pages are read. asyncpg prepares the
        # page query once; after a few runs PostgreSQL would plan it generically, without the keyset's values, and
        # sort a whole range of chains for every page instead of walking the (chain, seq) index.
        await connection.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        return cls(session, await driver_of(session), chains, case_id)

    async def page(self, after: tuple[str, int] | None, limit: int) -> Sequence[Any]:
        where = " AND ".join([*self.conditions, *([self.keyset] if after else [])]) or "true"
        sql = f"{self._SELECT} WHERE {where} ORDER BY e.chain, e.seq LIMIT {int(limit)}"
        return await self.driver.fetch(sql, *self.params, *(after or ()))

    async def hash_here(self, row: Any) -> str:
        events = AuditEvent.__table__
        query = select(*columns(events, EVENT_COLUMNS)).where(events.c.id == row[ID])
        return row_hash((await self.session.execute(query)).one())

    async def runs(self, after: tuple[str, int] | None, limit: int) -> Sequence[Any]:
        """The next ``limit`` events summed up by chain (``Run``), for a walk that needs no row per event."""
        where = " AND ".join([*self.conditions, *([self.keyset] if after else [])]) or "true"
        page = f"{self._SELECT} WHERE {where} ORDER BY e.chain, e.seq LIMIT {int(limit)}"
        return await self.driver.fetch(_RUNS.format(page=page), *self.params, *(after or ()))

    async def rows_of(self, chain: str, first: int, last: int) -> Sequence[Any]:
        """The events of ``chain`` from seq ``first`` to ``last``, a row each, as ``page`` reads them."""
        sql = f"{self._SELECT} WHERE e.chain = $1 AND e.seq BETWEEN $2 AND $3 ORDER BY e.seq"
        return await self.driver.fetch(sql, chain, first, last)


# A page of events summed up by chain, so that a chain whose events all hold crosses the wire as one row: the
# server compares each event's hash with the one it recomputed, each link and sequence number within the page with
# the event before it, and says whether all held (``sound``; an event without a case, which only chains such as
# ``admin`` hold, counts as not: the walk reads those one by one); the walk links the run to what it holds of the
# chain. Besides: the run's first sequence number and link, its newest event (``run_tail``), and the payloads the
# walk reads (``PAYLOAD_KINDS``) in order.
_RUNS = """WITH page AS ({page}),
linked AS (
    SELECT p.*, lag(p.seq) OVER w AS before_seq, lag(p.hash) OVER w AS before_hash, lead(p.seq) OVER w IS NULL AS tail
    FROM page AS p WINDOW w AS (PARTITION BY p.chain ORDER BY p.seq)
)
SELECT chain, count(*) AS events,
    bool_and(
        computed = hash AND case_id IS NOT NULL
        AND (before_seq IS NULL OR (seq = before_seq + 1 AND prev_hash = before_hash))
    ) AS sound,
    min(seq) AS first_seq, min(prev_hash) FILTER (WHERE before_seq IS NULL) AS first_prev,
    array_agg(kind ORDER BY seq) FILTER (WHERE payload IS NOT NULL) AS kinds,
    '[' || string_agg(payload, ',' ORDER BY seq) || ']' AS payloads,
    {tail}
FROM linked GROUP BY chain ORDER BY chain""".replace(
    "{tail}", ", ".join(f"min({name}) FILTER (WHERE tail)" for name in CHECK_COLUMNS if name != "payload")
)
RUN_CHAIN, RUN_EVENTS, RUN_SOUND, RUN_FIRST_SEQ, RUN_FIRST_PREV, RUN_KINDS, RUN_PAYLOADS = range(7)


def run_tail(run: Any) -> tuple[Any, ...]:
    """A run's newest event as the walk reads an event (``CHECK_COLUMNS`` and the recomputed hash, which held)."""
    values = iter(run[RUN_PAYLOADS + 1 :])
    row = tuple(None if name == "payload" else next(values) for name in CHECK_COLUMNS)
    return (*row, row[HASH])


async def driver_of(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's, in its transaction (PostgreSQL only): for reads whose rows
    SQLAlchemy's result layer would cost more than the work done on them."""
    return (await (await session.connection()).get_raw_connection()).driver_connection


async def event_reader(session: AsyncSession, chains: ChainRange, case_id: str | None) -> CoreEvents | PostgresEvents:
    if session.get_bind().dialect.name == "postgresql":
        return await PostgresEvents.open(session, chains, case_id)
    return CoreEvents(session, chains, case_id)


_CANONICAL_TIME = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


def _as_json(table: Any, alias: str, names: Sequence[str]) -> str:
    """``json_build_array`` of some columns of a row; times as the canonical encoding writes them."""
    picked = (
        _CANONICAL_TIME.format(f'{alias}."{name}"')
        if isinstance(table.c[name].type, UTCDateTime)
        else f'{alias}."{name}"'
        for name in names
    )
    return f"json_build_array({', '.join(picked)})"


def case_document_sql(case_names: Sequence[str], children: Sequence[tuple[Any, Sequence[str]]]) -> str:
    """The SQL of a case's document as JSON text, for a row of ``cases`` named ``c``: its ``case_names`` columns,
    then for each of ``children`` (a table and its columns, the first its key within a case) the case's rows of it
    in key order, each row an array; times as the canonical encoding writes them (``canonical.format_stored_time``).
    """
    parts = [_as_json(Case.__table__, "c", case_names)]
    for index, (table, names) in enumerate(children):
        alias = f"t{index}"
        rows = f'SELECT json_agg({_as_json(table, alias, names)} ORDER BY {alias}."{names[0]}")'
        parts.append(f"coalesce(({rows} FROM \"{table.name}\" AS {alias} WHERE {alias}.case_id = c.id), '[]')")
    return f"json_build_array({', '.join(parts)})::text"


async def case_documents(
    session: AsyncSession, case_names: Sequence[str], children: Sequence[tuple[Any, Sequence[str]]], ids: list[str]
) -> list[tuple[list[Any], ...]]:
    """PostgreSQL only: each case of ``ids`` as ``case_document_sql`` writes it, decoded — in one statement and one
    JSON value per case, which Python decodes in one call (asyncpg's records and the decoding of each JSON column
    and each time were most of what a case's digest cost). Since times come as text, whoever finds a difference
    must check again with the values read as themselves (``rows_where_in``) before reporting it."""
    if not ids:
        return []
    sql = f"SELECT {case_document_sql(case_names, children)} FROM cases AS c WHERE c.id = ANY($1::text[])"
    return [json.loads(row[0]) for row in await (await driver_of(session)).fetch(sql, ids)]


async def rows_where_in(
    session: AsyncSession, table: Any, names: Sequence[str], key: str, values: list[str]
) -> Sequence[Sequence[Any]]:
    """The ``names`` columns of the rows whose ``key`` is one of ``values``. On PostgreSQL through asyncpg itself
    (one array parameter; the same values, JSON decoded by the codecs SQLAlchemy set on the connection):
    SQLAlchemy's rows cost more than the digests."""
    if not values:
        return []
    if session.get_bind().dialect.name == "postgresql":
        quoted = ", ".join(f'"{name}"' for name in names)
        driver = await driver_of(session)
        return await driver.fetch(f'SELECT {quoted} FROM "{table.name}" WHERE "{key}" = ANY($1::text[])', values)
    return (await session.execute(select(*columns(table, names)).where(table.c[key].in_(values)))).all()


async def rows_by_case(
    session: AsyncSession, table: Any, names: Sequence[str], ids: list[str]
) -> dict[str, list[Sequence[Any]]]:
    """A case's rows of a table (``names`` begin with ``case_id``), without their leading case_id."""
    grouped: dict[str, list[Sequence[Any]]] = {}
    for row in await rows_where_in(session, table, names, "case_id", ids):
        grouped.setdefault(row[0], []).append(row[1:])
    return grouped
