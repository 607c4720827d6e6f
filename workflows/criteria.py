"""Results of indicators and criteria, and the level a commune or a learning unit reaches (TT25/2023 Điều 6–8,
TT24/2023 Điều 6–9 and 12–15).

Pure: no I/O. An indicator is pass or fail (Điều 8 k2 c); a criterion passes only when all its indicators pass
(Điều 8 k2 b; TT24 Điều 9 k4); a unit reaches level L only when every criterion of level L passes (Điều 8 k1; TT24
Điều 8, 14). For the quantitative indicators (TC4, TC5; TT24's shares of members) the service computes the result
from the reported figures and shows where the self-rating disagrees instead of taking the rating on trust. Where
a definition says so (TT24 Điều 9 k3, 15 k3) an indicator without evidence fails; an indicator that does not apply
to the kind of organisation a case is about (TT24's "đối với đơn vị là …") counts as met and is not assessed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from workflows.schema import Definition, Indicator, Measure


@dataclass(frozen=True)
class IndicatorRecord:
    """What the case holds for one indicator."""

    code: str
    state: str
    assignee_org: str | None = None
    rating: str | None = None
    figures: Mapping[str, Any] | None = None
    evidence_count: int = 0


@dataclass(frozen=True)
class IndicatorResult:
    code: str
    rating: str | None
    result: dict[int, bool]  # level -> pass
    disagrees_at: list[int] = field(default_factory=list)  # levels where the self-rating disagrees
    explanation: str = ""


@dataclass(frozen=True)
class Assessment:
    level: int  # 0: no level reached
    criteria: dict[str, dict[int, bool]]
    indicators: dict[str, IndicatorResult]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _is_date(value: Any) -> bool:
    try:
        return isinstance(value, str) and len(value) == 10 and value[4] == "-" and bool(date.fromisoformat(value))
    except ValueError:
        return False


def _share_figures(measure: Measure, traits: frozenset[str]) -> list[str]:
    extra = [name for more in measure.extra or [] if more.trait in traits for name in more.figures]
    return [*(measure.figures or []), *extra]


def _share_minimum(
    measure: Measure, table: Mapping[int, Mapping[str, float]] | None, level: int, traits: frozenset[str]
):
    minimum = dict((table or {}).get(level, {}))
    for more in measure.extra or []:
        if more.trait in traits:
            minimum.update(more.minimum.get(level, {}))
    return minimum


def figures_problems(
    indicator: Indicator, figures: Mapping[str, Any] | None, traits: frozenset[str] = frozenset()
) -> list[str]:
    """What is missing or wrong in the figures an indicator needs; empty when they are usable."""
    measure = indicator.measure
    if measure.kind == "rating":
        return []
    figures = figures or {}
    code = indicator.code
    if measure.kind == "recognition_level":
        expected = {"level_reached", "recognition"}
        problems = []
        level, top = figures.get("level_reached"), measure.max_level
        if isinstance(level, bool) or not isinstance(level, int) or level < 0 or (top is not None and level > top):
            problems.append(f"{code}: figures.level_reached must be a whole number from 0 to {top} (NĐ 20/2014)")
        recognition = figures.get("recognition")
        if (
            not isinstance(recognition, Mapping)
            or not recognition.get("number")
            or not _is_date(recognition.get("date"))
        ):
            problems.append(f"{code}: figures.recognition must be the NĐ 20/2014 recognition's DocRef (number, date)")
    elif measure.kind == "recognised_share":
        expected = {"units", "recognised", "source", "as_of", "rule"}
        problems = []
        units, recognised = figures.get("units"), figures.get("recognised")
        if isinstance(units, bool) or not isinstance(units, int) or units < 0:
            problems.append(f"{code}: figures.units must be the number of subordinate units (computed by the service)")
        if not isinstance(recognised, Mapping) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= (units if isinstance(units, int) else 0)
            for v in recognised.values()
        ):
            problems.append(f"{code}: figures.recognised must count the recognised units per level")
    elif measure.kind == "change":
        expected = {"previous", "current"}
        problems = [
            f"{code}: figures.{name} must be a number (the figure for the year before and the evaluation year)"
            for name in ("previous", "current")
            if _number(figures.get(name)) is None
        ]
    else:
        expected = set(_share_figures(measure, traits))
        problems = []
        for name in _share_figures(measure, traits):
            value = _number(figures.get(name))
            if value is None or not 0 <= value <= 100:
                problems.append(f"{code}: figures.{name} must be a percentage between 0 and 100")
        for part, whole in (measure.not_above or {}).items():
            part_value, whole_value = _number(figures.get(part)), _number(figures.get(whole))
            if part_value is not None and whole_value is not None and part_value > whole_value:
                problems.append(f"{code}: figures.{part} is a part of figures.{whole} and cannot exceed it")
    unknown = sorted(set(figures) - expected)
    if unknown:
        problems.append(f"{code}: unknown figures {', '.join(unknown)} (expected {', '.join(sorted(expected))})")
    return problems


def indicator_result(
    indicator: Indicator,
    record: IndicatorRecord | None,
    *,
    levels: Iterable[int],
    disadvantaged: bool,
    traits: frozenset[str] = frozenset(),
    unevidenced_fails: str | None = None,
) -> IndicatorResult:
    levels = list(levels)
    applies = indicator.applies
    outside = [lv for lv in levels if applies is not None and not applies.holds(traits, lv)]
    result = _assessed(
        indicator, record, levels=levels, disadvantaged=disadvantaged, traits=traits, unevidenced=unevidenced_fails
    )
    if not outside:
        return result
    # Met where it does not apply to this kind of organisation; assessed where it does.
    passes = {lv: True if lv in outside else result.result[lv] for lv in levels}
    note = f"does not apply to this kind of organisation at level {', '.join(map(str, outside))}"
    inside = [lv for lv in levels if lv not in outside]
    explanation = note + (f"; {result.explanation}" if inside else "")
    return IndicatorResult(
        indicator.code, result.rating, passes, [lv for lv in result.disagrees_at if lv in inside], explanation
    )


def _assessed(
    indicator: Indicator,
    record: IndicatorRecord | None,
    *,
    levels: list[int],
    disadvantaged: bool,
    traits: frozenset[str],
    unevidenced: str | None,
) -> IndicatorResult:
    measure = indicator.measure
    rating = record.rating if record else None
    figures = (record.figures if record else None) or {}
    if unevidenced is not None and (record is None or record.evidence_count == 0):
        return IndicatorResult(
            indicator.code,
            rating,
            {lv: False for lv in levels},
            [lv for lv in levels if rating == "pass"],
            f"no evidence on record: not met ({unevidenced})",
        )
    if measure.kind == "rating":
        passed = rating == "pass"
        return IndicatorResult(
            indicator.code,
            rating,
            {lv: passed for lv in levels},
            explanation=f"self-rating {rating or 'missing'}, identical at every level",
        )
    if record is None or figures_problems(indicator, figures, traits):
        return IndicatorResult(
            indicator.code, rating, {lv: False for lv in levels}, explanation="figures missing or invalid"
        )
    result: dict[int, bool] = {}
    parts: list[str] = []
    if measure.kind == "recognition_level":
        reached = int(figures["level_reached"])
        for lv in levels:
            needed = (measure.required or {}).get(lv, 0)
            result[lv] = reached >= needed
            parts.append(f"level {lv} needs NĐ 20/2014 level ≥ {needed}")
        explanation = f"recognised at level {reached}; " + "; ".join(parts)
    elif measure.kind == "recognised_share":
        units = int(figures["units"])
        for lv in levels:
            count = int(figures["recognised"].get(str(lv), 0))
            needed = float((measure.minimum or {}).get(lv, {}).get("share", 100))
            # Compared in whole numbers, and shown rounded down, so 1,799 of 2,000 never reads as 90.0% (Điều 11 k4 a).
            result[lv] = units > 0 and count * 100 >= needed * units
            shown = math.floor(1000 * count / units) / 10 if units else 0.0
            parts.append(f"level {lv}: {count} of {units} = {shown:.1f}% (needs ≥ {needed:g}%)")
        explanation = f"{figures.get('source', 'subordinate units')} recognised: " + "; ".join(parts)
    elif measure.kind == "change":
        previous, current = float(figures["previous"]), float(figures["current"])
        moved = current > previous if measure.direction == "increase" else current < previous
        result = {lv: moved for lv in levels}
        explanation = f"{previous:g} the year before, {current:g} in the evaluation year: needs to {measure.direction}"
    else:
        table = measure.minimum_disadvantaged if disadvantaged and measure.minimum_disadvantaged else measure.minimum
        for lv in levels:
            minimum = _share_minimum(measure, table, lv, traits)
            result[lv] = all(float(figures[name]) >= bound for name, bound in minimum.items())
            parts.append(f"level {lv} needs " + ", ".join(f"{n} ≥ {b:g}%" for n, b in minimum.items()))
        reported = ", ".join(f"{n} = {float(figures[n]):g}%" for n in _share_figures(measure, traits))
        area = "disadvantaged-area thresholds" if table is measure.minimum_disadvantaged else "standard thresholds"
        explanation = f"reported {reported}; {area}: " + "; ".join(parts)
    disagrees = [lv for lv in levels if rating in ("pass", "fail") and (rating == "pass") != result[lv]]
    return IndicatorResult(indicator.code, rating, result, disagrees, explanation)


def assess(
    definition: Definition,
    records: Mapping[str, IndicatorRecord],
    *,
    disadvantaged: bool,
    subject_kind: str | None = None,
) -> Assessment:
    """The highest level whose every criterion passes (Điều 8 k1); level 2 implies level 1. ``subject_kind``: the
    kind of organisation a TT24 case is about, whose traits decide which indicators apply."""
    levels = sorted(definition.levels)
    traits = definition.traits(subject_kind)
    results = {
        ind.code: indicator_result(
            ind,
            records.get(ind.code),
            levels=levels,
            disadvantaged=disadvantaged,
            traits=traits,
            unevidenced_fails=definition.unevidenced_fails,
        )
        for ind in definition.indicators
    }
    criteria = {
        crit.code: {lv: all(results[ind.code].result[lv] for ind in crit.indicators) for lv in levels}
        for crit in definition.criteria
    }
    reached = 0
    for lv in levels:
        if criteria and all(passes[lv] for passes in criteria.values()):
            reached = lv
        else:
            break
    return Assessment(reached, criteria, results)
