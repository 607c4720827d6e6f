"""The tables (SQLModel), one class each, with the indexes the API's queries need.

Times are stored timezone-aware in UTC (``column_types.UTCDateTime`` restores the zone SQLite drops). Audit events are
append-only: no code path updates or deletes them. The audit payload is stored as the exact canonical JSON text
that was hashed, so verification never depends on how a database re-encodes JSON.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from service.persistence.column_types import JSONType, NullableJSONType, UTCDateTime

# Named constraints, so a later migration can alter them (SQLite batch mode cannot drop an unnamed one).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _time(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


def _json(**kwargs: Any) -> Any:
    return Field(sa_type=JSONType, **kwargs)


class AdminUnit(SQLModel, table=True):
    __tablename__ = "admin_unit"

    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    level: str = Field(max_length=16, index=True)  # national, province, district, commune
    parent_code: str | None = Field(default=None, foreign_key="admin_unit.code", index=True, max_length=32)
    disadvantaged: bool = False
    valid_from: date | None = None
    valid_to: date | None = None
    source: str | None = Field(default=None, max_length=300)


class UnitTreeVersion(SQLModel, table=True):
    """One row: the version of the unit tree, bumped by triggers on ``admin_unit`` and ``unit_succession`` (migration
    0006), so that what a process keeps of the tree (``service.domain.units.tree_cache``) is known stale at once."""

    __tablename__ = "unit_tree_version"

    id: int = Field(primary_key=True)
    version: int = Field(sa_type=sa.BigInteger)


class UnitSuccession(SQLModel, table=True):
    """An administrative unit continued by another (a merger or a rename), so its recognitions follow it."""

    __tablename__ = "unit_succession"

    predecessor_code: str = Field(foreign_key="admin_unit.code", primary_key=True, max_length=32)
    successor_code: str = Field(foreign_key="admin_unit.code", primary_key=True, max_length=32, index=True)
    effective_on: date
    basis: str = Field(max_length=64)  # e.g. gso_code_continued, resolution
    source: str = Field(max_length=300)


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        sa.UniqueConstraint(
            "procedure", "unit_code", "subject", "cycle", "kind", name="uq_case_per_unit_subject_cycle_kind"
        ),
        sa.Index("ix_cases_procedure_cycle_state", "procedure", "cycle", "state"),
        sa.Index("ix_cases_unit_cycle", "unit_code", "cycle"),
        sa.Index("ix_cases_keyset", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    procedure: str = Field(max_length=64)
    version: str = Field(max_length=64)
    profile: str = Field(max_length=64)
    unit_code: str = Field(foreign_key="admin_unit.code", max_length=32)
    # The organisation inside the unit that the case is about (a TT24 learning unit); "" when it is the unit's own.
    subject: str = Field(default="", max_length=120, sa_column_kwargs={"server_default": ""})
    cycle: int
    kind: str = Field(max_length=32)
    state: str = Field(max_length=64, index=True)
    target_level: int | None = None
    # What the case was opened under besides its definition and profile: the settings in force and the unit's
    # facts (e.g. disadvantaged), so later changes apply to new cases and every replay reads what the engine read.
    pinned: dict[str, Any] = _json(default_factory=dict)
    assessed_level: int | None = None
    requested_level: int | None = None
    level: int | None = None
    decided_on: date | None = None
    dossier: dict[str, Any] = _json(default_factory=dict)
    row_version: int = 1
    event_seq: int = 0
    last_hash: str = Field(default="", max_length=64)
    opened_by: str = Field(max_length=200)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class CaseIndicator(SQLModel, table=True):
    __tablename__ = "case_indicator"

    case_id: str = Field(foreign_key="cases.id", primary_key=True, max_length=36)
    code: str = Field(primary_key=True, max_length=16)
    assignee_org: str = Field(max_length=200)
    state: str = Field(max_length=32)
    rating: str | None = Field(default=None, max_length=8)
    figures: dict[str, Any] | None = _json(default=None)
    note: str | None = None
    updated_at: datetime = _time()


class Evidence(SQLModel, table=True):
    __tablename__ = "evidence"
    __table_args__ = (sa.Index("ix_evidence_case_indicator", "case_id", "indicator_code"),)

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="cases.id", max_length=36)
    indicator_code: str = Field(max_length=16)
    sha256: str = Field(max_length=64, index=True)
    size: int
    media_type: str = Field(max_length=120)
    filename: str = Field(max_length=200)
    title: str | None = Field(default=None, max_length=300)
    uploaded_by: str = Field(max_length=200)
    uploaded_at: datetime = _time()


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    # The search pages by id (keyset), so a filter's index has id after it: one unit, actor, trigger or citation is
    # then read in page order and stops at the page's end (several units or citations: each one's first page, merged).
    # A column after id is checked in the index, not the row: a trigger since a date, a citation within a province.
    # A unit and a time range (a week in a province) keep their own index. The covering columns (PostgreSQL's
    # INCLUDE) let a province's search leading with an actor, a trigger or a week read its page's ids from the index
    # alone (migration 0005). A citation prefix is resolved to its citations by stepping through the index (LIKE
    # 'x%', then ~>~), which a btree under a non-C collation cannot serve; the pattern operator class compares
    # bytes, so it can (PostgreSQL; other databases ignore the option).
    __table_args__ = (
        sa.UniqueConstraint("chain", "seq", name="uq_audit_chain_seq"),
        sa.Index("ix_audit_case_seq", "case_id", "seq"),
        sa.Index("ix_audit_unit_id", "unit_code", "id"),
        sa.Index("ix_audit_unit_time", "unit_code", "occurred_at", postgresql_include=["id"]),
        sa.Index("ix_audit_actor_id", "actor_sub", "id", postgresql_include=["unit_code"]),
        sa.Index("ix_audit_trigger_id_time", "trigger", "id", "occurred_at", postgresql_include=["unit_code", "kind"]),
        sa.Index("ix_audit_time", "occurred_at"),
        sa.Index("ix_audit_kind_time", "kind", "occurred_at"),
        sa.Index("ix_audit_procedure_time", "procedure", "occurred_at"),
        sa.Index(
            "ix_audit_citation_id", "citation", "id", "unit_code", postgresql_ops={"citation": "varchar_pattern_ops"}
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=36, unique=True)
    chain: str = Field(max_length=64)
    seq: int
    case_id: str | None = Field(default=None, max_length=36)
    procedure: str | None = Field(default=None, max_length=64)
    unit_code: str | None = Field(default=None, max_length=32)
    kind: str = Field(max_length=32)  # case_opened, transition, indicator_transition, evidence_uploaded
    trigger: str | None = Field(default=None, max_length=64)
    indicator: str | None = Field(default=None, max_length=16)
    from_state: str | None = Field(default=None, max_length=64)
    to_state: str | None = Field(default=None, max_length=64)
    actor_sub: str = Field(max_length=200)
    actor_name: str = Field(max_length=200)
    actor_role: str | None = Field(default=None, max_length=64)
    actor_unit: str | None = Field(default=None, max_length=32)
    on_behalf_of: str | None = Field(default=None, max_length=200)
    occurred_at: datetime = _time()
    payload: str = Field(sa_type=sa.Text)  # canonical JSON, exactly as hashed
    citation: str | None = Field(default=None, max_length=200)
    request_id: str | None = Field(default=None, max_length=64)
    idempotency_key: str | None = Field(default=None, max_length=200)
    state_digest: str | None = Field(default=None, max_length=64)  # the case as this event left it
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class ChainHead(SQLModel, table=True):
    """The head of a chain that has no case row (e.g. ``admin``): locked to append, compared to verify."""

    __tablename__ = "chain_head"

    chain: str = Field(primary_key=True, max_length=64)
    seq: int
    hash: str = Field(max_length=64)


class Deadline(SQLModel, table=True):
    __tablename__ = "deadline"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "key", name="uq_deadline_case_key"),
        sa.Index("ix_deadline_status_due", "status", "due_at"),
        sa.Index("ix_deadline_due", "due_at", "id"),
        sa.Index("ix_deadline_next_action", "next_action_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="cases.id", max_length=36)
    key: str = Field(max_length=64)
    due_at: datetime = _time()
    status: str = Field(max_length=16)  # open, met, breached, waived
    on_breach: str = Field(max_length=32)
    rule: str = Field(max_length=32)
    calendar_version: str = Field(max_length=64)
    inputs: dict[str, Any] = _json(default_factory=dict)
    explanation: str
    citation: str = Field(max_length=200)
    opened_at: datetime = _time()
    breached_at: datetime | None = _time(default=None)  # when the breach was recorded (flagged or fired)
    closed_at: datetime | None = _time(default=None)
    # When the sweeper next has something to do here (a reminder, or the breach); None when nothing is left.
    next_action_at: datetime | None = _time(default=None)


class DeadlineReminder(SQLModel, table=True):
    """A reminder sent for a deadline, once per offset and due time (the primary key makes a second one
    impossible; an extension moves the due time, so its reminders are sent again for the new date)."""

    __tablename__ = "deadline_reminder"

    deadline_id: int = Field(foreign_key="deadline.id", primary_key=True)
    days_before: int = Field(primary_key=True)
    due_at: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    sent_at: datetime = _time()


class OutboxMessage(SQLModel, table=True):
    """Events for webhook subscribers, written in the transaction that caused them (DESIGN.md contract 6).
    ``dispatched_at`` is set once the dispatcher has made a delivery for every matching subscription."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_case_seq", "case_id", "seq"),
        sa.Index("ix_outbox_dispatch", "dispatched_at", "id"),
        sa.Index("ix_outbox_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_uid: str = Field(max_length=36)
    case_id: str | None = Field(default=None, max_length=36)
    seq: int
    type: str = Field(max_length=64, index=True)
    unit_code: str | None = Field(default=None, max_length=32)
    body: dict[str, Any] = _json()
    created_at: datetime = _time()
    dispatched_at: datetime | None = _time(default=None)


class WebhookSubscription(SQLModel, table=True):
    """A subscriber: where to post, which event types, which units (each with everything below it)."""

    __tablename__ = "webhook_subscription"

    id: str = Field(primary_key=True, max_length=36)
    url: str = Field(max_length=2000)
    events: list[str] = _json(default_factory=list)
    units: list[str] | None = _json(default=None)  # None: every unit
    description: str | None = Field(default=None, max_length=500)
    secret_sealed: str = Field(sa_type=sa.Text)  # encrypted at rest; never returned after creation
    previous_secret_sealed: str | None = Field(default=None, sa_type=sa.Text)
    previous_secret_until: datetime | None = _time(default=None)
    status: str = Field(default="active", max_length=16, index=True)  # active, disabled, deleted
    last_success_at: datetime | None = _time(default=None)
    disabled_reason: str | None = Field(default=None, max_length=500)
    created_by: str = Field(max_length=200)
    owner_unit: str = Field(max_length=32)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription; ``msg_id`` (the webhook-id header) stays the same across retries."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        sa.UniqueConstraint("subscription_id", "outbox_id", name="uq_delivery_subscription_outbox"),
        sa.Index("ix_delivery_due", "status", "held", "next_attempt_at"),
        sa.Index("ix_delivery_subscription", "subscription_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    subscription_id: str = Field(foreign_key="webhook_subscription.id", max_length=36)
    outbox_id: int = Field(foreign_key="outbox.id")
    msg_id: str = Field(max_length=64)
    event_type: str = Field(max_length=64)
    case_id: str | None = Field(default=None, max_length=36)
    status: str = Field(max_length=16)  # pending, delivered, failed, cancelled
    # A pending delivery of a disabled subscription: left out of every claim until the subscription is enabled again
    # (set and cleared by ``webhooks.subscriptions.hold``; migration 0007). Left as it was once no longer pending.
    held: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    attempts: int = 0  # every attempt ever (numbers the attempt log)
    retries: int = 0  # attempts in the current cycle (reset by redeliver and replay): drives the schedule
    cycle_started_at: datetime | None = _time(default=None)
    next_attempt_at: datetime = _time()
    leased_until: datetime | None = _time(default=None)  # a dispatcher is posting it until then
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = _time(default=None)
    created_at: datetime = _time()


class WebhookAttempt(SQLModel, table=True):
    """Every attempt to post a delivery: when, the answer, how long it took, what went wrong."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (sa.Index("ix_attempt_delivery", "delivery_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(foreign_key="webhook_delivery.id", max_length=36)
    number: int
    started_at: datetime = _time()
    status_code: int | None = None
    latency_ms: int
    error: str | None = Field(default=None, max_length=500)
    response_excerpt: str | None = Field(default=None, max_length=500)


class IdempotencyRecord(SQLModel, table=True):
    """A stored response, so a retried request with the same key and body is answered without acting twice."""

    __tablename__ = "idempotency_record"

    actor_sub: str = Field(primary_key=True, max_length=200)
    key: str = Field(primary_key=True, max_length=200)
    scope: str = Field(max_length=300)
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: str = Field(sa_type=sa.Text)
    created_at: datetime = _time(index=True)


class AuditCheckpoint(SQLModel, table=True):
    """A signed record of every chain's head at one moment: ``digest`` is SHA-256 of ``canonical_json(heads)``,
    ``signature`` Ed25519 over the digest's 32 bytes. An event changed or removed afterwards no longer matches."""

    __tablename__ = "audit_checkpoint"

    id: str = Field(primary_key=True, max_length=36)
    created_at: datetime = _time(index=True)
    created_by: str = Field(max_length=200)
    heads: dict[str, Any] = _json()  # {chain: [seq, hash]}
    digest: str = Field(max_length=64)
    signature: str = Field(max_length=200)  # base64
    key_id: str = Field(max_length=16)  # sha256 of the raw public key, first 16 hex
    events_total: int  # the sum of the heads' sequence numbers: every event the checkpoint covers
    chains_total: int  # len(heads), so a listing need not load the heads
    # What the full verify that passed over these very heads covered, signed with them (migration 0008); NULL when
    # none is recorded. SQL NULL, not JSON null, so that the incremental verify can pick the verified ones.
    verified: dict[str, Any] | None = Field(default=None, sa_type=NullableJSONType, nullable=True)


class Campaign(SQLModel, table=True):
    """One run of ``POST /campaigns``: the cases of a cycle opened for every unit under a scope, and what it did."""

    __tablename__ = "campaign"
    __table_args__ = (sa.Index("ix_campaign_scope", "procedure", "unit_code", "cycle"),)

    id: str = Field(primary_key=True, max_length=36)
    procedure: str = Field(max_length=64)
    unit_code: str = Field(foreign_key="admin_unit.code", max_length=32)
    cycle: int
    kind: str = Field(max_length=32)
    options: dict[str, Any] = _json(default_factory=dict)  # plan, assignments, target_level
    result: dict[str, Any] = _json(default_factory=dict)  # counts and per-unit outcomes
    created_by: str = Field(max_length=200)
    created_at: datetime = _time()


class CaseMigration(SQLModel, table=True):
    """A move of open cases from one version of a definition to another, in resumable batches."""

    __tablename__ = "case_migration"

    id: str = Field(primary_key=True, max_length=36)
    procedure: str = Field(max_length=64)
    from_version: str = Field(max_length=64)
    to_version: str = Field(max_length=64)
    state_map: dict[str, Any] = _json(default_factory=dict)
    status: str = Field(max_length=16)  # running, completed
    after_case_id: str = Field(default="", max_length=36)  # the last case a finished batch handled
    moved: int = 0
    refused: list[Any] = _json(default_factory=list)  # [{case_id, reasons}]
    created_by: str = Field(max_length=200)
    created_at: datetime = _time()
    updated_at: datetime = _time()
