"""Shapes of what the API sends and receives (pydantic), and how domain rows become them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from service.api.checkpoint_out import VerifiedRecord
from service.domain.cases.casefile import CaseFile
from service.domain.cases.deadlines import is_overdue
from service.persistence.tables import AdminUnit, AuditEvent, Deadline, Evidence
from workflows.calendar import LOCAL_TZ


class Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


def local_time(moment: datetime) -> datetime:
    """``moment`` in Asia/Ho_Chi_Minh (UTC+7), where the law's dates are (a naive time from the database is UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(LOCAL_TZ)


class Label(Out):
    vi: str
    en: str


class DeadlineOut(Out):
    key: str
    due_at: datetime
    status: Literal["open", "met", "breached", "waived"]
    overdue: bool
    explanation: str
    citation: str
    rule: str
    calendar_version: str
    inputs: dict[str, Any]
    breached_at: datetime | None = None
    closed_at: datetime | None = None

    @computed_field(description="due_at in local time (Asia/Ho_Chi_Minh, +07:00): the day the law names")
    @property
    def due_local(self) -> datetime:
        return local_time(self.due_at)


class CaseOut(Out):
    id: str
    procedure: str
    version: str
    profile: str
    unit: str
    unit_name: str
    subject: str | None = Field(description="The organisation the case is about (TT24 learning unit), else null")
    subject_kind: str | None = Field(
        default=None, description="Its kind (TT24/2023 Điều 2 k1–4; the definition's organisation_kinds), else null"
    )
    cycle: int
    kind: str
    state: str
    state_label: Label
    target_level: int | None
    assessed_level: int | None = Field(
        description="The level the indicators reach now, per the definition's Điều 8-style rule (0: none; null for "
        "procedures without criteria)"
    )
    requested_level: int | None
    level: int | None = Field(description="The level granted by the recognition decision")
    decided_on: date | None
    deadlines: list[DeadlineOut]
    allowed_transitions: list[str] = Field(description="Triggers the caller may fire now, subject to the payload")
    dossier: dict[str, Any] = Field(description="Every accepted payload, by trigger")
    etag: str
    created_at: datetime
    updated_at: datetime


class ActorOut(Out):
    sub: str
    name: str
    role: str | None
    unit: str | None
    on_behalf_of: str | None


class EventOut(Out):
    id: str
    seq: int
    chain: str
    case_id: str | None
    procedure: str | None
    unit: str | None
    kind: str
    trigger: str | None
    indicator: str | None
    from_state: str | None = Field(alias="from")
    to_state: str | None = Field(alias="to")
    actor: ActorOut
    occurred_at: datetime
    payload: Any
    citation: str | None
    request_id: str | None
    idempotency_key: str | None
    prev_hash: str
    hash: str

    @computed_field(description="occurred_at in local time (Asia/Ho_Chi_Minh, +07:00)")
    @property
    def occurred_at_local(self) -> datetime:
        return local_time(self.occurred_at)


class TransitionOut(Out):
    case: CaseOut
    event: EventOut


class CasePage(Out):
    items: list[CaseOut]
    next_cursor: str | None


class EventPage(Out):
    items: list[EventOut]
    next_cursor: str | None


class OpenCaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    procedure: str = Field(examples=["cdht_xa"])
    unit: str = Field(description="Administrative unit code of the unit the case is about (its subject_level)")
    cycle: int = Field(ge=2000, le=2100, description="Evaluation year N (data 01/01–31/12/N)")
    kind: Literal["first", "re_recognition", "upgrade"] = "first"
    target_level: Literal[1, 2] | None = None
    subject: str | None = Field(
        default=None,
        max_length=120,
        description="For procedures about an organisation inside the unit (don_vi_hoc_tap, don_vi_hoc_tap_tinh): "
        "its code, which its head's token carries as `org`",
    )
    subject_kind: str | None = Field(
        default=None,
        max_length=64,
        description="The kind of that organisation (TT24/2023 Điều 2 k1–4), one of the procedure's "
        "organisation_kinds: which indicators apply and the learners' thresholds depend on it",
    )


class TriggerCheckOut(Out):
    trigger: str
    allowed: bool
    reasons: list[dict[str, str]]
    bodies: list[str]
    citation: str
    checked_when_fired: list[str] = Field(description="Guards that read the payload; judged when it is sent")


class ExplainOut(Out):
    case_id: str
    state: str
    triggers: list[TriggerCheckOut]


class EvidenceOut(Out):
    id: str
    sha256: str
    size: int
    media_type: str
    filename: str
    title: str | None
    uploaded_by: str
    uploaded_at: datetime


class IndicatorOut(Out):
    code: str
    criterion: str
    label: Label
    labels_vi_by_level: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "The verbatim wording of each level that words the indicator differently from level 1; label.vi is "
            "in the wording of the level the case seeks"
        ),
    )
    applies: bool = Field(default=True, description="Whether the indicator applies to what the case is about")
    measure: str
    assignee_org: str | None
    state: str | None
    rating: str | None
    figures: dict[str, Any] | None
    note: str | None
    result: dict[str, bool] = Field(description="Computed pass/fail per level ('1', '2')")
    disagrees_at: list[int] = Field(description="Levels where the self-rating disagrees with the computed result")
    explanation: str
    evidence: list[EvidenceOut]


class IndicatorsOut(Out):
    case_id: str
    assessed_level: int
    criteria: dict[str, dict[str, bool]]
    indicators: list[IndicatorOut]


class AdminUnitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=200)
    level: Literal["province", "district", "commune"]
    parent: str | None = None
    disadvantaged: bool = False
    valid_from: date | None = None
    valid_to: date | None = None
    source: str | None = Field(default=None, max_length=300)


class AdminUnitOut(Out):
    code: str
    name: str
    level: str
    parent: str | None
    disadvantaged: bool
    valid_from: date | None
    valid_to: date | None
    source: str | None


class FilesVerifyOut(Out):
    """The deep verify: evidence files on disk against their records (at most 100 problems listed)."""

    ok: bool
    files_checked: int
    records_checked: int
    problems_total: int
    problems: list[dict[str, Any]]


class VerifiedFrom(Out):
    """The signed checkpoint an incremental verify started from: every event up to its heads was taken on its word.
    ``verified`` is its signed record that a full verify passed over exactly those heads (the incremental verify
    starts from the newest checkpoint that has one); null when none is recorded — then the events up to its heads
    are trusted as they were when it was signed, whatever they were."""

    id: str
    created_at: str
    key_id: str
    events_total: int
    chains_total: int
    verified: VerifiedRecord | None = None


class VerifyOut(Out):
    """``mode`` says what was verified: ``full`` re-hashed every event (``events_checked`` of them);
    ``incremental`` re-hashed only the events after the heads of the signed checkpoint ``checkpoint``
    (``events_checked``), took the ``events_trusted`` up to them on its signature after cheap checks that they still
    hold, and compared every chain (``chains_checked``) with it."""

    ok: bool
    mode: Literal["full", "incremental"] = "full"
    events_checked: int
    chains_checked: int
    first_bad_event: dict[str, Any] | None
    checkpoint: VerifiedFrom | None = None  # incremental only
    events_trusted: int | None = None  # incremental only
    files: FilesVerifyOut | None = None  # with deep=true only


def etag_of(row_version: int) -> str:
    return f'"v{row_version}"'


def deadline_out(row: Deadline, now: datetime) -> DeadlineOut:
    return DeadlineOut(
        key=row.key,
        due_at=row.due_at,
        status=row.status,
        overdue=is_overdue(row, now),
        breached_at=row.breached_at,
        closed_at=row.closed_at,
        explanation=row.explanation,
        citation=row.citation,
        rule=row.rule,
        calendar_version=row.calendar_version,
        inputs=row.inputs or {},
    )


def case_out(cf: CaseFile, *, allowed: list[str], now: datetime) -> CaseOut:
    case, definition = cf.case, cf.procedure.definition
    state = definition.states[case.state]
    if not definition.criteria:
        assessed = None
    else:
        assessed = cf.assessed().level if cf.indicator_rows else 0
    return CaseOut(
        id=case.id,
        procedure=case.procedure,
        version=case.version,
        profile=case.profile,
        unit=case.unit_code,
        unit_name=cf.unit.name,
        subject=case.subject or None,
        subject_kind=cf.subject_kind,
        cycle=case.cycle,
        kind=case.kind,
        state=case.state,
        state_label=Label(vi=state.vi, en=state.en),
        target_level=case.target_level,
        assessed_level=assessed,
        requested_level=case.requested_level,
        level=case.level,
        decided_on=case.decided_on,
        deadlines=[deadline_out(row, now) for row in sorted(cf.deadlines.values(), key=lambda r: r.due_at)],
        allowed_transitions=allowed,
        dossier=case.dossier or {},
        etag=etag_of(case.row_version),
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


def event_out(event: AuditEvent) -> EventOut:
    return EventOut(
        id=event.uid,
        seq=event.seq,
        chain=event.chain,
        case_id=event.case_id,
        procedure=event.procedure,
        unit=event.unit_code,
        kind=event.kind,
        trigger=event.trigger,
        indicator=event.indicator,
        from_state=event.from_state,
        to_state=event.to_state,
        actor=ActorOut(
            sub=event.actor_sub,
            name=event.actor_name,
            role=event.actor_role,
            unit=event.actor_unit,
            on_behalf_of=event.on_behalf_of,
        ),
        occurred_at=event.occurred_at,
        payload=json.loads(event.payload),
        citation=event.citation,
        request_id=event.request_id,
        idempotency_key=event.idempotency_key,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


def evidence_out(row: Evidence) -> EvidenceOut:
    return EvidenceOut(
        id=row.id,
        sha256=row.sha256,
        size=row.size,
        media_type=row.media_type,
        filename=row.filename,
        title=row.title,
        uploaded_by=row.uploaded_by,
        uploaded_at=row.uploaded_at,
    )


def unit_out(unit: AdminUnit) -> AdminUnitOut:
    return AdminUnitOut(
        code=unit.code,
        name=unit.name,
        level=unit.level,
        parent=unit.parent_code,
        disadvantaged=unit.disadvantaged,
        valid_from=unit.valid_from,
        valid_to=unit.valid_to,
        source=unit.source,
    )
