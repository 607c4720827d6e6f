"""Case files for many cases at once: the rows ``casefile.case_file_of`` reads for one case (unit path, indicators,
evidence, deadlines), read for a batch of case rows in four statements, whatever the batch's size.

A set-based writer claims its case rows first (``claim``: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so a
row another transaction holds is passed over, not waited for), then reads their files here and decides on each one
with the engine's own checks. The unit's recognitions on record are not read (``prior`` is None, as for a write
whose guards do not read them): a case whose change needs them is left to the one-by-one path, which reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.cases.casefile import CaseFile, pinned
from service.domain.errors import DomainError
from service.domain.units.paths import unit_paths
from service.persistence.tables import Case, CaseIndicator, Deadline, Evidence
from workflows.registry import Registry


async def claim(session: AsyncSession, case_ids: Sequence[str], *, where: Any = None) -> list[Case]:
    """The case rows of ``case_ids`` no other transaction holds, locked until this one ends and read fresh, in the
    order asked for; a row held elsewhere (or gone) is left out, and so is one that does not meet ``where`` (a SQL
    condition on the case row, e.g. that it still has something due) as the database sees it now."""
    if not case_ids:
        return []
    query = select(Case).where(Case.id.in_(list(case_ids)))
    if where is not None:
        query = query.where(where)
    query = query.with_for_update(skip_locked=True).execution_options(populate_existing=True)
    found = {case.id: case for case in (await session.execute(query)).scalars()}
    return [found[case_id] for case_id in case_ids if case_id in found]


async def _by_case(session: AsyncSession, model: type, ids: list[str]) -> dict[str, list]:
    out: dict[str, list] = {case_id: [] for case_id in ids}
    for row in (await session.execute(select(model).where(model.case_id.in_(ids)))).scalars():  # type: ignore[attr-defined]
        out[row.case_id].append(row)
    return out


async def case_files(
    session: AsyncSession, registry: Registry, cases: Iterable[Case]
) -> tuple[dict[str, CaseFile], list[str]]:
    """The case file of each case row (without the unit's recognitions), and the ids of those that cannot have one
    here (pinned to a definition or profile no longer shipped, or on a unit that is gone): the one-by-one path
    reads and reports those."""
    cases = list(cases)
    ids = [case.id for case in cases]
    if not ids:
        return {}, []
    paths = await unit_paths(session, {case.unit_code for case in cases})
    indicators = await _by_case(session, CaseIndicator, ids)
    evidence = await _by_case(session, Evidence, ids)
    deadlines = await _by_case(session, Deadline, ids)
    files: dict[str, CaseFile] = {}
    left: list[str] = []
    for case in cases:
        place = paths.get(case.unit_code)
        try:
            procedure, profile = pinned(registry, case)
        except DomainError:
            place = None
        if place is None:
            left.append(case.id)
            continue
        files[case.id] = CaseFile(
            case=case,
            procedure=procedure,
            profile=profile,
            unit=place[0],
            units=place[1],
            indicator_rows={row.code: row for row in indicators[case.id]},
            evidence=evidence[case.id],
            deadlines={row.key: row for row in deadlines[case.id]},
            prior=None,
        )
    return files, left
