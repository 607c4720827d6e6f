"""The only writer of case state (DESIGN.md contract 1), for people and for the system's timers alike.

``apply_transition`` in order: lock the case row and read the clock, resolve the trigger once in the pinned
definition, read the rest of the case file, run the checks (``checks.BEFORE_GATHERING``: readable, clock, version,
trigger, authority, state), gather what the service adds to the payload, run the rest (payload, guards), fire the
machine, and record the change through the one write tail (``tail.record``: the transition's applier — effects,
indicators, deadlines —, a new case version, the audit event, the outbox row), its rows and changes written as
prebuilt Core statements (``tail_writes``: one statement on PostgreSQL). It never commits: the caller's unit
of work does, so state, audit and outbox commit together or not at all. It returns what the answer needs: the
case file the write left and, computed once from it, the triggers the caller may fire next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.actor import Actor
from service.domain.audit.writer import EventFacts
from service.domain.cases.appliers import Change
from service.domain.cases.batch_tail import RowBatch, Writer
from service.domain.cases.casefile import (
    CaseFile,
    case_file_of,
    case_row_and_tree,
    pinned,
    reads_recognitions,
    transition_of,
)
from service.domain.cases.checks import (
    AFTER_GATHERING,
    BEFORE_GATHERING,
    Attempt,
    Check,
    Clock,
    first_refusal,
    log_refusal,
    read_time,
)
from service.domain.cases.collectors import gather
from service.domain.cases.explain import allowed_transitions
from service.domain.cases.tail import record
from service.domain.cases.tail_writes import changed_rows
from service.persistence.tables import AuditEvent, Case
from service.telemetry import context as log_context
from service.telemetry import tracing
from workflows.registry import Registry
from workflows.schema import Transition

APPLIED = Counter("cdht_transitions_total", "Accepted transitions, by procedure and trigger", ["procedure", "trigger"])


@dataclass
class Outcome:
    """What a write left: the case file (flushed), its audit event, and who acted when, for the answer."""

    case_file: CaseFile
    event: AuditEvent
    actor: Actor
    at: datetime

    @property
    def case(self) -> Case:
        return self.case_file.case

    @cached_property
    def allowed(self) -> list[str]:
        """The triggers the actor may fire now, from the state the write left (computed once, when asked)."""
        return allowed_transitions(self.case_file, self.actor, self.at)


def enforce(checks: Sequence[Check], attempt: Attempt) -> None:
    """Raise the first refusal of ``checks``, logged and counted when its check counts refusals; a refusal that
    tells what may be done instead lists the caller's allowed triggers (none for an indicator)."""
    found = first_refusal(tuple(checks), attempt)
    if found is None:
        return
    check, refusal = found
    error = refusal.error
    if check.counted:
        log_refusal("transition", attempt.trigger, attempt.actor, error.reasons, check=check.name)
    if refusal.tells_allowed:
        cf, actor = attempt.cf, attempt.actor
        error.allowed_transitions = [] if attempt.indicator else allowed_transitions(cf, actor, attempt.now)
    raise error


async def apply_transition(
    session: AsyncSession,
    *,
    registry: Registry,
    case_id: str,
    trigger: str,
    actor: Actor,
    payload: dict[str, Any],
    now: datetime | Clock,
    indicator: str | None = None,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    request_id: str | None = None,
    comment: str | None = None,
) -> Outcome:
    """Fire ``trigger`` (on ``indicator``) on the case as ``actor``. ``now`` is the write's time, or the clock to
    read it from once the case row is locked (so concurrent writes are dated in the order the lock lets them in)."""
    log_context.bind(case=case_id, trigger=trigger)
    with tracing.span("engine.transition", case=case_id, trigger=trigger, indicator=indicator):
        case, tree_version = await case_row_and_tree(session, case_id, lock=True)
        at = read_time(now)
        procedure, profile = pinned(registry, case)
        definition = procedure.definition
        transition = transition_of(definition, trigger, indicator)
        history = reads_recognitions(definition, transition, indicator)
        # A transition of the case changes none of its indicators (it may create some): they are read as plain rows.
        cf = await case_file_of(
            session,
            case,
            procedure,
            profile,
            with_history=history,
            tree_version=tree_version,
            plain_indicators=indicator is None,
        )
        rows = RowBatch()
        outcome = await fire_on_file(
            session,
            cf,
            registry=registry,
            trigger=trigger,
            transition=transition,
            actor=actor,
            payload=payload,
            at=at,
            indicator=indicator,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
            request_id=request_id,
            comment=comment,
            rows=rows,
        )
        rows.changes(changed_rows(cf))
        await rows.insert(session, one_case=True)
        await session.flush()  # anything else the session holds (nothing, for the engine's own rows)
        return outcome


async def fire_on_file(
    session: AsyncSession,
    cf: CaseFile,
    *,
    registry: Registry,
    trigger: str,
    transition: Transition | None,
    actor: Actor,
    payload: dict[str, Any],
    at: datetime,
    indicator: str | None = None,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    request_id: str | None = None,
    comment: str | None = None,
    rows: Writer | None = None,
) -> Outcome:
    """The engine's decision and record on a case file already read under the case row's lock: the checks, what
    the service gathers, the machine fired and the change recorded through the one write tail. Nothing is flushed:
    the rows the tail creates go to ``rows`` (the session unless given; a batch writer gathers them to insert many
    at once, service/domain/cases/batch_tail.py), the changes to rows read through the session stay in it."""
    with tracing.span("engine.decide", case=cf.case.id, trigger=trigger):
        attempt = Attempt(
            cf, actor, trigger, transition, at, indicator=indicator, expected_version=expected_version, writing=True
        )
        enforce(BEFORE_GATHERING, attempt)
        assert transition is not None  # the trigger check refused an unknown trigger
        with tracing.span("engine.gather", trigger=trigger):
            attempt.payload = await gather(session, registry, cf, transition, payload, indicator=indicator, now=at)
        enforce(AFTER_GATHERING, attempt)

        state = attempt.state
        event_payload: dict[str, Any] = {"data": attempt.payload}
        if comment:
            event_payload["comment"] = comment
        facts = EventFacts(
            kind="indicator_transition" if indicator else "transition",
            trigger=trigger,
            from_state=state,
            to_state=attempt.machine.fire(state, trigger),
            indicator=indicator,
            payload=event_payload,
            citation=transition.citation.source(cf.settings),
        )
        with tracing.span("engine.record", trigger=trigger):
            event = record(
                session if rows is None else rows,
                cf,
                Change(facts, at, actor.sub, transition=transition, context=attempt.context),
                registry=registry,
                actor=actor,
                role=attempt.decision.role,
                outbox_type=transition.webhook_event
                or ("indicator.transitioned" if indicator else "case.transitioned"),
                request_id=request_id,
                idempotency_key=idempotency_key,
                extra={"indicator": indicator} if indicator else None,
            )
        APPLIED.labels(cf.case.procedure, trigger).inc()
        return Outcome(cf, event, actor, at)
