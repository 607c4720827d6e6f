"""Appending to the audit log: an event per accepted change, linked to the one before it in its chain.

A case's events go to its own chain, whose head the case row keeps (``event_seq``, ``last_hash``), under the case
row lock its writer already holds; events outside any case go to a named chain (``admin``) whose head is a
``chain_head`` row, locked while it is appended to. Nothing here commits: the caller's unit of work does.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.actor import Actor
from service.domain.audit.canonical import GENESIS, canonical_json, case_chain, fields_hash
from service.persistence.tables import AuditEvent, Case, ChainHead


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
    fields = dict(
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
    )
    return AuditEvent(**fields, hash=fields_hash(fields))  # the hash of the values in hand, not read back


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
    digest: Callable[[AsyncSession], Awaitable[str]] | None = None,
) -> AuditEvent:
    """Append to a chain that has no case row (e.g. ``admin``), holding its head row's lock. ``digest``, when
    given, computes the event's ``state_digest`` once the lock is held (e.g. ``unit_tree.unit_tree_digest``), so it
    sees every change committed before this one."""
    head_query = select(ChainHead).where(ChainHead.chain == chain).with_for_update()
    head = (await session.execute(head_query.execution_options(populate_existing=True))).scalar_one_or_none()
    if head is None:
        # The first event of a chain: create its head; a concurrent creator loses on the primary key (409).
        head = ChainHead(chain=chain, seq=0, hash=GENESIS)
        session.add(head)
        await session.flush()
    state_digest = None
    if digest is not None:
        await session.flush()  # the change this event records is in the tables the digest reads
        state_digest = await digest(session)
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
        state_digest=state_digest,
    )
    head.seq, head.hash = event.seq, event.hash
    session.add(event)
    return event
