"""Moving open cases to another version of their definition: a dry run, a resumable run, its progress.

The rules (which cases move, which are refused and why) are in ``service/domain/bulk/migration_checks.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import Services, current_actor, now, request_id, services
from service.api.errors import problems
from service.domain import authority
from service.domain.actor import Actor
from service.domain.bulk import case_migrations as migrations
from service.domain.bulk import migration_checks

router = APIRouter(prefix="/v1", tags=["case-migrations"])
ActorDep = Annotated[Actor, Depends(current_actor)]


def national_admin(actor: ActorDep) -> Actor:
    """The caller, when a national admin; 403 otherwise, before the body is even read."""
    authority.require(actor, authority.RUN_CASE_MIGRATION)
    return actor


AdminDep = Annotated[Actor, Depends(national_admin)]
ServicesDep = Annotated[Services, Depends(services)]
NowDep = Annotated[datetime, Depends(now)]


class MigrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    procedure: str = Field(examples=["cdht_xa"])
    from_version: str = Field(examples=["tt25-2023"])
    to_version: str
    state_map: dict[str, str] = Field(
        default_factory=dict,
        description="old state → new state; a state not named keeps its name if the new version has it",
    )
    dry_run: bool = Field(default=True, description="List what would happen and change nothing (the default)")
    batch_size: int | None = Field(
        default=None, ge=1, le=migration_checks.MAX_BATCH_SIZE, description="Cases per transaction"
    )
    cases: list[str] | None = Field(
        default=None, max_length=20000, description="Only these cases (ids); by default every open case of the version"
    )

    def spec(self) -> migration_checks.MigrationSpec:
        return migration_checks.MigrationSpec(
            procedure=self.procedure,
            from_version=self.from_version,
            to_version=self.to_version,
            state_map=dict(self.state_map),
            cases=tuple(self.cases) if self.cases is not None else None,
            batch_size=self.batch_size or migration_checks.DEFAULT_BATCH_SIZE,
        )


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int | None = Field(default=None, ge=1, le=migration_checks.MAX_BATCH_SIZE)


class CaseVerdictOut(BaseModel):
    case_id: str
    unit: str
    cycle: int
    state: str
    to_state: str | None = None
    reasons: list[dict[str, str]] | None = None


class MigrationPlanOut(BaseModel):
    dry_run: bool = True
    procedure: str
    from_version: str
    to_version: str
    counts: dict[str, int] = Field(description="movable, refused, final_skipped (final cases are never moved)")
    movable: list[CaseVerdictOut]
    refused: list[CaseVerdictOut]


class MigrationOut(BaseModel):
    id: str
    procedure: str
    from_version: str
    to_version: str
    state_map: dict[str, Any]
    cases: list[str] | None
    batch_size: int
    status: str = Field(description="running (batches remain; resume it) or completed")
    after_case_id: str | None = Field(description="The last case a finished batch handled")
    moved: int
    refused: list[CaseVerdictOut]
    remaining: int = Field(description="Selectable cases after after_case_id")
    created_by: str
    created_at: datetime
    updated_at: datetime


async def _view(svc: Services, migration_id: str) -> dict[str, Any]:
    async with svc.sessions() as session:
        out = await migrations.progress(session, svc.registry, migration_id)
    return MigrationOut.model_validate(out).model_dump(mode="json")


@router.post(
    "/cases/migrations",
    response_model=MigrationOut | MigrationPlanOut,
    responses={201: {"model": MigrationOut}, **problems(401, 403, 404, 409, 422)},
    summary="Move open cases to another version of their definition (dry run by default)",
    description="A new version of a definition never changes an open case: a case pins its version at opening. "
    "This moves the open cases of `procedure`/`from_version` (or only `cases`) to `to_version`, their states "
    "carried by `state_map`, and refuses, case by case and with reasons, any whose state, indicators, open "
    "deadlines or offices the new version cannot carry on. With `dry_run` (the default) it lists the cases that "
    "would move and those refused, and changes nothing (200). Otherwise it records the migration and moves the "
    "cases in batches ordered by case id, each batch one transaction; each moved case gets one `case_migrated` "
    "audit event and a `case.transitioned` webhook (trigger `migrate_version`) (201). A national admin only.",
)
async def migrate_cases(
    body: MigrationIn, request: Request, actor: AdminDep, svc: ServicesDep, at: NowDep
) -> JSONResponse:
    spec = body.spec()
    if body.dry_run:
        async with svc.sessions() as session:
            plan = await migration_checks.plan(session, svc.registry, spec)
        out = MigrationPlanOut(
            procedure=spec.procedure,
            from_version=spec.from_version,
            to_version=spec.to_version,
            counts={"movable": len(plan.movable), "refused": len(plan.refused), "final_skipped": plan.final_skipped},
            movable=[CaseVerdictOut.model_validate(v.as_dict()) for v in plan.movable],
            refused=[CaseVerdictOut.model_validate(v.as_dict()) for v in plan.refused],
        )
        return JSONResponse(out.model_dump(mode="json"), status_code=200)
    migration_id = await migrations.start(
        svc.sessions, svc.registry, spec, actor=actor, now=at, request_id=request_id(request)
    )
    await migrations.run(svc.sessions, svc.registry, migration_id, actor=actor, now=at, request_id=request_id(request))
    return JSONResponse(await _view(svc, migration_id), status_code=201)


@router.post(
    "/cases/migrations/{migration_id}/resume",
    response_model=MigrationOut,
    responses=problems(401, 403, 404, 409, 422),
    summary="Continue a migration after its last finished batch",
    description="Runs the batches a stopped or interrupted migration has left, exactly as its recorded request "
    "asked; on a completed migration it changes nothing. A national admin only.",
)
async def resume_migration(
    migration_id: str,
    request: Request,
    actor: AdminDep,
    svc: ServicesDep,
    at: NowDep,
    body: ResumeIn | None = None,
) -> JSONResponse:
    await migrations.run(
        svc.sessions,
        svc.registry,
        migration_id,
        actor=actor,
        now=at,
        batch_size=body.batch_size if body else None,
        request_id=request_id(request),
    )
    return JSONResponse(await _view(svc, migration_id), status_code=200)


@router.get(
    "/cases/migrations/{migration_id}",
    response_model=MigrationOut,
    responses=problems(401, 403, 404),
    summary="A migration's progress",
    description="Its status, the last case a finished batch handled, how many moved, which were refused and why, "
    "and how many remain. A national admin or auditor.",
)
async def get_migration(migration_id: str, actor: ActorDep, svc: ServicesDep) -> JSONResponse:
    authority.require(actor, authority.READ_CASE_MIGRATION)
    return JSONResponse(await _view(svc, migration_id), status_code=200)
