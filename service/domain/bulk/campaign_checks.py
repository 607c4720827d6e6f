"""What a campaign asks for and whether it can be run: the request, its procedure's subject level under the
campaign's unit, the follow-up plan and assignments checked once, the units in the cycle still without the case,
and the caller's authority to open them (refused as a whole, before anything is written, when no unit could accept
it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.actor import Actor
from service.domain.authority import AuthorityContext, UnitPath, decide, require_read
from service.domain.cases.opening import procedure_in_force
from service.domain.errors import InvalidPayload, NotAuthorised, Reason
from service.domain.units.paths import unit_path
from service.persistence.per_dialect import PerDialect, among
from service.persistence.queries import unit_subtree
from service.persistence.tables import AdminUnit, Case
from workflows.payloads import payload_errors
from workflows.registry import Registry
from workflows.schema import Definition, Transition

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


def _in_cycle(unit: AdminUnit, cycle: int) -> bool:
    end = date(cycle, 12, 31)
    return (unit.valid_from is None or unit.valid_from <= end) and (unit.valid_to is None or unit.valid_to >= end)


async def surveyed_tree(session: AsyncSession, scope: str) -> dict[str, AdminUnit]:
    """Every unit under the scope (and the scope's own ancestors), loaded once: the engine's unit lookups for each
    case then come from the session instead of the database."""
    _, path = await unit_path(session, scope)
    rows = (await session.execute(select(AdminUnit).where(AdminUnit.code.in_(unit_subtree(scope))))).scalars()
    tree = {row.code: row for row in rows}
    for code in path.codes:
        tree.setdefault(code, await session.get(AdminUnit, code))
    return tree


# Which of the units ``:units`` have the campaign's case: the units bound as a list (an index condition on the case
# table), not as the scope's recursive subtree joined to it, which the planner can apply only as a filter over every
# case of the procedure (``queries.subtree_codes``; ~110 ms a province at 10,600 cases, most of a campaign's time).
_WITH_THE_CASE = PerDialect(
    lambda postgresql: select(Case.unit_code).where(
        Case.procedure == bindparam("procedure"),
        among(Case.unit_code, postgresql, "units"),
        Case.subject == "",
        Case.cycle == bindparam("cycle"),
        Case.kind == bindparam("kind"),
    )
)


async def _with_the_case(session: AsyncSession, procedure: str, request: CampaignRequest, units: list[str]) -> set[str]:
    """Those of ``units`` that have the campaign's case already (its procedure, cycle and kind, no subject)."""
    if not units:
        return set()
    bound = {"procedure": procedure, "units": units, "cycle": request.cycle, "kind": request.kind}
    return set((await session.execute(_WITH_THE_CASE.of(session), bound)).scalars())


def path_in(tree: dict[str, AdminUnit], code: str) -> UnitPath:
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
    subject_level = definition.case_level(profile)
    if scope.level in LEVELS and LEVELS.index(subject_level) <= LEVELS.index(scope.level):
        reasons.append(
            Reason("unit_level", f"{definition.key} is for a {subject_level}; there is none under a {scope.level}")
        )
    if reasons:
        raise InvalidPayload("this campaign cannot be run", reasons=reasons)
    require_read(actor, path, what=request.unit)
    steps = _follow_ups(request, definition)
    tree = await surveyed_tree(session, request.unit)
    # The tree holds the scope's subtree and its ancestors; only the subtree has units below the scope's level.
    candidates = sorted((u for u in tree.values() if u.level == subject_level), key=lambda u: u.code)
    in_cycle = [u.code for u in candidates if _in_cycle(u, request.cycle)]
    have = await _with_the_case(session, definition.key, request, in_cycle)
    units = [code for code in in_cycle if code not in have]
    scope_facts = Scope(definition, units, len(in_cycle) - len(units), len(candidates) - len(in_cycle), tree)
    contexts = {}
    for code in units:
        path_u = path_in(tree, code)
        contexts[code] = AuthorityContext(registry.profile_for_cycle(request.cycle, path_u.at("province")), path_u)
    opening = {code: decide(actor, definition.open.bodies, ctx) for code, ctx in contexts.items()}
    if units and not any(verdict.allowed for verdict in opening.values()):
        # Whoever may open none of these cases is told so once, not unit by unit.
        why = [f"{code}: {'; '.join(verdict.reasons)}" for code, verdict in list(opening.items())[:REASONS_SHOWN]]
        if len(units) > REASONS_SHOWN:
            why.append(f"and {len(units) - REASONS_SHOWN} more")
        raise NotAuthorised(
            f"you may open none of the {len(units)} {definition.key} cases of cycle {request.cycle} under "
            f"{request.unit} ({definition.open.citation.ref})",
            why=why,
        )
    refusals = []
    for transition, _ in steps:
        for code, ctx in contexts.items():
            verdict = decide(actor, transition.bodies, ctx)
            if not verdict.allowed:
                refusals.append((code, transition.trigger, verdict.reasons))
    if refusals:
        shown = [f"{code}: {trigger}: {'; '.join(messages)}" for code, trigger, messages in refusals[:REASONS_SHOWN]]
        more = len(refusals) - len(shown)
        if more:
            shown.append(f"and {more} more")
        raise NotAuthorised(
            f"you may not fire {' or '.join(sorted({t for _, t, _ in refusals}))} for "
            f"{len({c for c, _, _ in refusals})} of the {len(units)} units (TT25/2023 Điều 24 k1–2: the commune's "
            "own People's Committee issues its plan and assigns its indicators); nothing was opened: run the "
            "campaign without plan and assignments",
            why=shown,
        )
    return scope_facts, steps
