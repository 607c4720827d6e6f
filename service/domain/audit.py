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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import func, select
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
    document = {
        "case": {name: getattr(case, name) for name in CASE_FIELDS},
        "indicators": sorted(
            ([i.code, i.assignee_org, i.state, i.rating, i.figures, i.note] for i in indicators), key=lambda r: r[0]
        ),
        "deadlines": sorted(
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
            key=lambda r: r[0],
        ),
        "evidence": sorted([e.id, e.indicator_code, e.sha256, e.size] for e in evidence),
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


async def verify(session: AsyncSession, *, case_id: str | None = None, batch: int = 2000) -> VerifyReport:
    """Recompute every hash in order and report the first event whose hash, link or sequence is wrong; then
    check each chain against its head (case row or chain_head) and each case row against its newest event."""
    query = select(AuditEvent).order_by(AuditEvent.chain, AuditEvent.seq)
    case_query = select(Case)
    head_query = select(ChainHead)
    if case_id is not None:
        query = query.where(AuditEvent.chain == case_chain(case_id))
        case_query = case_query.where(Case.id == case_id)
        head_query = head_query.where(ChainHead.chain == case_chain(case_id))
    checked = 0
    tails: dict[str, AuditEvent] = {}  # chain -> its newest event
    # What a case's events say it was opened under (pinned settings and unit facts, subject), as a digest per chain:
    # the case row must still say the same, since other cases' kinds and TC4.1 counts read it.
    recorded_terms: dict[str, str] = {}
    terms: dict[str, Any] | None = None
    chain: str | None = None
    expected_seq, prev = 0, GENESIS

    def report(event: AuditEvent | None, problem: str, chain_name: str | None = None) -> VerifyReport:
        return VerifyReport(
            False,
            checked,
            len(tails),
            {
                "id": event.id if event else None,
                "uid": event.uid if event else None,
                "chain": event.chain if event else chain_name,
                "seq": event.seq if event else None,
                "case_id": event.case_id if event else None,
                "problem": problem,
            },
        )

    async for event in await session.stream_scalars(query.execution_options(yield_per=batch)):
        if event.chain != chain:
            chain, expected_seq, prev, terms = event.chain, 0, GENESIS, None
        expected_seq += 1
        if event.seq != expected_seq:
            return report(event, f"sequence {event.seq} where {expected_seq} was expected: an event is missing")
        if event.prev_hash != prev:
            return report(event, "prev_hash does not match the previous event's hash")
        if event_hash(event) != event.hash:
            return report(event, "hash does not match the event's contents: the event was changed")
        prev = event.hash
        checked += 1
        tails[event.chain] = event
        if event.kind == "case_opened":
            opened = json.loads(event.payload)
            terms = {"pinned": opened.get("pinned") or {}, "subject": opened.get("subject") or ""}
        elif event.kind == "case_migrated" and terms is not None:
            added = json.loads(event.payload).get("settings_added") or {}
            if "settings" in terms["pinned"]:
                terms["pinned"] = {**terms["pinned"], "settings": {**terms["pinned"]["settings"], **added}}
        if terms is not None and event.case_id is not None:
            recorded_terms[event.chain] = _terms_digest(terms["pinned"], terms["subject"])

    heads = {case_chain(c.id): (c.event_seq, c.last_hash, c) for c in (await session.execute(case_query)).scalars()}
    heads.update({h.chain: (h.seq, h.hash, None) for h in (await session.execute(head_query)).scalars()})
    for name in sorted(set(heads) | set(tails)):
        tail = tails.get(name)
        seq, head_hash, case = heads.get(name, (None, None, None))
        if seq is None:
            return report(tail, f"chain {name} has events but no head: its case or head row was removed")
        if tail is None or (tail.seq, tail.hash) != (seq, head_hash):
            return report(
                tail,
                f"chain {name} ends at seq {tail.seq if tail else 0} but its head records seq {seq}: "
                "events are missing",
                name,
            )
        if (
            case is not None
            and name in recorded_terms
            and recorded_terms[name] != _terms_digest(case.pinned or {}, case.subject or "")
        ):
            return report(
                tail,
                f"case {case.id}'s pinned settings or subject differ from what its opening recorded: "
                "it was changed outside the engine",
            )
        if case is not None and tail.state_digest != await current_state_digest(session, case):
            return report(
                tail,
                f"case {case.id} differs from the state its newest event recorded: it was changed outside the engine",
            )
    return VerifyReport(True, checked, len(tails), None)


async def count_events(session: AsyncSession, case_id: str) -> int:
    return (await session.execute(select(func.count()).where(AuditEvent.case_id == case_id))).scalar_one()
