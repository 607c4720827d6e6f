"""Campaigns: one cycle's cases opened at once for every commune under a province or district.

PROCEDURES.md §5: a case is opened "by commune.leader for its own commune, or by reviewer.head for the communes it
reviews (a campaign opens many at once)" (TT25/2023 Điều 24 k1; Điều 9 k1). A campaign adds no authority and no rule
of its own: each case is opened by ``cases.opening.open_case`` as the campaign's actor, who must be allowed to open
it (the engine decides, unit by unit, and gives each case its own ``case_opened`` event; a caller who may open none
of them is refused once, 403), and the optional plan and assignments are fired through
``cases.engine.apply_transition`` as the same actor. Under the shipped profiles only ``commune.leader`` fires
``issue_plan`` and ``assign_indicators`` (Điều 24 k1–2: the commune's People's Committee issues its own plan and
assigns its own indicators), so a reviewing office's campaign may open the cases but not plan them: a campaign that
asks for a plan its actor may not issue is refused as a whole before anything is opened (403, one reason per commune
refused), never carried out on the commune's behalf.

The units are the procedure's subject level (communes for ``cdht_xa``) anywhere under the campaign's unit that exist
in the cycle (``valid_from`` ≤ 31/12/N, ``valid_to`` empty or ≥ 31/12/N). A unit that already has the case is
skipped, so a campaign run twice opens nothing the second time. The units are opened in batches, each one
transaction (a savepoint per unit, so one refusal leaves the others standing); the ``campaign`` row records the
counts after every batch, and the ``admin`` chain gets one ``campaign_run`` event with the totals at the end.
A dry run does the same inside one transaction that is rolled back, so its answer is the engine's own.

The request and its checks are service.domain.bulk.campaign_checks (``survey``), the openings
service.domain.bulk.campaign_batches; this module runs a campaign (or its dry run), records it and reads it back.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.domain.actor import Actor
from service.domain.audit.canonical import format_time
from service.domain.audit.writer import EventFacts, append_chain_event
from service.domain.authority import require_read
from service.domain.bulk.campaign_batches import Tally, chunks, open_units
from service.domain.bulk.campaign_checks import CampaignRequest, Scope, survey, surveyed_tree
from service.domain.errors import UnknownCampaign
from service.domain.units.paths import unit_path
from service.persistence.db import WRITE, unit_of_work
from service.persistence.tables import Campaign
from workflows.registry import Registry

# Units per transaction [config]: large enough that a province's communes take a few commits, small enough that a
# failure loses little and no transaction holds thousands of new rows (PROCEDURES.md is silent; the service's).
DEFAULT_BATCH_SIZE = 500
MAX_BATCH_SIZE = 2000


def _result(tally: Tally, status: str, *, seconds: float, finished_at: datetime | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": status,
        "counts": tally.counts(dry_run=False),
        "cannot": tally.cannot,
        "seconds": round(seconds, 3),
    }
    if finished_at is not None:
        out["finished_at"] = format_time(finished_at)
    return out


async def dry_run(
    factory: async_sessionmaker[AsyncSession],
    registry: Registry,
    request: CampaignRequest,
    *,
    actor: Actor,
    now: datetime,
) -> dict[str, Any]:
    """What the campaign would do now: every opening tried through the engine in one transaction, rolled back."""
    started = time.perf_counter()
    async with factory() as session:
        await session.connection(execution_options={WRITE: True})
        try:
            scope, steps = await survey(session, registry, request, actor, now)
            tally = Tally(len(scope.units) + scope.existing, scope.existing, scope.not_in_cycle)
            await open_units(
                session,
                registry,
                request,
                actor,
                scope.units,
                steps,
                tally,
                tree=scope.tree,
                now=now,
                request_id=None,
                dry_run=True,
            )
        finally:
            await session.rollback()
    return {
        "dry_run": True,
        **_describe(request),
        "counts": tally.counts(dry_run=True),
        "cannot": tally.cannot,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _describe(request: CampaignRequest) -> dict[str, Any]:
    return {
        "procedure": request.procedure,
        "unit": request.unit,
        "cycle": request.cycle,
        "kind": request.kind,
        "options": request.options(),
    }


async def run(
    factory: async_sessionmaker[AsyncSession],
    registry: Registry,
    request: CampaignRequest,
    *,
    actor: Actor,
    now: datetime,
    request_id: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> str:
    """Open the cases, batch by batch; returns the campaign's id. Units that already have the case are skipped."""
    started = time.perf_counter()
    async with factory() as session:
        scope, steps = await survey(session, registry, request, actor, now)
    tally = Tally(len(scope.units) + scope.existing, scope.existing, scope.not_in_cycle)
    campaign_id = str(uuid.uuid4())
    async with unit_of_work(factory) as session:
        session.add(
            Campaign(
                id=campaign_id,
                procedure=scope.definition.key,
                unit_code=request.unit,
                cycle=request.cycle,
                kind=request.kind,
                options=request.options(),
                result=_result(tally, "running", seconds=0),
                created_by=actor.sub,
                created_at=now,
            )
        )
    for batch in chunks(scope.units, batch_size):
        async with unit_of_work(factory) as session:
            scope.tree = await surveyed_tree(
                session, request.unit
            )  # this batch's session answers the engine's unit lookups
            await open_units(
                session,
                registry,
                request,
                actor,
                batch,
                steps,
                tally,
                tree=scope.tree,
                now=now,
                request_id=request_id,
                dry_run=False,
            )
            campaign = await session.get(Campaign, campaign_id)
            campaign.result = _result(tally, "running", seconds=time.perf_counter() - started)
    for attempt in (1, 2):
        try:
            await _finish(
                factory,
                campaign_id,
                scope,
                request,
                tally,
                actor=actor,
                now=now,
                request_id=request_id,
                started=started,
            )
            break
        except IntegrityError:
            # The admin chain's first event raced another's for its head row (audit.append_chain_event): once more.
            if attempt == 2:
                raise
    return campaign_id


async def _finish(
    factory: async_sessionmaker[AsyncSession],
    campaign_id: str,
    scope: Scope,
    request: CampaignRequest,
    tally: Tally,
    *,
    actor: Actor,
    now: datetime,
    request_id: str | None,
    started: float,
) -> None:
    """The campaign's totals on its row, and its one event on the admin chain."""
    async with unit_of_work(factory) as session:
        campaign = await session.get(Campaign, campaign_id)
        campaign.result = _result(tally, "completed", seconds=time.perf_counter() - started, finished_at=now)
        await append_chain_event(
            session,
            chain="admin",
            facts=EventFacts(
                kind="campaign_run",
                trigger="open_campaign",
                payload={
                    "campaign_id": campaign_id,
                    **_describe(request),
                    "counts": tally.counts(dry_run=False),
                    "cannot": [row["unit"] for row in tally.cannot],
                },
                citation=scope.definition.open.citation.ref,
            ),
            actor=actor,
            actor_role=",".join(actor.roles)[:64] or None,
            now=now,
            unit_code=request.unit,
            request_id=request_id,
        )


async def read(session: AsyncSession, campaign_id: str, actor: Actor) -> Campaign:
    """A campaign, to whoever's jurisdiction covers its unit."""
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise UnknownCampaign(f"no campaign {campaign_id}", why=f"no campaign has id {campaign_id}")
    _, path = await unit_path(session, campaign.unit_code)
    require_read(actor, path, what="this campaign")
    return campaign
