"""Indicator results and the level a commune reaches (TT25/2023 Điều 6–8), table-driven."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from service import walkthrough as w
from workflows.criteria import IndicatorRecord, assess, figures_problems, indicator_result
from workflows.registry import default_registry
from workflows.schema import Definition

D = default_registry().get("cdht_xa", "tt25-2023").definition
LEVELS = (1, 2)


def record(code: str, *, level: int = 2, **changes: Any) -> IndicatorRecord:
    base = IndicatorRecord(code, "accepted", w.org_for(code), "pass", w.figures_for(D, code, level=level), 1)
    return dataclasses.replace(base, **changes)


def records(
    *, level: int = 2, changes: dict[str, dict[str, Any]] | None = None, drop: tuple[str, ...] = ()
) -> dict[str, IndicatorRecord]:
    changes = changes or {}
    return {i.code: record(i.code, level=level, **changes.get(i.code, {})) for i in D.indicators if i.code not in drop}


def result(code: str, *, disadvantaged: bool = False, **changes: Any):  # type: ignore[no-untyped-def]
    return indicator_result(D.indicator(code), record(code, **changes), levels=LEVELS, disadvantaged=disadvantaged)


# --- the level (Điều 8 k1) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "changes", "drop", "disadvantaged", "expected"),
    [
        pytest.param(2, {}, (), False, 2, id="all-pass-at-L2-figures"),
        pytest.param(1, {}, (), False, 1, id="all-pass-at-L1-figures"),
        pytest.param(2, {"TC5.1": {"figures": {"share": 70}}}, (), False, 1, id="tc5-1-at-70"),
        pytest.param(2, {"TC4.2": {"figures": w.figures_for(D, "TC4.2", level=1)}}, (), False, 1, id="tc4-2-at-2"),
        pytest.param(2, {"TC1.2": {"rating": "fail"}}, (), False, 0, id="one-tc1-rated-fail"),
        pytest.param(2, {"TC3.3": {"rating": None}}, (), False, 0, id="one-rating-missing"),
        pytest.param(2, {}, ("TC2.1",), False, 0, id="one-indicator-without-record"),
        pytest.param(2, {"TC5.1": {"figures": {"share": 59.9}}}, (), False, 0, id="tc5-1-below-L1"),
        pytest.param(
            2,
            {"TC5.2": {"figures": {"trained_share": 50, "university_share": 12}}},
            (),
            True,
            2,
            id="tc5-2-50-12-disadvantaged",
        ),
        pytest.param(
            2,
            {"TC5.2": {"figures": {"trained_share": 50, "university_share": 12}}},
            (),
            False,
            1,
            id="tc5-2-50-12-standard",
        ),
        pytest.param(
            2,
            {"TC5.2": {"figures": {"trained_share": 40, "university_share": 10}}},
            (),
            True,
            1,
            id="tc5-2-40-10-disadvantaged",
        ),
        pytest.param(
            2,
            {"TC5.2": {"figures": {"trained_share": 40, "university_share": 10}}},
            (),
            False,
            0,
            id="tc5-2-40-10-standard",
        ),
    ],
)
def test_assessment_level_per_dieu_8(
    level: int, changes: dict[str, dict[str, Any]], drop: tuple[str, ...], disadvantaged: bool, expected: int
) -> None:
    assessment = assess(D, records(level=level, changes=changes, drop=drop), disadvantaged=disadvantaged)
    assert assessment.level == expected


def test_all_pass_at_l2_figures_every_criterion_passes_both_levels() -> None:
    assessment = assess(D, records(level=2), disadvantaged=False)
    assert assessment.level == 2
    assert assessment.criteria == {c.code: {1: True, 2: True} for c in D.criteria}
    assert set(assessment.indicators) == {i.code for i in D.indicators}
    assert all(r.disagrees_at == [] for r in assessment.indicators.values())


def test_tc5_1_at_70_rated_pass_reaches_level_1_disagreeing_at_2() -> None:
    assessment = assess(D, records(changes={"TC5.1": {"figures": {"share": 70}}}), disadvantaged=False)
    assert assessment.level == 1
    assert assessment.criteria["TC5"] == {1: True, 2: False}
    tc51 = assessment.indicators["TC5.1"]
    assert tc51.result == {1: True, 2: False}
    assert tc51.disagrees_at == [2]


def test_tc5_1_at_70_rated_fail_disagrees_at_1() -> None:
    r = result("TC5.1", figures={"share": 70}, rating="fail")
    assert r.result == {1: True, 2: False}
    assert r.disagrees_at == [1]


def test_one_tc1_indicator_rated_fail_reaches_no_level() -> None:
    assessment = assess(D, records(changes={"TC1.3": {"rating": "fail"}}), disadvantaged=False)
    assert assessment.level == 0
    assert assessment.criteria["TC1"] == {1: False, 2: False}
    assert all(passes == {1: True, 2: True} for code, passes in assessment.criteria.items() if code != "TC1")
    assert assessment.indicators["TC1.3"].disagrees_at == []  # a rated indicator's result is its rating


def test_level_2_without_level_1_reaches_no_level() -> None:
    # Not reachable with TT25's monotone thresholds; a definition with inverted ones shows level 2 implies level 1.
    data = D.model_dump()
    data["criteria"][4]["indicators"][0]["measure"]["minimum"] = {1: {"share": 90}, 2: {"share": 80}}
    inverted = Definition.model_validate(data)
    assessment = assess(inverted, records(changes={"TC5.1": {"figures": {"share": 85}}}), disadvantaged=False)
    assert assessment.criteria["TC5"] == {1: False, 2: True}
    assert assessment.level == 0


def test_no_records_reach_no_level() -> None:
    assessment = assess(D, {}, disadvantaged=False)
    assert assessment.level == 0
    assert all(passes == {1: False, 2: False} for passes in assessment.criteria.values())


# --- quantitative indicators (Điều 6–7 k4–5) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "figures", "disadvantaged", "expected"),
    [
        # TC5.1: 60% / 80%, no separate disadvantaged thresholds
        pytest.param("TC5.1", {"share": 60}, False, {1: True, 2: False}, id="tc5-1-exactly-60"),
        pytest.param("TC5.1", {"share": 59.99}, False, {1: False, 2: False}, id="tc5-1-just-below-60"),
        pytest.param("TC5.1", {"share": 80}, False, {1: True, 2: True}, id="tc5-1-exactly-80"),
        pytest.param("TC5.1", {"share": 79.99}, False, {1: True, 2: False}, id="tc5-1-just-below-80"),
        pytest.param("TC5.1", {"share": 60}, True, {1: True, 2: False}, id="tc5-1-disadvantaged-same-thresholds"),
        pytest.param("TC5.1", {"share": 100}, False, {1: True, 2: True}, id="tc5-1-100"),
        # TC5.2 standard: 50/12 and 60/15
        pytest.param(
            "TC5.2",
            {"trained_share": 50, "university_share": 12},
            False,
            {1: True, 2: False},
            id="tc5-2-standard-exactly-L1",
        ),
        pytest.param(
            "TC5.2",
            {"trained_share": 60, "university_share": 15},
            False,
            {1: True, 2: True},
            id="tc5-2-standard-exactly-L2",
        ),
        pytest.param(
            "TC5.2",
            {"trained_share": 60, "university_share": 14.9},
            False,
            {1: True, 2: False},
            id="tc5-2-standard-university-short-of-L2",
        ),
        pytest.param(
            "TC5.2",
            {"trained_share": 49.9, "university_share": 20},
            False,
            {1: False, 2: False},
            id="tc5-2-standard-trained-short-of-L1",
        ),
        pytest.param(
            "TC5.2",
            {"trained_share": 40, "university_share": 10},
            False,
            {1: False, 2: False},
            id="tc5-2-40-10-standard",
        ),
        # TC5.2 disadvantaged: 40/10 and 50/12
        pytest.param(
            "TC5.2",
            {"trained_share": 40, "university_share": 10},
            True,
            {1: True, 2: False},
            id="tc5-2-40-10-disadvantaged",
        ),
        pytest.param(
            "TC5.2",
            {"trained_share": 50, "university_share": 12},
            True,
            {1: True, 2: True},
            id="tc5-2-50-12-disadvantaged",
        ),
        pytest.param(
            "TC5.2",
            {"trained_share": 39.9, "university_share": 10},
            True,
            {1: False, 2: False},
            id="tc5-2-disadvantaged-just-below-L1",
        ),
        pytest.param(
            "TC5.2",
            {"trained_share": 50, "university_share": 11.9},
            True,
            {1: True, 2: False},
            id="tc5-2-disadvantaged-university-short-of-L2",
        ),
        # TC4: NĐ 20/2014 level reached
        pytest.param("TC4.1", {"level_reached": 1}, False, {1: True, 2: True}, id="tc4-1-attained"),
        pytest.param("TC4.1", {"level_reached": 0}, False, {1: False, 2: False}, id="tc4-1-not-attained"),
        pytest.param("TC4.2", {"level_reached": 2}, False, {1: True, 2: False}, id="tc4-2-level-2"),
        pytest.param("TC4.2", {"level_reached": 3}, False, {1: True, 2: True}, id="tc4-2-level-3"),
        pytest.param("TC4.2", {"level_reached": 1}, False, {1: False, 2: False}, id="tc4-2-level-1"),
        pytest.param("TC4.3", {"level_reached": 2}, False, {1: True, 2: False}, id="tc4-3-level-2"),
        pytest.param("TC4.4", {"level_reached": 1}, False, {1: True, 2: False}, id="tc4-4-level-1"),
        pytest.param("TC4.4", {"level_reached": 2}, False, {1: True, 2: True}, id="tc4-4-level-2"),
    ],
)
def test_quantitative_indicator_result_by_thresholds(
    code: str, figures: dict[str, Any], disadvantaged: bool, expected: dict[int, bool]
) -> None:
    if code.startswith("TC4"):
        figures = {**figures, "recognition": w.docref("88/QĐ-UBND", "2024-12-20")}
    r = result(code, figures=figures, disadvantaged=disadvantaged)
    assert r.result == expected
    assert r.disagrees_at == [lv for lv in LEVELS if not expected[lv]]  # rated pass


def test_tc4_2_level_2_passes_l1_not_l2_in_assessment() -> None:
    assessment = assess(
        D, records(changes={"TC4.2": {"figures": w.figures_for(D, "TC4.2", level=1)}}), disadvantaged=False
    )
    assert assessment.indicators["TC4.2"].result == {1: True, 2: False}
    assert assessment.criteria["TC4"] == {1: True, 2: False}
    assert assessment.level == 1


@pytest.mark.parametrize(
    ("code", "disadvantaged", "area"),
    [
        pytest.param("TC5.2", True, "disadvantaged-area thresholds", id="tc5-2-disadvantaged"),
        pytest.param("TC5.2", False, "standard thresholds", id="tc5-2-standard"),
        pytest.param("TC5.1", True, "standard thresholds", id="tc5-1-has-no-disadvantaged-table"),
    ],
)
def test_shares_explanation_names_thresholds_used(code: str, disadvantaged: bool, area: str) -> None:
    assert area in result(code, disadvantaged=disadvantaged).explanation


@pytest.mark.parametrize(
    ("code", "figures"),
    [
        pytest.param("TC5.1", None, id="tc5-no-figures"),
        pytest.param("TC5.1", {"share": 101}, id="tc5-101"),
        pytest.param("TC5.1", {"share": "80"}, id="tc5-string"),
        pytest.param("TC5.2", {"trained_share": 60}, id="tc5-2-one-missing"),
        pytest.param("TC4.2", {"level_reached": 3}, id="tc4-no-recognition"),
    ],
)
def test_invalid_figures_fail_every_level(code: str, figures: dict[str, Any] | None) -> None:
    r = result(code, figures=figures)
    assert r.result == {1: False, 2: False}
    assert r.explanation == "figures missing or invalid"


def test_missing_record_fails_every_level() -> None:
    for code in ("TC1.1", "TC4.1", "TC5.1"):
        r = indicator_result(D.indicator(code), None, levels=LEVELS, disadvantaged=False)
        assert r.result == {1: False, 2: False}, code


@pytest.mark.parametrize(
    ("code", "figures", "problems"),
    [
        pytest.param("TC1.1", {"anything": 1}, 0, id="rated-takes-any"),
        pytest.param("TC5.1", {"share": 0}, 0, id="tc5-0"),
        pytest.param("TC5.1", {"share": 100.0}, 0, id="tc5-100"),
        pytest.param("TC5.1", {"share": 100.01}, 1, id="tc5-over-100"),
        pytest.param("TC5.1", {"share": -0.01}, 1, id="tc5-negative"),
        pytest.param("TC5.1", {"share": False}, 1, id="tc5-boolean"),
        pytest.param("TC5.2", {}, 2, id="tc5-2-both-missing"),
        pytest.param(
            "TC4.4",
            {"level_reached": 2, "recognition": {"number": "88/QĐ-UBND", "date": "2024-12-20"}},
            0,
            id="tc4-valid",
        ),
        pytest.param(
            "TC4.4",
            {"level_reached": -1, "recognition": {"number": "88/QĐ-UBND", "date": "2024-12-20"}},
            1,
            id="tc4-negative-level",
        ),
        pytest.param(
            "TC4.4",
            {"level_reached": True, "recognition": {"number": "88/QĐ-UBND", "date": "2024-12-20"}},
            1,
            id="tc4-boolean-level",
        ),
        pytest.param("TC4.4", {"level_reached": 2, "recognition": "88/QĐ-UBND"}, 1, id="tc4-recognition-not-docref"),
        pytest.param("TC4.4", {}, 2, id="tc4-empty"),
    ],
)
def test_figures_problems_counted(code: str, figures: dict[str, Any], problems: int) -> None:
    found = figures_problems(D.indicator(code), figures)
    assert len(found) == problems, found
    assert all(p.startswith(f"{code}: figures.") for p in found)


@pytest.mark.parametrize(
    ("code", "figures", "fragment"),
    [
        ("TC4.1", {"level_reached": 2, "recognition": {"number": "1/QĐ", "date": "2024-12-01"}}, "from 0 to 1"),
        ("TC4.4", {"level_reached": 1, "recognition": {"number": "1/QĐ", "date": "not-a-date"}}, "DocRef"),
        ("TC5.2", {"trained_share": 50, "university_share": 60}, "cannot exceed"),
        ("TC5.1", {"share": 70, "bonus": 1}, "unknown figures bonus"),
    ],
)
def test_implausible_figures_are_problems(code: str, figures: dict, fragment: str) -> None:
    problems = figures_problems(D.indicator(code), figures)
    assert any(fragment in p for p in problems), problems
