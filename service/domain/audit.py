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
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.actor import Actor
from service.persistence.tables import AuditEvent, Case

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
    "prev_hash",
)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} in an audit payload")


def canonical_json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default, allow_nan=False
    )


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
        prev_hash=prev_hash,
        hash="",
    )
    event.hash = event_hash(event)
    return event


def append_case_event(
    session: AsyncSession,
    *,
    case: Case,
    facts: EventFacts,
    actor: Actor,
    actor_role: str | None,
    now: datetime,
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
    """Append to a chain that has no case row (e.g. ``admin``); the (chain, seq) unique key refuses a race."""
    head = (
        await session.execute(
            select(AuditEvent.seq, AuditEvent.hash)
            .where(AuditEvent.chain == chain)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
    ).first()
    event = _build(
        chain=chain,
        seq=(head.seq + 1) if head else 1,
        prev_hash=head.hash if head else GENESIS,
        case=None,
        facts=facts,
        actor=actor,
        actor_role=actor_role,
        now=now,
        request_id=request_id,
        idempotency_key=None,
        unit_code=unit_code,
    )
    session.add(event)
    return event


@dataclass
class VerifyReport:
    ok: bool
    events_checked: int
    chains_checked: int
    first_bad_event: dict[str, Any] | None


async def verify(session: AsyncSession, *, case_id: str | None = None, batch: int = 2000) -> VerifyReport:
    """Recompute every hash in order; report the first event whose hash, link or sequence is wrong."""
    query = select(AuditEvent).order_by(AuditEvent.chain, AuditEvent.seq)
    if case_id is not None:
        query = query.where(AuditEvent.chain == case_chain(case_id))
    heads = {
        case_chain(row.id): (row.event_seq, row.last_hash)
        for row in (
            await session.execute(
                select(Case.id, Case.event_seq, Case.last_hash).where(Case.id == case_id)
                if case_id
                else select(Case.id, Case.event_seq, Case.last_hash)
            )
        ).all()
    }
    checked = 0
    chains = 0
    chain, expected_seq, prev = None, 0, GENESIS

    def bad(event: AuditEvent, problem: str) -> VerifyReport:
        return VerifyReport(
            False,
            checked,
            chains,
            {
                "id": event.id,
                "uid": event.uid,
                "chain": event.chain,
                "seq": event.seq,
                "case_id": event.case_id,
                "problem": problem,
            },
        )

    def head_problem(name: str | None, last_seq: int, last_hash: str) -> str | None:
        if name is None or name not in heads:
            return None
        seq, head_hash = heads[name]
        if (seq, head_hash) != (last_seq, last_hash):
            return f"chain {name} ends at seq {last_seq} but the case records seq {seq}: events are missing"
        return None

    result = await session.stream_scalars(query.execution_options(yield_per=batch))
    last_event = None
    seen: set[str] = set()
    async for event in result:
        if event.chain != chain:
            if last_event is not None and (problem := head_problem(chain, expected_seq, prev)):
                return bad(last_event, problem)
            chain, expected_seq, prev, chains = event.chain, 0, GENESIS, chains + 1
            seen.add(chain)
        expected_seq += 1
        if event.seq != expected_seq:
            return bad(event, f"sequence {event.seq} where {expected_seq} was expected: an event is missing")
        if event.prev_hash != prev:
            return bad(event, "prev_hash does not match the previous event's hash")
        if event_hash(event) != event.hash:
            return bad(event, "hash does not match the event's contents: the event was changed")
        prev = event.hash
        checked += 1
        last_event = event
    if last_event is not None and (problem := head_problem(chain, expected_seq, prev)):
        return bad(last_event, problem)
    emptied = sorted(name for name, (seq, _) in heads.items() if seq > 0 and name not in seen)
    if emptied:
        return VerifyReport(
            False,
            checked,
            chains,
            {
                "id": None,
                "uid": None,
                "chain": emptied[0],
                "seq": 1,
                "case_id": emptied[0].split(":", 1)[1],
                "problem": f"the case records {heads[emptied[0]][0]} events but its chain has none: "
                "events were removed",
            },
        )
    return VerifyReport(True, checked, chains, None)


async def count_events(session: AsyncSession, case_id: str) -> int:
    return (await session.execute(select(func.count()).where(AuditEvent.case_id == case_id))).scalar_one()
