"""What the case page shows, gathered from the services the API uses: the case file read under the caller's
authority (``readable_case``), the explain read (every trigger open from the state: allowed, or the reasons it is
not), each allowed step's payload schema as a form, the indicators and their evidence, the audit events with the
chain's verification, the state diagram with the current state and the path taken, and the case as it stood at a
past time (the replay, checked against the digest recorded then)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from service.api.cases import readable_case
from service.api.deps import Services
from service.api.indicators import list_indicators
from service.api.schemas import case_out, event_out
from service.console.forms import Field, fields_of
from service.domain.actor import Actor
from service.domain.audit.verify import verify
from service.domain.cases import replay
from service.domain.cases.casefile import CaseFile
from service.domain.cases.evidence import check_evidence_allowed
from service.domain.cases.explain import allowed_transitions, check_trigger, explain
from service.domain.errors import Conflict, DomainError, Reason
from service.persistence.tables import AuditEvent
from workflows.diagram.svg import svg
from workflows.schema import Transition, payload_json_schema


@dataclass
class StepForm:
    trigger: str
    vi: str
    en: str
    citation: str
    fields: list[Field]
    indicator: str | None = None
    idempotency_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    checked_when_fired: list[str] = field(default_factory=list)
    computed: bool = False


@dataclass
class ClosedStep:
    trigger: str
    vi: str
    en: str
    citation: str
    reasons: list[Reason]


@dataclass
class CaseView:
    case: Any  # CaseOut
    definition: Any
    steps: list[StepForm]
    closed: list[ClosedStep]
    indicators: Any  # IndicatorsOut
    events: list[Any]
    chain_ok: bool
    chain_detail: dict[str, Any] | None
    diagram: str
    last_seq: int
    as_of: datetime | None = None
    upload_codes: list[str] = field(default_factory=list)


def step_form(t: Transition, indicator: str | None = None, checked_later: list[str] | None = None) -> StepForm:
    return StepForm(
        trigger=t.trigger,
        vi=t.vi,
        en=t.en,
        citation=t.citation.ref,
        # A step whose payload the service gathers itself (a collector: the report's snapshot) asks for nothing.
        fields=[] if t.collector else fields_of(payload_json_schema(t.payload)),
        computed=bool(t.collector),
        indicator=indicator,
        checked_when_fired=checked_later or [],
    )


def indicator_steps(cf: CaseFile, actor: Actor, at: datetime) -> list[tuple[str, Transition]]:
    """The indicator steps this person may take now: the engine's own checks (``check_trigger``) per indicator."""
    process = cf.procedure.definition.indicator_process
    if process is None or cf.case.state not in process.case_states:
        return []
    return [
        (code, t)
        for code, row in sorted(cf.indicator_rows.items())
        for t in process.transitions
        if row.state in t.source and check_trigger(cf, t, actor, at, indicator=code).allowed
    ]


def evidence_codes(cf: CaseFile, actor: Actor, at: datetime) -> list[str]:
    """The indicators this person may add evidence to now (the definition's evidence rule, as the upload checks)."""
    if cf.procedure.definition.indicator_process is None:
        return []
    codes = []
    for code in sorted(cf.indicator_rows):
        try:
            check_evidence_allowed(cf, code, actor, at)
        except DomainError:  # a refusal only means: this person adds no evidence to this indicator now
            continue
        codes.append(code)
    return codes


def diagram(definition: Any, state: str, path: list[str]) -> str:
    """The definition's SVG with the current state and the triggers taken marked for the stylesheet."""
    drawing = svg(definition)
    drawing = re.sub(r"^<\?xml[^>]*>\s*", "", drawing)
    drawing = drawing.replace(f'class="state" data-state="{state}"', f'class="state current" data-state="{state}"')
    for prefix in ("state initial", "state final"):
        drawing = drawing.replace(
            f'class="{prefix}" data-state="{state}"', f'class="{prefix} current" data-state="{state}"'
        )
    for trigger in set(path):
        drawing = drawing.replace(
            f'class="transition" data-trigger="{trigger}"', f'class="transition taken" data-trigger="{trigger}"'
        )
    return drawing.replace("<svg ", '<svg aria-labelledby="diagram-title" ', 1)


async def case_view(svc: Services, actor: Actor, case_id: str, at: datetime, as_of: datetime | None = None) -> CaseView:
    async with svc.sessions() as session:
        cf = await readable_case(session, svc.registry, case_id, actor)
        moment = at
        if as_of is not None:
            moment = as_of
            cf, last = await replay.case_as_of(session, svc.registry, case_id, as_of)
            if not cf.holds_recorded_digest(last.state_digest):
                raise Conflict(
                    "the history of this case does not rebuild to the state it recorded",
                    reasons=[Reason("replay_mismatch", f"event {last.seq} records another state; run /audit/verify")],
                )
        rows = (
            await session.execute(
                select(AuditEvent.__table__).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq)
            )
        ).all()
        report = await verify(session, case_id=case_id)
    events = [event_out(row) for row in rows if as_of is None or _utc(row.occurred_at) <= _utc(as_of)]
    definition = cf.procedure.definition
    out = case_out(cf, allowed=allowed_transitions(cf, actor, moment), now=moment)
    steps: list[StepForm] = []
    closed: list[ClosedStep] = []
    if as_of is None:
        for check in explain(cf, actor, at):
            t = definition.transition(check.trigger)
            if check.allowed:
                steps.append(step_form(t, checked_later=check.checked_when_fired))
            elif t.bodies != ["system"]:
                closed.append(ClosedStep(t.trigger, t.vi, t.en, t.citation.ref, check.reasons))
        steps += [step_form(t, indicator=code) for code, t in indicator_steps(cf, actor, at)]
    indicators = await list_indicators(case_id, actor, svc) if definition.indicator_process else None
    path = [e.trigger for e in events if e.trigger]
    upload_codes = evidence_codes(cf, actor, at) if as_of is None else []
    return CaseView(
        case=out,
        definition=definition,
        steps=steps,
        closed=closed,
        indicators=indicators,
        events=events,
        chain_ok=report.ok,
        chain_detail=report.first_bad_event,
        diagram=diagram(definition, out.state, path),
        last_seq=rows[-1].seq if rows else 0,
        as_of=as_of,
        upload_codes=upload_codes,
    )


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
