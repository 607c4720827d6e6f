"""One applier per kind of case event: what the event changes in the case file.

The engine applies a change through its applier when it writes (``tail.record``), and the replay applies each
event it reads through the same applier (``replayed``), so a case rebuilt from its history is the case the engine
wrote, by construction. An applier changes the case file in memory and hands any row it creates to ``add``
(``session.add`` when writing, nothing when replaying); ``advance`` is the part of the write tail a replay
repeats: every change but an opening and a reminder counts as a new version of the case, dated when it happened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.domain.audit.writer import EventFacts
from service.domain.cases import deadlines
from service.domain.cases.casefile import CaseFile, pinned, transition_of
from service.domain.errors import ReplayFailed
from service.persistence.tables import Case, CaseIndicator, DeadlineReminder, Evidence
from workflows.effects import combine
from workflows.guards.registry import GuardContext
from workflows.registry import Registry
from workflows.schema import Transition

Add = Callable[[Any], None]


@dataclass(frozen=True)
class Change:
    """One event as the appliers read it: what the engine is about to record, or what the replay read back.

    ``transition`` and ``context`` are given by the engine, which resolved the trigger and judged its guards on
    that context; the replay leaves them out and they are resolved from the event."""

    facts: EventFacts
    at: datetime
    actor_sub: str
    transition: Transition | None = None
    context: GuardContext | None = None

    @property
    def payload(self) -> dict[str, Any]:
        return self.facts.payload or {}


def opened_case(case_id: str, change: Change) -> Case:
    """The row an opening creates, from its event's facts alone."""
    facts = change.payload
    return Case(
        id=case_id,
        procedure=facts["procedure"],
        version=facts["version"],
        profile=facts["profile"],
        unit_code=facts["unit"],
        subject=facts.get("subject") or "",
        cycle=facts["cycle"],
        kind=facts["kind"],
        state=change.facts.to_state,
        target_level=facts["target_level"],
        pinned=facts.get("pinned") or {},
        dossier={},
        opened_by=change.actor_sub,
        created_at=change.at,
        updated_at=change.at,
        row_version=1,
    )


def _opened(cf: CaseFile, change: Change, add: Add, registry: Registry) -> None:
    deadlines.open_deadlines(add, cf, cf.case.state, now=change.at, payload={})


def apply_transition_change(
    cf: CaseFile,
    add: Add,
    *,
    transition: Transition,
    ctx: GuardContext,
    state_after: str,
    now: datetime,
    indicator: str | None,
) -> None:
    """Everything an accepted transition changes besides the audit trail: state, dossier, effects, indicators,
    deadlines."""
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


def _transitioned(cf: CaseFile, change: Change, add: Add, registry: Registry) -> None:
    facts, definition = change.facts, cf.procedure.definition
    transition = change.transition
    if transition is None:
        transition = transition_of(definition, facts.trigger, facts.indicator)
        if transition is None:
            raise ReplayFailed(
                f"an event of case {cf.case.id} names {facts.trigger}, unknown to {definition.key}/"
                f"{definition.version}",
                why="the pinned definition does not match the history",
            )
    ctx = change.context or cf.guard_context(
        transition, payload=change.payload.get("data") or {}, now=change.at, indicator=facts.indicator
    )
    apply_transition_change(
        cf, add, transition=transition, ctx=ctx, state_after=facts.to_state, now=change.at, indicator=facts.indicator
    )


def _evidence_uploaded(cf: CaseFile, change: Change, add: Add, registry: Registry) -> None:
    facts = change.payload
    evidence = Evidence(
        id=facts["evidence_id"],
        case_id=cf.case.id,
        indicator_code=change.facts.indicator,
        sha256=facts["sha256"],
        size=facts["size"],
        media_type=facts["media_type"],
        filename=facts["filename"],
        title=facts.get("title"),
        uploaded_by=change.actor_sub,
        uploaded_at=change.at,
    )
    add(evidence)
    cf.evidence.append(evidence)


def _deadline_breached(cf: CaseFile, change: Change, add: Add, registry: Registry) -> None:
    row = cf.deadlines[change.payload["deadline"]]
    row.status, row.breached_at, row.next_action_at = "breached", change.at, None


def _deadline_reminded(cf: CaseFile, change: Change, add: Add, registry: Registry) -> None:
    """A reminder changes nothing the case shows: it only records that it went out (once per offset and due time)."""
    row = cf.deadlines.get(change.payload["deadline"])
    if row is not None:
        days_before = change.payload["days_before"]
        add(DeadlineReminder(deadline_id=row.id, days_before=days_before, due_at=row.due_at, sent_at=change.at))


def _migrated(cf: CaseFile, change: Change, add: Add, registry: Registry) -> None:
    """A migration (service/domain/bulk/case_migrations.py) moves the case to another version of its definition: the
    events after it are read under that version, with the settings it added pinned."""
    case, facts = cf.case, change.payload
    case.version, case.state = facts["to_version"], change.facts.to_state
    added = facts.get("settings_added") or {}
    if added and "settings" in (case.pinned or {}):
        case.pinned = {**case.pinned, "settings": {**case.pinned["settings"], **added}}
    cf.procedure, cf.profile = pinned(registry, case)


@dataclass(frozen=True)
class Applier:
    apply: Callable[[CaseFile, Change, Add, Registry], None]
    new_version: bool  # the change makes a new version of the case (row_version, updated_at)


APPLIERS: dict[str, Applier] = {
    "case_opened": Applier(_opened, new_version=False),  # the row is created at version 1 (``opened_case``)
    "transition": Applier(_transitioned, new_version=True),
    "indicator_transition": Applier(_transitioned, new_version=True),
    "evidence_uploaded": Applier(_evidence_uploaded, new_version=True),
    "deadline_breached": Applier(_deadline_breached, new_version=True),
    "deadline_reminder": Applier(_deadline_reminded, new_version=False),
    "case_migrated": Applier(_migrated, new_version=True),
}


def applier(cf: CaseFile, kind: str) -> Applier:
    found = APPLIERS.get(kind)
    if found is None:
        raise ReplayFailed(
            f"case {cf.case.id} has an event of kind {kind}, which this service cannot apply",
            why="upgrade the service before reading this history",
        )
    return found


def advance(cf: CaseFile, change: Change) -> None:
    """A new version of the case, dated when the change happened (the part of the write tail a replay repeats)."""
    if applier(cf, change.facts.kind).new_version:
        cf.case.row_version += 1
        cf.case.updated_at = change.at


def apply(cf: CaseFile, change: Change, *, add: Add, registry: Registry) -> None:
    """The change applied to the case file through its kind's applier, then the case advanced."""
    applier(cf, change.facts.kind).apply(cf, change, add, registry)
    advance(cf, change)


def _ignore(_: Any) -> None:
    """Rows a replay creates are never saved."""


def replayed(cf: CaseFile, change: Change, registry: Registry) -> None:
    """A past event applied again to a case file being rebuilt (nothing is saved)."""
    apply(cf, change, add=_ignore, registry=registry)
