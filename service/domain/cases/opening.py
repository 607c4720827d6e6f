"""Opening a case: the one write that creates one (TT25/2023 Điều 24 k1: the commune's People's Committee, or the
body the definition names), through the same write tail as every other (``tail.record``, kind ``case_opened``).

The request is checked first (unit level, kind, level, subject, cycle, the instrument in force, the unit's
validity), then whether the profile in force fills every office the procedure needs, then authority, then the
definition's opening guards on the unit's recognitions on record. The answer is the case file the opening built.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.actor import Actor
from service.domain.audit.writer import EventFacts
from service.domain.authority import AuthorityContext, UnitPath, decide
from service.domain.cases.appliers import Change, opened_case
from service.domain.cases.batch_tail import Writer
from service.domain.cases.casefile import CaseFile
from service.domain.cases.checks import log_refusal
from service.domain.cases.engine import Outcome
from service.domain.cases.tail import record
from service.domain.errors import (
    CaseExists,
    Conflict,
    GuardFailed,
    InvalidPayload,
    NotAuthorised,
    Reason,
    UnknownProcedure,
)
from service.domain.units.paths import unit_path
from service.domain.units.recognitions import inheritance, prior_recognitions
from service.persistence.tables import AdminUnit, Case
from service.telemetry import context as log_context
from workflows.calendar import local_date
from workflows.guards.registry import GuardContext, PriorRecognition, reads_history, run_guards
from workflows.registry import Procedure, Registry
from workflows.schema import SYSTEM_BODY, Definition, Profile


@dataclass(frozen=True)
class Surveyed:
    """What a campaign read about a unit before opening its case (see ``open_case``)."""

    unit: AdminUnit
    units: UnitPath
    prior: tuple[PriorRecognition, ...]


def _recognitions_read(definition: Definition) -> bool:
    """Whether opening (its guards read the unit's recognitions on record), or telling what may be fired once it is
    open, needs the unit's recognitions."""
    following = (t.guards for t in definition.transitions if definition.initial_state in t.source)
    return bool(definition.open.guards) or any(reads_history(guards) for guards in following)


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
    subject_kind: str | None,
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
    kinds = definition.organisation_kinds
    if kinds and not subject_kind:
        reasons.append(
            Reason(
                "subject_kind_required",
                f"{definition.key}: name the kind of organisation in subject_kind ({definition.instrument} Điều 2; "
                "its criteria depend on it): one of " + ", ".join(kinds),
            )
        )
    elif kinds and subject_kind not in kinds:
        reasons.append(
            Reason("subject_kind_unknown", f"subject_kind {subject_kind!r} is not one of " + ", ".join(kinds))
        )
    elif not kinds and subject_kind:
        reasons.append(Reason("subject_kind_not_allowed", f"{definition.key} names no kinds of organisation"))
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
        raise UnknownProcedure(f"no procedure {procedure}", why=f"{procedure} is not defined")
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
        raise CaseExists(
            f"{unit_code} already has a {kind} {procedure} case for cycle {cycle}: {existing}",
            why=f"one case per unit, cycle and kind; see case {existing}",
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
    subject_kind: str | None = None,
    request_id: str | None = None,
    idempotency_key: str | None = None,
    surveyed: Surveyed | None = None,
    rows: Writer | None = None,
) -> Outcome:
    """Open a case (TT25/2023 Điều 24 k1: the commune's People's Committee, or the body the definition names).
    With ``surveyed`` (a campaign), the unit's place and recognitions come from the caller, who has also checked
    that the case does not exist yet, and who flushes: the unique constraint still refuses a concurrent opening.
    ``rows`` (with ``surveyed``): where the new rows go instead of the session, a batch the caller inserts
    (service/domain/cases/batch_tail.py)."""
    loaded = procedure_in_force(registry, procedure, now)
    definition = loaded.definition
    subject = (subject or "").strip()
    unit, units = (surveyed.unit, surveyed.units) if surveyed else await unit_path(session, unit_code)
    profile = registry.profile_for_cycle(cycle, units.at("province"))
    subject_level = definition.case_level(profile)
    if target_level is None:
        target_level = 2 if kind == "upgrade" else min(definition.levels, default=None)
    reasons = _opening_refusals(
        definition,
        unit=unit,
        cycle=cycle,
        kind=kind,
        target_level=target_level,
        subject=subject,
        subject_kind=subject_kind,
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
        raise NotAuthorised(f"you may not open a {procedure} case for {unit_code}", why=decision.reasons)
    settings = {**definition.default_settings(), **profile.default_settings()}
    prior: tuple[PriorRecognition, ...] | None = None
    if surveyed:
        prior = surveyed.prior
    elif _recognitions_read(definition):
        prior = await prior_recognitions(
            session, unit_code=unit_code, procedure=definition.key, subject=subject, policy=inheritance(settings)
        )
    if definition.open.guards:
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
            prior_recognitions=prior or (),
            subject=subject,
            subject_kind=subject_kind,
        )
        failures = run_guards(definition.open.guards, ctx)
        if failures:
            reasons = [Reason(v.code, v.message) for v in failures]
            log_refusal("open", "open", actor, reasons, check="guards")
            raise GuardFailed(f"{kind} case refused: " + "; ".join(r.message for r in reasons), reasons=reasons)
    if surveyed is None:
        await _refuse_existing(session, procedure, unit_code, subject=subject, cycle=cycle, kind=kind)
    change = Change(
        EventFacts(
            kind="case_opened",
            trigger="open",
            from_state=None,
            to_state=definition.initial_state,
            payload={
                "procedure": definition.key,
                "version": definition.version,
                "profile": profile.name,
                "unit": unit_code,
                **({"subject": subject} if subject else {}),
                "cycle": cycle,
                "kind": kind,
                "target_level": target_level,
                "pinned": {
                    "settings": settings,
                    "disadvantaged": unit.disadvantaged,
                    **({"subject_kind": subject_kind} if subject_kind else {}),
                },
            },
            citation=definition.open.citation.source(settings),
        ),
        now,
        actor.sub,
    )
    case = opened_case(str(uuid.uuid4()), change)
    log_context.bind(case=case.id, trigger="open")
    writer: Writer = session if rows is None or surveyed is None else rows
    writer.add(case)
    cf = CaseFile(case, loaded, profile, unit, units, {}, [], {}, prior)
    event = record(
        writer,  # type: ignore[arg-type]
        cf,
        change,
        registry=registry,
        actor=actor,
        role=decision.role,
        outbox_type="case.opened",
        request_id=request_id,
        idempotency_key=idempotency_key,
    )
    outcome = Outcome(cf, event, actor, now)
    if surveyed:
        return outcome
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent open of the same case won the race
        raise CaseExists(
            f"{unit_code} already has a {kind} {procedure} case for cycle {cycle}",
            why="one case per unit, cycle and kind",
        ) from exc
    return outcome
