"""What the caller may do with a case, and why not: the write's own checks (``checks.EXPLAINED``) run on every
trigger open from the case's state, without a payload, every reason listed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.domain.actor import Actor
from service.domain.cases.casefile import CaseFile
from service.domain.cases.checks import EXPLAINED, Attempt, every_reason, guards_judged, passes
from service.domain.errors import Reason
from workflows.guards.registry import is_shape_guard
from workflows.schema import Transition


@dataclass(frozen=True)
class TriggerCheck:
    trigger: str
    allowed: bool
    reasons: list[Reason]
    bodies: list[str]
    citation: str
    checked_when_fired: list[str]  # guards that read the payload, so can only be judged when it is sent


def check_trigger(
    cf: CaseFile,
    transition: Transition,
    actor: Actor,
    now: datetime,
    *,
    indicator: str | None = None,
    payload: dict[str, Any] | None = None,
) -> TriggerCheck:
    """Authority, payload and guards for one trigger. Without a payload, guards that read it are left for firing
    time."""
    attempt = Attempt(cf, actor, transition.trigger, transition, now, indicator=indicator, payload=payload)
    reasons = every_reason(EXPLAINED, attempt)
    judged = set(guards_judged(transition, payload))
    if payload is not None:  # the shape guards were judged with the payload
        judged |= {guard for guard in transition.guards if is_shape_guard(guard)}
    later = [guard for guard in transition.guards if guard not in judged]
    source = transition.citation.source(cf.settings)
    return TriggerCheck(transition.trigger, not reasons, reasons, transition.bodies, source, later)


def explain(cf: CaseFile, actor: Actor, now: datetime) -> list[TriggerCheck]:
    definition = cf.procedure.definition
    return [
        check_trigger(cf, definition.transition(trigger), actor, now)
        for trigger in cf.procedure.machine.triggers_from(cf.case.state)
    ]


def allowed_transitions(cf: CaseFile, actor: Actor, now: datetime) -> list[str]:
    """The triggers of ``explain`` that are allowed: the same checks, each trigger's stopping at the first that
    refuses (nothing to list: an answer's ``allowed_transitions``, a page of cases), so the guards of a trigger
    the caller has no authority for are not run."""
    definition = cf.procedure.definition
    return [
        trigger
        for trigger in cf.procedure.machine.triggers_from(cf.case.state)
        if passes(EXPLAINED, Attempt(cf, actor, trigger, definition.transition(trigger), now))
    ]
