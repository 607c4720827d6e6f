"""Which open cases a migration from one definition version to another may move, and why each other is refused: the
request checked (both versions loaded, a state map of old states), every reason a case cannot carry on under the
new version, and the dry run (``plan``) that changes nothing. The rules are listed in
service.domain.bulk.case_migrations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.cases.casefile import CaseFile, load_case_file
from service.domain.cases.opening import definition_bodies
from service.domain.errors import InvalidPayload, Reason, UnknownProcedure, UnknownVersion
from service.persistence.tables import Case
from workflows.registry import Procedure, Registry

# Cases per transaction [config]: a batch holds each of its cases' row locks until it commits, so it stays small
# enough not to keep a commune waiting; a crash loses at most the batch under way.
DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 1000


@dataclass(frozen=True)
class MigrationSpec:
    procedure: str
    from_version: str
    to_version: str
    state_map: dict[str, str] = field(default_factory=dict)
    cases: tuple[str, ...] | None = None  # only these cases, when given
    batch_size: int = DEFAULT_BATCH_SIZE

    def as_payload(self) -> dict[str, Any]:
        return {
            "procedure": self.procedure,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "state_map": dict(self.state_map),
            "cases": list(self.cases) if self.cases is not None else None,
            "batch_size": self.batch_size,
        }


@dataclass
class CaseVerdict:
    case_id: str
    unit: str
    cycle: int
    state: str
    to_state: str | None
    reasons: list[Reason]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"case_id": self.case_id, "unit": self.unit, "cycle": self.cycle, "state": self.state}
        if self.reasons:
            out["reasons"] = [r.as_dict() for r in self.reasons]
        else:
            out["to_state"] = self.to_state
        return out


@dataclass
class MigrationPlan:
    movable: list[CaseVerdict]
    refused: list[CaseVerdict]
    final_skipped: int


def check_spec(registry: Registry, spec: MigrationSpec) -> tuple[Procedure, Procedure]:
    """Both versions loaded, distinct, and a state map whose keys are states of the old version (422 otherwise;
    a mapped state the new version lacks refuses the cases in that state, one by one, and changes nothing)."""
    if not any(key == spec.procedure for key, _ in registry.procedures):
        raise UnknownProcedure(f"no procedure {spec.procedure}", why=f"{spec.procedure} is not defined")
    found = {}
    for name in ("from_version", "to_version"):
        version = getattr(spec, name)
        procedure = registry.get(spec.procedure, version)
        if procedure is None:
            loaded = sorted(v for k, v in registry.procedures if k == spec.procedure)
            raise UnknownVersion(
                f"{spec.procedure}/{version} is not loaded", why=f"{name}: loaded versions are {', '.join(loaded)}"
            )
        found[name] = procedure
    reasons = []
    if spec.from_version == spec.to_version:
        reasons.append(Reason("same_version", "from_version and to_version are the same"))
    old_states = found["from_version"].definition.states
    for old, new in spec.state_map.items():
        if old not in old_states:
            reasons.append(Reason("state_map_invalid", f"{old} is not a state of {spec.procedure}/{spec.from_version}"))
        if not isinstance(new, str) or not new:
            reasons.append(Reason("state_map_invalid", f"{old}: map it to a state name"))
    if not 1 <= spec.batch_size <= MAX_BATCH_SIZE:
        reasons.append(Reason("batch_size", f"batch_size is between 1 and {MAX_BATCH_SIZE}"))
    if reasons:
        raise InvalidPayload("this migration cannot be run", reasons=reasons)
    return found["from_version"], found["to_version"]


def final_states(procedure: Procedure) -> list[str]:
    return [name for name, state in procedure.definition.states.items() if state.final]


def case_refusals(cf: CaseFile, target: Procedure, state_map: dict[str, str]) -> tuple[str | None, list[Reason]]:
    """The state the case would move to, and every reason it cannot move (empty when it can)."""
    case, old, new = cf.case, cf.procedure.definition, target.definition
    where = f"{new.key}/{new.version}"
    reasons = []
    if old.states[case.state].final:
        reasons.append(Reason("case_final", f"the case is {case.state}, a final state: it stays as it was decided"))
    to_state = state_map.get(case.state, case.state)
    if case.state not in state_map and case.state not in new.states:
        reasons.append(
            Reason("state_not_mapped", f"{case.state} is not in the state map and {where} has no such state")
        )
        to_state = None
    elif to_state not in new.states:
        reasons.append(Reason("mapped_state_missing", f"{case.state} maps to {to_state}, which {where} does not have"))
        to_state = None
    elif new.states[to_state].final:
        reasons.append(Reason("mapped_to_final", f"{to_state} is final in {where}: a migration decides nothing"))
    process = new.indicator_process
    if cf.indicator_rows and process is None:
        reasons.append(Reason("indicator_process_missing", f"the case has indicator records; {where} has none"))
    elif cf.indicator_rows:
        codes = {indicator.code for indicator in new.indicators}
        for code, row in sorted(cf.indicator_rows.items()):
            if code not in codes:
                reasons.append(Reason("indicator_unknown", f"indicator {code} is not in {where}"))
            elif row.state not in process.states:
                reasons.append(
                    Reason("indicator_state_missing", f"indicator {code} is {row.state}, unknown to {where}")
                )
        collecting = old.indicator_process is not None and case.state in old.indicator_process.case_states
        if collecting and to_state is not None and to_state not in process.case_states:
            reasons.append(
                Reason(
                    "indicator_process_incompatible",
                    f"evidence is being collected in {case.state}; in {where} it is collected in "
                    f"{', '.join(process.case_states)}, not in {to_state}",
                )
            )
    for key, row in sorted(cf.deadlines.items()):
        if row.closed_at is None and key not in new.deadlines:
            reasons.append(Reason("deadline_missing", f"the case's open deadline {key} is not defined in {where}"))
    if to_state is not None:
        for key, rule in sorted(new.deadlines.items()):
            if to_state in rule.opens_in and key not in cf.deadlines:
                reasons.append(
                    Reason(
                        "deadline_not_open",
                        f"{where} opens the deadline {key} in {to_state}; the case has none, and a migration "
                        "computes no due date",
                    )
                )
    for body in sorted(definition_bodies(new)):
        rule = cf.profile.bodies.get(body)
        if rule is None or cf.units.at(rule.at) is None:
            reasons.append(Reason("no_tier", f"{body}: the case's profile {cf.profile.name} names no one for it here"))
    return to_state, reasons


def selectable_cases(spec: MigrationSpec, source: Procedure, after: str = "") -> Any:
    """The cases a migration selects, in case id order: on the old version and not final."""
    query = select(Case.id).where(
        Case.procedure == spec.procedure,
        Case.version == spec.from_version,
        Case.state.not_in(final_states(source)),
    )
    if spec.cases is not None:
        query = query.where(Case.id.in_(spec.cases))
    if after:
        query = query.where(Case.id > after)
    return query.order_by(Case.id)


def verdict_of(cf: CaseFile, to_state: str | None, reasons: list[Reason]) -> CaseVerdict:
    case = cf.case
    return CaseVerdict(case.id, case.unit_code, case.cycle, case.state, to_state, reasons)


async def named_but_not_selectable(session: AsyncSession, spec: MigrationSpec, source: Procedure) -> list[CaseVerdict]:
    """Cases named in ``cases`` that the migration will never select, each with why."""
    if spec.cases is None:
        return []
    rows = {row.id: row for row in (await session.execute(select(Case).where(Case.id.in_(spec.cases)))).scalars()}
    finals = set(final_states(source))
    out = []
    for case_id in sorted(set(spec.cases)):
        row = rows.get(case_id)
        if row is None:
            out.append(CaseVerdict(case_id, "", 0, "", None, [Reason("case_unknown", f"no case has id {case_id}")]))
        elif (row.procedure, row.version) != (spec.procedure, spec.from_version):
            reason = Reason("not_on_version", f"the case runs under {row.procedure}/{row.version}")
            out.append(CaseVerdict(case_id, row.unit_code, row.cycle, row.state, None, [reason]))
        elif row.state in finals:
            reason = Reason("case_final", f"the case is {row.state}, a final state: it stays as it was decided")
            out.append(CaseVerdict(case_id, row.unit_code, row.cycle, row.state, None, [reason]))
    return out


# --- the dry run ------------------------------------------------------------------------------------------------


async def plan(session: AsyncSession, registry: Registry, spec: MigrationSpec) -> MigrationPlan:
    """What a migration would do now, changing nothing: the cases that would move and to which state, and those
    that would be refused, with every reason."""
    source, target = check_spec(registry, spec)
    movable, refused = [], await named_but_not_selectable(session, spec, source)
    for case_id in (await session.execute(selectable_cases(spec, source))).scalars().all():
        cf = await load_case_file(session, registry, case_id, lock=False)
        to_state, reasons = case_refusals(cf, target, spec.state_map)
        (refused if reasons else movable).append(verdict_of(cf, to_state, reasons))
    final_query = select(func.count()).where(
        Case.procedure == spec.procedure, Case.version == spec.from_version, Case.state.in_(final_states(source))
    )
    if spec.cases is not None:
        final_query = final_query.where(Case.id.in_(spec.cases))
    return MigrationPlan(movable, refused, (await session.execute(final_query)).scalar_one())
