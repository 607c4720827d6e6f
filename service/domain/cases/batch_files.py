"""Case files for many cases at once: the rows ``casefile.case_file_of`` reads for one case (unit path, indicators,
evidence, deadlines), read for a batch of case rows in four statements, whatever the batch's size.

A set-based writer claims its case rows first (``claim``: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so a
row another transaction holds is passed over, not waited for), then reads their files here and decides on each one
with the engine's own checks. The unit's recognitions on record are not read (``prior`` is None, as for a write
whose guards do not read them): a case whose change needs them is left to the one-by-one path, which reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.cases.casefile import CaseFile, pinned
from service.domain.errors import DomainError
from service.domain.units.paths import unit_paths
from service.persistence.per_dialect import PerDialect, among
from service.persistence.tables import Case, CaseIndicator, Deadline, Evidence
from workflows.registry import Registry


def among_ids(column: Any, postgresql: bool) -> ColumnElement[bool]:
    """``column`` among the ids bound as ``:ids`` (``per_dialect.among``)."""
    return among(column, postgresql, "ids")


def claim_statement(where: Callable[[], ColumnElement[bool]] | None = None) -> PerDialect:
    """What ``claim`` runs: the case rows of ``:ids`` (and meeting ``where()``, a condition on the case row whose
    parameters ``claim`` is given), ``FOR UPDATE SKIP LOCKED``, read fresh."""

    def build(postgresql: bool) -> Select:
        query = select(Case).where(among_ids(Case.id, postgresql))
        if where is not None:
            query = query.where(where())
        return query.with_for_update(skip_locked=True).execution_options(populate_existing=True)

    return PerDialect(build)


_CLAIM = claim_statement()
_CHILDREN = {
    model: PerDialect(lambda postgresql, model=model: select(model).where(among_ids(model.case_id, postgresql)))
    for model in (CaseIndicator, Evidence, Deadline)
}


async def claim(
    session: AsyncSession, case_ids: Sequence[str], *, statement: PerDialect = _CLAIM, **params: Any
) -> list[Case]:
    """The case rows of ``case_ids`` no other transaction holds, locked until this one ends and read fresh, in the
    order asked for; a row held elsewhere (or gone) is left out, and so is one that does not meet the condition of
    ``statement`` (``claim_statement``; ``params`` its parameters, e.g. that it still has something due) as the
    database sees it now."""
    if not case_ids:
        return []
    found = await session.execute(statement.of(session), {"ids": list(case_ids), **params})
    rows = {case.id: case for case in found.scalars()}
    return [rows[case_id] for case_id in case_ids if case_id in rows]


async def _by_case(session: AsyncSession, model: type, ids: list[str]) -> dict[str, list]:
    out: dict[str, list] = {case_id: [] for case_id in ids}
    for row in (await session.execute(_CHILDREN[model].of(session), {"ids": ids})).scalars():
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
