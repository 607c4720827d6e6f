"""Case files for a page of cases, read in a constant number of statements whatever the page's size (issue 12
item 6): the unit paths of every case at once, each table of the case file once for the whole page, and the
recognitions on record once for the cases whose state has a trigger that reads them.

Each case file holds what ``casefile.load_case_file`` reads for a case (without a trigger), but for the unit's
recognitions, which it reads only when a trigger the case may fire next reads them (as a write does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.cases.casefile import CaseFile, pinned
from service.domain.units.paths import unit_paths
from service.domain.units.recognitions import inheritance, valid_until
from service.domain.units.successions import walk_many
from service.persistence.queries import one_of, subtree_codes
from service.persistence.tables import Case, CaseIndicator, Deadline, Evidence
from workflows.guards.registry import PriorRecognition, reads_history
from workflows.registry import Procedure, Registry

Row = TypeVar("Row", CaseIndicator, Evidence, Deadline)


async def load_case_files(session: AsyncSession, registry: Registry, cases: Sequence[Case]) -> list[CaseFile]:
    """The case file of each of ``cases`` (rows already read), in their order."""
    if not cases:
        return []
    resolved = {case.id: pinned(registry, case) for case in cases}
    paths = await unit_paths(session, {case.unit_code for case in cases})
    ids = [case.id for case in cases]
    indicators = await _rows_by_case(session, CaseIndicator, ids, CaseIndicator.code)
    evidence = await _rows_by_case(session, Evidence, ids, Evidence.id)
    deadlines = await _rows_by_case(session, Deadline, ids, Deadline.id)
    prior = await _prior_recognitions(session, [c for c in cases if _reads_history_next(resolved[c.id][0], c)])
    files = []
    for case in cases:
        procedure, profile = resolved[case.id]
        unit, units = paths[case.unit_code]
        files.append(
            CaseFile(
                case=case,
                procedure=procedure,
                profile=profile,
                unit=unit,
                units=units,
                indicator_rows={row.code: row for row in indicators.get(case.id, [])},
                evidence=evidence.get(case.id, []),
                deadlines={row.key: row for row in deadlines.get(case.id, [])},
                prior=prior.get(case.id),
            )
        )
    return files


async def _rows_by_case(session: AsyncSession, table: type[Row], ids: list[str], order: Any) -> dict[str, list[Row]]:
    dialect = session.get_bind().dialect.name
    query = select(table).where(one_of(table.case_id, ids, dialect)).order_by(table.case_id, order)
    found: dict[str, list[Row]] = {}
    for row in (await session.execute(query)).scalars():
        found.setdefault(row.case_id, []).append(row)
    return found


def _reads_history_next(procedure: Procedure, case: Case) -> bool:
    """Whether a trigger the case may fire from its state runs a guard that reads the unit's recognitions."""
    definition = procedure.definition
    return any(
        reads_history(transition.guards)
        for trigger in procedure.machine.triggers_from(case.state)
        if (transition := definition.transition(trigger)) is not None
    )


async def _prior_recognitions(session: AsyncSession, cases: Sequence[Case]) -> dict[str, tuple[PriorRecognition, ...]]:
    """``recognitions.prior_recognitions`` of each case (its unit, procedure and subject, under its pinned
    inheritance policy, itself left out): the lines of units walked once per policy, the recognitions read once."""
    if not cases:
        return {}
    policies = {case.id: inheritance((case.pinned or {}).get("settings")) for case in cases}
    lines: dict[tuple[str, str], set[str]] = {}
    for policy in sorted(set(policies.values())):
        units = sorted({case.unit_code for case in cases if policies[case.id] == policy})
        if policy == "none":
            walked = {unit: [unit] for unit in units}
        else:
            walked = await walk_many(session, units, backwards=True, sole=policy == "sole_predecessor")
        lines.update({(policy, unit): set(line) for unit, line in walked.items()})
    # A case about an organisation finds its recognitions anywhere below its line too (recognitions.py).
    areas = {
        key: lines[key] | set(await subtree_codes(session, *lines[key]))
        for key in sorted({(policies[case.id], case.unit_code) for case in cases if case.subject})
    }
    query = select(
        Case.id, Case.level, Case.decided_on, Case.unit_code, Case.pinned, Case.procedure, Case.subject
    ).where(
        Case.unit_code.in_(sorted(set().union(*lines.values(), *areas.values()))),
        Case.procedure.in_(sorted({case.procedure for case in cases})),
        Case.level.is_not(None),
        Case.decided_on.is_not(None),
    )
    held = (await session.execute(query.order_by(Case.decided_on, Case.id))).all()
    return {
        case.id: tuple(
            PriorRecognition(r.id, r.level, r.decided_on, valid_until(r.decided_on, r.pinned), r.unit_code)
            for r in held
            if r.procedure == case.procedure
            and r.subject == case.subject
            and r.id != case.id
            and r.unit_code in (areas if case.subject else lines)[(policies[case.id], case.unit_code)]
        )
        for case in cases
    }
