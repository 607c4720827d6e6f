"""The incremental verify: what changed since a signed checkpoint re-checked in full, what came before it taken on
the checkpoint's word after cheap checks that it still holds.

A full verify re-hashes every event of the country (``verify``); its cost grows with the whole log. A checkpoint
(``checkpoints``) signs every chain's head — ``{chain: [seq, hash]}`` — with an Ed25519 key kept outside the
database. Since each event's hash covers the hash before it, the signed head hash of a chain commits to every
event up to it. The incremental verify trusts that commitment and re-checks:

1. the checkpoint's signature, with the service's key (a checkpoint that does not verify is reported, and nothing
   is taken from it) — the signature covers, when the checkpoint has one, its record that a full verify passed
   over the very heads it signs (``verified``, ``service.workers.verified_checkpoint``); without ``checkpoint_id``
   the verify starts from the newest checkpoint so marked, or from the newest of all when none is (and says so);
2. for every chain the checkpoint signed, cheaply, that nothing before its head changed in a way the heads show:
   the event at the signed position is still there with the signed hash (an event rewritten before it with the
   hashes after it recomputed, an event removed and the rest renumbered, a chain removed: all change it), and the
   chain's events are still numbered 1..n without a gap or an extra (an event removed or added without
   renumbering);
3. every event after a chain's signed head, and every event of a chain the checkpoint did not know, exactly as the
   full verify does (sequence, link from the signed hash, hash recomputed), then each chain's head and case row as
   the full verify checks them; a chain with nothing after the checkpoint has its head and case row (the digest
   of its tables) compared with its signed newest event — unless the checkpoint sealed the case's tables
   (``table_seals``: they matched that digest when it was signed) and the server seals them the same now.

What it does not re-check, and the full verify does: the contents of each event up to its chain's signed head.
An event before the checkpoint whose contents were changed in the database with its stored hash left as it was
keeps its position, its hash and the links around it, so only recomputing its hash shows it; so does any change
made before the checkpoint was signed (the checkpoint then signed the changed heads) — which a checkpoint marked
verified rules out up to its heads, as far as the full verify that passed over them could see. Nor does it
compare, for a chain with nothing after the checkpoint, the case's pinned settings, subject and evidence rows with
what its opening and upload events recorded (the case digest still covers the evidence rows), nor the unit tree
with the digest an older event recorded. A full verify stays the default and is what proves the log; the
incremental one is for checking often, between full verifies, that nothing since the last signed checkpoint went
wrong.

The plan (which chains to walk from where, which to compare only: ``plan_since``) and the check of its chains
(``check_chains``) are made here; ``service.workers.verify_processes.verify_since_checkpoint`` runs them on one
snapshot, the chains in consecutive ranges in the full verify's worker processes on a large PostgreSQL database,
and the parts are merged as the full verify merges them (``IncrementalPlan.report``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from service.config import Settings
from service.domain.audit.canonical import EVENT_COLUMNS, case_chain, format_time, row_hash
from service.domain.audit.case_walk import CaseChainWalker, Finished, PartReport, problem_at
from service.domain.audit.checkpoints import current_heads, document_of, newest_first, signature_problem
from service.domain.audit.event_reader import CHAIN, CHECK_COLUMNS, HASH, KIND, PAYLOAD_KINDS, SEQ, columns
from service.domain.audit.table_seals import seals_now
from service.domain.audit.verify import CASE_COLUMNS, CASE_TABLES, VerifyReport, check_heads, merge_parts
from service.persistence.keys import key_id, signing_key
from service.persistence.tables import AuditCheckpoint, AuditEvent

LOOKUP_BATCH = 500  # checkpointed positions looked up per query
WALK_BATCH = 200  # chains whose events after the checkpoint are read per query
_PICKED = [EVENT_COLUMNS.index(name) for name in CHECK_COLUMNS]


class NoCheckpoint(LookupError):
    """There is no checkpoint to start from (none signed yet, or no checkpoint with the id asked for); ``vi`` says
    so in Vietnamese."""

    def __init__(self, checkpoint_id: str | None) -> None:
        if checkpoint_id:
            super().__init__(f"no checkpoint {checkpoint_id}")
            self.vi = f"Không có điểm kiểm tra {checkpoint_id}"
        else:
            super().__init__("no checkpoint has been signed yet")
            self.vi = "Chưa có điểm kiểm tra nào được ký"


@dataclass
class IncrementalReport:
    """The verify's report (``events_checked``: the events re-hashed after the checkpoint; ``chains_checked``: every
    chain compared with it) and the checkpoint it started from."""

    report: VerifyReport
    checkpoint: dict[str, Any]  # id, created_at, key_id, events_total, chains_total, verified (or None)
    events_trusted: int  # the events up to the signed heads, taken on the checkpoint's word


def batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _checkpoint(session: AsyncSession, checkpoint_id: str | None) -> AuditCheckpoint:
    """``checkpoint_id``'s checkpoint; else the newest marked verified, or, when none is, the newest (its answer
    then says that no full verify is recorded over it)."""
    if checkpoint_id is not None:
        found = await session.get(AuditCheckpoint, checkpoint_id)
    else:
        verified = newest_first().where(AuditCheckpoint.verified.is_not(None)).limit(1)
        found = (await session.execute(verified)).scalars().first()
        if found is None:
            found = (await session.execute(newest_first().limit(1))).scalars().first()
    if found is None:
        raise NoCheckpoint(checkpoint_id)
    return found


async def _rows_at(session: AsyncSession, positions: list[tuple[str, int]]) -> dict[str, Any]:
    """The event at each (chain, seq), as the chain walk reads events (``CHECK_COLUMNS``), by chain."""
    events = AuditEvent.__table__
    found: dict[str, Any] = {}
    if session.get_bind().dialect.name == "postgresql":
        # One probe of the (chain, seq) index per position; a long IN list of pairs is planned as an OR of them.
        picked = ", ".join(f"e.{name}" for name in CHECK_COLUMNS)
        query = text(
            f"SELECT {picked} FROM unnest(CAST(:chains AS text[]), CAST(:seqs AS int[])) AS p(chain, seq) "
            "JOIN audit_event AS e ON e.chain = p.chain AND e.seq = p.seq"
        )
        for batch in batches(positions, LOOKUP_BATCH * 20):
            chains, seqs = [chain for chain, _ in batch], [seq for _, seq in batch]
            found.update({row[CHAIN]: row for row in (await session.execute(query, {"chains": chains, "seqs": seqs}))})
        return found
    for batch in batches(positions, LOOKUP_BATCH):
        query = select(*columns(events, CHECK_COLUMNS)).where(tuple_(events.c.chain, events.c.seq).in_(batch))
        found.update({row[CHAIN]: row for row in (await session.execute(query)).all()})
    return found


async def _numbering(session: AsyncSession, chain: str | None) -> dict[str, tuple[int, int, int]]:
    """Each chain's (count, lowest seq, highest seq): one pass over the (chain, seq) index."""
    events = AuditEvent.__table__
    query = select(events.c.chain, func.count(), func.min(events.c.seq), func.max(events.c.seq)).group_by(
        events.c.chain
    )
    if chain is not None:
        query = query.where(events.c.chain == chain)
    return {row[0]: (row[1], row[2], row[3]) for row in (await session.execute(query)).all()}


async def _events_of(session: AsyncSession, chains: list[str]) -> dict[str, list[Any]]:
    """The events of some chains in (chain, seq) order, as ``EVENT_COLUMNS`` rows, by chain."""
    events = AuditEvent.__table__
    query = (
        select(*columns(events, EVENT_COLUMNS)).where(events.c.chain.in_(chains)).order_by(events.c.chain, events.c.seq)
    )
    grouped: dict[str, list[Any]] = {}
    chain_at = EVENT_COLUMNS.index("chain")
    for row in (await session.execute(query)).all():
        grouped.setdefault(row[chain_at], []).append(row)
    return grouped


def _walk_chain(walker: CaseChainWalker, chain: str, start: Any | None, rows: Iterable[Any]) -> dict[str, Any] | None:
    """One chain's events after ``start`` (its signed head's event; None: from the genesis), the events before it
    only read for what they recorded. The first bad event's problem, or None."""
    after = start[SEQ] if start is not None else 0
    if start is not None:
        walker.resume(chain, start)
    for full in rows:
        row = tuple(full[index] for index in _PICKED)
        if row[SEQ] <= after:
            if row[KIND] in PAYLOAD_KINDS:
                walker.follow(row)
            continue
        row = (*row, row_hash(full))
        problem = walker.check(row)
        if problem is not None:
            return problem_at(row, problem)
        walker.accept(row)
    return None


@dataclass
class IncrementalPlan:
    """What the checkpoint says and what is left to check: the problems found while planning (``part``), the chains
    to check (``steps``: chain, its signed head's event or None, whether to walk it, its tables' signed seal or
    None), the checkpoint's facts."""

    part: PartReport
    steps: list[tuple[str, Any, bool, str | None]]
    checkpoint: dict[str, Any]
    chains: int  # the chains compared: signed by the checkpoint, and opened since
    events_trusted: int

    def report(self, parts: list[PartReport]) -> IncrementalReport:
        """The verify's report from the planning's findings and the checked parts of the plan."""
        report = merge_parts([self.part, *parts])
        report.chains_checked = self.chains
        return IncrementalReport(report, self.checkpoint, self.events_trusted)


async def plan_since(
    session: AsyncSession, settings: Settings, checkpoint_id: str | None, case_id: str | None
) -> IncrementalPlan:
    """The plan of an incremental verify from a checkpoint (the newest, or ``checkpoint_id``), every chain or one
    case's: the signature and the signed heads checked, the chains to walk or compare listed."""
    checkpoint = await _checkpoint(session, checkpoint_id)
    public = signing_key(settings).public_key()
    only = case_chain(case_id) if case_id is not None else None
    signed: dict[str, list[Any]] = {
        chain: head for chain, head in checkpoint.heads.items() if only is None or chain == only
    }
    info = {
        "id": checkpoint.id,
        "created_at": format_time(checkpoint.created_at),
        "key_id": checkpoint.key_id,
        "events_total": checkpoint.events_total,
        "chains_total": checkpoint.chains_total,
        "verified": checkpoint.verified,
    }
    part = PartReport()
    refused = signature_problem(document_of(checkpoint), public)
    if refused is not None:
        problem = f"checkpoint {checkpoint.id} {refused} (key {key_id(public)}): nothing can be taken from it"
        part.event_problem = problem_at(None, problem)
        return IncrementalPlan(part, [], info, 0, 0)

    current = {chain: head for chain, head in (await current_heads(session)).items() if only is None or chain == only}
    numbering = await _numbering(session, only)
    starts = await _rows_at(session, [(chain, seq) for chain, (seq, *_) in signed.items()])
    plan: list[tuple[str, Any, bool, str | None]] = []  # (chain, signed head's event or None, walk it?, seal)
    for chain, (seq, signed_hash, *sealed) in sorted(signed.items()):
        start = starts.get(chain)
        if start is None or start[HASH] != signed_hash:
            what = "chain removed" if chain not in numbering else "event changed" if start else f"seq {seq} removed"
            problem = f"{what} after checkpoint {checkpoint.id}: the event it signed at seq {seq} is not there"
            part.note_head_problem(chain, problem_at(start, problem, chain))
            continue
        count, low, high = numbering[chain]
        if low != 1 or count != high:
            problem = (
                f"chain {chain} holds {count} events numbered {low} to {high}: an event was removed or added "
                f"outside the engine (checkpoint {checkpoint.id} signed seq {seq})"
            )
            part.note_head_problem(chain, problem_at(start, problem, chain))
            continue
        walk = chain in current and current[chain][0] > seq or high > seq
        plan.append((chain, tuple(start), walk, sealed[0] if sealed else None))
    new = sorted((set(current) | set(numbering)) - set(signed))
    for chain in new:
        if chain not in numbering:
            problem = f"chain {chain} ends at seq 0 but its head records seq {current[chain][0]}: events are missing"
            part.note_head_problem(chain, problem_at(None, problem, chain))
        else:
            plan.append((chain, None, True, None))
    plan.sort(key=lambda step: step[0])

    return IncrementalPlan(part, plan, info, len(signed) + len(new), sum(head[0] for head in signed.values()))


async def check_chains(session: AsyncSession, plan: list[tuple[str, Any, bool, str | None]]) -> PartReport:
    """The chains of a plan, in chain order: those with events after the checkpoint (or new) walked from their
    signed head's event, then each one's head and case row; the others' heads and case rows against their signed
    head's event — but a case whose tables the checkpoint sealed (``table_seals``) and which the server still seals
    the same is taken as it was then, when its tables matched its newest event's digest."""
    part = PartReport()
    walker = CaseChainWalker(part)
    walked = [(chain, start) for chain, start, walk, _ in plan if walk]
    for group in batches(walked, WALK_BATCH):
        rows = await _events_of(session, [chain for chain, _ in group])
        for chain, start in group:
            found = _walk_chain(walker, chain, start, rows.get(chain, ()))
            if found is not None:
                part.event_problem = found
                break
        walker.close_chain()
        await check_heads(session, walker.take_finished(), part)
        if part.event_problem is not None:
            return part
    unchanged = [(chain, start, seal) for chain, start, walk, seal in plan if not walk]
    sealed = {chain.removeprefix("case:"): seal for chain, _, seal in unchanged if seal is not None}
    if sealed and session.get_bind().dialect.name == "postgresql":
        now = await seals_now(session, list(sealed), CASE_COLUMNS, CASE_TABLES)
        held = {case_chain(case_id) for case_id, seal in sealed.items() if now.get(case_id) == seal}
        unchanged = [step for step in unchanged if step[0] not in held]
    for batch in batches([Finished(chain, start, None, None) for chain, start, _ in unchanged], LOOKUP_BATCH):
        await check_heads(session, batch, part)
    part.events_checked = walker.walk.events
    return part
