"""A cycle-2024 commune case still open on 1/7/2025, when its district ceased without a successor: the office the
profile setting ``ceased_district_offices`` names finishes it (by default the provincial Department and its
director; "district" keeps the ceased district's own roles). The law is silent, so it is a setting [config]."""

from __future__ import annotations

from pathlib import Path

from service import walkthrough as w
from tests.helpers import DEFINITION, Api
from tests.support.apps import build_api
from tests.support.definitions import registry_with_settings


async def _submitted_2024_case(api: Api) -> tuple[str, object]:
    case_id, leader = await api.new_case("C1", 2024)
    await api.walk(case_id, leader, cycle=2024, until="submitted")  # sent to Phòng GDĐT D1 on 10/02/2025
    return case_id, leader


async def test_a_cycle_2024_case_open_on_1_july_2025_is_finished_by_the_provincial_department(api: Api) -> None:
    case_id, _ = await _submitted_2024_case(api)
    api.clock.set("2025-07-10T02:00:00")
    district = api.who("district_officer", "D1")
    refused = await api.fire(district, case_id, "receive_dossier", {"received_on": "2025-07-10"})
    assert refused.status_code == 403, refused.text
    message = refused.json()["reasons"][0]["message"]
    assert "district D1 ceased on 30/06/2025 without a successor" in message
    assert "taken over by province_officer at P1 (setting ceased_district_offices of profile three_tier)" in message
    officer, director = api.who("province_officer", "P1"), api.who("province_director", "P1")
    secretary = api.who("council_member", "P1")
    received = await api.ok(await api.fire(officer, case_id, "receive_dossier", {"received_on": "2025-07-10"}))
    assert received["event"]["actor"]["role"] == "province_officer"
    api.clock.set("2025-07-15T02:00:00")
    council = w.form_council(2024, secretary_sub=secretary.sub)
    assert (await api.fire(api.who("district_head", "D1"), case_id, "form_council", council)).status_code == 403
    await api.ok(await api.fire(director, case_id, "form_council", council))
    api.clock.set("2025-07-20T02:00:00")
    await api.ok(await api.fire(secretary, case_id, "record_appraisal", w.record_appraisal(DEFINITION, 2024)))
    decided = await api.ok(await api.fire(director, case_id, "recognize", w.recognize(2024)))
    assert (decided["case"]["state"], decided["case"]["profile"], decided["case"]["level"]) == (
        "recognized",
        "three_tier",
        1,
    )
    assert decided["event"]["actor"]["role"] == "province_director"


async def test_the_setting_can_keep_the_ceased_districts_own_offices(database_url: str, tmp_path: Path) -> None:
    registry = registry_with_settings(tmp_path, ceased_district_offices="district")
    async for api in build_api(database_url, tmp_path / "data", registry=registry):
        case_id, _ = await _submitted_2024_case(api)
        api.clock.set("2025-07-10T02:00:00")
        officer = api.who("province_officer", "P1")
        assert (await api.fire(officer, case_id, "receive_dossier", {"received_on": "2025-07-10"})).status_code == 403
        district = api.who("district_officer", "D1")
        await api.ok(await api.fire(district, case_id, "receive_dossier", {"received_on": "2025-07-10"}))
