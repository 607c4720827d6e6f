"""An indicator worded differently at level 2 is listed in the wording of the level the case seeks (TT25/2023
Điều 6–7: "mức độ 2" at level 1, "mức độ 3" at level 2, for universal primary education)."""

from __future__ import annotations

from tests.helpers import Api


async def test_the_indicator_list_uses_the_wording_of_the_level_sought(api: Api) -> None:
    labels = {}
    for unit, level in (("C3", 1), ("C1", 2)):
        case_id, leader = await api.new_case(unit, 2025, target_level=level)
        listing = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/indicators"))
        labels[level] = {i["code"]: i["label"]["vi"] for i in listing["indicators"]}
    assert labels[1]["TC4.2"].startswith("Xã đạt chuẩn phổ cập giáo dục tiểu học mức độ 2 ")
    assert labels[2]["TC4.2"].startswith("Xã đạt chuẩn phổ cập giáo dục tiểu học mức độ 3 ")
    assert labels[2]["TC5.1"].startswith("Có ít nhất 80% công dân")
    assert labels[1]["TC1.1"] == labels[2]["TC1.1"]  # one wording for both levels
