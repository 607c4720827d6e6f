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

Memory stays flat however many events there are: only the chain being walked and the chains awaiting their head
check (``heads_batch`` of them) are kept. Chains are independent, so a range of chains can be verified apart (in a
worker process, see ``service.workers.verify_processes``) and the parts merged into the report one pass gives.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.audit.canonical import case_chain
from service.domain.audit.chain_walk import CHANGED, ChainWalk
from service.domain.audit.digest import (
    CASE_FIELDS,
    DEADLINE_FIELDS,
    EVIDENCE_FIELDS,
    INDICATOR_FIELDS,
    rows_hold,
    terms_digest,
)
from service.domain.audit.event_reader import (
    CASE_ID,
    CHAIN,
    COMPUTED,
    EVERY_CHAIN,
    HASH,
    ID,
    KIND,
    PAYLOAD,
    PREV,
    SEQ,
    STATE,
    UID,
    ChainRange,
    event_reader,
    in_range,
    rows_by_case,
    rows_where_in,
)
from service.domain.audit.unit_tree import is_tree_digest, unit_tree_digest
from service.persistence.tables import AuditEvent, Case, CaseIndicator, ChainHead, Deadline, Evidence

_CASE_COLUMNS = (*CASE_FIELDS, "pinned", "subject", "event_seq", "last_hash")
_C_ID, _C_PINNED, _C_SUBJECT, _C_SEQ, _C_HASH = (
    _CASE_COLUMNS.index(name) for name in ("id", "pinned", "subject", "event_seq", "last_hash")
)
# What an upload event records of its file, and where each is in an evidence row of EVIDENCE_FIELDS.
_UPLOAD_FACTS = ("sha256", "size", "media_type", "filename", "title")
_UPLOAD_AT = [EVIDENCE_FIELDS.index(name) for name in _UPLOAD_FACTS]


@dataclass
class VerifyReport:
    ok: bool
    events_checked: int
    chains_checked: int
    first_bad_event: dict[str, Any] | None


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


def problem_at(row: Any, problem: str, chain: str | None = None) -> dict[str, Any]:
    return {
        "id": row[ID] if row else None,
        "uid": row[UID] if row else None,
        "chain": row[CHAIN] if row else chain,
        "seq": row[SEQ] if row else None,
        "case_id": row[CASE_ID] if row else None,
        "problem": problem,
    }


@dataclass
class Finished:
    """A chain whose events all held, awaiting its head check."""

    chain: str
    tail: Any  # its newest event's row
    terms: tuple[dict[str, Any], str] | None  # (pinned, subject) as its events recorded them, for a case's chain
    # evidence id -> what its upload event recorded (_UPLOAD_FACTS); None when its events were not read (a chain
    # an incremental verify did not walk: its evidence rows are covered by the case digest alone)
    uploads: dict[str, tuple[Any, ...]] | None
    tree: Any = None  # the newest event of a chain without a case that recorded the unit tree's digest


class CaseChainWalker:
    """The shared ``ChainWalk`` over event rows, keeping for each chain what its head check needs: its newest event
    and what a case's events recorded (the terms it was opened under, its uploads)."""

    def __init__(self, part: PartReport) -> None:
        self.part = part
        self.walk = ChainWalk()
        self.finished: list[Finished] = []
        self.tail: Any = None
        self.terms: dict[str, Any] | None = None
        self.recorded: tuple[dict[str, Any], str] | None = None
        self.uploads: dict[str, tuple[Any, ...]] = {}
        self.tree: Any = None

    def close_chain(self) -> None:
        if self.tail is not None:
            self.finished.append(Finished(self.tail[CHAIN], self.tail, self.recorded, self.uploads, self.tree))
        self.tail = None
        self.walk.end_chain()

    def check(self, row: Any) -> str | None:
        """What is wrong with the next event (its sequence, its link, its hash), or None."""
        if row[CHAIN] != self.walk.chain:
            self.close_chain()
            self.terms, self.recorded, self.uploads, self.tree = None, None, {}, None
        return self.walk.check(row[CHAIN], row[SEQ], row[PREV], row[HASH], row[COMPUTED])

    def accept(self, row: Any) -> None:
        self.walk.accept(row[HASH])
        self.part.events_checked, self.part.chains_checked = self.walk.events, self.walk.chains
        self.tail = row
        self._follow(row)

    def _follow(self, row: Any) -> None:
        """What a case's events say it was opened under (pinned settings and unit facts, subject), which the case
        row must still say since other cases' kinds and TC4.1 counts read it; and what each upload recorded."""
        kind = row[KIND]
        if row[CASE_ID] is None and is_tree_digest(row[STATE]):
            self.tree = row
        if kind == "case_opened":
            opened = json.loads(row[PAYLOAD])
            self.terms = {"pinned": opened.get("pinned") or {}, "subject": opened.get("subject") or ""}
        elif kind == "case_migrated" and self.terms is not None:
            added = json.loads(row[PAYLOAD]).get("settings_added") or {}
            if "settings" in self.terms["pinned"]:
                pinned = self.terms["pinned"]
                self.terms["pinned"] = {**pinned, "settings": {**pinned["settings"], **added}}
        elif kind == "evidence_uploaded":
            uploaded = json.loads(row[PAYLOAD])
            self.uploads[uploaded.get("evidence_id")] = tuple(uploaded.get(name) for name in _UPLOAD_FACTS)
        if self.terms is not None and row[CASE_ID] is not None:
            # The values are replaced, never changed in place, so this pair keeps what they were here.
            self.recorded = (self.terms["pinned"], self.terms["subject"])

    def resume(self, chain: str, start: Any) -> None:
        """Walk ``chain`` on after ``start``, its event at a signed checkpoint's head (taken as sound): what its
        earlier events recorded (opening terms, uploads) is then given to ``follow`` alone."""
        self.close_chain()
        self.terms, self.recorded, self.uploads, self.tree = None, None, {}, None
        self.walk.resume(chain, start[SEQ], start[HASH])
        self.tail = start

    def follow(self, row: Any) -> None:
        """An event before the chain's checkpointed head: not checked, only read for what it recorded."""
        self._follow(row)

    def take_finished(self) -> list[Finished]:
        finished, self.finished = self.finished, []
        return finished


def _evidence_problem(case_id: str, rows: list[Any], uploads: dict[str, tuple[Any, ...]]) -> str | None:
    """The first evidence row of a case that differs from what its upload event recorded."""
    for row in sorted(rows, key=lambda r: r[0]):
        recorded = uploads.get(row[0])
        if recorded is None:
            return f"evidence {row[0]} of case {case_id} has no upload event: it was added outside the engine"
        facts = zip(_UPLOAD_FACTS, _UPLOAD_AT, recorded, strict=True)
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
    heads: dict[str, tuple[int, str, Any]] = {
        case_chain(row[_C_ID]): (row[_C_SEQ], row[_C_HASH], row)
        for row in await rows_where_in(session, Case.__table__, _CASE_COLUMNS, "id", ids)
    }
    found = select(chain_heads.c.chain, chain_heads.c.seq, chain_heads.c.hash).where(chain_heads.c.chain.in_(names))
    heads.update({row.chain: (row.seq, row.hash, None) for row in (await session.execute(found)).all()})
    with_case = [case[_C_ID] for _, _, case in heads.values() if case is not None]
    indicators = await rows_by_case(session, CaseIndicator.__table__, ("case_id", *INDICATOR_FIELDS), with_case)
    deadlines = await rows_by_case(session, Deadline.__table__, ("case_id", *DEADLINE_FIELDS), with_case)
    evidence = await rows_by_case(session, Evidence.__table__, ("case_id", *EVIDENCE_FIELDS), with_case)
    for chain in finished:
        seq, head_hash, case = heads.get(chain.chain, (None, None, None))
        tail = chain.tail
        problem = None
        if seq is None:
            problem = f"chain {chain.chain} has events but no head: its case or head row was removed"
        elif (tail[SEQ], tail[HASH]) != (seq, head_hash):
            problem = f"chain {chain.chain} ends at seq {tail[SEQ]} but its head records seq {seq}: events are missing"
        elif case is not None:
            problem = _case_problem(case, chain, indicators, deadlines, evidence)
        elif chain.tree is not None and await unit_tree_digest(session) != chain.tree[STATE]:
            problem = (
                f"the administrative units or successions differ from what chain {chain.chain} recorded at seq "
                f"{chain.tree[SEQ]}, its newest change to them: they were changed outside the service"
            )
            tail = chain.tree
        if problem is not None:
            part.note_head_problem(chain.chain, problem_at(tail, problem))


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


async def _walk(session: AsyncSession, walker: CaseChainWalker, events: Any, batch: int, heads_batch: int) -> bool:
    """Every event of the reader through the walk, in pages; False when one did not hold (the part says which)."""
    part = walker.part
    after: tuple[str, int] | None = None
    while rows := await events.page(after, batch):
        for row in rows:
            problem = walker.check(row)
            if problem == CHANGED and await events.hash_here(row) == row[HASH]:
                problem = None  # the reference encoder agrees with the stored hash
            if problem is not None:
                part.event_problem = problem_at(row, problem)
                return False
            walker.accept(row)
        if len(walker.finished) >= heads_batch:
            await check_heads(session, walker.take_finished(), part)
        if len(rows) < batch:
            break
        after = (rows[-1][CHAIN], rows[-1][SEQ])
    return True


async def verify(session: AsyncSession, *, case_id: str | None = None, batch: int = 2000) -> VerifyReport:
    """Recompute every hash in order and report the first event whose hash, link or sequence is wrong; then
    check each chain against its head (case row or chain_head) and each case row against its events."""
    return merge_parts([await verify_part(session, case_id=case_id, batch=batch)])
