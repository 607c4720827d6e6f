"""The only writer of case state (DESIGN.md contract 1), for people and for the system's timers alike.

``apply_transition`` in order: lock the case row, answer a replayed idempotency key, check the expected version,
resolve the trigger in the pinned definition, decide authority, check the state, validate the payload, run the
guards, fire the machine, apply the effects, close and open deadlines, append the audit event, add the outbox
row. It never commits: the caller's unit of work does, so state, audit and outbox commit together or not at all.
``open_case`` and ``record_evidence`` are the two other writes; they share the audit and outbox steps.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain import deadlines, idempotency
from service.domain.actor import Actor
from service.domain.audit.canonical import format_time
from service.domain.audit.writer import EventFacts, append_case_event
from service.domain.authority import AuthorityContext, Decision, UnitPath, decide, require_read
from service.domain.casefile import CaseFile, load_case_file, unit_path
from service.domain.errors import (
    Conflict,
    Forbidden,
    GuardFailed,
    InvalidPayload,
    NotFound,
    PreconditionFailed,
    Reason,
)
from service.domain.evidence import StoredFile
from service.domain.idempotency import IdempotencyRequest, StoredResponse
from service.domain.recognitions import count_recognised_subordinates, inheritance, prior_recognitions
from service.persistence.tables import (
    AdminUnit,
    AuditEvent,
    Case,
    CaseIndicator,
    DeadlineReminder,
    Evidence,
    OutboxMessage,
)
from workflows.calendar import local_date
from workflows.effects import combine
from workflows.guards.registry import GUARDS, GuardContext, PriorRecognition, run_guards
from workflows.payloads import payload_errors
from workflows.registry import Procedure, Registry
from workflows.schema import SYSTEM_BODY, Definition, Profile, Transition

log = logging.getLogger("cdht.engine")


@dataclass
class Outcome:
    case: Case | None = None
    event: AuditEvent | None = None
    replay: StoredResponse | None = None
    case_file: CaseFile | None = None  # the case as the write left it (flushed): what the answer shows


@dataclass(frozen=True)
class Surveyed:
    """What a campaign read about a unit before opening its case (see ``open_case``)."""

    unit: AdminUnit
    units: UnitPath
    prior: tuple[PriorRecognition, ...]


@dataclass(frozen=True)
class TriggerCheck:
    trigger: str
    allowed: bool
    reasons: list[Reason]
    bodies: list[str]
    citation: str
    checked_when_fired: list[str]  # guards that read the payload, so can only be judged when it is sent


REFUSALS = Counter("cdht_refusals_total", "Refused writes, by trigger and reason", ["trigger", "code"])
APPLIED = Counter("cdht_transitions_total", "Accepted transitions, by procedure and trigger", ["procedure", "trigger"])


def _refused(kind: str, trigger: str, actor: Actor, reasons: list[Reason]) -> None:
    # Refusals are logged and counted, not chained (DESIGN.md contract 4).
    for reason in reasons:
        REFUSALS.labels(trigger, reason.code).inc()
    log.info(
        "refused %s trigger=%s actor=%s unit=%s reasons=%s",
        kind,
        trigger,
        actor.sub,
        actor.unit,
        "; ".join(f"{r.code}: {r.message}" for r in reasons),
    )


def ensure_time_moves_forward(cf: CaseFile, now: datetime) -> None:
    """A case's history runs forward: an act dated before the case's last one (a clock set back) is refused, so
    the audit trail's order by time and by sequence never disagree."""
    if now < cf.case.updated_at:
        raise Conflict(
            f"the clock ({now.isoformat()}) is behind the case's last change ({cf.case.updated_at.isoformat()})",
            reasons=[Reason("time_out_of_order", "check the server clock (or CDHT_NOW)")],
        )


def ensure_readable(cf: CaseFile, actor: Actor) -> None:
    """Outside the case's jurisdiction nothing about it is told, not even its state (403 before anything else)."""
    ensure_may_read(actor, cf.units, cf.case.subject or None)


def ensure_may_read(actor: Actor, units: UnitPath, subject: str | None) -> None:
    """The jurisdiction check of a read, from the case's unit path and subject alone (no case file needed)."""
    require_read(actor, units, subject)


# --- reading what may be done --------------------------------------------------------------------------------


def check_trigger(
    cf: CaseFile,
    transition: Transition,
    actor: Actor,
    now: datetime,
    *,
    indicator: str | None = None,
    payload: dict[str, Any] | None = None,
) -> TriggerCheck:
    """Authority and guards for one trigger. Without a payload, guards that read it are left for firing time."""
    reasons: list[Reason] = []
    decision = decide(actor, transition.bodies, cf.authority_context(indicator, local_date(now)))
    if not decision.allowed:
        reasons.extend(Reason("not_authorised", message) for message in decision.reasons)
    guards = transition.guards if payload is not None else [g for g in transition.guards if not GUARDS[g].reads]
    ctx = cf.guard_context(trigger=transition.trigger, payload=payload or {}, now=now, indicator=indicator)
    reasons.extend(Reason(v.code, v.message) for v in run_guards(guards, ctx))
    later = [] if payload is not None else [g for g in transition.guards if GUARDS[g].reads]
    return TriggerCheck(transition.trigger, not reasons, reasons, transition.bodies, transition.citation.ref, later)


def explain(cf: CaseFile, actor: Actor, now: datetime) -> list[TriggerCheck]:
    definition = cf.procedure.definition
    return [
        check_trigger(cf, definition.transition(trigger), actor, now)
        for trigger in cf.procedure.machine.triggers_from(cf.case.state)
    ]


def allowed_transitions(cf: CaseFile, actor: Actor, now: datetime) -> list[str]:
    return [check.trigger for check in explain(cf, actor, now) if check.allowed]


# --- writing -----------------------------------------------------------------------------------------------


def _outbox(
    session: AsyncSession,
    *,
    case: Case,
    event: AuditEvent,
    type_: str,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> None:
    data = {
        "case_id": case.id,
        "procedure": case.procedure,
        "version": case.version,
        "unit": case.unit_code,
        "cycle": case.cycle,
        "from": event.from_state,
        "to": event.to_state,
        "trigger": event.trigger,
        "actor": event.actor_sub,
        "event_id": event.uid,
        "seq": event.seq,
        **(extra or {}),
    }
    session.add(
        OutboxMessage(
            event_uid=event.uid,
            case_id=case.id,
            seq=event.seq,
            type=type_,
            unit_code=case.unit_code,
            body={"type": type_, "timestamp": format_time(now), "data": data},
            created_at=now,
        )
    )


def record_event(
    session: AsyncSession,
    cf: CaseFile,
    *,
    facts: EventFacts,
    actor: Actor,
    role: str | None,
    now: datetime,
    request_id: str | None,
    idempotency_key: str | None,
    outbox_type: str,
    extra: dict[str, Any] | None = None,
) -> AuditEvent:
    """The tail of every write: the audit event (with the case's new state digest) and its outbox row."""
    event = append_case_event(
        session,
        case=cf.case,
        facts=facts,
        actor=actor,
        actor_role=role,
        now=now,
        state_digest=cf.state_digest(),
        request_id=request_id,
        idempotency_key=idempotency_key,
    )
    _outbox(session, case=cf.case, event=event, type_=outbox_type, now=now, extra=extra)
    return event


def apply_change(
    cf: CaseFile,
    add: Callable[[Any], None],
    *,
    transition: Transition,
    ctx: GuardContext,
    state_after: str,
    now: datetime,
    indicator: str | None,
) -> None:
    """Everything an accepted transition changes besides the audit trail: state, dossier, effects, indicators,
    deadlines. Shared with the replay that rebuilds a case as of a past time, so both read the rules the same way."""
    case, definition, trigger, payload = cf.case, cf.procedure.definition, transition.trigger, dict(ctx.payload)
    effect = combine(transition.effects, ctx)
    if indicator is None:
        case.state = state_after
        case.dossier = {**(case.dossier or {}), trigger: payload}
    else:
        row = cf.indicator_rows[indicator]
        row.state = state_after
        row.updated_at = now
        for name, value in effect.indicator_fields.items():
            setattr(row, name, value)
    for name, value in effect.case_fields.items():
        setattr(case, name, value)
    for code, org in effect.create_indicators:
        row = CaseIndicator(
            case_id=case.id, code=code, assignee_org=org, state=definition.indicator_process.initial, updated_at=now
        )
        add(row)
        cf.indicator_rows[code] = row
    if indicator is None:
        deadlines.close_deadlines(cf, trigger, now=now)
        if effect.extend_deadline is not None:
            deadlines.extend_deadline(cf, *effect.extend_deadline, now=now)
        deadlines.open_deadlines(add, cf, state_after, now=now, payload=payload)


Collector = Callable[[AsyncSession, Registry, CaseFile, datetime], Awaitable[dict[str, Any]]]
COLLECTORS: dict[str, Collector] = {}


def collector(name: str) -> Callable[[Collector], Collector]:
    """Register a collector: service code that gathers, before a transition fires, payload fields the caller
    does not supply (reads only; e.g. the annual report's snapshot)."""

    def register(fn: Collector) -> Collector:
        COLLECTORS[name] = fn
        return fn

    return register


async def _collect(
    session: AsyncSession,
    registry: Registry,
    cf: CaseFile,
    transition: Transition,
    payload: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    from service.domain import reports  # noqa: F401  (registers the report collectors; imported late: it replays)

    collected = await COLLECTORS[transition.collector](session, registry, cf, now)
    clash = sorted(set(payload) & set(collected))
    if clash:
        raise InvalidPayload(
            f"{', '.join(clash)} are computed by the service, not sent",
            reasons=[Reason("payload_invalid", f"{name}: computed by the service") for name in clash],
        )
    return {**payload, **collected}


async def _computed_figures(
    session: AsyncSession, cf: CaseFile, indicator: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """An indicator the law defines by other cases (TT25/2023 Điều 11 k4 a: "ít nhất 90% số xã được công nhận")
    gets its figures from the database, never from the caller."""
    definition = cf.procedure.definition
    measure = definition.indicator(indicator).measure
    if measure.kind != "recognised_share":
        return payload
    if "figures" in payload:
        raise InvalidPayload(
            f"the figures of {indicator} are computed by the service, not sent",
            reasons=[Reason("payload_invalid", "figures: computed from the recognitions on record")],
        )
    count = await count_recognised_subordinates(
        session,
        unit_code=cf.case.unit_code,
        cycle=cf.case.cycle,
        sources=measure.of or [],
        levels=definition.levels,
        now=now,
        policy=inheritance(cf.settings),
    )
    if count is None:
        kinds = " or ".join(f"{source['unit_level']}s" for source in measure.of or [])
        raise GuardFailed(
            f"{indicator} cannot be computed: {cf.case.unit_code} has no {kinds} on record for cycle {cf.case.cycle}",
            reasons=[Reason("no_subordinate_units", f"no {kinds} under {cf.case.unit_code} in cycle {cf.case.cycle}")],
        )
    figures = {"units": count.units, "recognised": count.recognised, "source": count.source}
    return {**payload, "figures": {**figures, "as_of": count.as_of.isoformat()}}


def _resolve(definition: Definition, cf: CaseFile, trigger: str, indicator: str | None) -> tuple[Transition, str]:
    """The transition and the state it fires from, or a refusal naming what is wrong."""
    if indicator is None:
        transition = definition.transition(trigger)
        if transition is None:
            raise NotFound(
                f"{trigger} is not a trigger of {definition.key}/{definition.version}",
                reasons=[Reason("trigger_unknown", f"{definition.key} has no trigger {trigger}")],
            )
        return transition, cf.case.state
    process = definition.indicator_process
    transition = definition.indicator_transition(trigger) if process else None
    if transition is None:
        raise NotFound(
            f"{trigger} is not an indicator trigger of {definition.key}/{definition.version}",
            reasons=[Reason("trigger_unknown", f"{definition.key} has no indicator trigger {trigger}")],
        )
    row = cf.indicator_row(indicator)
    return transition, row.state


async def apply_transition(
    session: AsyncSession,
    *,
    registry: Registry,
    case_id: str,
    trigger: str,
    actor: Actor,
    payload: dict[str, Any],
    now: datetime,
    indicator: str | None = None,
    expected_version: int | None = None,
    idempotency_request: IdempotencyRequest | None = None,
    request_id: str | None = None,
    comment: str | None = None,
) -> Outcome:
    cf = await load_case_file(session, registry, case_id, lock=True, trigger=trigger, indicator=indicator)
    ensure_readable(cf, actor)
    if idempotency_request is not None:
        stored = await idempotency.find(session, actor, idempotency_request)
        if stored is not None:
            return Outcome(replay=stored)
    case, definition = cf.case, cf.procedure.definition
    ensure_time_moves_forward(cf, now)
    if expected_version is not None and expected_version != case.row_version:
        raise PreconditionFailed(
            f"the case changed since you read it (version {case.row_version}, you sent {expected_version})",
            reasons=[Reason("stale_etag", "read the case again and retry against its new ETag")],
        )
    transition, state = _resolve(definition, cf, trigger, indicator)
    # Authority first: whoever may never fire this trigger is told so, whatever the case's state.
    decision = decide(actor, transition.bodies, cf.authority_context(indicator, local_date(now)))
    if not decision.allowed:
        reasons = [Reason("not_authorised", message) for message in decision.reasons]
        _refused("transition", trigger, actor, reasons)
        raise Forbidden(f"you may not {trigger} in this case", reasons=reasons)
    process = definition.indicator_process
    if indicator is not None and cf.case.state not in process.case_states:
        raise Conflict(
            f"indicators change only while the case is {', '.join(process.case_states)}; it is {cf.case.state}",
            reasons=[Reason("wrong_case_state", f"the case is {cf.case.state}")],
        )
    machine = cf.procedure.indicator_machine if indicator else cf.procedure.machine
    if trigger not in machine.triggers_from(state):
        allowed = [] if indicator else allowed_transitions(cf, actor, now)
        reasons = [
            Reason(
                "wrong_state",
                f"{trigger} fires from {', '.join(transition.source)}; "
                f"{'the indicator' if indicator else 'the case'} is {state}",
            )
        ]
        _refused("transition", trigger, actor, reasons)
        raise Conflict(f"{trigger} is not possible in state {state}", reasons=reasons, allowed_transitions=allowed)
    if transition.collector is not None:
        payload = await _collect(session, registry, cf, transition, payload, now)
    if indicator is not None and "figures" in transition.payload:
        payload = await _computed_figures(session, cf, indicator, payload, now)
    errors = payload_errors(transition, payload)
    if errors:
        _refused("transition", trigger, actor, [Reason("payload_invalid", f"{p}: {m}") for p, m in errors])
        raise InvalidPayload(
            f"the payload of {trigger} is malformed",
            reasons=[Reason("payload_invalid", f"{path}: {message}") for path, message in errors],
        )
    ctx = cf.guard_context(trigger=trigger, payload=payload, now=now, indicator=indicator)
    failures = run_guards(transition.guards, ctx)
    if failures:
        reasons = [Reason(v.code, v.message) for v in failures]
        _refused("transition", trigger, actor, reasons)
        raise GuardFailed(
            f"{trigger} refused: " + "; ".join(r.message for r in reasons),
            reasons=reasons,
            allowed_transitions=None if indicator else allowed_transitions(cf, actor, now),
        )

    new_state = machine.fire(state, trigger)
    apply_change(cf, session.add, transition=transition, ctx=ctx, state_after=new_state, now=now, indicator=indicator)

    event_payload: dict[str, Any] = {"data": payload}
    if comment:
        event_payload["comment"] = comment
    facts = EventFacts(
        kind="indicator_transition" if indicator else "transition",
        trigger=trigger,
        from_state=state,
        to_state=new_state,
        indicator=indicator,
        payload=event_payload,
        citation=transition.citation.ref,
    )
    case.row_version += 1
    case.updated_at = now
    event = record_event(
        session,
        cf,
        facts=facts,
        actor=actor,
        role=decision.role,
        now=now,
        request_id=request_id,
        idempotency_key=idempotency_request.key if idempotency_request else None,
        outbox_type=transition.webhook_event or ("indicator.transitioned" if indicator else "case.transitioned"),
        extra={"indicator": indicator} if indicator else None,
    )
    await session.flush()
    APPLIED.labels(case.procedure, trigger).inc()
    return Outcome(case=case, event=event, case_file=cf)


def definition_bodies(definition: Definition) -> set[str]:
    """Every body the definition names: who opens, fires, or adds evidence."""
    bodies = set(definition.open.bodies)
    for transition in definition.transitions:
        bodies.update(transition.bodies)
    process = definition.indicator_process
    if process is not None:
        bodies.update(process.evidence.bodies)
        for transition in process.transitions:
            bodies.update(transition.bodies)
    return bodies - {SYSTEM_BODY}


def _opening_refusals(
    definition: Definition,
    *,
    unit: AdminUnit,
    cycle: int,
    kind: str,
    target_level: int | None,
    subject: str,
    now: datetime,
    subject_level: str,
) -> list[Reason]:
    """What is wrong with the request itself, before anyone's authority or the unit's history is considered."""
    reasons = []
    if unit.level != subject_level:
        reasons.append(
            Reason("unit_level", f"{definition.key} is for a {subject_level}; {unit.code} is a {unit.level}")
        )
    if kind not in definition.kinds:
        reasons.append(Reason("kind_unknown", f"kind must be one of {', '.join(definition.kinds)}"))
    if definition.levels and target_level not in definition.levels:
        reasons.append(Reason("level_unknown", f"target_level must be one of {definition.levels}"))
    if not definition.levels and target_level is not None:
        reasons.append(Reason("level_not_applicable", f"{definition.key} has no levels; send no target_level"))
    if definition.open.subject == "organisation" and not subject:
        reasons.append(Reason("subject_required", f"{definition.key} is about an organisation: name it in subject"))
    if definition.open.subject is None and subject:
        reasons.append(Reason("subject_not_allowed", f"{definition.key} is about the unit itself; send no subject"))
    if cycle < definition.effective_from.year:
        reasons.append(
            Reason(
                "cycle_before_instrument",
                f"{definition.instrument} applies from cycle {definition.effective_from.year}",
            )
        )
    if definition.repealed_on is not None and local_date(now) >= definition.repealed_on:
        reasons.append(
            Reason(
                "instrument_repealed",
                f"{definition.instrument} was repealed on {definition.repealed_on:%d/%m/%Y}"
                f"{' by ' + definition.repealed_by if definition.repealed_by else ''}; "
                "cases opened before then stay on it, no new case opens",
            )
        )
    if cycle > now.year + 1:
        reasons.append(Reason("cycle_in_future", f"cycle {cycle} is more than a year ahead"))
    cycle_end = date(cycle, 12, 31)
    if unit.valid_to is not None and unit.valid_to < cycle_end:
        reasons.append(
            Reason(
                "unit_not_valid",
                f"{unit.code} ceased on {unit.valid_to:%d/%m/%Y}, before the end of cycle {cycle}; "
                "open the case on the unit that continues it",
            )
        )
    if unit.valid_from is not None and unit.valid_from > cycle_end:
        reasons.append(
            Reason("unit_not_valid", f"{unit.code} exists from {unit.valid_from:%d/%m/%Y}, after cycle {cycle}")
        )
    return reasons


def _unfilled_bodies(definition: Definition, profile: Profile, units: UnitPath) -> list[Reason]:
    """Bodies of the definition that no one fills under the profile for this unit (e.g. a district office after
    the two-tier reform); a case that could never be decided is not opened."""
    reasons = []
    for body in sorted(definition_bodies(definition)):
        rule = profile.bodies.get(body)
        if rule is None:
            reasons.append(
                Reason(
                    "no_tier",
                    f"{body}: profile {profile.name} names no one for it"
                    + (
                        " (there is no district tier in this profile)"
                        if body.startswith(("district", "province_council"))
                        else ""
                    ),
                )
            )
        elif units.at(rule.at) is None:
            reasons.append(Reason("no_tier", f"{body}: {units.unit} has no {rule.at} above it in the unit tree"))
    return reasons


def procedure_in_force(registry: Registry, procedure: str, now: datetime) -> Procedure:
    """The version of a procedure new cases open under today; 404 when there is no such procedure."""
    loaded = registry.current(procedure, local_date(now))
    if loaded is None:
        raise NotFound(
            f"no procedure {procedure}", reasons=[Reason("procedure_unknown", f"{procedure} is not defined")]
        )
    return loaded


async def _refuse_existing(
    session: AsyncSession, procedure: str, unit_code: str, *, subject: str, cycle: int, kind: str
) -> None:
    """One case per unit (and subject), cycle and kind: 409 naming the case that exists."""
    existing = (
        await session.execute(
            select(Case.id).where(
                Case.procedure == procedure,
                Case.unit_code == unit_code,
                Case.subject == subject,
                Case.cycle == cycle,
                Case.kind == kind,
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise Conflict(
            f"{unit_code} already has a {kind} {procedure} case for cycle {cycle}: {existing}",
            reasons=[Reason("case_exists", f"one case per unit, cycle and kind; see case {existing}")],
            extra={"case_id": existing},
        )


async def open_case(
    session: AsyncSession,
    *,
    registry: Registry,
    actor: Actor,
    procedure: str,
    unit_code: str,
    cycle: int,
    kind: str,
    target_level: int | None,
    now: datetime,
    subject: str | None = None,
    request_id: str | None = None,
    idempotency_request: IdempotencyRequest | None = None,
    surveyed: Surveyed | None = None,
) -> Outcome:
    """Open a case (TT25/2023 Điều 24 k1: the commune's People's Committee, or the body the definition names).
    With ``surveyed`` (a campaign), the unit's place and recognitions come from the caller, who has also checked
    that the case does not exist yet, and who flushes: the unique constraint still refuses a concurrent opening."""
    if idempotency_request is not None:
        stored = await idempotency.find(session, actor, idempotency_request)
        if stored is not None:
            return Outcome(replay=stored)
    loaded = procedure_in_force(registry, procedure, now)
    definition = loaded.definition
    subject = (subject or "").strip()
    unit, units = (surveyed.unit, surveyed.units) if surveyed else await unit_path(session, unit_code)
    profile = registry.profile_for_cycle(cycle, units.at("province"))
    subject_level = definition.subject_level
    if subject_level == "reviewing_office":
        subject_level = profile.bodies["reviewer.head"].at
    if target_level is None:
        target_level = 2 if kind == "upgrade" else min(definition.levels, default=None)
    reasons = _opening_refusals(
        definition,
        unit=unit,
        cycle=cycle,
        kind=kind,
        target_level=target_level,
        subject=subject,
        now=now,
        subject_level=subject_level,
    )
    if reasons:
        raise InvalidPayload("this case cannot be opened", reasons=reasons)
    unfilled = _unfilled_bodies(definition, profile, units)
    if unfilled:
        raise Conflict(
            f"cycle {cycle} of {unit_code} runs under profile {profile.name}, "
            f"which cannot run {definition.key}: no one fills {len(unfilled)} of its bodies",
            reasons=unfilled,
        )
    decision = decide(
        actor, definition.open.bodies, AuthorityContext(profile, units, subject=subject or None, on=local_date(now))
    )
    if not decision.allowed:
        raise Forbidden(
            f"you may not open a {procedure} case for {unit_code}",
            reasons=[Reason("not_authorised", m) for m in decision.reasons],
        )
    settings = {**definition.default_settings(), **profile.default_settings()}
    if definition.open.guards:
        prior = (
            surveyed.prior
            if surveyed
            else await prior_recognitions(
                session, unit_code=unit_code, procedure=definition.key, subject=subject, policy=inheritance(settings)
            )
        )
        ctx = GuardContext(
            definition=definition,
            trigger="open",
            state=definition.initial_state,
            kind=kind,
            cycle=cycle,
            now=now,
            settings=settings,
            target_level=target_level,
            disadvantaged=unit.disadvantaged,
            prior_recognitions=prior,
        )
        failures = run_guards(definition.open.guards, ctx)
        if failures:
            reasons = [Reason(v.code, v.message) for v in failures]
            _refused("open", "open", actor, reasons)
            raise GuardFailed(f"{kind} case refused: " + "; ".join(r.message for r in reasons), reasons=reasons)
    if surveyed is None:
        await _refuse_existing(session, procedure, unit_code, subject=subject, cycle=cycle, kind=kind)
    case = Case(
        id=str(uuid.uuid4()),
        procedure=definition.key,
        version=definition.version,
        profile=profile.name,
        unit_code=unit_code,
        subject=subject,
        cycle=cycle,
        kind=kind,
        state=definition.initial_state,
        target_level=target_level,
        pinned={"settings": settings, "disadvantaged": unit.disadvantaged},
        dossier={},
        opened_by=actor.sub,
        created_at=now,
        updated_at=now,
    )
    session.add(case)
    cf = CaseFile(case, loaded, profile, unit, units, {}, [], {}, ())
    deadlines.open_deadlines(session.add, cf, case.state, now=now, payload={})
    facts = EventFacts(
        kind="case_opened",
        trigger="open",
        from_state=None,
        to_state=case.state,
        payload={
            "procedure": definition.key,
            "version": definition.version,
            "profile": profile.name,
            "unit": unit_code,
            **({"subject": subject} if subject else {}),
            "cycle": cycle,
            "kind": kind,
            "target_level": target_level,
            "pinned": case.pinned,
        },
        citation=definition.open.citation.ref,
    )
    event = record_event(
        session,
        cf,
        facts=facts,
        actor=actor,
        role=decision.role,
        now=now,
        request_id=request_id,
        idempotency_key=idempotency_request.key if idempotency_request else None,
        outbox_type="case.opened",
    )
    if surveyed:
        return Outcome(case=case, event=event)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent open of the same case won the race
        raise Conflict(
            f"{unit_code} already has a {kind} {procedure} case for cycle {cycle}",
            reasons=[Reason("case_exists", "one case per unit, cycle and kind")],
        ) from exc
    return Outcome(case=case, event=event)


def check_evidence_allowed(cf: CaseFile, indicator: str, actor: Actor, now: datetime | None = None) -> Decision:
    """Who may add evidence to an indicator, and when (the definition's evidence rule). Authority is decided
    first, so a caller who may never add evidence is told so whatever the indicator's state."""
    ensure_readable(cf, actor)
    process = cf.procedure.definition.indicator_process
    if process is None:
        raise NotFound(
            f"{cf.procedure.definition.key} takes no evidence",
            reasons=[Reason("indicator_unknown", "this procedure has no indicators")],
        )
    rule = process.evidence
    decision = decide(actor, rule.bodies, cf.authority_context(indicator, local_date(now) if now else None))
    if not decision.allowed:
        raise Forbidden(
            f"you may not add evidence to {indicator}", reasons=[Reason("not_authorised", m) for m in decision.reasons]
        )
    row = cf.indicator_row(indicator)
    if cf.case.state not in process.case_states or row.state not in rule.indicator_states:
        raise Conflict(
            f"evidence is added while the case is {', '.join(process.case_states)} and the indicator is "
            f"{' or '.join(rule.indicator_states)}; they are {cf.case.state} and {row.state}",
            reasons=[Reason("wrong_state", f"the indicator {indicator} is {row.state}")],
        )
    return decision


async def record_evidence(
    session: AsyncSession,
    *,
    registry: Registry,
    case_id: str,
    indicator: str,
    actor: Actor,
    stored: StoredFile,
    title: str | None,
    now: datetime,
    request_id: str | None = None,
) -> tuple[Evidence, AuditEvent]:
    """An uploaded file joins an indicator's evidence; the upload is an audit event carrying its hash."""
    cf = await load_case_file(session, registry, case_id, lock=True)
    decision = check_evidence_allowed(cf, indicator, actor, now)
    ensure_time_moves_forward(cf, now)
    row = cf.indicator_rows[indicator]
    rule = cf.procedure.definition.indicator_process.evidence
    evidence = Evidence(
        id=str(uuid.uuid4()),
        case_id=case_id,
        indicator_code=indicator,
        sha256=stored.sha256,
        size=stored.size,
        media_type=stored.media_type,
        filename=stored.filename,
        title=title,
        uploaded_by=actor.sub,
        uploaded_at=now,
    )
    session.add(evidence)
    facts = EventFacts(
        kind="evidence_uploaded",
        trigger="upload_evidence",
        from_state=row.state,
        to_state=row.state,
        indicator=indicator,
        payload={
            "evidence_id": evidence.id,
            "sha256": stored.sha256,
            "size": stored.size,
            "media_type": stored.media_type,
            "filename": stored.filename,
            "title": title,
        },
        citation=rule.citation.ref,
    )
    cf.evidence.append(evidence)
    cf.case.row_version += 1
    cf.case.updated_at = now
    event = record_event(
        session,
        cf,
        facts=facts,
        actor=actor,
        role=decision.role,
        now=now,
        request_id=request_id,
        idempotency_key=None,
        outbox_type="evidence.uploaded",
        extra={"indicator": indicator, "sha256": stored.sha256},
    )
    await session.flush()
    return evidence, event


# --- deadlines: breaches and reminders, recorded by the sweeper through the same write path ---------------------


async def flag_breach(
    session: AsyncSession, *, registry: Registry, case_id: str, key: str, actor: Actor, now: datetime
) -> AuditEvent | None:
    """Record that a ``flag`` deadline passed without the act (TT25/2023 Điều 9 k3): the deadline is breached,
    the case is overdue, and the breach is escalated to the office above the reviewer. Idempotent."""
    cf = await load_case_file(session, registry, case_id, lock=True)
    row = cf.deadlines.get(key)
    if row is None or row.status != "open" or row.closed_at is not None or now <= row.due_at:
        return None
    row.status, row.breached_at, row.next_action_at = "breached", now, None
    escalate_to = deadlines.escalation_unit(cf, key)
    facts_payload = {"deadline": key, "due_at": row.due_at, "explanation": row.explanation, "escalate_to": escalate_to}
    cf.case.row_version += 1
    cf.case.updated_at = now
    event = record_event(
        session,
        cf,
        facts=EventFacts(
            kind="deadline_breached",
            trigger=f"deadline:{key}",
            from_state=cf.case.state,
            to_state=cf.case.state,
            payload=facts_payload,
            citation=row.citation,
        ),
        actor=actor,
        role=SYSTEM_BODY,
        now=now,
        request_id=None,
        idempotency_key=None,
        outbox_type="deadline.overdue",
        extra={"deadline": key, "due_at": format_time(row.due_at), "escalate_to": escalate_to},
    )
    await session.flush()
    return event


async def send_reminder(
    session: AsyncSession, *, registry: Registry, case_id: str, key: str, actor: Actor, now: datetime
) -> AuditEvent | None:
    """The most urgent reminder whose day has come (``deadline.approaching``), once per offset and due time;
    then the deadline is scheduled for its next reminder or its due time."""
    cf = await load_case_file(session, registry, case_id, lock=True)
    row = cf.deadlines.get(key)
    if row is None or row.status != "open" or row.closed_at is not None:
        return None
    offsets = deadlines.reminder_offsets(cf, key)
    sent = set(
        (
            await session.execute(
                select(DeadlineReminder.days_before).where(
                    DeadlineReminder.deadline_id == row.id, DeadlineReminder.due_at == row.due_at
                )
            )
        ).scalars()
    )
    days_before = deadlines.open_reminder(row.due_at, offsets, now)
    if days_before is None or days_before in sent:
        deadlines.schedule(row, offsets, now, sent=sent)
        return None
    session.add(DeadlineReminder(deadline_id=row.id, days_before=days_before, due_at=row.due_at, sent_at=now))
    deadlines.schedule(row, offsets, now, sent={*sent, days_before})
    days_left = (local_date(row.due_at) - local_date(now)).days
    event = record_event(
        session,
        cf,
        facts=EventFacts(
            kind="deadline_reminder",
            trigger=f"deadline:{key}",
            from_state=cf.case.state,
            to_state=cf.case.state,
            payload={
                "deadline": key,
                "days_before": days_before,
                "days_left": days_left,
                "due_at": row.due_at,
                "explanation": row.explanation,
            },
            citation=row.citation,
        ),
        actor=actor,
        role=SYSTEM_BODY,
        now=now,
        request_id=None,
        idempotency_key=None,
        outbox_type="deadline.approaching",
        extra={"deadline": key, "due_at": format_time(row.due_at), "days_before": days_before, "days_left": days_left},
    )
    await session.flush()
    return event
