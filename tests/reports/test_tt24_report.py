"""Phòng GDĐT's yearly report of the district tier's learning units to the Sở (TT24/2023 Điều 20 k3): due before
15/03, compiled by the service from the don_vi_hoc_tap cases (one row per organisation), signed, sent and received
by the Sở; after the reform the Department writes it and the provincial People's Committee receives it."""

from __future__ import annotations

import csv
import io
import zipfile

from tests.helpers import Api
from tests.procedures import other_payloads as p
from tests.support.walks import walk_learning_unit

REPORT = "bao_cao_don_vi_hoc_tap"
APPROVAL = {
    "document": {"number": "12/BC-PGDĐT", "date": "2025-03-05"},
    "place": "Huyện Một",
    "signer_title": "TRƯỞNG PHÒNG",
    "signer_name": "Phạm Văn Bình",
    "recipients": ["Sở GDĐT (để b/c)", "Lưu: VT"],
}


async def open_report(api: Api, who, unit: str, cycle: int) -> dict:  # type: ignore[no-untyped-def]
    body = {"unit": unit, "cycle": cycle, "procedure": REPORT}
    return await api.ok(await api.client.post("/v1/reports", headers=who.headers, json=body), 201)


async def test_district_report_to_the_department_before_15_march(api: Api) -> None:
    recognised, actors = await walk_learning_unit(api, until="recognize", kind="pho_thong_cong_lap", org="TH_KIM_DONG")
    refused, _ = await walk_learning_unit(api, until="refuse", failed=("TC2.1",), org="PHONG_TAI_CHINH")
    api.clock.set("2025-03-01T02:00:00")
    report = await open_report(api, actors.office, "D1", 2024)
    (due,) = report["deadlines"]
    assert due["due_at"] == "2025-03-15T16:59:59.999999Z" and "TT24/2023 Điều 20 k3" in due["explanation"]
    compiled = await api.ok(await api.fire(actors.office, report["id"], "compile"))
    snapshot = compiled["case"]["dossier"]["compile"]["snapshot"]
    assert snapshot["report"]["procedure"] == "don_vi_hoc_tap" and snapshot["report"]["rows"] == "organisations"
    assert snapshot["totals"] == {
        "organisations": 2,
        "cases": 2,
        "recognized_level_1": 1,
        "recognized_level_2": 0,
        "refused": 1,
        "not_submitted": 0,
        "lapsed": 0,
        "withdrawn": 0,
        "in_progress": 0,
        "overdue": 0,
    }
    rows = {row["subject"]: row for row in snapshot["communes"]}
    assert rows["TH_KIM_DONG"]["case_id"] == recognised and rows["TH_KIM_DONG"]["subject_kind"] == "pho_thong_cong_lap"
    assert rows["TH_KIM_DONG"]["decision"] == {"number": "250/QĐ-UBND", "date": "2025-02-14"}
    assert rows["PHONG_TAI_CHINH"]["case_id"] == refused and rows["PHONG_TAI_CHINH"]["refusal_reasons"]
    assert snapshot["indicators"][0]["code"] == "TC2.1"
    exported = await api.client.get(f"/v1/reports/{report['id']}/export?format=csv", headers=actors.office.headers)
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert table[0][:2] == ["Mã đơn vị hành chính", "Đơn vị (mã, loại, địa bàn)"]
    assert [r[1] for r in table[1:]] == [
        "PHONG_TAI_CHINH (co_quan_nha_nuoc, Huyện Một)",
        "TH_KIM_DONG (pho_thong_cong_lap, Huyện Một)",
    ]
    api.clock.set("2025-03-10T02:00:00")
    await api.ok(await api.fire(actors.office_head, report["id"], "approve", APPROVAL))
    document = await api.client.get(f"/v1/reports/{report['id']}/export?format=docx", headers=actors.office.headers)
    xml = zipfile.ZipFile(io.BytesIO(document.content)).read("word/document.xml").decode("utf-8")
    assert "Thông tư số 24/2023/TT-BGDĐT" in xml and "“Đơn vị học tập” cấp huyện năm 2024" in xml
    assert "Cộng đồng học tập" not in xml
    submitted = await api.ok(await api.fire(actors.office_head, report["id"], "submit", {"channel": "online"}))
    assert submitted["case"]["deadlines"][0]["status"] == "met"
    # The Sở receives it (Điều 20 k3); the office that wrote it cannot.
    own = await api.fire(actors.office, report["id"], "acknowledge", {})
    assert own.status_code == 403
    received = await api.ok(await api.fire(api.who("province_officer", "P1"), report["id"], "acknowledge", {}))
    assert received["case"]["state"] == "acknowledged"


async def test_report_not_sent_by_15_march_flagged_and_escalated(api: Api) -> None:
    officer = api.who("district_officer", "D1")
    api.clock.set("2025-03-01T02:00:00")
    report = await open_report(api, officer, "D1", 2024)
    assert (await p.run_sweep(api, "2025-03-15T23:59:59+07:00")).flagged == []
    assert (await p.run_sweep(api, "2025-03-16T00:00:00+07:00")).flagged == [(report["id"], "report")]
    overdue = [data for kind, data in await p.outbox_types(api, report["id"]) if kind == "deadline.overdue"]
    assert overdue[0]["escalate_to"] == "P1"


async def test_after_the_reform_the_department_reports_to_the_provincial_peoples_committee(api: Api) -> None:
    _, actors = await walk_learning_unit(api, until="recognize", cycle=2025)
    api.clock.set("2026-03-01T02:00:00")
    report = await open_report(api, actors.office, "P1", 2025)
    assert report["profile"] == "two_tier"
    compiled = await api.ok(await api.fire(actors.office, report["id"], "compile"))
    assert compiled["case"]["dossier"]["compile"]["snapshot"]["totals"]["recognized_level_1"] == 1
    approval = {**APPROVAL, "document": {"number": "30/BC-SGDĐT", "date": "2026-03-05"}, "signer_title": "GIÁM ĐỐC"}
    api.clock.set("2026-03-10T02:00:00")
    await api.ok(await api.fire(actors.office_head, report["id"], "approve", approval))
    await api.ok(await api.fire(actors.office_head, report["id"], "submit", {"channel": "online"}))
    # The Department does not receive its own report; the provincial People's Committee does.
    assert (await api.fire(api.who("province_officer", "P1"), report["id"], "acknowledge", {})).status_code == 403
    received = await api.ok(await api.fire(actors.chairman, report["id"], "acknowledge", {}))
    assert received["case"]["state"] == "acknowledged"
