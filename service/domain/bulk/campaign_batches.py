"""Opening a campaign's cases, a batch at a time, each through the engine's one opening path as the campaign's actor:
openings without follow-ups together in one savepoint from what the survey read (their rows inserted a table at a
time, service/domain/cases/batch_tail.py), else one by one in a savepoint each (opened and planned, or refused with
the engine's reasons, or found to exist); the tally counts each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.actor import Actor
from service.domain.authority import UnitPath
from service.domain.bulk.campaign_checks import CampaignRequest, path_in
from service.domain.cases import engine
from service.domain.cases.batch_tail import RowBatch
from service.domain.cases.casefile import load_case_file
from service.domain.cases.explain import check_trigger
from service.domain.cases.opening import Surveyed, open_case, procedure_in_force
from service.domain.errors import CaseExists, DomainError, GuardFailed, Reason
from service.domain.units.paths import unit_path
from service.domain.units.recognitions import inheritance, prior_recognitions_of
from service.persistence.tables import AdminUnit
from service.telemetry import context as log_context
from workflows.registry import Registry
from workflows.schema import Transition


@dataclass
class Tally:
    units: int
    existing: int
    not_in_cycle: int
    opened: int = 0
    cannot: list[dict[str, Any]] = field(default_factory=list)

    def counts(self, *, dry_run: bool) -> dict[str, int]:
        return {
            "units": self.units,
            "would_open" if dry_run else "opened": self.opened,
            "existing": self.existing,
            "cannot": len(self.cannot),
            "not_in_cycle": self.not_in_cycle,
        }


SURVEYED_BATCH = 500  # openings flushed together (one savepoint) when a campaign opens cases without follow-ups


async def open_units(
    session: AsyncSession,
    registry: Registry,
    request: CampaignRequest,
    actor: Actor,
    codes: Iterable[str],
    steps: list[tuple[Transition, dict[str, Any]]],
    tally: Tally,
    *,
    tree: dict[str, AdminUnit],
    now: datetime,
    request_id: str | None,
    dry_run: bool,
) -> None:
    """Open each unit's case through the engine: batches of openings from what the survey read when nothing follows
    the opening, else one by one (a plan and assignments are fired on each new case)."""
    codes = list(codes)
    if steps:
        await _open_one_by_one(
            session, registry, request, actor, codes, steps, tally, now=now, request_id=request_id, dry_run=dry_run
        )
        return
    for chunk in chunks(codes, SURVEYED_BATCH):
        if not await _open_surveyed(
            session, registry, request, actor, chunk, tally, tree=tree, now=now, rid=request_id
        ):
            await _open_one_by_one(
                session, registry, request, actor, chunk, [], tally, now=now, request_id=request_id, dry_run=dry_run
            )


async def _open_surveyed(
    session: AsyncSession,
    registry: Registry,
    request: CampaignRequest,
    actor: Actor,
    codes: list[str],
    tally: Tally,
    *,
    tree: dict[str, AdminUnit],
    now: datetime,
    rid: str | None,
) -> bool:
    """A batch of openings in one savepoint, flushed once, with each unit's place and recognitions read for the
    whole batch (a few queries, not a few per unit). False when the flush met a case opened meanwhile: the
    savepoint is rolled back, nothing is counted, and the caller opens the batch one by one."""
    definition = procedure_in_force(registry, request.procedure, now).definition
    places = {code: await _place(session, tree, code) for code in codes}
    prior: dict[str, tuple] = {code: () for code in codes}
    if definition.open.guards:
        by_policy: dict[str, list[str]] = {}
        for code, (_, path) in places.items():
            profile = registry.profile_for_cycle(request.cycle, path.at("province"))
            policy = inheritance({**definition.default_settings(), **profile.default_settings()})
            by_policy.setdefault(policy, []).append(code)
        for policy, group in by_policy.items():
            prior.update(await prior_recognitions_of(session, group, procedure=definition.key, policy=policy))
    opened, refused, rows = 0, [], RowBatch()
    try:
        async with session.begin_nested():
            for code in codes:
                try:
                    surveyed = Surveyed(*places[code], prior[code])
                    await _open(
                        session, registry, request, actor, code, now=now, request_id=rid, surveyed=surveyed, rows=rows
                    )
                    opened += 1
                except DomainError as exc:  # refused before the engine added anything
                    refused.append((code, exc))
            await session.flush()
            await rows.insert(session)
    except IntegrityError:
        _forget_rolled_back(session)
        return False
    tally.opened += opened
    for code, exc in refused:
        _count_refusal(tally, code, exc)
    return True


async def _open(
    session: AsyncSession,
    registry: Registry,
    request: CampaignRequest,
    actor: Actor,
    code: str,
    *,
    now: datetime,
    request_id: str | None,
    surveyed: Surveyed | None = None,
    rows: RowBatch | None = None,
) -> engine.Outcome:
    """The campaign's case for one unit, through the engine's one opening path (its new rows into ``rows`` when
    given)."""
    return await open_case(
        session,
        registry=registry,
        actor=actor,
        procedure=request.procedure,
        unit_code=code,
        cycle=request.cycle,
        kind=request.kind,
        target_level=request.target_level,
        now=now,
        request_id=request_id,
        surveyed=surveyed,
        rows=rows,
    )


async def _place(session: AsyncSession, tree: dict[str, AdminUnit], code: str) -> tuple[AdminUnit, UnitPath]:
    """The unit and its path from the surveyed tree; from the database when a unit on it has ceased (the path
    then names its successors, which act for it)."""
    path = path_in(tree, code)
    if any(tree[step].valid_to is not None for step in path.codes):
        return await unit_path(session, code)
    return tree[code], path


def _count_refusal(tally: Tally, code: str, exc: DomainError) -> None:
    if isinstance(exc, CaseExists):
        tally.existing += 1
    else:
        reasons = exc.reasons or [Reason(exc.type_slug, exc.detail)]
        tally.cannot.append({"unit": code, "reasons": [r.as_dict() for r in reasons]})


async def _open_one_by_one(
    session: AsyncSession,
    registry: Registry,
    request: CampaignRequest,
    actor: Actor,
    codes: Iterable[str],
    steps: list[tuple[Transition, dict[str, Any]]],
    tally: Tally,
    *,
    now: datetime,
    request_id: str | None,
    dry_run: bool,
) -> None:
    """Each unit's case through the engine, in a savepoint of its own: opened (and planned), or refused with the
    engine's reasons, or found to exist already (a concurrent opening)."""
    for code in codes:
        opened = False
        # Each unit's lines name its case; the campaign's request line names none.
        scope = log_context.new_scope(**log_context.current())
        try:
            async with session.begin_nested():
                outcome = await _open(session, registry, request, actor, code, now=now, request_id=request_id)
                opened = True
                if dry_run and steps:
                    # Checked, not fired: a dry run counts no transition as accepted.
                    cf = await load_case_file(session, registry, outcome.case.id, lock=False)
                    for transition, payload in steps:
                        check = check_trigger(cf, transition, actor, now, payload=payload)
                        if not check.allowed:
                            raise GuardFailed(f"{transition.trigger} would be refused", reasons=check.reasons)
                for transition, payload in [] if dry_run else steps:
                    await engine.apply_transition(
                        session,
                        registry=registry,
                        case_id=outcome.case.id,
                        trigger=transition.trigger,
                        actor=actor,
                        payload=payload,
                        now=now,
                        request_id=request_id,
                    )
        except DomainError as exc:
            if opened:
                _forget_rolled_back(session)
            _count_refusal(tally, code, exc)
        else:
            tally.opened += 1
        finally:
            log_context.reset(scope)


def _forget_rolled_back(session: AsyncSession) -> None:
    """After a savepoint that wrote rows is rolled back, drop every row object but the units from the session.

    Rows the rolled-back part only *read* (the case file the engine loaded) stay in the identity map under keys
    the database may hand out again (SQLite reuses a rolled-back row id), which would clash with the next unit's
    rows; the rows of units already opened are flushed, so nothing is lost by forgetting them."""
    for row in list(session.identity_map.values()):
        if not isinstance(row, AdminUnit):
            session.expunge(row)


def chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
