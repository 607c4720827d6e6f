"""Vietnamese working days ("ngày làm việc") for legal deadlines: which dates count and how to count them.

This module owns the working-day concept. A day is a working day unless it is a Saturday or Sunday, a public
holiday of the Labour Code (Bộ luật Lao động 2019, Điều 112, with the compensatory day of Điều 111 k3) as
computed by ``holidays.Vietnam``, or an extra day off fixed for the year; make-up working Saturdays/Sundays
("làm bù") are working days. A day the package marks as a holiday that no enacted text makes a day off (24/11,
"Vietnam Cultural Day", until an amendment of Điều 112 is cited) is listed under ``base_not_counted`` and is
worked. The yearly table lives in ``workflows/calendars/vn.yaml`` and says, per year,
whether its days off are confirmed, provisional or unconfirmed (base holidays only), so a due date can say
which calendar it relied on, e.g. 20 working days from a complete dossier (TT25/2023 Điều 19 k2 e).

Pure: reads only its YAML file; no database, no network. Dates are local dates in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import holidays
import yaml

Status = Literal["confirmed", "provisional", "unconfirmed"]
STATUSES: tuple[str, ...] = ("confirmed", "provisional", "unconfirmed")
DEFAULT_PATH = Path(__file__).parent / "calendars" / "vn.yaml"
MIN_YEAR, MAX_YEAR = 2000, 2100  # years the base is computed for
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_TOP_KEYS = frozenset({"version", "timezone", "base", "base_not_counted", "years"})
_YEAR_KEYS = frozenset({"status", "source", "days_off", "working_days"})
_ENTRY_KEYS = frozenset({"date", "reason", "source", "status"})
_ENTRY_REQUIRED = frozenset({"date", "reason"})
_NOT_COUNTED_KEYS = frozenset({"month_day", "from_year", "name", "reason"})


@dataclass(frozen=True)
class NotCounted:
    """A day the base package marks as a holiday that is not a day off here, with the reason (the text missing)."""

    month: int
    day: int
    from_year: int
    name: str
    reason: str

    def applies(self, day: date) -> bool:
        return day.year >= self.from_year and (day.month, day.day) == (self.month, self.day)


@dataclass(frozen=True)
class YearTable:
    year: int
    status: Status
    source: str
    days_off: tuple[date, ...]
    working_days: tuple[date, ...]
    reasons: Mapping[date, str] = field(default_factory=dict, compare=False, hash=False, repr=False)
    # Entries of a confirmed year whose own source was not seen: they count, and explanations name them.
    provisional: frozenset[date] = field(default_factory=frozenset)


@dataclass(frozen=True)
class _Year:
    """Everything one year needs, computed once: base holiday names, days off (base + table), make-up days."""

    base: Mapping[date, str]
    off: frozenset[date]
    working: frozenset[date]


@dataclass(frozen=True)
class WorkCalendar:
    version: str  # "vn-<yaml version>+holidays-<package version>"
    years: Mapping[int, YearTable] = field(hash=False)
    timezone: str = "Asia/Ho_Chi_Minh"
    not_counted: tuple[NotCounted, ...] = ()
    _cache: dict[int, _Year] = field(default_factory=dict, compare=False, hash=False, repr=False)

    # -- per-year data -------------------------------------------------------------------------------------

    def _year(self, year: int) -> _Year:
        cached = self._cache.get(year)
        if cached is not None:
            return cached
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise ValueError(f"working-day calendar {self.version} covers {MIN_YEAR}–{MAX_YEAR}, not {year}")
        computed = holidays.Vietnam(years=year, language="en_US")
        base = MappingProxyType(
            {day: name for day, name in computed.items() if not any(nc.applies(day) for nc in self.not_counted)}
        )
        table = self.years.get(year)
        days_off = frozenset(table.days_off) if table else frozenset()
        working = frozenset(table.working_days) if table else frozenset()
        built = _Year(base, frozenset(base) | days_off, working)
        return self._cache.setdefault(year, built)

    def base_holidays(self, year: int) -> frozenset[date]:
        """The Labour Code holidays of ``holidays.Vietnam`` for ``year`` (without the table), less the days listed
        under ``base_not_counted``."""
        return frozenset(self._year(year).base)

    # -- queries -------------------------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        _check_date(day)
        y = self._year(day.year)
        if day in y.working:
            return True
        return day.weekday() < 5 and day not in y.off

    def add_working_days(self, start: date, count: int) -> date:
        """The ``count``-th working day after ``start`` (``start`` itself never counts); ``count`` >= 1."""
        _check_date(start)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be an integer >= 1, not {count!r}")
        day, left, one = start, count, timedelta(days=1)
        while left:
            day += one
            if self.is_working_day(day):
                left -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: 0 when end == start; ValueError when end is before start."""
        _check_date(start)
        _check_date(end)
        if end < start:
            raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
        one = timedelta(days=1)
        count, day = 0, start + one
        while day <= end:
            count += self.is_working_day(day)
            day += one
        return count

    def status(self, year: int) -> str:
        table = self.years.get(year)
        return table.status if table else "unconfirmed"

    def describe_years(self, start: date, end: date) -> str:
        """Which table each year of the span relied on, e.g. "calendar vn-…: 2025 confirmed, 2026 provisional"."""
        first, last = sorted((start.year, end.year))
        parts = []
        for year in range(first, last + 1):
            status = self.status(year)
            if status == "unconfirmed":
                parts.append(f"{year} unconfirmed: Labour Code holidays only")
                continue
            table = self.years[year]
            pending = sorted(day for day in table.provisional if min(start, end) <= day <= max(start, end))
            note = f" (provisional: {', '.join(f'{day:%d/%m}' for day in pending)})" if pending else ""
            parts.append(f"{year} {status}{note}")
        return f"calendar {self.version}: " + ", ".join(parts)

    def non_working_reason(self, day: date) -> str | None:
        """Why ``day`` is not worked ("Day off: …" from the table, the base holiday's name, "Saturday",
        "Sunday"), or None on a working day (including a make-up Saturday/Sunday)."""
        if self.is_working_day(day):
            return None
        table = self.years.get(day.year)
        if table is not None and day in table.reasons and day in table.days_off:
            return f"Day off: {table.reasons[day]}"
        name = self._year(day.year).base.get(day)
        if name:
            return name
        return _WEEKDAY_NAMES[day.weekday()]

    def not_counted_reason(self, day: date) -> str | None:
        """Why a holiday of the base package is worked all the same (``base_not_counted``), or None."""
        entry = next((nc for nc in self.not_counted if nc.applies(day)), None)
        return f"{entry.name}: {entry.reason}" if entry else None


def _check_date(day: object) -> None:
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a local date (Asia/Ho_Chi_Minh), not {day!r}")


# -- loading -----------------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping (plain YAML would keep the last silently)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> ValueError:
        return ValueError(f"{self.path}: {key}: {problem}")

    def mapping(self, value: Any, key: str, allowed: frozenset[str], required: frozenset[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {type(value).__name__}")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            where = f"{key}.{unknown[0]}" if key else unknown[0]
            raise self.fail(where, f"unknown key (allowed: {', '.join(sorted(allowed))})")
        missing = sorted(required - set(value))
        if missing:
            raise self.fail(f"{key}.{missing[0]}" if key else missing[0], "missing")
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "expected a non-empty string")
        return value.strip()

    def day(self, value: Any, key: str) -> date:
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                raise self.fail(key, f"not an ISO date: {value!r}") from None
        if isinstance(value, datetime) or not isinstance(value, date):
            raise self.fail(key, f"expected a date (YYYY-MM-DD), got {value!r}")
        return value

    def year(self, year: Any, entry: Any) -> YearTable:
        key = f"years.{year}"
        if isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
            raise self.fail(key, f"a year must be an integer in {MIN_YEAR}–{MAX_YEAR}")
        entry = self.mapping(entry, key, _YEAR_KEYS, frozenset({"status", "source"}))
        status = entry["status"]
        if status not in STATUSES:
            raise self.fail(f"{key}.status", f"{status!r} is not one of {', '.join(STATUSES)}")
        source = self.text(entry["source"], f"{key}.source")
        reasons: dict[date, str] = {}
        provisional: set[date] = set()
        lists: dict[str, tuple[date, ...]] = {}
        for name in ("days_off", "working_days"):
            items = entry.get(name) or []
            if not isinstance(items, list):
                raise self.fail(f"{key}.{name}", "expected a list")
            if items and status == "unconfirmed":
                raise self.fail(f"{key}.{name}", "an unconfirmed year has no table (only the base applies)")
            days: list[date] = []
            for i, item in enumerate(items):
                where = f"{key}.{name}[{i}]"
                item = self.mapping(item, where, _ENTRY_KEYS, _ENTRY_REQUIRED)
                day = self.day(item["date"], f"{where}.date")
                reason = self.text(item["reason"], f"{where}.reason")
                if "source" in item:
                    self.text(item["source"], f"{where}.source")
                entry_status = item.get("status", status)
                if entry_status not in ("confirmed", "provisional"):
                    raise self.fail(f"{where}.status", f"{entry_status!r} is not one of confirmed, provisional")
                if entry_status == "confirmed" and status != "confirmed":
                    raise self.fail(f"{where}.status", f"an entry of a {status} year cannot be confirmed")
                if entry_status == "provisional" and status == "confirmed":
                    provisional.add(day)
                weekday = _WEEKDAY_NAMES[day.weekday()]
                if day.year != year:
                    raise self.fail(f"{where}.date", f"{day.isoformat()} is not in {year}")
                if day in reasons:
                    in_off = name == "working_days" and day in lists["days_off"]
                    both = "both a day off and a working day" if in_off else f"twice in {name}"
                    raise self.fail(f"{where}.date", f"{day.isoformat()} is listed {both}")
                if name == "working_days" and day.weekday() < 5:
                    raise self.fail(
                        f"{where}.date",
                        f"{day.isoformat()} is a {weekday}; a make-up working day is a Saturday or Sunday",
                    )
                if name == "days_off" and day.weekday() >= 5:
                    raise self.fail(f"{where}.date", f"{day.isoformat()} is a {weekday}; an extra day off is a weekday")
                reasons[day] = reason
                days.append(day)
            lists[name] = tuple(sorted(days))
        return YearTable(
            year,
            status,
            source,
            lists["days_off"],
            lists["working_days"],
            MappingProxyType(reasons),
            frozenset(provisional),
        )

    def not_counted(self, value: Any) -> tuple[NotCounted, ...]:
        if not isinstance(value, list):
            raise self.fail("base_not_counted", "expected a list")
        entries = []
        for i, item in enumerate(value):
            where = f"base_not_counted[{i}]"
            item = self.mapping(item, where, _NOT_COUNTED_KEYS, _NOT_COUNTED_KEYS)
            month_day = self.text(item["month_day"], f"{where}.month_day")
            try:
                month, day = (int(part) for part in month_day.split("-"))
                date(2000, month, day)
            except ValueError:
                raise self.fail(f"{where}.month_day", f"expected MM-DD, not {month_day!r}") from None
            from_year = item["from_year"]
            if isinstance(from_year, bool) or not isinstance(from_year, int) or not MIN_YEAR <= from_year <= MAX_YEAR:
                raise self.fail(f"{where}.from_year", f"a year must be an integer in {MIN_YEAR}–{MAX_YEAR}")
            name = self.text(item["name"], f"{where}.name")
            entries.append(NotCounted(month, day, from_year, name, self.text(item["reason"], f"{where}.reason")))
        return tuple(entries)


def load_calendar(path: Path | None = None) -> WorkCalendar:
    """The working-day calendar from ``path`` (default ``workflows/calendars/vn.yaml``, loaded once)."""
    if path is None:
        return _default_calendar()
    return _load(Path(path))


@functools.cache
def _default_calendar() -> WorkCalendar:
    return _load(DEFAULT_PATH)


def _load(path: Path) -> WorkCalendar:
    reader = _Reader(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    doc = reader.mapping(raw, "", _TOP_KEYS, frozenset({"version", "years"}))
    version = doc["version"]
    if not isinstance(version, str) or not version.strip():
        raise reader.fail("version", 'expected a string such as "2026.11.1" (quote it)')
    timezone = reader.text(doc.get("timezone", "Asia/Ho_Chi_Minh"), "timezone")
    if timezone != "Asia/Ho_Chi_Minh":
        raise reader.fail("timezone", f"the Vietnamese calendar is kept in Asia/Ho_Chi_Minh, not {timezone!r}")
    if "base" in doc:
        reader.text(doc["base"], "base")
    years_raw = doc["years"] or {}
    if not isinstance(years_raw, dict):
        raise reader.fail("years", "expected a mapping of year to table")
    years = {year: reader.year(year, entry) for year, entry in years_raw.items()}
    return WorkCalendar(
        version=f"vn-{version.strip()}+holidays-{holidays.__version__}",
        years=MappingProxyType(dict(sorted(years.items()))),
        timezone=timezone,
        not_counted=reader.not_counted(doc.get("base_not_counted") or []),
    )
