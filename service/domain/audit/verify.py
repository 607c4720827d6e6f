"""The online verify: every chain of the database (or one case's), its head, and each case against its events.

Every event is checked in order by the shared ``chain_walk`` (sequence, link, hash); then each chain's end is
compared with its head (the case row, or the ``chain_head`` row of chains without a case, such as ``admin``) and
each case row with what its events recorded:

* its tables (row, indicators, deadlines, evidence) with the digest its newest event recorded, in that digest's
  version (``digest``);
* its pinned settings and subject with what its opening (and any migration) recorded;
* each of its evidence rows with what that file's ``evidence_uploaded`` event recorded (SHA-256, size, type, name,
  title), whatever the digest's version: an evidence row changed outside the engine is caught even on a case whose
  newest event predates the digest that covers those columns;
* the administrative units and successions with the digest of the tree that the newest change to them through the
  service recorded on its chain (``unit_tree``): a unit moved under another parent, or a succession added, in the
  database, would move jurisdiction without a trace.

On PostgreSQL the server recomputes each event's hash (``event_reader.PostgresEvents``) and sums a page up by chain
(``runs``): a run of a case's events whose hashes, links and numbers all held there, and which follows on from what
the walk holds of its chain, is accepted whole; any other run is read again event by event and walked as on SQLite
(every hash that differs recomputed here before it is reported), so every finding is made, and worded, by the one
walk. A case's row and tables come as one JSON value per case, times written by the server as the canonical
encoding writes them (``event_reader.case_documents``); a case that does not match its digest that way is read
again value by value and compared again before anything is reported.

Memory stays flat however many events there are: only the chain being walked and the chains awaiting their head
check (``heads_batch`` of them) are kept. Chains are independent, so a range of chains can be verified apart (in a
worker process, see ``service.workers.verify_processes``) and the parts merged into the report one pass gives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import exists, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.audit.canonical import case_chain
from service.domain.audit.case_walk import UPLOAD_FACTS, CaseChainWalker, Finished, PartReport, problem_at
from service.domain.audit.chain_walk import CHANGED
from service.domain.audit.digest import (
    CASE_FIELDS,
    DEADLINE_FIELDS,
    EVIDENCE_FIELDS,
    INDICATOR_FIELDS,
    rows_hold,
    terms_digest,
)
from service.domain.audit.event_reader import (
    CHAIN,
    EVERY_CHAIN,
    HASH,
    RUN_CHAIN,
    RUN_EVENTS,
    RUN_FIRST_SEQ,
    SEQ,
    STATE,
    ChainRange,
    PostgresEvents,
    case_documents,
    event_reader,
    in_range,
    rows_by_case,
    rows_where_in,
    run_tail,
)
from service.domain.audit.unit_tree import unit_tree_digest
from service.persistence.tables import AuditEvent, Case, CaseIndicator, ChainHead, Deadline, Evidence

CASE_COLUMNS = (*CASE_FIELDS, "pinned", "subject", "event_seq", "last_hash")
_C_ID, _C_PINNED, _C_SUBJECT, _C_SEQ, _C_HASH = (
    CASE_COLUMNS.index(name) for name in ("id", "pinned", "subject", "event_seq", "last_hash")
)
# Where each fact an upload event records is in an evidence row of EVIDENCE_FIELDS.
_UPLOAD_AT = [EVIDENCE_FIELDS.index(name) for name in UPLOAD_FACTS]
_UPLOADED = itemgetter(*_UPLOAD_AT)  # those facts of a row, as a tuple like an upload's


@dataclass
class VerifyReport:
    ok: bool
    events_checked: int
    chains_checked: int
    first_bad_event: dict[str, Any] | None


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


def _evidence_problem(case_id: str, rows: list[Any], uploads: dict[str, tuple[Any, ...]]) -> str | None:
    """The first evidence row of a case that differs from what its upload event recorded."""
    if all(_UPLOADED(row) == uploads.get(row[0]) for row in rows):
        return None  # every row as its upload recorded it (the usual case: one comparison a row)
    for row in sorted(rows, key=lambda r: r[0]):
        recorded = uploads.get(row[0])
        if recorded is None:
            return f"evidence {row[0]} of case {case_id} has no upload event: it was added outside the engine"
        facts = zip(UPLOAD_FACTS, _UPLOAD_AT, recorded, strict=True)
        changed = [name for name, at, value in facts if row[at] != value]
        if changed:
            return (
                f"evidence {row[0]} of case {case_id} differs from its upload event ({', '.join(changed)}): "
                "it was changed outside the engine"
            )
    return None


async def check_heads(session: AsyncSession, finished: list[Finished], part: PartReport) -> None:
    """Each finished chain against its head (case row or chain_head) and each case row against its events: a few
    queries for all of them, not three per case."""
    if not finished:
        return
    names = [f.chain for f in finished]
    ids = [name.removeprefix("case:") for name in names if name.startswith("case:")]
    chain_heads = ChainHead.__table__
    if session.get_bind().dialect.name == "postgresql":
        documents = await case_documents(session, CASE_COLUMNS, CASE_TABLES, ids)
        cases = [document[0] for document in documents]
        tables = tuple(
            {case[_C_ID]: document[index] for case, document in zip(cases, documents, strict=True)}
            for index in (1, 2, 3)
        )
        as_text = True
    else:
        cases = list(await rows_where_in(session, Case.__table__, CASE_COLUMNS, "id", ids))
        tables = await _case_tables(session, ids)
        as_text = False
    heads: dict[str, tuple[int, str, Any]] = {case_chain(row[_C_ID]): (row[_C_SEQ], row[_C_HASH], row) for row in cases}
    found = select(chain_heads.c.chain, chain_heads.c.seq, chain_heads.c.hash).where(chain_heads.c.chain.in_(names))
    heads.update({row.chain: (row.seq, row.hash, None) for row in (await session.execute(found)).all()})
    for chain in finished:
        seq, head_hash, case = heads.get(chain.chain, (None, None, None))
        tail = chain.tail
        problem = None
        if seq is None:
            problem = f"chain {chain.chain} has events but no head: its case or head row was removed"
        elif (tail[SEQ], tail[HASH]) != (seq, head_hash):
            problem = f"chain {chain.chain} ends at seq {tail[SEQ]} but its head records seq {seq}: events are missing"
        elif case is not None:
            problem = _case_problem(case, chain, *tables)
            if as_text and problem is not None:
                # Read as JSON with the server's text for times: compared again with the values read as themselves
                # before anything is reported, so that the report never rests on that reading.
                case = (await rows_where_in(session, Case.__table__, CASE_COLUMNS, "id", [case[_C_ID]]))[0]
                problem = _case_problem(case, chain, *await _case_tables(session, [case[_C_ID]]))
        elif chain.tree is not None and await unit_tree_digest(session) != chain.tree[STATE]:
            problem = (
                f"the administrative units or successions differ from what chain {chain.chain} recorded at seq "
                f"{chain.tree[SEQ]}, its newest change to them: they were changed outside the service"
            )
            tail = chain.tree
        if problem is not None:
            part.note_head_problem(chain.chain, problem_at(tail, problem))


# The tables a case's digest covers besides its row, and their columns, in the digest's order.
CASE_TABLES = (
    (CaseIndicator.__table__, INDICATOR_FIELDS),
    (Deadline.__table__, DEADLINE_FIELDS),
    (Evidence.__table__, EVIDENCE_FIELDS),
)


async def _case_tables(session: AsyncSession, ids: list[str]) -> tuple[dict[str, list[Any]], ...]:
    """The indicators, deadlines and evidence rows of some cases, by case, each value as itself."""
    return tuple([await rows_by_case(session, table, ("case_id", *names), ids) for table, names in CASE_TABLES])


def _case_problem(
    case: Any,
    chain: Finished,
    indicators: dict[str, list[Any]],
    deadlines: dict[str, list[Any]],
    evidence: dict[str, list[Any]],
) -> str | None:
    case_id = case[_C_ID]
    if chain.terms is not None and terms_digest(*chain.terms) != terms_digest(
        case[_C_PINNED] or {}, case[_C_SUBJECT] or ""
    ):
        return (
            f"case {case_id}'s pinned settings or subject differ from what its opening recorded: "
            "it was changed outside the engine"
        )
    if not rows_hold(
        chain.tail[STATE] or "",
        dict(zip(CASE_FIELDS, case, strict=False)),  # the row begins with CASE_FIELDS
        indicators.get(case_id, []),
        deadlines.get(case_id, []),
        evidence.get(case_id, []),
    ):
        return f"case {case_id} differs from the state its newest event recorded: it was changed outside the engine"
    if chain.uploads is None:
        return None
    return _evidence_problem(case_id, evidence.get(case_id, []), chain.uploads)


async def _check_heads_without_events(
    session: AsyncSession, case_id: str | None, chains: ChainRange, part: PartReport
) -> None:
    """A head (case row or chain_head) whose chain has no events at all: every event of it was removed."""
    cases, chain_heads, events = Case.__table__, ChainHead.__table__, AuditEvent.__table__
    name = literal("case:") + cases.c.id
    orphan_cases = select(name.label("chain"), cases.c.event_seq.label("seq")).where(
        ~exists().where(events.c.chain == name), *in_range(name, chains)
    )
    orphan_heads = select(chain_heads.c.chain, chain_heads.c.seq).where(
        ~exists().where(events.c.chain == chain_heads.c.chain), *in_range(chain_heads.c.chain, chains)
    )
    if case_id is not None:
        orphan_cases = orphan_cases.where(cases.c.id == case_id)
        orphan_heads = orphan_heads.where(chain_heads.c.chain == case_chain(case_id))
    heads = {row.chain: row.seq for row in (await session.execute(orphan_cases)).all()}
    heads.update({row.chain: row.seq for row in (await session.execute(orphan_heads)).all()})
    for chain, seq in heads.items():
        problem = f"chain {chain} ends at seq 0 but its head records seq {seq}: events are missing"
        part.note_head_problem(chain, problem_at(None, problem, chain))


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
    walker = CaseChainWalker(part)
    if not await _walk(session, walker, await event_reader(session, chains, case_id), batch, heads_batch):
        return part
    walker.close_chain()
    await check_heads(session, walker.take_finished(), part)
    await _check_heads_without_events(session, case_id, chains, part)
    return part


async def _walk_rows(walker: CaseChainWalker, events: Any, rows: Iterable[Any]) -> bool:
    """Events through the walk one by one; False when one did not hold (the part says which)."""
    for row in rows:
        problem = walker.check(row)
        if problem == CHANGED and await events.hash_here(row) == row[HASH]:
            problem = None  # the reference encoder agrees with the stored hash
        if problem is not None:
            walker.part.event_problem = problem_at(row, problem)
            return False
        walker.accept(row)
    return True


async def _walk(session: AsyncSession, walker: CaseChainWalker, events: Any, batch: int, heads_batch: int) -> bool:
    """Every event of the reader through the walk, in pages; False when one did not hold (the part says which).

    On PostgreSQL a page comes summed up by chain (``PostgresEvents.runs``): a run the server found sound that
    follows on from the walk is accepted whole; any other run is read again event by event and walked as on
    SQLite, so whatever is reported is found, and worded, by the one walk."""
    if isinstance(events, PostgresEvents):
        return await _walk_runs(session, walker, events, batch, heads_batch)
    after: tuple[str, int] | None = None
    while rows := await events.page(after, batch):
        if not await _walk_rows(walker, events, rows):
            return False
        if len(walker.finished) >= heads_batch:
            await check_heads(session, walker.take_finished(), walker.part)
        if len(rows) < batch:
            break
        after = (rows[-1][CHAIN], rows[-1][SEQ])
    return True


async def _walk_runs(
    session: AsyncSession, walker: CaseChainWalker, events: PostgresEvents, batch: int, heads_batch: int
) -> bool:
    after: tuple[str, int] | None = None
    while runs := await events.runs(after, batch):
        for run in runs:
            if walker.continues(run):
                walker.accept_run(run)
                continue
            rows = await events.rows_of(run[RUN_CHAIN], run[RUN_FIRST_SEQ], run_tail(run)[SEQ])
            if not await _walk_rows(walker, events, rows):
                return False
        if len(walker.finished) >= heads_batch:
            await check_heads(session, walker.take_finished(), walker.part)
        if sum(run[RUN_EVENTS] for run in runs) < batch:
            break
        after = (runs[-1][RUN_CHAIN], run_tail(runs[-1])[SEQ])
    return True


async def verify(session: AsyncSession, *, case_id: str | None = None, batch: int = 2000) -> VerifyReport:
    """Recompute every hash in order and report the first event whose hash, link or sequence is wrong; then
    check each chain against its head (case row or chain_head) and each case row against its events."""
    return merge_parts([await verify_part(session, case_id=case_id, batch=batch)])
