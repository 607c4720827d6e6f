"""The dev clock over HTTP: read it (``GET /v1/dev/clock``, any token) and move it (``POST /v1/dev/clock``, a
national admin of a dev or demo deployment; refused 403 ``dev_only`` in production). The rules are in
``service/domain/dev_clock.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from service import clock_file as stored
from service.api.deps import Services, current_actor, services
from service.api.errors import problems
from service.api.params import Instant
from service.api.schemas import local_time
from service.domain import authority, dev_clock
from service.domain.actor import Actor

router = APIRouter(prefix="/v1/dev", tags=["dev"])
ActorDep = Annotated[Actor, Depends(current_actor)]
ServicesDep = Annotated[Services, Depends(services)]


def dev_only(svc: ServicesDep) -> None:
    """403 ``dev_only`` in production, before the token or the body is read: the operation does not exist there."""
    dev_clock.refuse_in_production(svc.settings.is_production)


DevOnly = Annotated[None, Depends(dev_only)]


def clock_mover(_: DevOnly, actor: ActorDep) -> Actor:
    """The caller, when it may move the clock (a national admin); 403 otherwise, before the body is read."""
    authority.require(actor, authority.MOVE_DEV_CLOCK)
    return actor


ClockMover = Annotated[Actor, Depends(clock_mover)]


class ClockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Instant | None = Field(
        default=None, description="The time to set (ISO 8601; no offset: UTC)", examples=["2027-01-02T09:00:00+07:00"]
    )
    days: float | None = Field(
        default=None, ge=-36600, le=36600, description="Days to move the clock by (negative: back)", examples=[30]
    )
    reset: bool = Field(default=False, description="Back to the real clock (CDHT_NOW when that freezes it)")


class ClockOut(BaseModel):
    now: datetime = Field(description="The service's clock, UTC")
    now_local: datetime = Field(description="The same in Asia/Ho_Chi_Minh (+07:00)")
    real_now: datetime = Field(description="The clock without the dev clock (the real time, or CDHT_NOW)")
    offset_seconds: float = Field(description="How far the dev clock moves the real one")
    frozen: bool = Field(description="CDHT_NOW freezes the real clock")
    adjustable: bool = Field(description="Whether POST /v1/dev/clock may move it (not in production)")
    set_at: str | None = None
    set_by: str | None = None


def clock_out(svc: Services) -> ClockOut:
    settings = svc.settings
    current = stored.NONE if settings.is_production else stored.read(settings.data_dir)
    real = settings.real_clock()
    return ClockOut(
        now=real + current.offset,
        now_local=local_time(real + current.offset),
        real_now=real,
        offset_seconds=current.offset.total_seconds(),
        frozen=settings.now is not None,
        adjustable=not settings.is_production,
        set_at=current.set_at,
        set_by=current.set_by,
    )


@router.get(
    "/clock",
    response_model=ClockOut,
    responses=problems(401),
    summary="The service's clock",
    description="The time the service acts at (UTC and local), the real time, and how far the dev clock moves it; "
    "`adjustable` says whether POST /v1/dev/clock may move it (not in production).",
)
async def read_clock(actor: ActorDep, svc: ServicesDep) -> ClockOut:
    return clock_out(svc)


@router.post(
    "/clock",
    response_model=ClockOut,
    responses=problems(401, 403, 422),
    summary="Move the clock of a dev or demo deployment (national admin; refused in production)",
    description="Sets the clock to `to`, moves it by `days`, or `reset`s it, for every process of the deployment "
    "at once (kept in the data directory), without a restart: a demo reaches 01/01 of N+1, when the "
    "self-assessment opens (TT25/2023 Điều 9 k1 a), or a deadline, which the sweeper then fires. Time runs on "
    "from the new point. Refused 403 `dev_only` in production.",
)
async def move_clock(actor: ClockMover, body: ClockIn, svc: ServicesDep) -> ClockOut:
    dev_clock.change(
        svc.settings.data_dir,
        real_now=svc.settings.real_clock(),
        production=svc.settings.is_production,
        by=actor.sub,
        to=body.to,
        days=body.days,
        reset=body.reset,
    )
    return clock_out(svc)
