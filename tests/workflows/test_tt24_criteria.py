"""TT24/2023's criteria as the definitions encode them (Điều 6–9, 12–15), against the text's own numbers: three
criteria, fifteen indicators (sixteen in the province tier), thresholds computed from the figures, indicators that
apply only to some kinds of organisation, and no evidence meaning not met."""

from __future__ import annotations

from typing import Any

import pytest

from workflows.criteria import IndicatorRecord, assess, figures_problems
from workflows.kinds import organisation_kind_problems
from workflows.registry import BODIES, default_registry
from workflows.schema import Definition

REGISTRY = default_registry()
DISTRICT = REGISTRY.current("don_vi_hoc_tap").definition
PROVINCE = REGISTRY.current("don_vi_hoc_tap_tinh").definition


def record(code: str, figures: dict[str, float] | None = None, *, evidence: int = 1, rating: str = "pass"):
    return IndicatorRecord(code, "accepted", "ORG", rating, figures, evidence)


def passing(definition: Any, kind: str, level: int = 1) -> dict[str, IndicatorRecord]:
    """Records that just reach ``level`` for every indicator that applies to ``kind``."""
    traits = definition.traits(kind)
    records = {}
    for indicator in definition.applicable_indicators(kind):
        measure = indicator.measure
        figures = None
        if measure.kind == "shares":
            figures = dict(measure.minimum[level])
            for more in measure.extra or []:
                if more.trait in traits:
                    figures.update(more.minimum[level])
        records[indicator.code] = record(indicator.code, figures)
    return records


def test_three_criteria_and_their_indicators_per_tier() -> None:
    assert [(c.code, len(c.indicators)) for c in DISTRICT.criteria] == [("TC1", 5), ("TC2", 5), ("TC3", 5)]
    assert [(c.code, len(c.indicators)) for c in PROVINCE.criteria] == [("TC1", 5), ("TC2", 5), ("TC3", 6)]
    for definition in (DISTRICT, PROVINCE):
        for indicator in definition.indicators:
            assert indicator.vi.startswith("Chỉ tiêu ") and indicator.en
    # Level 2 words some indicators differently (Điều 7): kept verbatim beside level 1's.
    assert DISTRICT.indicator("TC2.4").levels_vi[2].startswith("Chỉ tiêu 4: Tối thiểu 70% Thành viên")
    assert "mức đáp ứng tốt" in PROVINCE.indicator("TC3.5").levels_vi[2]


@pytest.mark.parametrize(
    ("share", "levels"),
    [(49.9, {1: False, 2: False}), (50, {1: True, 2: False}), (69.9, {1: True, 2: False}), (70, {1: True, 2: True})],
)
def test_language_share_50_and_70_percent(share: float, levels: dict[int, bool]) -> None:
    records = {"TC2.4": record("TC2.4", {"members_share": share})}
    assert (
        assess(DISTRICT, records, disadvantaged=False, subject_kind="co_quan_nha_nuoc").indicators["TC2.4"].result
        == levels
    )


def test_language_indicator_does_not_apply_to_an_economic_organisation() -> None:
    result = assess(DISTRICT, {}, disadvantaged=False, subject_kind="to_chuc_kinh_te").indicators["TC2.4"]
    assert result.result == {1: True, 2: True}
    assert result.explanation.startswith("does not apply to this kind of organisation")
    assert "TC2.4" not in [i.code for i in DISTRICT.applicable_indicators("to_chuc_kinh_te")]


def test_enterprise_reaches_its_level_without_the_indicators_that_do_not_apply() -> None:
    records = passing(DISTRICT, "to_chuc_kinh_te", level=2)
    assessment = assess(DISTRICT, records, disadvantaged=False, subject_kind="to_chuc_kinh_te")
    assert assessment.level == 2
    assert set(records) == {
        "TC1.1", "TC1.2", "TC1.4", "TC1.5", "TC2.1", "TC2.2", "TC2.3", "TC2.5", "TC3.1", "TC3.2", "TC3.3"
    }  # fmt: skip


def test_collective_title_is_required_at_level_2_only_of_public_bodies_in_the_district_tier() -> None:
    records = passing(DISTRICT, "to_chuc_kinh_te", level=2)
    records["TC3.3"] = record("TC3.3", rating="fail")
    enterprise = assess(DISTRICT, records, disadvantaged=False, subject_kind="to_chuc_kinh_te")
    assert enterprise.indicators["TC3.3"].result == {1: False, 2: True}  # Điều 6 k3 c vs Điều 7 k3 c
    state = passing(DISTRICT, "co_quan_nha_nuoc", level=2)
    state["TC3.3"] = record("TC3.3", rating="fail")
    agency = assess(DISTRICT, state, disadvantaged=False, subject_kind="co_quan_nha_nuoc")
    assert agency.indicators["TC3.3"].result == {1: False, 2: False}
    assert agency.level == 0 and agency.criteria["TC3"] == {1: False, 2: False}


@pytest.mark.parametrize(
    ("definition", "kind", "learners", "levels"),
    [
        (PROVINCE, "trung_hoc_pho_thong_cong_lap", 94.9, {1: False, 2: False}),
        (PROVINCE, "trung_hoc_pho_thong_cong_lap", 95, {1: True, 2: False}),
        (PROVINCE, "dai_hoc_ngoai_cong_lap", 97, {1: True, 2: True}),
        (DISTRICT, "giao_duc_nghe_nghiep_cong_lap", 96.9, {1: True, 2: False}),
    ],
)
def test_learners_of_schools_95_and_97_percent(definition: Any, kind: str, learners: float, levels: dict) -> None:
    records = {"TC3.1": record("TC3.1", {"members_share": 95, "learners_share": learners})}
    assert assess(definition, records, disadvantaged=False, subject_kind=kind).indicators["TC3.1"].result == levels


def test_learners_share_only_where_the_students_count_as_learners() -> None:
    tc31 = DISTRICT.indicator("TC3.1")
    # Điều 2 k8: pupils of a district primary or lower-secondary school are not "Người học".
    primary = figures_problems(tc31, {"members_share": 95, "learners_share": 99}, DISTRICT.traits("pho_thong_cong_lap"))
    assert primary == ["TC3.1: unknown figures learners_share (expected members_share)"]
    school = figures_problems(tc31, {"members_share": 95}, PROVINCE.traits("trung_hoc_pho_thong_cong_lap"))
    assert school == ["TC3.1: figures.learners_share must be a percentage between 0 and 100"]


def test_indicator_without_evidence_fails_and_so_its_criterion_and_level() -> None:
    records = passing(PROVINCE, "co_quan_nha_nuoc")
    assert assess(PROVINCE, records, disadvantaged=False, subject_kind="co_quan_nha_nuoc").level == 1
    records["TC1.5"] = record("TC1.5", evidence=0)
    assessment = assess(PROVINCE, records, disadvantaged=False, subject_kind="co_quan_nha_nuoc")
    assert assessment.indicators["TC1.5"].explanation == "no evidence on record: not met (TT24/2023 Điều 15 k3)"
    assert assessment.indicators["TC1.5"].disagrees_at == [1, 2]
    assert assessment.criteria["TC1"] == {1: False, 2: False} and assessment.level == 0


def test_only_indicators_of_the_kind_apply_in_the_province_tier() -> None:
    codes = {kind: [i.code for i in PROVINCE.applicable_indicators(kind)][-4:] for kind in PROVINCE.organisation_kinds}
    assert codes["trung_hoc_pho_thong_cong_lap"] == ["TC3.1", "TC3.2", "TC3.3", "TC3.4"]
    assert codes["dai_hoc_cong_lap"] == ["TC3.1", "TC3.2", "TC3.3", "TC3.5"]
    assert codes["giao_duc_nghe_nghiep_ngoai_cong_lap"] == ["TC3.1", "TC3.2", "TC3.3", "TC3.6"]
    assert "TC1.3" not in [i.code for i in PROVINCE.applicable_indicators("giao_duc_nghe_nghiep_ngoai_cong_lap")]


def test_a_trait_no_kind_has_is_refused_when_the_definition_loads() -> None:
    data = DISTRICT.model_dump(mode="json")
    data["criteria"][1]["indicators"][3]["applies"] = {"exclude": "economc"}
    data["subject_level_body"] = "tt24_district.chairman"
    problems = list(organisation_kind_problems(Definition.model_validate(data), BODIES))
    assert problems == [
        ("subject_level_body", "unknown body 'tt24_district.chairman'"),
        ("criteria.TC2.4", "trait 'economc' belongs to no organisation kind"),
    ]
    assert list(organisation_kind_problems(DISTRICT, BODIES)) == []
