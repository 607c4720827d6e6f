"""Procedures, diagrams, administrative units, health and metrics."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from service import walkthrough as w
from tests.helpers import DEFINITION, Api


async def test_procedures_list_and_definition_carry_citations_and_schemas(api: Api) -> None:
    who = api.who("commune_officer", "C3")
    listing = await api.ok(await api.get(who, "/v1/procedures"))
    assert {(p["key"], p["version"]) for p in listing} == {
        ("cdht_xa", "tt25-2023"),
        ("bao_cao_ket_qua", "tt25-2023"),
        ("cdht_huyen", "tt25-2023"),
        ("cdht_tinh", "tt25-2023"),
        ("xep_loai_cdht_xa", "tt44-2014"),
        ("don_vi_hoc_tap", "tt24-2023"),
        ("don_vi_hoc_tap_tinh", "tt24-2023"),
        ("bao_cao_don_vi_hoc_tap", "tt24-2023"),
        ("khac_phuc", "bac-kan"),
    }
    repealed = next(p for p in listing if p["key"] == "xep_loai_cdht_xa")
    assert repealed["instrument"].startswith("Thông tư 44/2014")
    assert (repealed["repealed_on"], repealed["repealed_by"]) == ("2024-02-12", "TT25/2023 Điều 25")
    commune = next(p for p in listing if p["key"] == "cdht_xa")
    assert commune == {
        "key": "cdht_xa",
        "version": "tt25-2023",
        "title": DEFINITION.title,
        "instrument": "Thông tư 25/2023/TT-BGDĐT",
        "effective_from": "2024-02-12",
        "current": True,
    }
    body = await api.ok(await api.get(who, "/v1/procedures/cdht_xa/tt25-2023"))
    transitions = {t["trigger"]: t for t in body["definition"]["transitions"]}
    assert transitions["form_council"]["citation"] == {"ref": "TT25/2023 Điều 9 k2 b", "basis": "law", "setting": None}
    assert transitions["form_council"]["payload_schema"]["required"] == ["decision", "members"]
    assert body["definition"]["triggers_by_state"]["appraised"] == ["recognize", "refuse"]
    assert set(body["definition"]["profiles"]) == {"three_tier", "two_tier"}
    missing = await api.get(who, "/v1/procedures/cdht_xa/tt99-2030")
    assert missing.status_code == 404


async def test_diagram_in_mermaid_and_svg(api: Api) -> None:
    who = api.who("commune_officer", "C3")
    mermaid = await api.get(who, "/v1/procedures/cdht_xa/tt25-2023/diagram")
    assert mermaid.status_code == 200
    assert mermaid.text.startswith("stateDiagram-v2")
    assert "appraised --> recognized : recognize" in mermaid.text
    svg = await api.get(who, "/v1/procedures/cdht_xa/tt25-2023/diagram", format="svg", process="indicator")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(svg.text)
    assert root.tag.endswith("svg")
    assert "submit_evidence" in svg.text


async def test_admin_adds_units_within_its_own_unit_only(api: Api) -> None:
    admin = api.who("admin", "P1")
    created = await api.client.post(
        "/v1/admin-units",
        headers=admin.headers,
        json={"code": "C4", "name": "Xã Bốn", "level": "commune", "parent": "P1", "disadvantaged": True},
    )
    assert created.status_code == 201, created.text
    assert created.json()["disadvantaged"] is True
    outside = await api.client.post(
        "/v1/admin-units",
        headers=admin.headers,
        json={"code": "C8", "name": "Xã Tám", "level": "commune", "parent": "P2"},
    )
    assert outside.status_code == 403
    wrong_level = await api.client.post(
        "/v1/admin-units",
        headers=admin.headers,
        json={"code": "C7", "name": "Xã Bảy", "level": "commune", "parent": "C1"},
    )
    assert wrong_level.status_code == 422
    not_admin = await api.client.post(
        "/v1/admin-units",
        headers=api.who("province_director", "P1").headers,
        json={"code": "C6", "name": "Xã Sáu", "level": "commune", "parent": "P1"},
    )
    assert not_admin.status_code == 403
    fetched = await api.ok(await api.get(admin, "/v1/admin-units/C4"))
    assert fetched["parent"] == "P1"
    children = await api.ok(await api.get(admin, "/v1/admin-units", parent="P1"))
    assert [u["code"] for u in children] == ["C3", "C4", "D1"]
    events = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/audit/events", trigger="add_admin_unit"))
    assert [e["payload"]["code"] for e in events["items"]] == ["C4"]
    assert events["items"][0]["chain"] == "admin"


async def test_opening_a_three_tier_case_for_a_commune_without_district_is_refused(api: Api) -> None:
    director = api.who("province_director", "P1")
    response = await api.open(director, "C3", 2024)  # C3 sits directly under P1: no district tier
    assert response.status_code == 409
    district_bodies = ["council.secretary", "reviewer.head", "reviewer.officer"]
    assert [{"code": r["code"], "message": r["message"]} for r in response.json()["reasons"]] == [
        {"code": "no_tier", "message": f"{body}: C3 has no district above it in the unit tree"}
        for body in district_bodies
    ]


async def test_opening_checks_unit_level_cycle_and_kind(api: Api) -> None:
    director = api.who("province_director", "P1")
    not_commune = await api.open(director, "D1", 2025)
    assert not_commune.status_code == 422
    assert not_commune.json()["reasons"][0]["code"] == "unit_level"
    before_instrument = await api.open(director, "C1", 2023)
    assert before_instrument.json()["reasons"][0]["code"] == "cycle_before_instrument"
    bad_kind = await api.open(director, "C1", 2025, kind="bonus")
    assert bad_kind.status_code == 422


async def test_health_readiness_and_metrics(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    await api.client.get("/healthz")
    metrics = await api.client.get("/metrics")
    assert 'cdht_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics.text


async def test_refusals_and_transitions_are_counted(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.fire(leader, case_id, "submit_dossier", w.submit_dossier(2025, 1))
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    metrics = (await api.client.get("/metrics")).text
    assert 'cdht_refusals_total{code="wrong_state",trigger="submit_dossier"}' in metrics
    assert 'cdht_transitions_total{procedure="cdht_xa",trigger="issue_plan"}' in metrics
