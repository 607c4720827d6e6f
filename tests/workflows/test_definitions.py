"""Loading a definition refuses what the engine could not honour, naming the file and the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from workflows.registry import ROOT, DefinitionError, default_registry, load

SOURCE = ROOT / "definitions" / "cdht_xa" / "tt25-2023.yaml"
TRANSITIONS = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))["transitions"]
GUARD_COUNT = {t["trigger"]: len(t.get("guards", [])) for t in TRANSITIONS}
INDEX = {t["trigger"]: i for i, t in enumerate(TRANSITIONS)}


def _tree(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    target = tmp_path / "definitions" / "cdht_xa" / "tt25-2023.yaml"
    target.parent.mkdir(parents=True)
    data = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    mutate(data)
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return tmp_path


def _transition(data: dict, trigger: str) -> dict:
    return next(t for t in data["transitions"] if t["trigger"] == trigger)


def test_shipped_definition_loads_with_fifteen_indicators_and_both_profiles() -> None:
    registry = load()
    definition = registry.get("cdht_xa", "tt25-2023").definition
    assert len(definition.indicators) == 15
    assert [c.code for c in definition.criteria] == ["TC1", "TC2", "TC3", "TC4", "TC5"]
    assert set(registry.profiles) == {"three_tier", "two_tier"}
    assert all(t.citation.ref for t in definition.transitions)


@pytest.mark.parametrize(
    ("mutate", "key", "message"),
    [
        pytest.param(
            lambda d: _transition(d, "submit_dossier")["guards"].append("is_lucky"),
            f"transitions[{INDEX['submit_dossier']}].guards[{GUARD_COUNT['submit_dossier']}]",
            "unknown guard 'is_lucky'",
            id="unknown-guard",
        ),
        pytest.param(
            lambda d: _transition(d, "recognize").update(bodies=["mayor"]),
            f"transitions[{INDEX['recognize']}].bodies[0]",
            "unknown body 'mayor'",
            id="unknown-body",
        ),
        pytest.param(
            lambda d: _transition(d, "recognize").update(dest="celebrated"),
            f"transitions[{INDEX['recognize']}].dest",
            "unknown state 'celebrated'",
            id="unknown-state",
        ),
        pytest.param(
            lambda d: _transition(d, "refuse")["payload"].pop("reasons"),
            f"transitions[{INDEX['refuse']}].guards[1]",
            "reads payload field 'reasons'",
            id="undeclared-payload-field",
        ),
        pytest.param(
            lambda d: _transition(d, "issue_plan")["payload"]["plan"].update(type="scroll"),
            "transitions.0.payload.plan.type",
            "Input should be",
            id="unknown-field-type",
        ),
        pytest.param(
            lambda d: _transition(d, "issue_plan").update(colour="red"),
            "transitions.0.colour",
            "Extra inputs are not permitted",
            id="unknown-key",
        ),
        pytest.param(
            lambda d: d["deadlines"]["submission"].update(closes_on=["teleport"]),
            "deadlines.submission.closes_on[0]",
            "unknown trigger 'teleport'",
            id="unknown-trigger",
        ),
    ],
)
def test_bad_definition_is_refused_naming_file_and_key(tmp_path: Path, mutate, key: str, message: str) -> None:  # type: ignore[no-untyped-def]
    root = _tree(tmp_path, mutate)
    with pytest.raises(DefinitionError) as error:
        load(root)
    text = str(error.value)
    assert "tt25-2023.yaml" in text
    assert key in text
    assert message in text


def test_profile_with_unknown_role_is_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path, lambda d: None)
    path = root / "profiles" / "two_tier.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["bodies"]["reviewer.head"]["role"] = "governor"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DefinitionError, match=r"two_tier.yaml: bodies.reviewer.head.role: unknown role 'governor'"):
        load(root)


@pytest.mark.parametrize(("cycle", "profile"), [(2024, "three_tier"), (2025, "two_tier"), (2030, "two_tier")])
def test_profile_is_chosen_by_the_cycle(cycle: int, profile: str) -> None:
    assert load().profile_for_cycle(cycle).name == profile


# The labels whose wording differs by level, verbatim per level (TT25/2023 Điều 6–7, 11–12, 16–17): ``vi`` is the
# level-1 text, ``levels_vi[2]`` the level-2 text.
ND20 = "theo quy định tại Nghị định số 20/2014/NĐ-CP"
VERBATIM_BY_LEVEL = {
    ("cdht_xa", "TC4.2"): (
        f"Xã đạt chuẩn phổ cập giáo dục tiểu học mức độ 2 {ND20}",
        f"Xã đạt chuẩn phổ cập giáo dục tiểu học mức độ 3 {ND20}",
    ),
    ("cdht_xa", "TC4.3"): (
        f"Xã đạt chuẩn phổ cập giáo dục trung học cơ sở mức độ 2 {ND20}",
        f"Xã đạt chuẩn phổ cập giáo dục trung học cơ sở mức độ 3 {ND20}",
    ),
    ("cdht_xa", "TC4.4"): (f"Xã đạt chuẩn xóa mù chữ mức độ 1 {ND20}", f"Xã đạt chuẩn xóa mù chữ mức độ 2 {ND20}"),
    ("cdht_huyen", "TC4.1"): (
        "Có ít nhất 90% số xã được công nhận đạt “Cộng đồng học tập” cấp xã mức độ 1 theo quy định tại điểm a khoản 1 "
        "Điều 8 Thông tư này",
        "Có ít nhất 90% số xã được công nhận đạt “Cộng đồng học tập” cấp xã mức độ 2 theo quy định tại điểm b khoản 2 "
        "Điều 8 Thông tư này",
    ),
    ("cdht_tinh", "TC4.1"): (
        "Có ít nhất 90% số huyện được công nhận đạt “Cộng đồng học tập” cấp huyện mức độ 1 theo quy định tại điểm a "
        "khoản 1 Điều 13 Thông tư này",
        "Có ít nhất 90% số huyện được công nhận đạt “Cộng đồng học tập” cấp huyện mức độ 2 theo quy định tại điểm b "
        "khoản 2 Điều 13 Thông tư này",
    ),
}


@pytest.mark.parametrize(("procedure", "code"), sorted(VERBATIM_BY_LEVEL))
def test_labels_that_differ_by_level_are_verbatim_per_level(procedure: str, code: str) -> None:
    indicator = default_registry().get(procedure, "tt25-2023").definition.indicator(code)
    assert (indicator.vi, indicator.levels_vi[2]) == VERBATIM_BY_LEVEL[(procedure, code)]


def test_tc5_labels_are_verbatim_per_level() -> None:
    commune = default_registry().get("cdht_xa", "tt25-2023").definition
    tc51, tc52 = commune.indicator("TC5.1"), commune.indicator("TC5.2")
    assert tc51.vi.startswith("Có ít nhất 60% công dân trong xã đạt danh hiệu “Công dân học tập” theo quy định tại")
    assert tc51.vi.endswith("(sau đây gọi tắt là Quyết định số 324/QĐ-KHVN)")
    assert tc51.levels_vi[2] == (
        "Có ít nhất 80% công dân trong xã đạt danh hiệu “Công dân học tập” theo quy định tại Quyết định số 324/QĐ-KHVN"
    )
    assert "ít nhất 50% công dân" in tc52.vi and "ít nhất 12% công dân" in tc52.vi and "ít nhất 10%" in tc52.vi
    assert "ít nhất 60% công dân" in tc52.levels_vi[2] and "ít nhất 15%" in tc52.levels_vi[2]
    assert "vùng khó khăn có ít nhất 50%" in tc52.levels_vi[2] and "ít nhất 12%" in tc52.levels_vi[2]
