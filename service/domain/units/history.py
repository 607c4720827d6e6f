"""A unit over time as ``GET /v1/admin-units/{code}`` shows it: the units it continues and those that continue
it, and every recognition it holds, its own and those it carries from the units it continues, each ``in_force``,
``expired`` or ``superseded`` and reached ``via`` which succession."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain import authority
from service.domain.actor import Actor
from service.domain.errors import OutsideJurisdiction, UnknownUnit
from service.domain.units.paths import unit_path
from service.domain.units.recognitions import valid_until
from service.domain.units.successions import SuccessionLink, lineage, links_where, successors
from service.persistence.tables import AdminUnit, Case, UnitSuccession


@dataclass(frozen=True)
class Via:
    """How a recognition reached the unit asked about: the holder's own succession step, and the chain of units
    from the holder to the unit asked about."""

    basis: str
    source: str
    effective_on: date
    path: tuple[str, ...]


@dataclass(frozen=True)
class UnitRecognition:
    case_id: str
    procedure: str
    version: str
    unit: str
    unit_name: str
    cycle: int
    kind: str
    level: int
    decision: dict[str, Any] | None
    decided_on: date
    valid_until: date
    status: str  # in_force | expired | superseded
    superseded_by: str | None
    via: Via | None


@dataclass(frozen=True)
class UnitRecognitions:
    unit: AdminUnit
    as_of: date
    lineage: tuple[str, ...]
    predecessors: tuple[SuccessionLink, ...]
    successors: tuple[SuccessionLink, ...]
    recognitions: tuple[UnitRecognition, ...]


async def _get_unit(session: AsyncSession, unit_code: str) -> AdminUnit:
    unit = await session.get(AdminUnit, unit_code)
    if unit is None:
        raise UnknownUnit(f"no administrative unit {unit_code}", why=f"no unit has code {unit_code}")
    return unit


async def ensure_history_readable(session: AsyncSession, actor: Actor, codes: Sequence[str]) -> None:
    """A unit's history is readable by whoever covers the unit or any unit of its history (a unit it continues,
    or one that continues it: the office now answering for the territory), as a case is (authority.can_read)."""
    for code in codes:
        _, path = await unit_path(session, code)
        if authority.can_read(actor, path).allowed:
            return
    raise OutsideJurisdiction(
        f"the recognitions of {codes[0]} are outside your jurisdiction",
        why=f"your unit {actor.unit} covers neither {codes[0]} nor any unit it continues or that continues it "
        f"({', '.join(codes[1:]) or 'none'})",
    )


def _status(row: Any, until: date, later: Any | None, today: date) -> str:
    if later is not None:
        return "superseded"
    if row.state == "expired" or today > until:
        return "expired"
    return "in_force"


def _decision_of(dossier: dict[str, Any] | None, decided_on: date) -> dict[str, Any] | None:
    """The recognition decision (DocRef): the ``recognize`` act's, else the act whose decision is dated the day
    the case was decided (a procedure naming its deciding trigger otherwise)."""
    dossier = dossier or {}
    decision = (dossier.get("recognize") or {}).get("decision")
    if isinstance(decision, dict):
        return decision
    for payload in dossier.values():
        candidate = payload.get("decision") if isinstance(payload, dict) else None
        if isinstance(candidate, dict) and candidate.get("date") == decided_on.isoformat():
            return candidate
    return None


async def unit_recognitions(session: AsyncSession, *, actor: Actor, unit_code: str, today: date) -> UnitRecognitions:
    """Every recognition the unit holds, its own and those of every unit it continues (recognitions.lineage),
    oldest first; a unit continued by others lists them as successors. A recognition is ``superseded`` when a later
    one of the same procedure in the lineage was decided while it was in force, ``expired`` past its validity
    (TT25/2023 Điều 5 k4: 3 years after the year of recognition; the case's pinned setting), else ``in_force``.
    Only a unit's own recognitions are listed (cases about an organisation inside it, ``subject``, are not)."""
    unit = await _get_unit(session, unit_code)
    line = await lineage(session, unit_code)
    after = await successors(session, unit_code)
    await ensure_history_readable(session, actor, [*line, *after])
    back_links = await links_where(
        session, UnitSuccession.successor_code.in_(line) & UnitSuccession.predecessor_code.in_(line)
    )
    forward_links = (
        await links_where(
            session, UnitSuccession.successor_code.in_(after) & UnitSuccession.predecessor_code.in_([unit_code, *after])
        )
        if after
        else []
    )
    # The step by which each unit of the lineage reaches the unit asked about (breadth first: nearest wins).
    reached: dict[str, tuple[SuccessionLink | None, tuple[str, ...]]] = {unit_code: (None, (unit_code,))}
    for code in line:
        if code not in reached:
            continue
        for link in back_links:
            if link.successor == code and link.predecessor not in reached:
                reached[link.predecessor] = (link, (link.predecessor, *reached[code][1]))
    names = {unit_code: unit.name} | {link.predecessor: link.predecessor_name for link in back_links}
    rows = (
        await session.execute(
            select(
                Case.id,
                Case.procedure,
                Case.version,
                Case.unit_code,
                Case.cycle,
                Case.kind,
                Case.level,
                Case.decided_on,
                Case.state,
                Case.pinned,
                Case.dossier,
            )
            .where(
                Case.unit_code.in_(line),
                Case.subject == "",
                Case.level.is_not(None),
                Case.decided_on.is_not(None),
            )
            .order_by(Case.decided_on, Case.id)
        )
    ).all()
    items = []
    for row in rows:
        until = valid_until(row.decided_on, row.pinned)
        later = next(
            (
                other
                for other in rows
                if other.procedure == row.procedure and row.decided_on < other.decided_on <= until
            ),
            None,
        )
        link, path = reached.get(row.unit_code, (None, (row.unit_code,)))
        items.append(
            UnitRecognition(
                case_id=row.id,
                procedure=row.procedure,
                version=row.version,
                unit=row.unit_code,
                unit_name=names.get(row.unit_code, row.unit_code),
                cycle=row.cycle,
                kind=row.kind,
                level=row.level,
                decision=_decision_of(row.dossier, row.decided_on),
                decided_on=row.decided_on,
                valid_until=until,
                status=_status(row, until, later, today),
                superseded_by=later.id if later is not None else None,
                via=Via(link.basis, link.source, link.effective_on, path) if link is not None else None,
            )
        )
    return UnitRecognitions(
        unit=unit,
        as_of=today,
        lineage=tuple(line),
        predecessors=tuple(back_links),
        successors=tuple(forward_links),
        recognitions=tuple(items),
    )
