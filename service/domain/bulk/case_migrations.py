"""Moving open cases from one version of a definition to another, in resumable batches.

A case pins the definition version it was opened under (PROCEDURES.md §3: "a case is pinned to the definition
version and the profile that were in force when it was opened"), so shipping a new version changes no open case:
new cases pin the newest version (``Registry.current``), open ones keep firing under theirs. Only a migration,
run by a national admin, moves open cases, and only those whose history the new version can carry on:

* only open cases move: a case in a final state of the old version is left as it was decided (it is not selected;
  one named in ``cases`` is refused with ``case_final``);
* the case's state is carried by the ``state_map`` (old → new); a state the map does not name keeps its name when
  the new version has a state of that name, and is refused (``state_not_mapped``) when it has none;
* a mapped state the new version lacks refuses the case (``mapped_state_missing``), and so does one the new version
  marks final (``mapped_to_final``: a migration decides nothing);
* the case's indicator records must fit the new indicator process (``indicator_unknown``,
  ``indicator_state_missing``, ``indicator_process_missing``), and a case collecting evidence must still be
  collecting in the new state (``indicator_process_incompatible``);
* an open deadline must be one the new version defines (``deadline_missing``: the sweeper and the closing
  triggers read its rule), and a deadline the new version opens in the mapped state must already be open
  (``deadline_not_open``: a migration computes no due date);
* every office the new version names must be filled by the case's pinned profile (``no_tier``), as at opening.

A moved case gets one audit event (kind ``case_migrated``, trigger ``migrate_version``) on its own chain, and one
outbox row of type ``case.transitioned`` (subscribers already know it; ``data.trigger`` is ``migrate_version``
and ``data.version`` the new version), in the same transaction. Its pinned settings keep their values; settings
the new version adds are pinned at their defaults and named in the event (``settings_added``) so a replay reads
what the engine reads. The run itself goes on the ``admin`` chain: ``case_migration_started`` records the whole
request (a resume continues exactly that request) and ``case_migration_completed`` the totals.

Which cases may move and why the others may not is service.domain.bulk.migration_checks (with the dry run); this
module starts, runs (batch by batch) and reports a migration.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.domain import authority
from service.domain.actor import Actor
from service.domain.audit.writer import EventFacts, append_chain_event
from service.domain.authority import ADMIN as ADMIN_ROLE
from service.domain.authority import NATIONAL_ROOT
from service.domain.bulk.migration_checks import (
    MigrationSpec,
    case_refusals,
    check_spec,
    final_states,
    named_but_not_selectable,
    selectable_cases,
    verdict_of,
)
from service.domain.cases.appliers import Change
from service.domain.cases.casefile import CaseFile, load_case_file
from service.domain.cases.checks import ensure_time_moves_forward
from service.domain.cases.tail import record
from service.domain.errors import Conflict, Reason, TimeOutOfOrder, UnknownMigration
from service.persistence.db import unit_of_work
from service.persistence.tables import AuditEvent, CaseMigration
from workflows.registry import Procedure, Registry

TRIGGER = "migrate_version"
EVENT_KIND = "case_migrated"
STARTED, COMPLETED = "case_migration_started", "case_migration_completed"


# --- who may run one -------------------------------------------------------------------------------------------


def require_national_admin(actor: Actor) -> None:
    """A migration changes the rules open cases run under, in every province at once: a national admin's act."""
    authority.require(actor, authority.RUN_CASE_MIGRATION)


# --- running ----------------------------------------------------------------------------------------------------


def _move(
    session: AsyncSession,
    cf: CaseFile,
    registry: Registry,
    target: Procedure,
    to_state: str,
    *,
    migration_id: str,
    actor: Actor,
    now: datetime,
    request_id: str | None,
) -> AuditEvent:
    """The case, locked by the caller, onto the new version through the engine's one write tail: the
    ``case_migrated`` applier moves version, state and the settings the new version adds; then a new version of
    the case, its audit event and outbox row, all in the caller's transaction."""
    case, definition = cf.case, target.definition
    settings = (case.pinned or {}).get("settings")
    added: dict[str, Any] = {}
    if settings is not None:
        added = {name: value for name, value in definition.default_settings().items() if name not in settings}
    payload = {
        "from_version": case.version,
        "to_version": definition.version,
        "from_state": case.state,
        "to_state": to_state,
        "migration_id": migration_id,
        "settings_added": added,
    }
    facts = EventFacts(
        kind=EVENT_KIND,
        trigger=TRIGGER,
        from_state=case.state,
        to_state=to_state,
        payload=payload,
        citation=f"{definition.instrument}: definition {definition.key}/{definition.version}",
    )
    # A case.transitioned outbox row, so subscribers read a migration like any transition.
    return record(
        session,
        cf,
        Change(facts, now, actor.sub),
        registry=registry,
        actor=actor,
        role=ADMIN_ROLE,
        outbox_type="case.transitioned",
        request_id=request_id,
        extra={"from_version": payload["from_version"], "to_version": definition.version, "migration_id": migration_id},
    )


async def start(
    factory: async_sessionmaker[AsyncSession],
    registry: Registry,
    spec: MigrationSpec,
    *,
    actor: Actor,
    now: datetime,
    request_id: str | None = None,
) -> str:
    """Record the migration (its row and a ``case_migration_started`` event carrying the whole request); the
    cases named in ``cases`` that it will never select are refused at once. Moves nothing."""
    require_national_admin(actor)
    source, _ = check_spec(registry, spec)
    migration_id = str(uuid.uuid4())
    async with unit_of_work(factory) as session:
        refused = await named_but_not_selectable(session, spec, source)
        session.add(
            CaseMigration(
                id=migration_id,
                procedure=spec.procedure,
                from_version=spec.from_version,
                to_version=spec.to_version,
                state_map=dict(spec.state_map),
                status="running",
                after_case_id="",
                moved=0,
                refused=[v.as_dict() for v in refused],
                created_by=actor.sub,
                created_at=now,
                updated_at=now,
            )
        )
        await append_chain_event(
            session,
            chain="admin",
            facts=EventFacts(
                kind=STARTED, trigger=TRIGGER, payload={"migration_id": migration_id, **spec.as_payload()}
            ),
            actor=actor,
            actor_role=ADMIN_ROLE,
            now=now,
            unit_code=NATIONAL_ROOT,
            request_id=request_id,
        )
    return migration_id


async def recorded_spec(session: AsyncSession, migration: CaseMigration) -> MigrationSpec:
    """The request a migration was started with, as its ``case_migration_started`` event records it."""
    marker = json.dumps({"migration_id": migration.id}, separators=(",", ":"))[1:-1]  # canonical: "k":"v"
    text = (
        await session.execute(
            select(AuditEvent.payload).where(
                AuditEvent.chain == "admin",
                AuditEvent.kind == STARTED,
                AuditEvent.payload.contains(marker, autoescape=True),
            )
        )
    ).scalar_one_or_none()
    if text is None:
        raise Conflict(
            f"migration {migration.id} has no start event on the admin chain",
            reasons=[Reason("migration_unrecorded", "run /audit/verify: the admin chain lacks this migration")],
        )
    data = json.loads(text)
    return MigrationSpec(
        procedure=data["procedure"],
        from_version=data["from_version"],
        to_version=data["to_version"],
        state_map=data["state_map"],
        cases=tuple(data["cases"]) if data["cases"] is not None else None,
        batch_size=data["batch_size"],
    )


async def _locked(session: AsyncSession, migration_id: str) -> CaseMigration:
    query = select(CaseMigration).where(CaseMigration.id == migration_id).with_for_update()
    migration = (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()
    if migration is None:
        raise UnknownMigration(f"no migration {migration_id}", why=f"no migration has id {migration_id}")
    return migration


async def run(
    factory: async_sessionmaker[AsyncSession],
    registry: Registry,
    migration_id: str,
    *,
    actor: Actor,
    now: datetime,
    batch_size: int | None = None,
    max_batches: int | None = None,
    request_id: str | None = None,
) -> None:
    """Move the migration's cases in batches ordered by case id, each batch one transaction that also records
    the migration's progress (``after_case_id``), so a run that stops — or crashes — leaves its finished batches
    committed and a later run continues after them. A completed migration is left as it is."""
    require_national_admin(actor)
    batches = 0
    while max_batches is None or batches < max_batches:
        async with unit_of_work(factory) as session:
            migration = await _locked(session, migration_id)  # one runner at a time, batch by batch
            if migration.status == "completed":
                return
            spec = await recorded_spec(session, migration)
            source, target = check_spec(registry, spec)
            size = batch_size or spec.batch_size
            query = selectable_cases(spec, source, migration.after_case_id).limit(size)
            ids = (await session.execute(query)).scalars().all()
            refused = []
            for case_id in ids:
                cf = await load_case_file(session, registry, case_id, lock=True)
                if (cf.case.version, cf.case.state in final_states(source)) != (spec.from_version, False):
                    continue  # moved or closed since it was selected: nothing left to do for it
                to_state, reasons = case_refusals(cf, target, spec.state_map)
                try:
                    ensure_time_moves_forward(cf, now)
                except TimeOutOfOrder as exc:
                    reasons = [*reasons, *exc.reasons]
                if reasons:
                    refused.append(verdict_of(cf, to_state, reasons).as_dict())
                    continue
                _move(
                    session,
                    cf,
                    registry,
                    target,
                    to_state,
                    migration_id=migration_id,
                    actor=actor,
                    now=now,
                    request_id=request_id,
                )
                migration.moved += 1
            if ids:
                migration.after_case_id = ids[-1]
            migration.refused = [*migration.refused, *refused]
            migration.updated_at = now
            if len(ids) < size:
                migration.status = "completed"
                await append_chain_event(
                    session,
                    chain="admin",
                    facts=EventFacts(
                        kind=COMPLETED,
                        trigger=TRIGGER,
                        payload={
                            "migration_id": migration_id,
                            "moved": migration.moved,
                            "refused": len(migration.refused),
                        },
                    ),
                    actor=actor,
                    actor_role=ADMIN_ROLE,
                    now=now,
                    unit_code=NATIONAL_ROOT,
                    request_id=request_id,
                )
            await session.flush()
        batches += 1
        if len(ids) < size:
            return


async def progress(session: AsyncSession, registry: Registry, migration_id: str) -> dict[str, Any]:
    """The migration's row and how many selectable cases remain after its last finished batch."""
    migration = await session.get(CaseMigration, migration_id)
    if migration is None:
        raise UnknownMigration(f"no migration {migration_id}", why=f"no migration has id {migration_id}")
    spec = await recorded_spec(session, migration)
    remaining = 0
    if migration.status != "completed":
        source = registry.get(spec.procedure, spec.from_version)
        if source is not None:
            query = selectable_cases(spec, source, migration.after_case_id).order_by(None)
            remaining = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    return {
        "id": migration.id,
        "procedure": migration.procedure,
        "from_version": migration.from_version,
        "to_version": migration.to_version,
        "state_map": migration.state_map,
        "cases": list(spec.cases) if spec.cases is not None else None,
        "batch_size": spec.batch_size,
        "status": migration.status,
        "after_case_id": migration.after_case_id or None,
        "moved": migration.moved,
        "refused": migration.refused,
        "remaining": remaining,
        "created_by": migration.created_by,
        "created_at": migration.created_at,
        "updated_at": migration.updated_at,
    }
