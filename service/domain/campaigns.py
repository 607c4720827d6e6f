"""Campaigns: one cycle's cases opened at once for every commune under a province or district.

PROCEDURES.md §5: a case is opened "by commune.leader for its own commune, or by reviewer.head for the communes it
reviews (a campaign opens many at once)" (TT25/2023 Điều 24 k1; Điều 9 k1). A campaign adds no authority and no
rule of its own: each case is opened by ``cases.opening.open_case`` as the campaign's actor, who must be allowed to open
it (the engine decides, unit by unit, and gives each case its own ``case_opened`` event; a caller who may open none
of them is refused once, 403), and the optional plan and assignments are fired through ``cases.engine.apply_transition``
as the same actor. Under the shipped profiles only
``commune.leader`` fires ``issue_plan`` and ``assign_indicators`` (Điều 24 k1–2: the commune's People's Committee
issues its own plan and assigns its own indicators), so a reviewing office's campaign may open the cases but not
plan them: a campaign that asks for a plan its actor may not issue is refused as a whole before anything is
opened (403, one reason per commune refused), never carried out on the commune's behalf.

The units are the procedure's subject level (communes for ``cdht_xa``) anywhere under the campaign's unit that exist
in the cycle (``valid_from`` ≤ 31/12/N, ``valid_to`` empty or ≥ 31/12/N). A unit that already has the case is
skipped, so a campaign run twice opens nothing the second time. The units are opened in batches, each one
transaction (a savepoint per unit, so one refusal leaves the others standing); the ``campaign`` row records the
counts after every batch, and the ``admin`` chain gets one ``campaign_run`` event with the totals at the end.
A dry run does the same inside one transaction that is rolled back, so its answer is the engine's own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.domain.actor import Actor
from service.domain.audit.canonical import format_time
from service.domain.audit.writer import EventFacts, append_chain_event
from service.domain.authority import AuthorityContext, UnitPath, decide, require_read
from service.domain.cases import engine
from service.domain.cases.casefile import load_case_file
from service.domain.cases.explain import check_trigger
from service.domain.cases.opening import Surveyed, open_case, procedure_in_force
from service.domain.errors import DomainError, Forbidden, GuardFailed, InvalidPayload, NotFound, Reason
from service.domain.units.paths import unit_path
from service.domain.units.recognitions import inheritance, prior_recognitions_of
from service.persistence.db import WRITE, unit_of_work
from service.persistence.queries import unit_subtree
from service.persistence.tables import AdminUnit, Campaign, Case
from workflows.payloads import payload_errors
from workflows.registry import Registry
from workflows.schema import Definition, Transition

# Units per transaction [config]: large enough that a province's communes take a few commits, small enough that a
# failure loses little and no transaction holds thousands of new rows (PROCEDURES.md is silent; the service's).
DEFAULT_BATCH_SIZE = 500
MAX_BATCH_SIZE = 2000
LEVELS = ("national", "province", "district", "commune")
SCOPE_LEVELS = ("province", "district")
PLAN, ASSIGN = "issue_plan", "assign_indicators"
REASONS_SHOWN = 20  # a refusal of the whole campaign names this many units, then counts the rest


@dataclass(frozen=True)
class CampaignRequest:
    procedure: str
    unit: str
    cycle: int
    kind: str = "first"
    target_level: int | None = None
    plan: dict[str, Any] | None = None
    assignments: list[dict[str, Any]] | None = None

    def options(self) -> dict[str, Any]:
        return {
            name: value
            for name, value in (
                ("target_level", self.target_level),
                ("plan", self.plan),
                ("assignments", self.assignments),
            )
            if value is not None
        }


@dataclass
class Scope:
    definition: Definition
    units: list[str]  # to consider, in code order: in the cycle and without the case
    existing: int
    not_in_cycle: int
    # The units under the scope, held while the campaign runs: the session's identity map keeps rows only while
    # something refers to them, and the engine's unit lookups are then answered from it, not the database.
    tree: dict[str, AdminUnit] = field(default_factory=dict)


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


def _in_cycle(unit: AdminUnit, cycle: int) -> bool:
    end = date(cycle, 12, 31)
    return (unit.valid_from is None or unit.valid_from <= end) and (unit.valid_to is None or unit.valid_to >= end)


async def _tree(session: AsyncSession, scope: str) -> dict[str, AdminUnit]:
    """Every unit under the scope (and the scope's own ancestors), loaded once: the engine's unit lookups for each
    case then come from the session instead of the database."""
    _, path = await unit_path(session, scope)
    rows = (await session.execute(select(AdminUnit).where(AdminUnit.code.in_(unit_subtree(scope))))).scalars()
    tree = {row.code: row for row in rows}
    for code in path.codes:
        tree.setdefault(code, await session.get(AdminUnit, code))
    return tree


def _path(tree: dict[str, AdminUnit], code: str) -> UnitPath:
    codes, levels, current = [], [], tree.get(code)
    while current is not None and len(codes) < 8:
        codes.append(current.code)
        levels.append(current.level)
        current = tree.get(current.parent_code) if current.parent_code else None
    return UnitPath(tuple(codes), tuple(levels))


def _transition(definition: Definition, trigger: str) -> Transition:
    transition = definition.transition(trigger)
    if transition is None:
        raise InvalidPayload(
            f"{definition.key} has no {trigger}",
            reasons=[Reason("trigger_unknown", f"{definition.key}/{definition.version} has no trigger {trigger}")],
        )
    return transition


def _follow_ups(request: CampaignRequest, definition: Definition) -> list[tuple[Transition, dict[str, Any]]]:
    """The transitions fired on each new case (issue_plan, then assign_indicators), payloads checked once."""
    if request.assignments is not None and request.plan is None:
        raise InvalidPayload(
            "assignments follow a plan", reasons=[Reason("plan_required", "send plan with assignments")]
        )
    steps = []
    if request.plan is not None:
        steps.append((_transition(definition, PLAN), {"plan": request.plan}))
    if request.assignments is not None:
        steps.append((_transition(definition, ASSIGN), {"assignments": request.assignments}))
    reasons = [
        Reason("payload_invalid", f"{transition.trigger}: {path}: {message}")
        for transition, payload in steps
        for path, message in payload_errors(transition, payload)
    ]
    if reasons:
        raise InvalidPayload("the plan or the assignments are malformed", reasons=reasons)
    return steps


async def survey(
    session: AsyncSession, registry: Registry, request: CampaignRequest, actor: Actor, now: datetime
) -> tuple[Scope, list[tuple[Transition, dict[str, Any]]]]:
    """Check the request and find its units: those to open, and how many already have the case or are not in
    the cycle. Refuses (before anything is written) what no unit could accept."""
    definition = procedure_in_force(registry, request.procedure, now).definition
    reasons = []
    if definition.open.subject is not None:
        reasons.append(
            Reason("subject_required", f"{definition.key} is about an organisation; open its cases one by one")
        )
    if request.kind not in definition.kinds:
        reasons.append(Reason("kind_unknown", f"kind must be one of {', '.join(definition.kinds)}"))
    if request.target_level is not None and request.target_level not in definition.levels:
        reasons.append(Reason("level_unknown", f"target_level must be one of {definition.levels}"))
    scope, path = await unit_path(session, request.unit)
    if scope.level not in SCOPE_LEVELS:
        reasons.append(
            Reason("unit_level", f"a campaign covers a province or a district; {scope.code} is a {scope.level}")
        )
    profile = registry.profile_for_cycle(request.cycle, path.at("province"))
    subject_level = definition.subject_level
    if subject_level == "reviewing_office":
        subject_level = profile.bodies["reviewer.head"].at
    if scope.level in LEVELS and LEVELS.index(subject_level) <= LEVELS.index(scope.level):
        reasons.append(
            Reason("unit_level", f"{definition.key} is for a {subject_level}; there is none under a {scope.level}")
        )
    if reasons:
        raise InvalidPayload("this campaign cannot be run", reasons=reasons)
    require_read(actor, path, what=request.unit)
    steps = _follow_ups(request, definition)
    tree = await _tree(session, request.unit)
    # The tree holds the scope's subtree and its ancestors; only the subtree has units below the scope's level.
    candidates = sorted((u for u in tree.values() if u.level == subject_level), key=lambda u: u.code)
    in_cycle = [u.code for u in candidates if _in_cycle(u, request.cycle)]
    have = set(
        (
            await session.execute(
                select(Case.unit_code).where(
                    Case.procedure == definition.key,
                    Case.unit_code.in_(unit_subtree(request.unit)),
                    Case.subject == "",
                    Case.cycle == request.cycle,
                    Case.kind == request.kind,
                )
            )
        ).scalars()
    )
    units = [code for code in in_cycle if code not in have]
    scope_facts = Scope(definition, units, len(in_cycle) - len(units), len(candidates) - len(in_cycle), tree)
    contexts = {}
    for code in units:
        path_u = _path(tree, code)
        contexts[code] = AuthorityContext(registry.profile_for_cycle(request.cycle, path_u.at("province")), path_u)
    opening = {code: decide(actor, definition.open.bodies, ctx) for code, ctx in contexts.items()}
    if units and not any(verdict.allowed for verdict in opening.values()):
        # Whoever may open none of these cases is told so once, not unit by unit.
        reasons = [
            Reason("not_authorised", f"{code}: {'; '.join(verdict.reasons)}")
            for code, verdict in list(opening.items())[:REASONS_SHOWN]
        ]
        if len(units) > REASONS_SHOWN:
            reasons.append(Reason("not_authorised", f"and {len(units) - REASONS_SHOWN} more"))
        raise Forbidden(
            f"you may open none of the {len(units)} {definition.key} cases of cycle {request.cycle} under "
            f"{request.unit} ({definition.open.citation.ref})",
            reasons=reasons,
        )
    refusals = []
    for transition, _ in steps:
        for code, ctx in contexts.items():
            verdict = decide(actor, transition.bodies, ctx)
            if not verdict.allowed:
                refusals.append((code, transition.trigger, verdict.reasons))
    if refusals:
        shown = [
            Reason("not_authorised", f"{code}: {trigger}: {'; '.join(messages)}")
            for code, trigger, messages in refusals[:REASONS_SHOWN]
        ]
        more = len(refusals) - len(shown)
        if more:
            shown.append(Reason("not_authorised", f"and {more} more"))
        raise Forbidden(
            f"you may not fire {' or '.join(sorted({t for _, t, _ in refusals}))} for "
            f"{len({c for c, _, _ in refusals})} of the {len(units)} units (TT25/2023 Điều 24 k1–2: the commune's "
            "own People's Committee issues its plan and assigns its indicators); nothing was opened: run the "
            "campaign without plan and assignments",
            reasons=shown,
        )
    return scope_facts, steps


SURVEYED_BATCH = 500  # openings flushed together (one savepoint) when a campaign opens cases without follow-ups


async def _open_units(
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
    for chunk in _chunks(codes, SURVEYED_BATCH):
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
    opened, refused = 0, []
    try:
        async with session.begin_nested():
            for code in codes:
                try:
                    surveyed = Surveyed(*places[code], prior[code])
                    await _open(session, registry, request, actor, code, now=now, request_id=rid, surveyed=surveyed)
                    opened += 1
                except DomainError as exc:  # refused before the engine added anything
                    refused.append((code, exc))
            await session.flush()
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
) -> engine.Outcome:
    """The campaign's case for one unit, through the engine's one opening path."""
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
    )


async def _place(session: AsyncSession, tree: dict[str, AdminUnit], code: str) -> tuple[AdminUnit, UnitPath]:
    """The unit and its path from the surveyed tree; from the database when a unit on it has ceased (the path
    then names its successors, which act for it)."""
    path = _path(tree, code)
    if any(tree[step].valid_to is not None for step in path.codes):
        return await unit_path(session, code)
    return tree[code], path


def _count_refusal(tally: Tally, code: str, exc: DomainError) -> None:
    if any(reason.code == "case_exists" for reason in exc.reasons):
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


def _forget_rolled_back(session: AsyncSession) -> None:
    """After a savepoint that wrote rows is rolled back, drop every row object but the units from the session.

    Rows the rolled-back part only *read* (the case file the engine loaded) stay in the identity map under keys
    the database may hand out again (SQLite reuses a rolled-back row id), which would clash with the next unit's
    rows; the rows of units already opened are flushed, so nothing is lost by forgetting them."""
    for row in list(session.identity_map.values()):
        if not isinstance(row, AdminUnit):
            session.expunge(row)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
            await _open_units(
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
    for batch in _chunks(scope.units, batch_size):
        async with unit_of_work(factory) as session:
            scope.tree = await _tree(session, request.unit)  # this batch's session answers the engine's unit lookups
            await _open_units(
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
        raise NotFound(
            f"no campaign {campaign_id}", reasons=[Reason("campaign_unknown", f"no campaign has id {campaign_id}")]
        )
    _, path = await unit_path(session, campaign.unit_code)
    require_read(actor, path, what="this campaign")
    return campaign
