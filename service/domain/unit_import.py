"""The official lists of administrative units, and which unit continues which across the two-tier reform.

Two lists are imported (``cdht units import``):

* **current** — the two-tier units in force from 01/07/2025 (34 provinces, 3,321 communes; districts abolished
  by the two-tier local government that starts that day, PROCEDURES.md §2), from the General Statistics Office's
  list (GSO, danhmuchanhchinh.gso.gov.vn) as packaged by ``vietnam-provinces>=2025.10``. Codes are the GSO codes
  as text, zero-padded: provinces 2 digits (``01``), communes 5 digits (``00070``); a commune's parent is its
  province; ``valid_from`` 01/07/2025.
* **historical** — the three-tier units until 30/06/2025 (63 provinces, 696 districts, 10,051 communes), from the
  same GSO list as packaged by ``vietnam-provinces`` 0.6.0 (data retrieved 2025-01-04), shipped as the compact
  file ``service/data/units-three-tier-2025-06-30.csv.gz`` (rebuild it with ``python -m
  service.domain.unit_import build-historical WHEEL_OR_DIR``). Codes are ``H`` + the GSO code (``H01``, district
  ``H001``, commune ``H00070``), so that an old unit and the new unit that reuses its GSO code are two units;
  ``valid_to`` 30/06/2025.

Successions (``unit_succession``: predecessor → successor, effective 01/07/2025) let a unit's recognitions follow
it (service/domain/recognitions.py ``lineage``):

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
run that changes nothing writes no audit event.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import re
import sys
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain import authority
from service.domain.actor import Actor
from service.domain.audit.writer import EventFacts, append_chain_event
from service.domain.authority import NATIONAL_ROOT
from service.domain.errors import Conflict, InvalidPayload, Reason
from service.persistence.tables import AdminUnit, UnitSuccession

REFORM_DAY = date(2025, 7, 1)  # the two-tier local government starts (PROCEDURES.md §2)
LAST_THREE_TIER_DAY = date(2025, 6, 30)
HISTORICAL_PREFIX = "H"
HISTORICAL_FILE = "units-three-tier-2025-06-30.csv.gz"
PROVINCE_RESOLUTION = "Nghị quyết 202/2025/QH15"
CURRENT_PACKAGE_MINIMUM = 2025  # vietnam-provinces' first two-tier release is 2025.x (0.x hold three tiers)
CODE_WIDTH = {"province": 2, "district": 3, "commune": 5}  # GSO codes, zero-padded
LEVEL_ORDER = {"national": 0, "province": 1, "district": 2, "commune": 3}
CHUNK = 900  # IN-list size: under every backend's bound-parameter limit
CONFLICTS_SHOWN = 20

BASIS_RESOLUTION = "resolution"
BASIS_GSO_CODE = "gso_code_continued"


# --- the lists ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitRow:
    code: str
    name: str
    level: str
    parent_code: str


@dataclass(frozen=True)
class UnitList:
    key: str  # current | historical
    units: tuple[UnitRow, ...]
    source: str  # recorded on every unit and in the audit event
    package: str
    data_version: str
    valid_from: date | None
    valid_to: date | None


@dataclass(frozen=True)
class SuccessionRow:
    predecessor_code: str
    successor_code: str
    effective_on: date
    basis: str
    source: str


def gso_source(package_version: str, data_version: str) -> str:
    return f"GSO danh mục hành chính via vietnam-provinces {package_version} (data {data_version})"


def historical_code(level: str, gso_code: int | str) -> str:
    return HISTORICAL_PREFIX + str(gso_code).zfill(CODE_WIDTH[level])


def current_code(level: str, gso_code: int | str) -> str:
    return str(gso_code).zfill(CODE_WIDTH[level])


def _province_name(name: str, division_type: str) -> str:
    """The two-tier list names a tỉnh without its type ("Tuyên Quang"); give it as the three-tier list does."""
    if division_type == "tỉnh" and not name.lower().startswith("tỉnh "):
        return f"Tỉnh {name}"
    return name


def current_list() -> UnitList:
    """The two-tier list from the installed ``vietnam-provinces`` (refused when it is a three-tier release)."""
    try:
        import vietnam_provinces
    except ImportError as exc:  # pragma: no cover - a dependency of the service
        raise InvalidPayload(
            "the current list needs the package vietnam-provinces",
            reasons=[Reason("list_unavailable", "install vietnam-provinces>=2025.10")],
        ) from exc
    version = str(vietnam_provinces.__version__)
    data_version = str(getattr(vietnam_provinces, "__data_version__", "unknown"))
    if int(version.split(".")[0]) < CURRENT_PACKAGE_MINIMUM:
        raise InvalidPayload(
            f"vietnam-provinces {version} holds the three-tier list, not the current one",
            reasons=[Reason("list_outdated", "install vietnam-provinces>=2025.10 (two-tier, after 01/07/2025)")],
        )
    data = json.loads(Path(vietnam_provinces.NESTED_DIVISIONS_JSON_PATH).read_text(encoding="utf-8"))
    units: list[UnitRow] = []
    for province in data:
        if "districts" in province:
            raise InvalidPayload(
                f"vietnam-provinces {version} lists districts: not a two-tier list",
                reasons=[Reason("list_outdated", "install vietnam-provinces>=2025.10")],
            )
        code = current_code("province", province["code"])
        units.append(
            UnitRow(code, _province_name(province["name"], province["division_type"]), "province", NATIONAL_ROOT)
        )
        units.extend(UnitRow(current_code("commune", w["code"]), w["name"], "commune", code) for w in province["wards"])
    return UnitList(
        key="current",
        units=tuple(units),
        source=gso_source(version, data_version),
        package=f"vietnam-provinces {version}",
        data_version=data_version,
        valid_from=REFORM_DAY,
        valid_to=None,
    )


def _read_header(lines: Iterable[str]) -> dict[str, str]:
    meta = {}
    for line in lines:
        if not line.startswith("#"):
            break
        key, _, value = line[1:].partition(":")
        meta[key.strip()] = value.strip()
    return meta


def historical_list(path: Path | None = None) -> UnitList:
    """The three-tier list shipped with the service (or the file at ``path``)."""
    raw = path.read_bytes() if path else (resources.files("service") / "data" / HISTORICAL_FILE).read_bytes()
    text = gzip.decompress(raw).decode("utf-8")
    lines = text.splitlines()
    meta = _read_header(lines)
    body = [line for line in lines if not line.startswith("#")]
    units = tuple(UnitRow(r["code"], r["name"], r["level"], r["parent_code"]) for r in csv.DictReader(body))
    return UnitList(
        key="historical",
        units=units,
        source=meta["source"],
        package=meta["package"],
        data_version=meta["data_version"],
        valid_from=None,
        valid_to=LAST_THREE_TIER_DAY,
    )


def derived_successions(current: UnitList, historical: UnitList) -> list[SuccessionRow]:
    """Province successions (Nghị quyết 202/2025/QH15) and commune successions by a continued GSO code.

    A new commune whose GSO code is an old commune's continues it. The old commune's province then went to the new
    commune's province: that is how the resolution's province mapping is read off the data, and an old province
    whose continued communes fall in two new provinces is a data error (refused), not a guess.
    """
    old = {u.code: u for u in historical.units}
    new_communes = [u for u in current.units if u.level == "commune"]
    rows: list[SuccessionRow] = []
    province_of_old: dict[str, set[str]] = defaultdict(set)
    for commune in new_communes:
        before = old.get(HISTORICAL_PREFIX + commune.code)
        if before is None or before.level != "commune":
            continue
        rows.append(SuccessionRow(before.code, commune.code, REFORM_DAY, BASIS_GSO_CODE, current.source))
        district = old[before.parent_code]
        province_of_old[district.parent_code].add(commune.parent_code)
    old_provinces = sorted(u.code for u in historical.units if u.level == "province")
    problems = [
        f"{code} → {', '.join(sorted(province_of_old.get(code, ()))) or 'none'}"
        for code in old_provinces
        if len(province_of_old.get(code, ())) != 1
    ]
    if problems:
        raise InvalidPayload(
            "the lists do not give each old province exactly one new province",
            reasons=[Reason("succession_ambiguous", "; ".join(problems))],
        )
    rows.extend(
        SuccessionRow(code, next(iter(province_of_old[code])), REFORM_DAY, BASIS_RESOLUTION, PROVINCE_RESOLUTION)
        for code in old_provinces
    )
    return rows


def _csv_rows(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8-sig")
    return [
        {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        for row in csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    ]


def read_mapping(path: Path) -> list[SuccessionRow]:
    """An official old→new mapping file (see ``MAPPING_HELP``)."""
    rows, problems = [], []
    for number, row in enumerate(_csv_rows(path), start=2):
        predecessor, successor, source = row.get("predecessor_code"), row.get("successor_code"), row.get("source")
        if not predecessor or not successor or not source:
            problems.append(f"line {number}: predecessor_code, successor_code and source are required")
            continue
        try:
            effective_on = date.fromisoformat(row["effective_on"]) if row.get("effective_on") else REFORM_DAY
        except ValueError:
            problems.append(f"line {number}: effective_on {row['effective_on']!r} is not a date (YYYY-MM-DD)")
            continue
        rows.append(SuccessionRow(predecessor, successor, effective_on, row.get("basis") or BASIS_RESOLUTION, source))
    if problems:
        raise InvalidPayload(
            f"the mapping file {path.name} is malformed",
            reasons=[Reason("mapping_malformed", p) for p in problems[:CONFLICTS_SHOWN]],
        )
    return rows


def read_codes(path: Path) -> list[str]:
    """The ``code`` column of a CSV file."""
    rows = _csv_rows(path)
    if rows and "code" not in rows[0]:
        raise InvalidPayload(
            f"{path.name} has no 'code' column", reasons=[Reason("codes_malformed", "the header must name 'code'")]
        )
    return [row["code"] for row in rows if row.get("code")]


def file_fact(path: Path) -> dict[str, str]:
    """What the audit event records about an input file: its name and SHA-256."""
    return {"name": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


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


@dataclass
class _Existing:
    name: str
    level: str
    parent_code: str | None
    valid_from: date | None
    valid_to: date | None
    source: str | None


def _units(n: int) -> str:
    return f"{n} unit" if n == 1 else f"{n} units"


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


async def _existing_units(session: AsyncSession) -> dict[str, _Existing]:
    t = AdminUnit.__table__
    rows = await session.execute(
        sa.select(t.c.code, t.c.name, t.c.level, t.c.parent_code, t.c.valid_from, t.c.valid_to, t.c.source)
    )
    return {r.code: _Existing(r.name, r.level, r.parent_code, r.valid_from, r.valid_to, r.source) for r in rows}


def _check_list(unit_list: UnitList, existing: dict[str, _Existing]) -> list[Reason]:
    """Every way the list cannot go in as it is: a code held by another kind of unit, a parent missing."""
    conflicts, codes = [], {u.code for u in unit_list.units}
    for unit in unit_list.units:
        have = existing.get(unit.code)
        if have is not None and (have.level != unit.level or have.parent_code != unit.parent_code):
            conflicts.append(
                Reason(
                    "unit_conflict",
                    f"{unit.code}: the database has a {have.level} under {have.parent_code or 'no parent'} "
                    f"({have.name}); the {unit_list.key} list has a {unit.level} under {unit.parent_code} "
                    f"({unit.name})",
                )
            )
        elif unit.parent_code not in codes and unit.parent_code not in existing:
            conflicts.append(
                Reason(
                    "parent_missing",
                    f"{unit.code}: its parent {unit.parent_code} is neither in the list nor in the database"
                    + (" (the national root comes with `cdht migrate`)" if unit.parent_code == NATIONAL_ROOT else ""),
                )
            )
    return conflicts


async def _import_list(
    session: AsyncSession, unit_list: UnitList, existing: dict[str, _Existing], counts: ListCounts
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
            existing[unit.code] = _Existing(unit.name, unit.level, unit.parent_code, **facts)
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


def _check_mapped(rows: Sequence[SuccessionRow], existing: dict[str, _Existing]) -> list[Reason]:
    problems = []
    for row in rows:
        before, after = existing.get(row.predecessor_code), existing.get(row.successor_code)
        missing = [code for code, unit in ((row.predecessor_code, before), (row.successor_code, after)) if not unit]
        if missing:
            problems.append(Reason("unit_unknown", f"{row.predecessor_code} → {row.successor_code}: no unit {missing}"))
        elif row.predecessor_code == row.successor_code:
            problems.append(Reason("succession_invalid", f"{row.predecessor_code} cannot continue itself"))
        elif before.level == "district":  # type: ignore[union-attr]
            problems.append(
                Reason(
                    "district_abolished",
                    f"{row.predecessor_code} is a district: districts were abolished on 01/07/2025, not continued",
                )
            )
        elif before.level != after.level:  # type: ignore[union-attr]
            problems.append(
                Reason(
                    "succession_invalid",
                    f"{row.predecessor_code} ({before.level}) → {row.successor_code} ({after.level}): "  # type: ignore[union-attr]
                    "a unit is continued by a unit of its own level",
                )
            )
        elif before.valid_to is None or after.valid_to is not None:  # type: ignore[union-attr]
            problems.append(
                Reason(
                    "succession_direction",
                    f"{row.predecessor_code} → {row.successor_code}: a succession runs from a unit that ceased "
                    "(valid_to set) to one that exists now (no valid_to); check the H prefix of historical codes",
                )
            )
        elif row.effective_on <= before.valid_to:  # type: ignore[union-attr]
            problems.append(
                Reason(
                    "succession_invalid",
                    f"{row.predecessor_code} → {row.successor_code}: effective {row.effective_on}, not after "
                    f"{row.predecessor_code} ceased ({before.valid_to})",  # type: ignore[union-attr]
                )
            )
        elif before.valid_to and after.valid_from and after.valid_from <= before.valid_to:  # type: ignore[union-attr]
            problems.append(
                Reason(
                    "succession_invalid",
                    f"{row.successor_code} exists from {after.valid_from}, before {row.predecessor_code} ceased "  # type: ignore[union-attr]
                    f"({before.valid_to})",  # type: ignore[union-attr]
                )
            )
    return problems


async def _import_successions(
    session: AsyncSession,
    *,
    derived: Sequence[SuccessionRow],
    mapped: Sequence[SuccessionRow],
    existing: dict[str, _Existing],
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
    session: AsyncSession, codes: Sequence[str], existing: dict[str, _Existing], report: ImportReport
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
    existing = await _existing_units(session)
    problems: list[Reason] = []
    for unit_list in lists:
        problems.extend(_check_list(unit_list, existing))
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
    problems = _check_mapped(mapped, existing)
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


# --- rebuilding the shipped historical file ----------------------------------------------------------------------


def _package_files(source: Path) -> tuple[str, str]:
    """``vietnam_provinces/__init__.py`` and ``data/nested-divisions.json`` from a wheel or an unpacked tree."""
    init, data = "vietnam_provinces/__init__.py", "vietnam_provinces/data/nested-divisions.json"
    if source.is_file():
        with zipfile.ZipFile(source) as wheel:
            return wheel.read(init).decode("utf-8"), wheel.read(data).decode("utf-8")
    root = source if (source / init).exists() else source.parent
    return (root / init).read_text(encoding="utf-8"), (root / data).read_text(encoding="utf-8")


def build_historical(source: Path) -> bytes:
    """The compact historical file from ``vietnam-provinces`` 0.6.0 (a wheel or an unpacked tree); the bytes are
    the same on every rebuild (no time in the gzip header)."""
    init, data = _package_files(source)
    version = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", init)
    data_version = re.search(r"__data_version__\s*=\s*['\"]([^'\"]+)", init)
    if not version or not data_version:
        raise ValueError(f"{source}: no __version__/__data_version__ in vietnam_provinces/__init__.py")
    provinces = json.loads(data)
    if not provinces or "districts" not in provinces[0]:
        raise ValueError(f"{source}: vietnam-provinces {version[1]} is not a three-tier (district) list")
    rows = []
    for p in provinces:
        pcode = historical_code("province", p["code"])
        rows.append((pcode, p["name"], "province", NATIONAL_ROOT))
        for d in p["districts"]:
            dcode = historical_code("district", d["code"])
            rows.append((dcode, d["name"], "district", pcode))
            rows.extend((historical_code("commune", w["code"]), w["name"], "commune", dcode) for w in d["wards"])
    counts = {level: sum(1 for r in rows if r[2] == level) for level in ("province", "district", "commune")}
    out = io.StringIO()
    out.write(
        f"# Three-tier administrative units of Viet Nam until {LAST_THREE_TIER_DAY:%d/%m/%Y}: "
        f"{counts['province']} provinces, {counts['district']} districts, {counts['commune']} communes\n"
        f"# source: {gso_source(version[1], data_version[1])}\n"
        f"# package: vietnam-provinces {version[1]}\n"
        f"# data_version: {data_version[1]}\n"
        "# codes: H + the GSO code (province 2 digits, district 3, commune 5); valid until 30/06/2025\n"
        "# rebuild: python -m service.domain.unit_import build-historical vietnam_provinces-0.6.0-py3-none-any.whl\n"
    )
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "name", "level", "parent_code"])
    writer.writerows(rows)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as packed:
        packed.write(out.getvalue().encode("utf-8"))
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    root = argparse.ArgumentParser(prog="python -m service.domain.unit_import")
    sub = root.add_subparsers(dest="command", required=True)
    build = sub.add_parser(
        "build-historical",
        help="rebuild the shipped three-tier list from vietnam-provinces 0.6.0 "
        "(pip download vietnam-provinces==0.6.0 --no-deps -d DIR)",
    )
    build.add_argument("source", type=Path, help="the 0.6.0 wheel, or the unpacked package directory")
    build.add_argument(
        "--output",
        type=Path,
        default=Path(str(resources.files("service") / "data" / HISTORICAL_FILE)),
        help="where to write (default: the shipped file)",
    )
    args = root.parse_args(argv)
    try:
        packed = build_historical(args.source)
    except (OSError, KeyError, ValueError) as exc:
        print(f"build-historical: {exc}", file=sys.stderr)
        return 2
    args.output.write_bytes(packed)
    units = historical_list(args.output)
    print(f"wrote {args.output}: {len(units.units)} units, {units.source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
