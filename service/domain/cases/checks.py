"""The checks a trigger passes before it fires: small named rules, run in order, each passing or returning a refusal
with its reasons (the shape of Prefect's orchestration policies).

A write runs them all and stops at the first refusal; ``explain`` runs the ones about the trigger (authority, state,
payload, guards) on every trigger open from the case's state and lists every reason. Both run these same objects,
so what the service says may be done and what it lets be done cannot drift apart. Authority itself is decided in
``service/domain/authority.py``; the checks only ask it.

    readable  → the case is in the caller's jurisdiction (403 before anything else is told)
    clock     → a write is dated no earlier than the case's last change (409 time_out_of_order)
    version   → the caller's If-Match names the case's version (412 stale_etag)
    trigger   → the trigger (and indicator) exist in the pinned definition (404)
    authority → the caller fills one of the trigger's bodies (403 not_authorised)
    state     → the trigger fires from the state the case (or indicator) is in (409 wrong_state)
    payload   → the payload matches the trigger's schema (422 payload_invalid)
    guards    → the definition's guards pass on the frozen context (409 with each guard's reason)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from prometheus_client import Counter

from service.domain.actor import Actor
from service.domain.authority import Decision, decide, require_read
from service.domain.cases.casefile import CaseFile
from service.domain.errors import (
    Conflict,
    DomainError,
    GuardFailed,
    InvalidPayload,
    NotAuthorised,
    NotFound,
    Reason,
    StaleVersion,
    TimeOutOfOrder,
    WrongState,
)
from service.telemetry import tracing
from workflows.calendar import local_date
from workflows.guards.registry import GUARDS, GuardContext, is_shape_guard, run_guards
from workflows.machine import StateMachine
from workflows.payloads import payload_errors
from workflows.schema import SYSTEM_BODY, Definition, Transition

log = logging.getLogger("cdht.engine")
REFUSALS = Counter("cdht_refusals_total", "Refused writes, by trigger and reason", ["trigger", "code"])

Clock = Callable[[], datetime]


def read_time(now: datetime | Clock) -> datetime:
    """A write's time: the one given, or the clock read now. A write reads its clock once the case row is locked,
    so writes that the lock serialises are dated in the order they apply (a frozen clock stays frozen)."""
    return now if isinstance(now, datetime) else now()


def ensure_readable(cf: CaseFile, actor: Actor) -> None:
    """Outside the case's jurisdiction nothing about it is told, not even its state (403 before anything else)."""
    require_read(actor, cf.units, cf.case.subject or None)


def ensure_time_moves_forward(cf: CaseFile, now: datetime) -> None:
    """A case's history runs forward: an act dated before the case's last one (a clock set back) is refused, so
    the audit trail's order by time and by sequence never disagree."""
    if now < cf.case.updated_at:
        raise TimeOutOfOrder(
            f"the clock ({now.isoformat()}) is behind the case's last change ({cf.case.updated_at.isoformat()})",
            why="check the server clock (or CDHT_NOW)",
        )


@dataclass(eq=False)
class Attempt:
    """One trigger tried on a case file: by a write (``writing``, with its payload once gathered and the version
    the caller expects) or by an explanation (no payload: guards that read it are left for firing time)."""

    cf: CaseFile
    actor: Actor
    trigger: str
    transition: Transition | None  # resolved once in the pinned definition; None when it names no transition
    now: datetime
    indicator: str | None = None
    payload: dict[str, Any] | None = None
    expected_version: int | None = None
    writing: bool = False

    @cached_property
    def decision(self) -> Decision:
        """Whether the caller fills one of the trigger's bodies (and as which role)."""
        bodies = self.transition.bodies if self.transition else []
        return decide(self.actor, bodies, self.cf.authority_context(self.indicator, local_date(self.now)))

    @property
    def state(self) -> str:
        """The state the trigger fires from: the case's, or the indicator's (404 when it has no record)."""
        return self.cf.indicator_row(self.indicator).state if self.indicator else self.cf.case.state

    @property
    def machine(self) -> StateMachine:
        procedure = self.cf.procedure
        return procedure.indicator_machine if self.indicator else procedure.machine

    @cached_property
    def context(self) -> GuardContext:
        """The frozen context the guards judge (and the effects read once the trigger fires); built when first
        asked for, which a write does only once its payload is gathered."""
        assert self.transition is not None
        return self.cf.guard_context(
            self.transition, payload=self.payload or {}, now=self.now, indicator=self.indicator
        )


@dataclass(frozen=True)
class Refusal:
    error: DomainError
    tells_allowed: bool = False  # the problem lists the triggers the caller may fire instead


class Check:
    """A named rule. ``counted``: its refusals are logged (with its name) and counted as refused writes."""

    name = ""
    counted = False

    def __call__(self, attempt: Attempt) -> Refusal | None:
        raise NotImplementedError


def _refusal(run: Callable[[], None]) -> Refusal | None:
    try:
        run()
    except DomainError as exc:
        return Refusal(exc)
    return None


class Readable(Check):
    name = "readable"

    def __call__(self, attempt: Attempt) -> Refusal | None:
        return _refusal(lambda: ensure_readable(attempt.cf, attempt.actor))


class ClockMovesForward(Check):
    """Only a write is dated; an explanation writes nothing."""

    name = "clock"

    def __call__(self, attempt: Attempt) -> Refusal | None:
        if not attempt.writing:
            return None
        return _refusal(lambda: ensure_time_moves_forward(attempt.cf, attempt.now))


class ExpectedVersion(Check):
    name = "version"

    def __call__(self, attempt: Attempt) -> Refusal | None:
        version = attempt.cf.case.row_version
        if attempt.expected_version is None or attempt.expected_version == version:
            return None
        return Refusal(
            StaleVersion(
                f"the case changed since you read it (version {version}, you sent {attempt.expected_version})",
                why="read the case again and retry against its new ETag",
            )
        )


def unknown_trigger(definition: Definition, trigger: str, *, indicator: bool) -> NotFound:
    """The 404 of a trigger the case's procedure does not have, naming the triggers a caller may fire (the
    system's own, lapse and expire, are the deadline worker's)."""
    kind = "indicator trigger" if indicator else "trigger"
    process = definition.indicator_process if indicator else definition
    known = sorted({t.trigger for t in (process.transitions if process else []) if t.bodies != [SYSTEM_BODY]})
    where, listed = f"{definition.key}/{definition.version}", ", ".join(known) or "none"
    return NotFound(
        f"{trigger} is not a{'n' if indicator else ''} {kind} of {where}",
        reasons=[
            Reason(
                "trigger_unknown",
                f"{where} has no {kind} {trigger}; its {kind}s: {listed}",
                f"quy trình {where} không có bước {trigger}; các bước: {listed}",
            )
        ],
        detail_vi=f"quy trình {where} không có bước {trigger}",
        extra={"triggers": known},
    )


class KnownTrigger(Check):
    name = "trigger"

    def __call__(self, attempt: Attempt) -> Refusal | None:
        definition, trigger = attempt.cf.procedure.definition, attempt.trigger
        if attempt.transition is None:
            return Refusal(unknown_trigger(definition, trigger, indicator=attempt.indicator is not None))
        return _refusal(lambda: attempt.state)  # an indicator the case has no record of: 404


class Authority(Check):
    """Authority before state: whoever may never fire this trigger is told so, whatever the case's state."""

    name = "authority"
    counted = True

    def __call__(self, attempt: Attempt) -> Refusal | None:
        decision = attempt.decision
        if decision.allowed:
            return None
        return Refusal(NotAuthorised(f"you may not {attempt.trigger} in this case", why=decision.reasons))


class TriggerState(Check):
    name = "state"
    counted = True

    def __call__(self, attempt: Attempt) -> Refusal | None:
        cf, trigger, indicator = attempt.cf, attempt.trigger, attempt.indicator
        process = cf.procedure.definition.indicator_process
        if indicator is not None and cf.case.state not in process.case_states:
            return Refusal(
                Conflict(
                    f"indicators change only while the case is {', '.join(process.case_states)}; it is {cf.case.state}",
                    reasons=[Reason("wrong_case_state", f"the case is {cf.case.state}")],
                )
            )
        state = attempt.state
        if trigger in attempt.machine.triggers_from(state):
            return None
        source = ", ".join(attempt.transition.source)
        what = "the indicator" if indicator else "the case"
        return Refusal(
            WrongState(
                f"{trigger} is not possible in state {state}", why=f"{trigger} fires from {source}; {what} is {state}"
            ),
            tells_allowed=True,
        )


_EMPTY_PAYLOAD: dict[int, tuple[Transition, list[tuple[str, str]]]] = {}


def _payload_errors(transition: Transition, payload: dict[str, Any]) -> list[tuple[str, str]]:
    """``payload_errors``; for an empty payload (the sweeper's lapse and expire) judged once per transition, the
    schema's answer about ``{}`` being the same every time."""
    if payload:
        return payload_errors(transition, payload)
    cached = _EMPTY_PAYLOAD.get(id(transition))
    if cached is None or cached[0] is not transition:
        cached = (transition, payload_errors(transition, {}))
        _EMPTY_PAYLOAD[id(transition)] = cached
    return list(cached[1])


class PayloadValid(Check):
    """Explained without a payload, the payload is judged when it is sent."""

    name = "payload"
    counted = True

    def __call__(self, attempt: Attempt) -> Refusal | None:
        if attempt.payload is None:
            return None
        errors = _payload_errors(attempt.transition, attempt.payload)
        if errors:
            reasons = [Reason("payload_invalid", f"{path}: {message}") for path, message in errors]
        else:  # the shape the schema cannot say (an indicator's figures): the shape guards
            shapes = [g for g in attempt.transition.guards if is_shape_guard(g)]
            reasons = [Reason(v.code, v.message, v.message_vi) for v in run_guards(shapes, attempt.context)]
        if not reasons:
            return None
        return Refusal(InvalidPayload(f"the payload of {attempt.trigger} is malformed", reasons=reasons))


def guards_judged(transition: Transition, payload: dict[str, Any] | None) -> list[str]:
    """The guards that can be judged now, but for the shape guards (judged with the payload): all of them with a
    payload, else those that do not read it."""
    judged = [g for g in transition.guards if not is_shape_guard(g)]
    return judged if payload is not None else [g for g in judged if not GUARDS[g].reads]


class GuardsPass(Check):
    name = "guards"
    counted = True

    def __call__(self, attempt: Attempt) -> Refusal | None:
        failures = run_guards(guards_judged(attempt.transition, attempt.payload), attempt.context)
        if not failures:
            return None
        reasons = [Reason(v.code, v.message, v.message_vi) for v in failures]
        return Refusal(
            GuardFailed(f"{attempt.trigger} refused: " + "; ".join(r.message for r in reasons), reasons=reasons),
            tells_allowed=attempt.indicator is None,
        )


READABLE, CLOCK, VERSION, TRIGGER = Readable(), ClockMovesForward(), ExpectedVersion(), KnownTrigger()
AUTHORITY, STATE, PAYLOAD, GUARDS_PASS = Authority(), TriggerState(), PayloadValid(), GuardsPass()

# A write: everything about the attempt and the trigger before the service gathers what the payload lacks (a
# collector, computed figures), then the payload and the guards.
BEFORE_GATHERING: tuple[Check, ...] = (READABLE, CLOCK, VERSION, TRIGGER, AUTHORITY, STATE)
AFTER_GATHERING: tuple[Check, ...] = (PAYLOAD, GUARDS_PASS)
# An explanation: the checks about the trigger, on a case already known to be readable. Not the state: an
# explanation asks only the triggers open from the case's state, and a campaign's dry run checks its follow-up
# steps (each from the state the one before leads to) on the case as it was opened.
EXPLAINED: tuple[Check, ...] = (AUTHORITY, PAYLOAD, GUARDS_PASS)


def first_refusal(checks: tuple[Check, ...], attempt: Attempt) -> tuple[Check, Refusal] | None:
    """The first check that refuses the attempt, with its refusal; None when all pass (each check in a span of its
    own when traces are recorded)."""
    if not tracing.recording():
        for check in checks:
            refusal = check(attempt)
            if refusal is not None:
                return check, refusal
        return None
    for check in checks:
        with tracing.span(f"check.{check.name}", trigger=attempt.trigger) as span:
            refusal = check(attempt)
            if refusal is not None:
                span.set_attribute("cdht.refused", ",".join(r.code for r in refusal.error.reasons))
                return check, refusal
    return None


def passes(checks: tuple[Check, ...], attempt: Attempt) -> bool:
    """Whether no check refuses the attempt (``every_reason`` is empty), stopping at the first that does."""
    return all(check(attempt) is None for check in checks)


def every_reason(checks: tuple[Check, ...], attempt: Attempt) -> list[Reason]:
    """Every reason the checks give, in order (an explanation lists them all); a malformed payload ends the list,
    the guards cannot judge it."""
    reasons: list[Reason] = []
    for check in checks:
        refusal = check(attempt)
        if refusal is not None:
            reasons.extend(refusal.error.reasons)
            if check is PAYLOAD:
                break
    return reasons


def log_refusal(kind: str, trigger: str, actor: Actor, reasons: list[Reason], *, check: str) -> None:
    """Refusals are logged (with the check that refused) and counted, not chained (DESIGN.md contract 4)."""
    for reason in reasons:
        REFUSALS.labels(trigger, reason.code).inc()
    log.info(
        "refused %s trigger=%s check=%s actor=%s unit=%s reasons=%s",
        kind,
        trigger,
        check,
        actor.sub,
        actor.unit,
        "; ".join(f"{r.code}: {r.message}" for r in reasons),
    )
