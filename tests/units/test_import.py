"""Importing the official lists: exact counts, idempotence, refusals, successions, mapping, disadvantaged flags."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest
from sqlalchemy import func, select

from service.domain.actor import Actor
from service.domain.authority import NATIONAL_ROOT
from service.domain.errors import Conflict, InvalidPayload, NotAuthorised
from service.domain.units.import_inputs import read_mapping
from service.persistence.tables import AdminUnit, AuditEvent, UnitSuccession
from service.persistence.unit_lists import SuccessionRow, UnitRow, build_historical, historical_list
from tests.helpers import Api
from tests.units.support import counts, lists, miniature_three_tier_package, run_import, scalar

ADMIN = "admin"


async def level_counts(api: Api, *, historical: bool) -> dict[str, int]:
    query = select(AdminUnit.level, func.count()).group_by(AdminUnit.level)
    if historical:
        query = query.where(AdminUnit.code.like("H%"), AdminUnit.valid_to == date(2025, 6, 30))
    else:
        query = query.where(AdminUnit.valid_from == date(2025, 7, 1), AdminUnit.valid_to.is_(None))
    async with api.app.state.services.sessions() as session:
        return dict((await session.execute(query)).all())


async def test_official_lists_import_exact_counts_with_sources_and_one_audit_event(api: Api) -> None:
    before = await counts(api)
    started = time.perf_counter()
    report = await run_import(api)
    elapsed = time.perf_counter() - started
    print(f"\nimport of {sum(c.units for c in report.lists.values())} units: {elapsed:.2f} s")
    assert elapsed < 10  # "a few seconds"; measured ~0.5 s on SQLite and PostgreSQL
    assert await level_counts(api, historical=False) == {"province": 34, "commune": 3321}
    assert await level_counts(api, historical=True) == {"province": 63, "district": 696, "commune": 10051}
    assert report.lists["current"].added == 3355 and report.lists["historical"].added == 10810
    assert report.successions_added == {"gso_code_continued": 3310, "resolution": 63}
    after = await counts(api)
    assert after == {
        "units": before["units"] + 3355 + 10810,
        "successions": 3373,
        "admin_events": before["admin_events"] + 1,
    }
    async with api.app.state.services.sessions() as session:
        hanoi = await session.get(AdminUnit, "01")
        lung_cu = await session.get(AdminUnit, "H00715")
        event = (await session.execute(select(AuditEvent).where(AuditEvent.chain == "admin"))).scalar_one()
    assert (hanoi.name, hanoi.level, hanoi.parent_code) == ("Thành phố Hà Nội", "province", "VN")
    assert hanoi.source == "GSO danh mục hành chính via vietnam-provinces 2025.10.1 (data 2025-10-18)"
    assert (lung_cu.name, lung_cu.parent_code, lung_cu.valid_to) == ("Xã Lũng Cú", "H026", date(2025, 6, 30))
    assert lung_cu.source == "GSO danh mục hành chính via vietnam-provinces 0.6.0 (data 2025-01-04)"
    assert (event.kind, event.trigger, event.unit_code) == ("admin_units_imported", "import_admin_units", "VN")
    payload = json.loads(event.payload)
    assert payload["lists"]["current"]["package"] == "vietnam-provinces 2025.10.1"
    assert payload["lists"]["current"]["data_version"] == "2025-10-18"
    assert payload["lists"]["historical"]["added"] == 10810
    assert payload["successions"]["added"] == {"gso_code_continued": 3310, "resolution": 63}
    verify = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/audit/verify"))
    assert verify["ok"] is True


async def test_import_run_twice_adds_nothing_the_second_time(api: Api) -> None:
    await run_import(api)
    before = await counts(api)
    again = await run_import(api)
    assert await counts(api) == before  # no unit, no succession, no audit event
    assert [(c.added, c.unchanged, c.names_updated, c.facts_updated) for c in again.lists.values()] == [
        (0, 3355, 0, 0),
        (0, 10810, 0, 0),
    ]
    assert again.successions_added == {} and again.successions_unchanged == 3373
    assert again.changed is False and again.audit_seq is None


async def test_current_list_alone_waits_for_historical_successions(api: Api) -> None:
    first = await run_import(api, which="current")
    assert first.successions_added == {} and first.successions_skipped == 3373
    second = await run_import(api, which="historical")
    assert second.lists["historical"].added == 10810
    assert second.successions_added == {"gso_code_continued": 3310, "resolution": 63}
    assert (await counts(api))["admin_events"] == 2


async def test_unit_with_same_code_under_another_parent_refuses_whole_import(api: Api) -> None:
    admin = api.who(ADMIN, "VN")
    body = {"code": "00715", "name": "Xã Lũng Cú", "level": "commune", "parent": "P2"}
    await api.ok(await api.client.post("/v1/admin-units", headers=admin.headers, json=body), 201)
    before = await counts(api)
    with pytest.raises(Conflict) as refused:
        await run_import(api)
    assert "nothing was imported" in refused.value.detail
    assert [(r.code, r.message.split(":")[0]) for r in refused.value.reasons] == [("unit_conflict", "00715")]
    assert "under P2" in refused.value.reasons[0].message and "under 08" in refused.value.reasons[0].message
    assert await counts(api) == before


async def test_unit_with_same_code_at_another_level_refuses_import(api: Api) -> None:
    admin = api.who(ADMIN, "VN")
    body = {"code": "08", "name": "Xã Tám", "level": "commune", "parent": "P1"}
    await api.ok(await api.client.post("/v1/admin-units", headers=admin.headers, json=body), 201)
    with pytest.raises(Conflict) as refused:
        await run_import(api, which="current")
    assert refused.value.reasons[0].code == "unit_conflict"
    assert "a commune under P1" in refused.value.reasons[0].message
    assert "a province under VN" in refused.value.reasons[0].message


async def test_unit_added_by_hand_is_renamed_and_given_the_official_facts(api: Api) -> None:
    admin = api.who(ADMIN, "VN")
    body = {"code": "08", "name": "Tuyên Quang", "level": "province"}
    await api.ok(await api.client.post("/v1/admin-units", headers=admin.headers, json=body), 201)
    report = await run_import(api, which="current")
    assert (report.lists["current"].added, report.lists["current"].names_updated) == (3354, 1)
    unit = await api.ok(await api.get(admin, "/v1/admin-units/08"))
    assert (unit["name"], unit["valid_from"], unit["source"]) == (
        "Tỉnh Tuyên Quang",
        "2025-07-01",
        lists()[0].source,
    )


async def test_old_provinces_go_to_their_new_province_per_resolution_202(api: Api) -> None:
    await run_import(api)
    async with api.app.state.services.sessions() as session:
        rows = (
            await session.execute(
                select(UnitSuccession.predecessor_code, UnitSuccession.successor_code).where(
                    UnitSuccession.basis == "resolution"
                )
            )
        ).all()
    mapping = dict(rows)
    assert len(mapping) == 63 and len(set(mapping.values())) == 34
    # Hà Giang and Tuyên Quang → Tuyên Quang; Vĩnh Phúc, Hòa Bình, Phú Thọ → Phú Thọ; Bình Dương, Bà Rịa - Vũng
    # Tàu, Hồ Chí Minh → Hồ Chí Minh; Hà Nội unchanged (Nghị quyết 202/2025/QH15).
    assert {k: mapping[k] for k in ("H02", "H08", "H26", "H17", "H25", "H74", "H77", "H79", "H01")} == {
        "H02": "08",
        "H08": "08",
        "H26": "25",
        "H17": "25",
        "H25": "25",
        "H74": "79",
        "H77": "79",
        "H79": "79",
        "H01": "01",
    }
    auditor = api.who("auditor", "VN")
    ha_giang = await api.ok(await api.get(auditor, "/v1/admin-units/H02"))
    assert ha_giang["predecessors"] == []
    assert [
        (s["successor"], s["successor_name"], s["basis"], s["source"], s["effective_on"])
        for s in ha_giang["successors"]
    ] == [("08", "Tỉnh Tuyên Quang", "resolution", "Nghị quyết 202/2025/QH15", "2025-07-01")]
    tuyen_quang = await api.ok(await api.get(auditor, "/v1/admin-units/08"))
    assert [p["predecessor"] for p in tuyen_quang["predecessors"]] == ["H02", "H08"]


async def test_old_district_has_no_successor_and_a_mapping_cannot_give_it_one(api: Api) -> None:
    await run_import(api)
    district = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/admin-units/H026"))
    assert (district["level"], district["successors"], district["valid_to"]) == ("district", [], "2025-06-30")
    row = SuccessionRow("H026", "00715", date(2025, 7, 1), "resolution", "test")
    with pytest.raises(Conflict) as refused:
        await run_import(api, mapped=[row])
    assert [r.code for r in refused.value.reasons] == ["district_abolished"]


async def test_mapping_file_records_a_commune_merged_under_another_code(api: Api, tmp_path) -> None:
    await run_import(api)
    # An illustrative row: Phường Phúc Xá (H00001) is not continued by code; the mapping names its successor.
    path = tmp_path / "mapping.csv"
    path.write_text(
        "predecessor_code,successor_code,source\nH00001,00004,Nghị quyết sắp xếp ĐVHC cấp xã (ví dụ)\n",
        encoding="utf-8",
    )
    mapped = read_mapping(path)
    report = await run_import(api, mapped=mapped)
    assert report.successions_added == {"resolution": 1}
    again = await run_import(api, mapped=mapped)
    assert again.successions_added == {} and again.audit_seq is None
    ba_dinh = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/admin-units/00004"))
    assert [(p["predecessor"], p["basis"]) for p in ba_dinh["predecessors"]] == [
        ("H00001", "resolution"),
        ("H00004", "gso_code_continued"),
    ]
    unknown = [SuccessionRow("H99999", "00004", date(2025, 7, 1), "resolution", "x")]
    with pytest.raises(Conflict) as refused:
        await run_import(api, mapped=unknown)
    assert [r.code for r in refused.value.reasons] == ["unit_unknown"]


def test_mapping_file_without_a_source_is_refused(tmp_path) -> None:
    path = tmp_path / "mapping.csv"
    path.write_text("predecessor_code,successor_code,source\nH00001,00004,\n", encoding="utf-8")
    with pytest.raises(InvalidPayload) as refused:
        read_mapping(path)
    assert refused.value.reasons[0].code == "mapping_malformed"
    assert "line 2" in refused.value.reasons[0].message


async def test_disadvantaged_list_sets_the_flag_once_and_refuses_unknown_codes(api: Api) -> None:
    await run_import(api)
    first = await run_import(api, disadvantaged=["00715", "H00715"])
    assert (first.disadvantaged_set, first.disadvantaged_already) == (2, 0)
    second = await run_import(api, disadvantaged=["00715"])
    assert (second.disadvantaged_set, second.disadvantaged_already, second.audit_seq) == (0, 1, None)
    assert await scalar(api, select(func.count()).select_from(AdminUnit).where(AdminUnit.disadvantaged.is_(True))) == 3
    with pytest.raises(InvalidPayload) as refused:
        await run_import(api, disadvantaged=["99999"])
    assert refused.value.reasons[0].code == "unit_unknown"


async def test_provincial_admin_cannot_import_the_national_lists(api: Api) -> None:
    with pytest.raises(NotAuthorised) as refused:
        await run_import(api, actor=Actor(sub="a", name="A", roles=("admin",), unit="P1"))
    assert refused.value.reasons[0].code == "not_authorised"


def test_historical_generator_is_deterministic_and_matches_the_shipped_rows(tmp_path) -> None:
    """The committed file names its source; the generator makes the same bytes twice and the shipped rows."""
    historical = lists()[1]
    assert (historical.package, historical.data_version) == ("vietnam-provinces 0.6.0", "2025-01-04")
    # A miniature 0.6.0-shaped package: the generator's output reads back to the same rows and codes.
    package = miniature_three_tier_package(tmp_path)
    out = tmp_path / "units.csv.gz"
    out.write_bytes(build_historical(package, NATIONAL_ROOT))
    assert build_historical(package, NATIONAL_ROOT) == out.read_bytes()  # deterministic
    rebuilt = historical_list(out)
    assert rebuilt.units == (
        UnitRow("H02", "Tỉnh Hà Giang", "province", "VN"),
        UnitRow("H026", "Huyện Đồng Văn", "district", "H02"),
        UnitRow("H00715", "Xã Lũng Cú", "commune", "H026"),
    )
    assert {u.code: u for u in historical.units}["H00715"] == rebuilt.units[2]
