"""The official lists of administrative units, and which unit continues which across the two-tier reform.

Two lists are imported (``cdht units import``):

* **current** — the two-tier units in force from 01/07/2025 (34 provinces, 3,321 communes; districts abolished
  by the two-tier local government that starts that day, PROCEDURES.md §2), from the General Statistics Office's
  list (GSO, danhmuchanhchinh.gso.gov.vn) as packaged by ``vietnam-provinces>=2025.10``. Codes are the GSO codes
  as text, zero-padded: provinces 2 digits (``01``), communes 5 digits (``00070``); a commune's parent is its
  province; ``valid_from`` 01/07/2025.
* **historical** — the three-tier units until 30/06/2025 (63 provinces, 696 districts, 10,051 communes), from the
  same GSO list as packaged by ``vietnam-provinces`` 0.6.0 (data retrieved 2025-01-04), shipped as the compact
  file ``service/data/units-three-tier-2025-06-30.csv.gz`` (rebuild it with ``cdht units build-historical
  WHEEL_OR_DIR``). Codes are ``H`` + the GSO code (``H01``, district
  ``H001``, commune ``H00070``), so that an old unit and the new unit that reuses its GSO code are two units;
  ``valid_to`` 30/06/2025.

Successions (``unit_succession``: predecessor → successor, effective 01/07/2025) let a unit's recognitions follow
it (service/domain/units/successions.py ``lineage``):

* every historical province → the new province that took it in, per Nghị quyết 202/2025/QH15 (basis
  ``resolution``). The mapping is derived from the data, never typed in: an old province goes to the new province
  holding the communes that kept their GSO codes (each of the 63 maps to exactly one of the 34; checked);
* a historical commune → the new commune that kept its GSO code (basis ``gso_code_continued``; 3,310 of the
  3,321 new communes did);
* the communes merged under another code: from an official old→new mapping file (``--mapping``). The full
  commune-level mapping is in the per-province resolutions on arranging commune-level units (2025), which this
  service does not hold.

Historical districts have no successor: the district level was abolished, not continued; a district's own
recognitions (``cdht_huyen``) stay with it and are read from the old unit.

An import is one transaction (every list, the successions, the disadvantaged flags, and ONE ``admin`` chain audit
event summarising the counts and the sources) and is idempotent: a unit already present with the same facts is
left alone, a changed name (or validity/source) is updated, and a unit with the same code but another level or
parent refuses the whole run (``unit_conflict``) — an operator fixes the data, nothing is overwritten silently. A

The lists are read by service.persistence.unit_lists and gathered with the successions read off them by
``import_inputs``; ``import_checks`` finds every conflict before anything is written; this module writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain import authority
from service.domain.actor import Actor
from service.domain.audit.unit_tree import unit_tree_digest
from service.domain.audit.writer import EventFacts, append_chain_event
from service.domain.authority import NATIONAL_ROOT
from service.domain.errors import Conflict, InvalidPayload, Reason
from service.domain.units.import_checks import KnownUnit, check_list, check_mapped, known_units
from service.persistence.tables import AdminUnit, UnitSuccession
from service.persistence.unit_lists import SuccessionRow, UnitList

LEVEL_ORDER = {"national": 0, "province": 1, "district": 2, "commune": 3}
CHUNK = 900  # IN-list size: under every backend's bound-parameter limit
CONFLICTS_SHOWN = 20

# --- the import --------------------------------------------------------------------------------------------------


@dataclass
class ListCounts:
    source: str
    data_version: str
    units: int = 0
    added: int = 0
    unchanged: int = 0
    names_updated: int = 0
    facts_updated: int = 0  # validity or source changed, name unchanged


@dataclass
class ImportReport:
    lists: dict[str, ListCounts] = field(default_factory=dict)
    successions_added: dict[str, int] = field(default_factory=dict)  # by basis
    successions_unchanged: int = 0
    successions_skipped: int = 0  # derived ones whose units are not both imported yet
    disadvantaged_set: int = 0
    disadvantaged_already: int = 0
    audit_seq: int | None = None

    @property
    def changed(self) -> bool:
        return bool(
            sum(c.added + c.names_updated + c.facts_updated for c in self.lists.values())
            or sum(self.successions_added.values())
            or self.disadvantaged_set
        )

    def lines(self) -> list[str]:
        out = [
            f"{key} list ({c.source}): {c.units} units — added {c.added}, unchanged {c.unchanged}, "
            f"names updated {c.names_updated}, validity/source updated {c.facts_updated}"
            for key, c in self.lists.items()
        ]
        by_basis = ", ".join(f"{basis} {n}" for basis, n in sorted(self.successions_added.items()) if n)
        out.append(
            f"successions: added {sum(self.successions_added.values())}"
            + (f" ({by_basis})" if by_basis else "")
            + f", unchanged {self.successions_unchanged}"
            + (
                f", waiting for the other list {self.successions_skipped} (import --list all)"
                if self.successions_skipped
                else ""
            )
        )
        if self.disadvantaged_set or self.disadvantaged_already:
            out.append(f"disadvantaged: set {self.disadvantaged_set}, already set {self.disadvantaged_already}")
        out.append(
            f"audit event admin#{self.audit_seq}" if self.audit_seq else "nothing changed; no audit event written"
        )
        return out


def _units(n: int) -> str:
    return f"{n} unit" if n == 1 else f"{n} units"


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


async def _import_list(
    session: AsyncSession, unit_list: UnitList, existing: dict[str, KnownUnit], counts: ListCounts
) -> None:
    t = AdminUnit.__table__
    new_rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for unit in unit_list.units:
        have = existing.get(unit.code)
        facts = {"valid_from": unit_list.valid_from, "valid_to": unit_list.valid_to, "source": unit_list.source}
        if have is None:
            new_rows.append(
                {
                    "code": unit.code,
                    "name": unit.name,
                    "level": unit.level,
                    "parent_code": unit.parent_code,
                    "disadvantaged": False,
                    **facts,
                }
            )
            existing[unit.code] = KnownUnit(unit.name, unit.level, unit.parent_code, **facts)
            continue
        renamed = have.name != unit.name
        refacted = (have.valid_from, have.valid_to, have.source) != tuple(facts.values())
        if not renamed and not refacted:
            counts.unchanged += 1
            continue
        counts.names_updated += renamed
        counts.facts_updated += refacted and not renamed
        updates.append({"b_code": unit.code, "b_name": unit.name, **{f"b_{k}": v for k, v in facts.items()}})
    # Parents before children (the foreign key is checked per statement on PostgreSQL).
    new_rows.sort(key=lambda row: LEVEL_ORDER[row["level"]])
    for level in ("province", "district", "commune"):
        batch = [row for row in new_rows if row["level"] == level]
        if batch:
            await session.execute(sa.insert(t), batch)
    if updates:
        await session.execute(
            sa.update(t)
            .where(t.c.code == sa.bindparam("b_code"))
            .values(
                name=sa.bindparam("b_name"),
                valid_from=sa.bindparam("b_valid_from"),
                valid_to=sa.bindparam("b_valid_to"),
                source=sa.bindparam("b_source"),
            ),
            updates,
        )
    counts.added = len(new_rows)


async def _import_successions(
    session: AsyncSession,
    *,
    derived: Sequence[SuccessionRow],
    mapped: Sequence[SuccessionRow],
    existing: dict[str, KnownUnit],
    report: ImportReport,
) -> None:
    t = UnitSuccession.__table__
    have = {
        (r.predecessor_code, r.successor_code)
        for r in await session.execute(sa.select(t.c.predecessor_code, t.c.successor_code))
    }
    new_rows: list[dict[str, Any]] = []
    for strict, row in [*((False, r) for r in derived), *((True, r) for r in mapped)]:
        pair = (row.predecessor_code, row.successor_code)
        if not strict and (row.predecessor_code not in existing or row.successor_code not in existing):
            report.successions_skipped += 1
            continue
        if pair in have:
            report.successions_unchanged += 1
            continue
        have.add(pair)
        new_rows.append(asdict(row))
        report.successions_added[row.basis] = report.successions_added.get(row.basis, 0) + 1
    if new_rows:
        await session.execute(sa.insert(t), new_rows)


async def _mark_disadvantaged(
    session: AsyncSession, codes: Sequence[str], existing: dict[str, KnownUnit], report: ImportReport
) -> None:
    unknown = sorted({c for c in codes if c not in existing})
    if unknown:
        raise InvalidPayload(
            f"{len(unknown)} codes of the disadvantaged list are not units",
            reasons=[Reason("unit_unknown", ", ".join(unknown[:CONFLICTS_SHOWN]))],
        )
    t = AdminUnit.__table__
    wanted = sorted(set(codes))
    already = 0
    for chunk in _chunks(wanted):
        already += len(
            (await session.execute(sa.select(t.c.code).where(t.c.code.in_(chunk), t.c.disadvantaged.is_(True)))).all()
        )
        await session.execute(
            sa.update(t).where(t.c.code.in_(chunk), t.c.disadvantaged.is_(False)).values(disadvantaged=True)
        )
    report.disadvantaged_already = already
    report.disadvantaged_set = len(wanted) - already


async def import_units(
    session: AsyncSession,
    *,
    actor: Actor,
    now: datetime,
    lists: Sequence[UnitList],
    derived: Sequence[SuccessionRow] = (),
    mapped: Sequence[SuccessionRow] = (),
    disadvantaged: Sequence[str] = (),
    files: dict[str, dict[str, str]] | None = None,
    request_id: str | None = None,
) -> ImportReport:
    """Bring the database in line with the lists, in the caller's transaction; refuse before writing anything
    when a list conflicts with the units already there."""
    authority.require(actor, authority.IMPORT_UNITS)
    existing = await known_units(session)
    problems: list[Reason] = []
    for unit_list in lists:
        problems.extend(check_list(unit_list, existing))
    if problems:
        raise Conflict(
            f"the list conflicts with the database ({_units(len(problems))}); nothing was imported",
            reasons=problems[:CONFLICTS_SHOWN],
            extra={"conflicts": len(problems)},
        )
    report = ImportReport()
    for unit_list in lists:
        counts = ListCounts(unit_list.source, unit_list.data_version, units=len(unit_list.units))
        await _import_list(session, unit_list, existing, counts)
        report.lists[unit_list.key] = counts
    problems = check_mapped(mapped, existing)
    if problems:
        raise Conflict(
            f"the mapping cannot be recorded ({len(problems)} {'row' if len(problems) == 1 else 'rows'}); "
            "nothing was imported",
            reasons=problems[:CONFLICTS_SHOWN],
            extra={"conflicts": len(problems)},
        )
    await _import_successions(session, derived=derived, mapped=mapped, existing=existing, report=report)
    if disadvantaged:
        await _mark_disadvantaged(session, disadvantaged, existing, report)
    if report.changed:
        event = await append_chain_event(
            session,
            chain="admin",
            actor=actor,
            actor_role="admin" if actor.has_role("admin") else "system",
            now=now,
            unit_code=NATIONAL_ROOT,
            request_id=request_id,
            digest=unit_tree_digest,
            facts=EventFacts(
                kind="admin_units_imported",
                trigger="import_admin_units",
                payload={
                    "lists": {
                        key: {**asdict(c), "package": next(u.package for u in lists if u.key == key)}
                        for key, c in report.lists.items()
                    },
                    "successions": {
                        "added": report.successions_added,
                        "unchanged": report.successions_unchanged,
                        "skipped": report.successions_skipped,
                    },
                    "disadvantaged": {"set": report.disadvantaged_set, "already": report.disadvantaged_already},
                    "files": files or {},
                },
            ),
        )
        await session.flush()
        report.audit_seq = event.seq
    return report
