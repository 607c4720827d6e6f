"""Reading every row of the case tables at once and checking them against each other: a change half-applied or
applied twice shows as a problem (``consistency_problems`` is empty when the database is consistent)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from service.persistence.tables import (
    AuditEvent,
    Case,
    CaseIndicator,
    Deadline,
    DeadlineReminder,
    Evidence,
    IdempotencyRecord,
    OutboxMessage,
)
from tests.helpers import DEFINITION
from workflows.machine import MachineError
from workflows.registry import default_registry

PROCEDURE = default_registry().get("cdht_xa", "tt25-2023")


@dataclass
class Snapshot:
    cases: dict[str, Case]
    events: dict[str, list[AuditEvent]]  # by case id, in seq order
    events_by_uid: dict[str, AuditEvent]
    outbox: list[OutboxMessage]
    indicators: dict[str, dict[str, CaseIndicator]]
    deadlines: dict[str, dict[str, Deadline]]
    reminders: list[DeadlineReminder]
    idempotency: list[IdempotencyRecord]
    evidence: dict[str, Evidence]


async def read_database(url: str) -> Snapshot:
    """Every row of the case tables, read in one repeatable-read transaction (a consistent view)."""
    engine = create_async_engine(url, isolation_level="REPEATABLE READ")
    try:
        async with engine.connect() as connection:

            async def rows(model: Any) -> list[Any]:
                return [model(**dict(row._mapping)) for row in await connection.execute(select(model.__table__))]

            cases = await rows(Case)
            events = await rows(AuditEvent)
            outbox = await rows(OutboxMessage)
            indicators = await rows(CaseIndicator)
            deadlines = await rows(Deadline)
            reminders = await rows(DeadlineReminder)
            records = await rows(IdempotencyRecord)
            evidence = await rows(Evidence)
    finally:
        await engine.dispose()
    by_case: dict[str, list[AuditEvent]] = defaultdict(list)
    for event in sorted(events, key=lambda e: (e.chain, e.seq)):
        if event.case_id is not None:
            by_case[event.case_id].append(event)
    indicator_map: dict[str, dict[str, CaseIndicator]] = defaultdict(dict)
    for row in indicators:
        indicator_map[row.case_id][row.code] = row
    deadline_map: dict[str, dict[str, Deadline]] = defaultdict(dict)
    for row in deadlines:
        deadline_map[row.case_id][row.key] = row
    return Snapshot(
        cases={case.id: case for case in cases},
        events=dict(by_case),
        events_by_uid={event.uid: event for event in events},
        outbox=outbox,
        indicators=dict(indicator_map),
        deadlines=dict(deadline_map),
        reminders=reminders,
        idempotency=records,
        evidence={row.id: row for row in evidence},
    )


REPEATABLE = {"request_supplement", "resubmit", "grant_extension"}  # triggers the procedure may fire again
# What StateMachine.fire raises for a trigger that may not fire: MachineError (not from this state), AttributeError
# (a trigger the machine does not know), ValueError (a state it does not know, e.g. an indicator never assigned).
MACHINE_REFUSALS = (MachineError, AttributeError, ValueError)


def consistency_problems(db: Snapshot) -> list[str]:
    """Everything that would show a change half-applied or applied twice; empty when the database is consistent.

    Per case: its events are numbered 1..n and replay along the state machine from the opening (each
    transition fires from the state the previous event left, to the state the machine gives), the case's state
    and every indicator's state are those the events end with, no one-way trigger appears twice, each deadline
    is breached by at most one event and each reminder (deadline, days before) is sent at most once and has its
    reminder row. Every event has exactly one outbox row (same seq and case) and every outbox row its event;
    every evidence row has exactly one upload event and every upload event its row; each idempotency record
    answers with an event that exists, by the same caller and with the same key."""
    problems: list[str] = []
    machine = PROCEDURE.machine
    indicator_machine = PROCEDURE.indicator_machine
    assert indicator_machine is not None
    indicator_initial = DEFINITION.indicator_process.initial
    outbox_by_uid: dict[str, list[OutboxMessage]] = defaultdict(list)
    for message in db.outbox:
        outbox_by_uid[message.event_uid].append(message)
    deadline_keys = {row.id: (case_id, key) for case_id, rows in db.deadlines.items() for key, row in rows.items()}
    reminder_rows = Counter((*deadline_keys[r.deadline_id], r.days_before, r.due_at) for r in db.reminders)
    for case_id, case in db.cases.items():
        events = db.events.get(case_id, [])
        where = f"case {case_id} ({case.unit_code}/{case.cycle})"
        if [e.seq for e in events] != list(range(1, len(events) + 1)):
            problems.append(f"{where}: event seqs {[e.seq for e in events]}")
            continue
        if not events or events[0].kind != "case_opened" or events[0].to_state != DEFINITION.initial_state:
            problems.append(f"{where}: does not start with its opening")
            continue
        if case.event_seq != len(events) or case.last_hash != events[-1].hash:
            problems.append(f"{where}: head (seq {case.event_seq}) is not its newest event ({len(events)})")
        state = events[0].to_state
        indicator_states: dict[str, str] = {}
        triggers: Counter[str] = Counter()
        breaches: Counter[str] = Counter()
        reminders: Counter[tuple[str, int, str]] = Counter()
        for event in events[1:]:
            label = f"{where} event {event.seq} ({event.kind} {event.trigger})"
            if event.kind == "transition":
                if event.from_state != state:
                    problems.append(f"{label}: fired from {event.from_state} while the case was {state}")
                try:
                    after = machine.fire(state, event.trigger)
                except MACHINE_REFUSALS:
                    problems.append(f"{label}: {event.trigger} cannot fire from {state}")
                    after = event.to_state
                if after != event.to_state:
                    problems.append(f"{label}: went to {event.to_state}; the machine goes to {after}")
                state = event.to_state
                triggers[event.trigger] += 1
                if event.trigger == "assign_indicators":
                    for code in (i.code for i in DEFINITION.indicators):
                        indicator_states.setdefault(code, indicator_initial)
            elif event.kind == "indicator_transition":
                current = indicator_states.get(event.indicator)
                if current is None or event.from_state != current:
                    problems.append(
                        f"{label}: indicator {event.indicator} fired from {event.from_state}, was {current}"
                    )
                try:
                    after = indicator_machine.fire(current or "", event.trigger)
                except MACHINE_REFUSALS:
                    problems.append(f"{label}: {event.trigger} cannot fire from {current}")
                    after = event.to_state
                if after != event.to_state:
                    problems.append(f"{label}: indicator went to {event.to_state}; the machine goes to {after}")
                indicator_states[event.indicator] = event.to_state
            elif event.kind == "evidence_uploaded":
                current = indicator_states.get(event.indicator)
                if not (event.from_state == event.to_state == current):
                    problems.append(f"{label}: evidence on indicator {current} recorded as {event.from_state}")
            elif event.kind in ("deadline_breached", "deadline_reminder"):
                if not (event.from_state == event.to_state == state):
                    problems.append(f"{label}: recorded in {event.from_state}, the case was {state}")
                payload = json.loads(event.payload)
                if event.kind == "deadline_breached":
                    breaches[payload["deadline"]] += 1
                else:
                    reminders[(payload["deadline"], payload["days_before"], payload["due_at"])] += 1
            else:
                problems.append(f"{label}: unexpected kind")
        if state != case.state:
            problems.append(f"{where}: state {case.state}, its events end in {state}")
        for code, row in db.indicators.get(case_id, {}).items():
            if indicator_states.get(code) != row.state:
                problems.append(
                    f"{where}: indicator {code} is {row.state}, its events end in {indicator_states.get(code)}"
                )
        for trigger, count in triggers.items():
            if count > 1 and trigger not in REPEATABLE:
                problems.append(f"{where}: {trigger} applied {count} times")
        for key, count in breaches.items():
            row = db.deadlines.get(case_id, {}).get(key)
            if count > 1:
                problems.append(f"{where}: deadline {key} breached {count} times")
            if row is None or row.status != "breached" or row.breached_at is None:
                problems.append(f"{where}: deadline {key} has a breach event but its row is {row and row.status}")
        for (key, days, _due), count in reminders.items():
            if count > 1:
                problems.append(f"{where}: reminder {key} {days} days before sent {count} times")
        sent_rows = {(k, d) for (c, k, d, _), n in reminder_rows.items() if c == case_id for _ in range(n)}
        if sent_rows != {(k, d) for (k, d, _) in reminders}:
            problems.append(f"{where}: reminder rows {sorted(sent_rows)} but reminder events {sorted(reminders)}")
        for event in events:
            messages = outbox_by_uid.get(event.uid, [])
            if len(messages) != 1:
                problems.append(f"{where} event {event.seq} ({event.trigger}): {len(messages)} outbox rows")
            elif messages[0].case_id != case_id or messages[0].seq != event.seq:
                problems.append(f"{where} event {event.seq}: its outbox row says case {messages[0].case_id}")
    for (case_id, key, days, due), count in reminder_rows.items():
        if count > 1:
            problems.append(f"case {case_id}: {count} reminder rows for {key} {days} days before {due}")
    uploads = Counter(
        json.loads(e.payload)["evidence_id"] for e in db.events_by_uid.values() if e.kind == "evidence_uploaded"
    )
    for evidence_id in set(uploads) | set(db.evidence):
        if uploads[evidence_id] != 1 or evidence_id not in db.evidence:
            problems.append(
                f"evidence {evidence_id}: {uploads[evidence_id]} upload events, row present: "
                f"{evidence_id in db.evidence}"
            )
    for uid in outbox_by_uid:
        if uid not in db.events_by_uid:
            problems.append(f"outbox row for event {uid}, which does not exist")
    for record in db.idempotency:
        body = json.loads(record.response_body)
        event = body.get("event") if isinstance(body, dict) else None
        if event is None:
            if isinstance(body, dict) and body.get("id") and "state" in body and body["id"] not in db.cases:
                problems.append(f"idempotency record {record.key} answers with case {body['id']}, which does not exist")
            continue
        stored = db.events_by_uid.get(event["id"])
        if stored is None:
            problems.append(f"idempotency record {record.key} answers with event {event['id']}, which does not exist")
        elif stored.actor_sub != record.actor_sub or stored.idempotency_key != record.key:
            problems.append(f"idempotency record {record.key} of {record.actor_sub} answers with another's event")
    return problems
