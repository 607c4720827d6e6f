"""Shared fixtures and helpers of the reliability tests: the service run as real processes on PostgreSQL.

Fixtures (function scope; all need ``CDHT_TEST_POSTGRES_URL`` and skip without it, like ``pg_api``):

``rel_api``
    ``pg_api`` of tests/conftest.py (the in-process app on this session's PostgreSQL database, emptied) with the
    communes ``R01`` … ``R40`` added under province P1 (two-tier from cycle 2025, no district). Used to prepare
    cases over HTTP while moving its frozen clock (``rel_api.clock.set``), and to read.
``service_keys``
    The secrets the service processes share with ``rel_api``: its dev-token secret (so ``rel_api.who`` tokens and
    ``cast`` tokens are accepted by the processes), its webhook sealing key (so a subscription made through
    ``rel_api`` is readable by a worker) and an Ed25519 key file (CDHT_AUDIT_SIGNING_KEY_FILE; ``rel_api`` signs
    and verifies checkpoints with it too).
``service_env``
    ``service_env(name, now=None, **settings) -> dict``: the environment of one service process on ``rel_api``'s
    database (own data dir ``tmp_path/name``), e.g. ``service_env("worker-1", now=NOW, sweep_interval_seconds=0.5)``.
``service_processes``
    A ``procs.ProcessGroup`` logging under ``tmp_path/logs``; every process it started is stopped at teardown.
``cast``
    ``Cast``: fixed identities with tokens (commune leader and officer of a unit, the province office of P1, the
    council secretary named by ``step_payload``, a national admin and auditor). Fixed ``sub``\\ s matter: an
    Idempotency-Key is scoped to the caller, so clients sharing an identity share their keys.

Helpers (import them: ``from tests.reliability.conftest import ...``):

``prepare_cases(api, cast, specs)``
    Open and walk many cases concurrently to the states ``specs`` name, phase by phase on the clock.
``next_steps(state, cycle)`` / ``step_payload(trigger, cycle)``
    What may be fired next from a state (with the identity that fires it) and a well-formed payload for it.
``Sent`` / ``send``
    One request of a load and what came back (status, event id, replayed), recorded by the load drivers.
``read_database(url)`` / ``consistency_problems(snapshot)``
    A snapshot of the case tables, and every inconsistency between state, audit events, outbox rows, deadlines,
    reminders and idempotency records (an empty list when the database is consistent).
``wait_until(predicate, timeout, what)``
    Poll an async predicate; fail with ``what`` after ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from service import walkthrough as w
from service.auth import issue_dev_token
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
from tests.helpers import DEFINITION, HAPPY_PATH, Api, Who, dated
from tests.reliability.procs import ProcessGroup, service_environment, write_signing_key
from workflows.machine import MachineError
from workflows.registry import default_registry

PROCEDURE = default_registry().get("cdht_xa", "tt25-2023")
RELIABILITY_UNITS = [f"R{i:02d}" for i in range(1, 41)]
SECRETARY_SUB = "council-secretary-p1"
TERMINAL = {"lapsed", "not_submitted", "withdrawn", "recognized", "refused", "expired"}


# --- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture
async def rel_api(pg_api: Api) -> Api:
    await pg_api.add_units(*((code, f"Xã {code}", "commune", "P1") for code in RELIABILITY_UNITS))
    return pg_api


@dataclass(frozen=True)
class ServiceKeys:
    dev_secret: str
    webhook_key: str
    signing_key_file: Path


@pytest.fixture
def service_keys(rel_api: Api, tmp_path: Path) -> ServiceKeys:
    key_file = write_signing_key(tmp_path / "keys" / "audit-signing-key.pem")
    rel_api.settings.audit_signing_key_file = key_file
    assert rel_api.settings.auth_dev_secret
    return ServiceKeys(rel_api.settings.auth_dev_secret, rel_api.settings.sealing_key(), key_file)


@pytest.fixture
def service_env(rel_api: Api, service_keys: ServiceKeys, tmp_path: Path) -> Callable[..., dict[str, str]]:
    def make(name: str, now: str | None = None, **settings: object) -> dict[str, str]:
        return service_environment(
            database_url=rel_api.settings.resolved_database_url,
            data_dir=tmp_path / "data" / name,
            dev_secret=service_keys.dev_secret,
            webhook_key=service_keys.webhook_key,
            signing_key_file=service_keys.signing_key_file,
            now=now,
            **settings,
        )

    return make


@pytest.fixture
def service_processes(tmp_path: Path) -> Iterator[ProcessGroup]:
    with ProcessGroup(tmp_path / "logs") as group:
        yield group


class Cast:
    """Identities with fixed subs and long-lived tokens (expiry is checked against the real clock)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self._cache: dict[tuple[str, str, str], Who] = {}

    def _who(self, role: str, unit: str, sub: str) -> Who:
        key = (role, unit, sub)
        if key not in self._cache:
            token = issue_dev_token(
                self.api.settings, sub=sub, roles=[role], unit=unit, name=f"Test {role}", ttl_seconds=6 * 3600
            )
            self._cache[key] = Who(sub, role, unit, {"Authorization": f"Bearer {token}"})
        return self._cache[key]

    def leader(self, unit: str) -> Who:
        return self._who("commune_leader", unit, f"leader-{unit.lower()}")

    def officer(self, unit: str) -> Who:
        return self._who("commune_officer", unit, f"officer-{unit.lower()}")

    @property
    def reviewer(self) -> Who:
        return self._who("province_officer", "P1", "province-officer-p1")

    @property
    def head(self) -> Who:
        return self._who("province_director", "P1", "province-director-p1")

    @property
    def secretary(self) -> Who:
        return self._who("council_member", "P1", SECRETARY_SUB)

    @property
    def admin(self) -> Who:
        return self._who("admin", "VN", "admin-vn")

    @property
    def auditor(self) -> Who:
        return self._who("auditor", "VN", "auditor-vn")

    def acting(self, role: str, unit: str) -> Who:
        """The identity ``next_steps`` names: ``leader`` (of ``unit``), ``reviewer``, ``head`` or ``secretary``."""
        return self.leader(unit) if role == "leader" else getattr(self, role)


@pytest.fixture
def cast(rel_api: Api) -> Cast:
    return Cast(rel_api)


# --- steps of the commune procedure ---------------------------------------------------------------------------

# For each state, what a client may fire next: (trigger, who: leader | reviewer | head | secretary, weight).
STEPS: dict[str, list[tuple[str, str, int]]] = {
    "planning": [("issue_plan", "leader", 1)],
    "plan_issued": [("assign_indicators", "leader", 1)],
    "collecting_evidence": [("complete_self_assessment", "leader", 1)],
    "self_assessed": [("record_review_meeting", "leader", 1)],
    "review_meeting_held": [("submit_dossier", "leader", 2), ("decline_submission", "leader", 1)],
    "submitted": [("receive_dossier", "reviewer", 3), ("withdraw", "leader", 1)],
    "under_review": [("form_council", "head", 3), ("withdraw", "leader", 1)],
    "council_formed": [("record_appraisal", "secretary", 1)],
    "appraised": [("recognize", "head", 1)],
}


def next_steps(state: str) -> list[tuple[str, str, int]]:
    """The triggers a person may fire from ``state`` on the happy path and its two exits (decline, withdraw)."""
    return STEPS.get(state, [])


def step_payload(trigger: str, cycle: int) -> dict[str, Any]:
    """A well-formed payload, the same for the same trigger and cycle (so a reused Idempotency-Key replays).

    Dates are the walkthrough's, except that the reviewing office's steps of cycle N are dated 14, 16 and
    18/02 of N+1 instead of March, so that a clock frozen in late February of N+1 can still run them."""
    if trigger == "issue_plan":
        return w.issue_plan(cycle)
    if trigger == "assign_indicators":
        return w.assign_indicators(DEFINITION)
    if trigger == "complete_self_assessment":
        return w.complete_self_assessment(cycle)
    if trigger == "record_review_meeting":
        return w.record_review_meeting(cycle)
    if trigger == "submit_dossier":
        return w.submit_dossier(cycle)
    if trigger == "decline_submission":
        return {"reason": "Chưa đạt tiêu chí 5; tiếp tục xây dựng"}
    if trigger == "withdraw":
        return {"reason": "Xã rút hồ sơ để hoàn thiện thêm"}
    if trigger == "receive_dossier":
        return {"received_on": f"{cycle + 1}-02-12"}
    if trigger == "form_council":
        return dated(w.form_council(cycle, secretary_sub=SECRETARY_SUB), f"{cycle + 1}-02-14")
    if trigger == "record_appraisal":
        return dated(w.record_appraisal(DEFINITION, cycle), f"{cycle + 1}-02-16")
    if trigger == "recognize":
        return dated(w.recognize(cycle), f"{cycle + 1}-02-18")
    raise ValueError(f"no payload for {trigger}")


# --- preparing cases ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseSpec:
    unit: str
    cycle: int
    state: str  # a state of HAPPY_PATH, up to appraised
    role: str = "load"  # free text for the test: e.g. "load" (clients act on it) or "sweeper" (only the workers)


@dataclass
class PreparedCase:
    id: str
    spec: CaseSpec

    @property
    def unit(self) -> str:
        return self.spec.unit

    @property
    def cycle(self) -> int:
        return self.spec.cycle


# (step index in HAPPY_PATH reached, years after the cycle, month-day of the frozen clock, action)
_PREPARATION = [
    (0, 0, "01-20", "open"),
    (1, 0, "01-20", "issue_plan"),
    (2, 0, "01-20", "collect"),
    (3, 1, "01-10", "complete_self_assessment"),
    (4, 1, "01-20", "record_review_meeting"),
    (5, 1, "02-10", "submit_dossier"),
    (6, 1, "02-12", "receive_dossier"),
    (7, 1, "02-14", "form_council"),
    (8, 1, "02-16", "record_appraisal"),
]
_ACTOR = {"receive_dossier": "reviewer", "form_council": "head", "record_appraisal": "secretary"}


async def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


async def _collect(api: Api, cast: Cast, case: PreparedCase) -> None:
    """Assign the indicators, then upload, submit and accept evidence for each (the slow part: 46 requests)."""
    leader, officer = cast.leader(case.unit), cast.officer(case.unit)
    client = api.client
    await _ok(
        await client.post(
            f"/v1/cases/{case.id}/transitions/assign_indicators",
            headers=leader.headers,
            json={"data": step_payload("assign_indicators", case.cycle)},
        )
    )
    for indicator in DEFINITION.indicators:
        base = f"/v1/cases/{case.id}/indicators/{indicator.code}"
        await _ok(
            await client.post(
                f"{base}/evidence",
                headers=officer.headers,
                files={"file": ("minh-chung.pdf", w.MINIMAL_PDF, "application/pdf")},
                data={"title": "Minh chứng"},
            ),
            201,
        )
        payload = w.submit_evidence(DEFINITION, indicator.code)
        await _ok(
            await client.post(f"{base}/transitions/submit_evidence", headers=officer.headers, json={"data": payload})
        )
        await _ok(await client.post(f"{base}/transitions/accept", headers=leader.headers, json={"data": {}}))


async def prepare_cases(api: Api, cast: Cast, specs: list[CaseSpec], *, concurrency: int = 10) -> list[PreparedCase]:
    """Open every case and walk it to its state over the in-process API, all cases together phase by phase: the
    clock is set once per phase (forward only), and the cases of a phase run ``concurrency`` at a time."""
    for spec in specs:
        if spec.state not in HAPPY_PATH[:9]:
            raise ValueError(f"cannot prepare a case in {spec.state}")
    cases: list[PreparedCase | None] = [None] * len(specs)
    phases: dict[datetime, list[tuple[int, str]]] = defaultdict(list)
    for index, spec in enumerate(specs):
        target = HAPPY_PATH.index(spec.state)
        for reached, years, month_day, action in _PREPARATION:
            if reached <= target:
                moment = datetime.fromisoformat(f"{spec.cycle + years}-{month_day}T02:00:00+00:00")
                phases[moment].append((index, action))
    gate = asyncio.Semaphore(concurrency)

    async def act(index: int, action: str) -> None:
        spec = specs[index]
        async with gate:
            if action == "open":
                body = await _ok(
                    await api.client.post(
                        "/v1/cases",
                        headers=cast.leader(spec.unit).headers,
                        json={"procedure": "cdht_xa", "unit": spec.unit, "cycle": spec.cycle},
                    ),
                    201,
                )
                cases[index] = PreparedCase(body["id"], spec)
                return
            case = cases[index]
            assert case is not None
            if action == "collect":
                await _collect(api, cast, case)
                return
            who = cast.acting(_ACTOR.get(action, "leader"), spec.unit)
            await _ok(
                await api.client.post(
                    f"/v1/cases/{case.id}/transitions/{action}",
                    headers=who.headers,
                    json={"data": step_payload(action, spec.cycle)},
                )
            )

    for moment in sorted(phases):
        api.clock.set(moment)
        # Within one moment the actions of one case run in _PREPARATION's order: open, plan, then collect.
        for action in dict.fromkeys(action for _, action in phases[moment]):
            await asyncio.gather(*(act(i, a) for i, a in phases[moment] if a == action))
    prepared = [case for case in cases if case is not None]
    assert len(prepared) == len(specs)
    return prepared


# --- sending and recording requests ---------------------------------------------------------------------------


@dataclass
class Sent:
    """One write a load sent, and what came back; ``status`` None when no response came (cut off)."""

    client: int
    api: str
    case_id: str | None
    trigger: str
    sub: str
    key: str | None
    reused_key: bool = False
    status: int | None = None
    event_id: str | None = None
    to_state: str | None = None
    replayed: bool = False
    codes: list[str] = field(default_factory=list)
    error: str | None = None
    body: dict[str, Any] | None = None
    indicator: str | None = None
    seconds: float = 0.0  # from sending to the answer (or the error)
    attempt: int = 1  # 2, 3…: the same request sent again (with the same key) after no answer came


async def send(
    client: httpx.AsyncClient,
    record: Sent,
    path: str,
    who: Who,
    *,
    json_body: dict[str, Any] | None = None,
    files: Any = None,
    data: Any = None,
) -> Sent:
    """POST and fill ``record`` from the answer (or the transport error)."""
    headers = dict(who.headers)
    if record.key is not None:
        headers["Idempotency-Key"] = record.key
    started = time.monotonic()
    try:
        response = await client.post(path, headers=headers, json=json_body, files=files, data=data)
    except httpx.HTTPError as exc:
        record.error = f"{type(exc).__name__}: {exc}"
        return record
    finally:
        record.seconds = time.monotonic() - started
    record.status = response.status_code
    record.replayed = response.headers.get("Idempotent-Replayed") == "true"
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text[:500]}
    if response.status_code in (200, 201):
        record.body = body
        if isinstance(body.get("event"), dict):
            record.event_id = body["event"]["id"]
            record.to_state = body["event"]["to"]
        if isinstance(body.get("case"), dict):
            record.to_state = record.to_state or body["case"]["state"]
    else:
        record.codes = [r.get("code", "") for r in body.get("reasons", []) if isinstance(r, dict)]
        if not record.codes:
            record.codes = [str(body.get("detail") or body.get("text") or "")[:200]]
    return record


def new_key() -> str:
    return str(uuid.uuid4())


# --- reading the database and checking it ---------------------------------------------------------------------


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


# --- waiting --------------------------------------------------------------------------------------------------


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.25
) -> None:
    """Poll ``predicate`` until it is true; fail naming ``what`` after ``timeout`` seconds (no timing asserted)."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(interval)


def utc(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(timezone.utc)
