"""Campaigns: open one cycle's cases for every commune under a province or district (dry run by default).

The rules are in ``service/domain/bulk/`` (campaigns, their checks and batches): every case goes through the engine
as the caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import Services, current_actor, now, request_id, services
from service.api.errors import problems
from service.domain.actor import Actor
from service.domain.bulk import campaign_checks, campaigns

router = APIRouter(prefix="/v1", tags=["campaigns"])
ActorDep = Annotated[Actor, Depends(current_actor)]
ServicesDep = Annotated[Services, Depends(services)]
NowDep = Annotated[datetime, Depends(now)]


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    indicator: str
    org: str


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    procedure: str = Field(examples=["cdht_xa"])
    unit: str = Field(description="A province or district: every unit of the procedure's level under it")
    cycle: int = Field(ge=2000, le=2100, description="Evaluation year N; units that exist on 31/12/N")
    kind: Literal["first", "re_recognition", "upgrade"] = "first"
    target_level: Literal[1, 2] | None = None
    dry_run: bool = Field(default=True, description="Count what would happen and change nothing (the default)")
    plan: dict[str, Any] | None = Field(
        default=None, description="DocRef: issue_plan is fired on each new case (needs authority to fire it)"
    )
    assignments: list[Assignment] | None = Field(
        default=None, description="assign_indicators is fired on each new case after the plan (requires plan)"
    )
    batch_size: int | None = Field(default=None, ge=1, le=campaigns.MAX_BATCH_SIZE, description="Units per transaction")

    def request(self) -> campaign_checks.CampaignRequest:
        return campaign_checks.CampaignRequest(
            procedure=self.procedure,
            unit=self.unit,
            cycle=self.cycle,
            kind=self.kind,
            target_level=self.target_level,
            plan=self.plan,
            assignments=[a.model_dump() for a in self.assignments] if self.assignments is not None else None,
        )


class UnitRefusal(BaseModel):
    unit: str
    reasons: list[dict[str, str]]


class CampaignPlanOut(BaseModel):
    dry_run: bool = True
    procedure: str
    unit: str
    cycle: int
    kind: str
    options: dict[str, Any]
    counts: dict[str, int] = Field(description="units, would_open, existing, cannot, not_in_cycle")
    cannot: list[UnitRefusal]
    seconds: float


class CampaignOut(BaseModel):
    id: str
    dry_run: bool = False
    procedure: str
    unit: str
    cycle: int
    kind: str
    options: dict[str, Any]
    status: str = Field(description="running while batches remain, then completed")
    counts: dict[str, int] = Field(description="units, opened, existing, cannot, not_in_cycle")
    cannot: list[UnitRefusal]
    seconds: float
    created_by: str
    created_at: datetime
    finished_at: datetime | None = None


def campaign_out(row: Any) -> dict[str, Any]:
    result = row.result or {}
    return CampaignOut(
        id=row.id,
        procedure=row.procedure,
        unit=row.unit_code,
        cycle=row.cycle,
        kind=row.kind,
        options=row.options or {},
        status=result.get("status", "running"),
        counts=result.get("counts", {}),
        cannot=result.get("cannot", []),
        seconds=result.get("seconds", 0),
        created_by=row.created_by,
        created_at=row.created_at,
        finished_at=result.get("finished_at"),
    ).model_dump(mode="json")


@router.post(
    "/campaigns",
    response_model=CampaignOut | CampaignPlanOut,
    responses={201: {"model": CampaignOut}, **problems(401, 403, 404, 409, 422)},
    summary="Open a cycle's cases for every commune under a province or district (dry run by default)",
    description="Opens the case of `cycle` for every unit of the procedure's level under `unit` that exists on "
    "31/12 of the cycle, each through the same opening as POST /cases, as the caller: reviewer.head may open "
    "the cases of the communes it reviews (TT25/2023 Điều 24 k1; Điều 9 k1). Units that already have the case "
    "are skipped, so a second run opens nothing. With `plan` (and `assignments`), issue_plan (and "
    "assign_indicators) are fired on each new case, which only whoever may fire them for every commune may ask "
    "(the commune's own People's Committee under the shipped profiles): otherwise 403 and nothing is opened. "
    "A dry run (the default) tries every opening and rolls it back: the counts and each refused unit's reasons "
    "(200). Otherwise the campaign is recorded and its counts returned (201).",
)
async def open_campaign(
    body: CampaignIn, request: Request, actor: ActorDep, svc: ServicesDep, at: NowDep
) -> JSONResponse:
    wanted = body.request()
    if body.dry_run:
        out = await campaigns.dry_run(svc.sessions, svc.registry, wanted, actor=actor, now=at)
        return JSONResponse(CampaignPlanOut.model_validate(out).model_dump(mode="json"), status_code=200)
    campaign_id = await campaigns.run(
        svc.sessions,
        svc.registry,
        wanted,
        actor=actor,
        now=at,
        request_id=request_id(request),
        batch_size=body.batch_size or campaigns.DEFAULT_BATCH_SIZE,
    )
    async with svc.sessions() as session:
        row = await campaigns.read(session, campaign_id, actor)
        out = campaign_out(row)
    return JSONResponse(out, status_code=201)


@router.get(
    "/campaigns/{campaign_id}",
    response_model=CampaignOut,
    responses=problems(401, 403, 404),
    summary="A campaign: its request and counts",
    description="To whoever's jurisdiction covers the campaign's unit.",
)
async def get_campaign(campaign_id: str, actor: ActorDep, svc: ServicesDep) -> JSONResponse:
    async with svc.sessions() as session:
        row = await campaigns.read(session, campaign_id, actor)
        out = campaign_out(row)
    return JSONResponse(out, status_code=200)
