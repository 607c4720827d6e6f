"""What an import of the official lists takes in: the lists, the successions read off them, an operator's mapping
and disadvantaged codes, and the facts of each file the audit event records.

The files are read by service.persistence.unit_lists; a list that cannot be read is refused here (422) with the
reason an operator acts on. The province successions are derived from the data, never typed in
(``derived_successions``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from service.domain.authority import NATIONAL_ROOT
from service.domain.errors import InvalidPayload, Reason
from service.persistence import unit_lists
from service.persistence.unit_lists import (
    BASIS_RESOLUTION,
    HISTORICAL_PREFIX,
    REFORM_DAY,
    SuccessionRow,
    UnitList,
)

PROVINCE_RESOLUTION = "Nghị quyết 202/2025/QH15"
BASIS_GSO_CODE = "gso_code_continued"
LIST_KEYS = ("current", "historical", "all")


def current_list() -> UnitList:
    """The two-tier list of the installed ``vietnam-provinces``; 422 when it is missing or a three-tier release."""
    try:
        return unit_lists.current_list(NATIONAL_ROOT)
    except unit_lists.ListPackageMissing as exc:
        raise InvalidPayload(
            str(exc), reasons=[Reason("list_unavailable", "install vietnam-provinces>=2025.10")]
        ) from exc
    except unit_lists.ListPackageOutdated as exc:
        raise InvalidPayload(
            str(exc),
            reasons=[Reason("list_outdated", "install vietnam-provinces>=2025.10 (two-tier, after 01/07/2025)")],
        ) from exc


def historical_list(path: Path | None = None) -> UnitList:
    """The three-tier list shipped with the service (or the file at ``path``)."""
    return unit_lists.historical_list(path)


def read_mapping(path: Path) -> list[SuccessionRow]:
    """An operator's old→new mapping file; 422 ``mapping_malformed`` naming each bad line."""
    try:
        return unit_lists.read_mapping(path)
    except unit_lists.MalformedMapping as exc:
        raise InvalidPayload(str(exc), reasons=[Reason("mapping_malformed", p) for p in exc.problems]) from exc


def read_codes(path: Path) -> list[str]:
    """An operator's file of unit codes (a ``code`` column); 422 ``codes_malformed`` without one."""
    try:
        return unit_lists.read_codes(path)
    except unit_lists.MalformedCodes as exc:
        raise InvalidPayload(str(exc), reasons=[Reason("codes_malformed", p) for p in exc.problems]) from exc


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


@dataclass
class ImportInputs:
    """Everything ``import_units`` takes besides the session, the actor and the time."""

    lists: list[UnitList] = field(default_factory=list)
    derived: list[SuccessionRow] = field(default_factory=list)
    mapped: list[SuccessionRow] = field(default_factory=list)
    disadvantaged: list[str] = field(default_factory=list)
    files: dict[str, dict[str, str]] = field(default_factory=dict)


def gather(which: str, *, mapping: Path | None = None, disadvantaged: Path | None = None) -> ImportInputs:
    """The inputs of ``cdht units import --list which [--mapping FILE] [--disadvantaged FILE]``.

    Derived successions need both lists, so both are read; those whose units are not in the database yet are
    skipped by the import. Without a two-tier list installed, the historical list alone goes in."""
    current = current_list() if which in ("current", "all") else None
    historical = historical_list() if which in ("historical", "all") else None
    try:
        derived = derived_successions(current or current_list(), historical or historical_list())
    except InvalidPayload:
        if which != "historical":
            raise
        derived = []
    inputs = ImportInputs(lists=[unit_list for unit_list in (current, historical) if unit_list], derived=derived)
    if mapping is not None:
        inputs.mapped = read_mapping(mapping)
        inputs.files["mapping"] = unit_lists.file_fact(mapping)
    if disadvantaged is not None:
        inputs.disadvantaged = read_codes(disadvantaged)
        inputs.files["disadvantaged"] = unit_lists.file_fact(disadvantaged)
    return inputs
