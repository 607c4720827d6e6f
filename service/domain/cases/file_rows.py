"""The rows of a case file besides the case row, read in one statement: its indicators, deadlines, evidence and,
when asked, the unit's recognitions on record.

Only what a write may change is read into ORM objects, whose state tells the write tail which columns changed
(``tail_writes``): the deadlines always, the indicators when the write may change one (an indicator's transition,
an upload, a timer, a migration: ``load_case_file``). The rest comes as plain rows, read-only named tuples: the
evidence always (an upload adds a new ``Evidence``, nothing changes one), the indicators for a transition of the
case (``plain_indicators``: such a transition may create indicators, as new ORM rows, but changes none). Building an
ORM object from a row costs several times more Python than a tuple.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.audit.digest import EVIDENCE_FIELDS, INDICATOR_FIELDS
from service.domain.units.recognitions import HELD_COLUMNS, held_conditions
from service.persistence.per_dialect import PerDialect
from service.persistence.tables import Case, CaseIndicator, Deadline, Evidence


class EvidenceRow(NamedTuple):
    """An evidence row as the case file reads it; the columns the state digest covers first, in its order."""

    id: str
    indicator_code: str
    sha256: str
    size: int
    media_type: str
    filename: str
    title: str | None
    uploaded_by: str
    uploaded_at: datetime
    case_id: str


class IndicatorRow(NamedTuple):
    """An indicator's row as a transition of the case reads it (read-only: setting a value raises, so a change
    that would go unwritten cannot pass silently); the columns the state digest covers first, in its order."""

    code: str
    assignee_org: str
    state: str
    rating: str | None
    figures: dict[str, Any] | None
    note: str | None
    case_id: str
    updated_at: datetime


for _row, _model, _digested in (
    (EvidenceRow, Evidence, EVIDENCE_FIELDS),
    (IndicatorRow, CaseIndicator, INDICATOR_FIELDS),
):
    assert _row._fields[: len(_digested)] == _digested
    assert set(_row._fields) == {c.key for c in _model.__table__.columns}  # type: ignore[attr-defined]


def _statement(with_held: bool, plain_indicators: bool, postgresql: bool) -> Select:
    """A case's indicators, deadlines and evidence in one statement (one round trip instead of three): a row per
    record, from three kinds outer-joined each to its own table only (a kind with no record gives one row of
    Nones). Its columns: the indicator (an ORM object, or ``IndicatorRow``'s columns with ``plain_indicators``), the
    deadline (an ORM object), ``EvidenceRow``'s columns. ``with_held``: a fourth kind, the recognitions the unit
    holds (``recognitions.held_conditions``: ``:units``, ``:procedure``, ``:subject``, ``:exclude_case``), their
    ``HELD_COLUMNS`` last, in order of decision; ``postgresql``: ``:units`` bound as one array."""
    kinds = union_all(*(select(literal(k).label("kind")) for k in (1, 2, 3, 4)[: 4 if with_held else 3]))
    kinds = kinds.subquery("kinds")
    case_id = bindparam("case_id")
    indicators = CaseIndicator.__table__.c  # type: ignore[attr-defined]
    evidence = Evidence.__table__.c  # type: ignore[attr-defined]
    columns: list[Any] = [
        *((indicators[name] for name in IndicatorRow._fields) if plain_indicators else [CaseIndicator]),
        Deadline,
        *(evidence[name] for name in EvidenceRow._fields),
    ]
    order: list[Any] = [kinds.c.kind, CaseIndicator.code, Evidence.id, Deadline.id]
    query = (
        select(*columns)
        .select_from(kinds)
        .outerjoin(CaseIndicator, and_(kinds.c.kind == 1, CaseIndicator.case_id == case_id))
        .outerjoin(Evidence, and_(kinds.c.kind == 2, Evidence.case_id == case_id))
        .outerjoin(Deadline, and_(kinds.c.kind == 3, Deadline.case_id == case_id))
    )
    if with_held:
        held = Case.__table__.alias("held")  # type: ignore[attr-defined]
        conditions = held_conditions(held, excluding=True, decided_by=False, postgresql=postgresql)
        query = query.outerjoin(held, and_(kinds.c.kind == 4, *conditions)).add_columns(
            *(held.c[c] for c in HELD_COLUMNS)
        )
        order += [held.c.decided_on, held.c.id]
    return query.order_by(*order)


# Built once (each call binds its case id): building a statement and its cache key costs more Python than
# PostgreSQL takes to run it.
_STATEMENTS = {
    (held, plain): PerDialect(lambda postgresql, held=held, plain=plain: _statement(held, plain, postgresql))
    for held in (False, True)
    for plain in (False, True)
}


_tuple = tuple.__new__


class FileRows(NamedTuple):
    indicators: list[CaseIndicator | IndicatorRow]
    deadlines: list[Deadline]
    evidence: list[Evidence | EvidenceRow]
    held: list[Sequence[Any]]  # each recognition's HELD_COLUMNS


async def read_file_rows(
    session: AsyncSession, params: dict[str, Any], *, with_held: bool, plain_indicators: bool
) -> FileRows:
    """The case's rows (``:case_id`` and, ``with_held``, the recognitions' parameters in ``params``)."""
    out = FileRows([], [], [], [])
    first = len(IndicatorRow._fields) if plain_indicators else 1  # the deadline's column
    evidence_at, held_at = first + 1, first + 1 + len(EvidenceRow._fields)
    for row in (await session.execute(_STATEMENTS[(with_held, plain_indicators)].of(session), params)).all():
        # The named tuples made as ``_make`` makes them, without its call and length check: the statement's
        # columns are their fields (``_statement``).
        if row[0] is not None:
            out.indicators.append(_tuple(IndicatorRow, row[:first]) if plain_indicators else row[0])
        elif row[first] is not None:
            out.deadlines.append(row[first])
        elif row[evidence_at] is not None:
            out.evidence.append(_tuple(EvidenceRow, row[evidence_at:held_at]))
        elif with_held and row[held_at] is not None:
            out.held.append(row[held_at:])
    return out
