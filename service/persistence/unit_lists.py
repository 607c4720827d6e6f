"""Reading the official lists of administrative units from where they are kept, and writing the shipped one.

* the **current** (two-tier) list from the installed ``vietnam-provinces>=2025.10`` package (its
  ``nested-divisions.json``); codes are the GSO codes, zero-padded (province ``01``, commune ``00070``);
* the **historical** (three-tier) list from the file shipped with the service,
  ``service/data/units-three-tier-2025-06-30.csv.gz`` (``#`` header lines naming its source, then
  ``code,name,level,parent_code``); codes are ``H`` + the GSO code. ``build_historical`` rebuilds it, byte for
  byte, from ``vietnam-provinces`` 0.6.0 (``cdht units build-historical``);
* an operator's CSV files: an old→new mapping (``predecessor_code,successor_code,source``, optional
  ``effective_on``, ``basis``) and a ``code`` column (the disadvantaged units), with the name and SHA-256 the audit
  event records.

Only reading and shaping: what a list means and whether it may go in is the domain's (service.domain.units). A list
that cannot be read raises a ``UnitListError`` (a ``ValueError``) saying what is wrong with it; the domain turns
it into its refusal.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path

REFORM_DAY = date(2025, 7, 1)  # the two-tier local government starts (PROCEDURES.md §2)
LAST_THREE_TIER_DAY = date(2025, 6, 30)
HISTORICAL_PREFIX = "H"
HISTORICAL_FILE = "units-three-tier-2025-06-30.csv.gz"
CURRENT_PACKAGE_MINIMUM = 2025  # vietnam-provinces' first two-tier release is 2025.x (0.x hold three tiers)
CODE_WIDTH = {"province": 2, "district": 3, "commune": 5}  # GSO codes, zero-padded
BASIS_RESOLUTION = "resolution"
PROBLEMS_SHOWN = 20


class UnitListError(ValueError):
    """A list that cannot be read as one (the package, the shipped file or an operator's file)."""


class ListPackageMissing(UnitListError):
    """``vietnam-provinces`` is not installed."""


class ListPackageOutdated(UnitListError):
    """The installed ``vietnam-provinces`` holds the three-tier list, not the current one."""


class MalformedListFile(UnitListError):
    """An operator's CSV file with rows that cannot be read; ``problems`` names each (line by line)."""

    def __init__(self, message: str, problems: Iterable[str]) -> None:
        super().__init__(message)
        self.problems = list(problems)


class MalformedMapping(MalformedListFile):
    """An old→new mapping file with a row lacking a code, a source or a readable date."""


class MalformedCodes(MalformedListFile):
    """A codes file without a ``code`` column."""


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


def current_list(root: str) -> UnitList:
    """The two-tier list from the installed ``vietnam-provinces`` (refused when it is a three-tier release), its
    provinces under ``root`` (the national root)."""
    try:
        import vietnam_provinces
    except ImportError as exc:  # pragma: no cover - a dependency of the service
        raise ListPackageMissing("the current list needs the package vietnam-provinces") from exc
    version = str(vietnam_provinces.__version__)
    data_version = str(getattr(vietnam_provinces, "__data_version__", "unknown"))
    if int(version.split(".")[0]) < CURRENT_PACKAGE_MINIMUM:
        raise ListPackageOutdated(f"vietnam-provinces {version} holds the three-tier list, not the current one")
    data = json.loads(Path(vietnam_provinces.NESTED_DIVISIONS_JSON_PATH).read_text(encoding="utf-8"))
    units: list[UnitRow] = []
    for province in data:
        if "districts" in province:
            raise ListPackageOutdated(f"vietnam-provinces {version} lists districts: not a two-tier list")
        code = current_code("province", province["code"])
        units.append(UnitRow(code, _province_name(province["name"], province["division_type"]), "province", root))
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


def shipped_historical_file() -> Path:
    return Path(str(resources.files("service") / "data" / HISTORICAL_FILE))


def historical_list(path: Path | None = None) -> UnitList:
    """The three-tier list shipped with the service (or the file at ``path``)."""
    text = gzip.decompress((path or shipped_historical_file()).read_bytes()).decode("utf-8")
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


def _csv_rows(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8-sig")
    return [
        {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        for row in csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    ]


def read_mapping(path: Path) -> list[SuccessionRow]:
    """An official old→new mapping file; a row without both codes and a source, or with a date that is not
    ``YYYY-MM-DD``, makes the whole file ``MalformedMapping``. ``effective_on`` defaults to the reform day."""
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
        raise MalformedMapping(f"the mapping file {path.name} is malformed", problems[:PROBLEMS_SHOWN])
    return rows


def read_codes(path: Path) -> list[str]:
    """The ``code`` column of a CSV file."""
    rows = _csv_rows(path)
    if rows and "code" not in rows[0]:
        raise MalformedCodes(f"{path.name} has no 'code' column", ["the header must name 'code'"])
    return [row["code"] for row in rows if row.get("code")]


def file_fact(path: Path) -> dict[str, str]:
    """What the audit event records about an input file: its name and SHA-256."""
    return {"name": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


# --- rebuilding the shipped historical file ----------------------------------------------------------------------


def _package_files(source: Path) -> tuple[str, str]:
    """``vietnam_provinces/__init__.py`` and ``data/nested-divisions.json`` from a wheel or an unpacked tree."""
    init, data = "vietnam_provinces/__init__.py", "vietnam_provinces/data/nested-divisions.json"
    if source.is_file():
        with zipfile.ZipFile(source) as wheel:
            return wheel.read(init).decode("utf-8"), wheel.read(data).decode("utf-8")
    tree = source if (source / init).exists() else source.parent
    return (tree / init).read_text(encoding="utf-8"), (tree / data).read_text(encoding="utf-8")


def build_historical(source: Path, root: str) -> bytes:
    """The compact historical file from ``vietnam-provinces`` 0.6.0 (a wheel or an unpacked tree), its provinces
    under ``root`` (the national root); the bytes are the same on every rebuild (no time in the gzip header)."""
    init, data = _package_files(source)
    version = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", init)
    data_version = re.search(r"__data_version__\s*=\s*['\"]([^'\"]+)", init)
    if not version or not data_version:
        raise UnitListError(f"{source}: no __version__/__data_version__ in vietnam_provinces/__init__.py")
    provinces = json.loads(data)
    if not provinces or "districts" not in provinces[0]:
        raise UnitListError(f"{source}: vietnam-provinces {version[1]} is not a three-tier (district) list")
    rows = []
    for p in provinces:
        pcode = historical_code("province", p["code"])
        rows.append((pcode, p["name"], "province", root))
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
        "# rebuild: cdht units build-historical vietnam_provinces-0.6.0-py3-none-any.whl\n"
    )
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "name", "level", "parent_code"])
    writer.writerows(rows)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as packed:
        packed.write(out.getvalue().encode("utf-8"))
    return buffer.getvalue()
