"""The annual results report (TT25/2023 Điều 23 k2): compiled from the cases at an audit position, rebuilt to the
same bytes, approved, submitted and acknowledged, and exported as JSON, CSV, XLSX and DOCX."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import docx
import openpyxl
from sqlalchemy import text

from service import walkthrough as w
from service.domain.cases import replay
from service.workers.deadlines import sweep
from tests.helpers import DEFINITION, Api
from tests.support.payloads import REPORT_APPROVAL as APPROVAL


async def results_of_2025(api: Api) -> dict[str, str]:
    recognized, leader = await api.new_case("C3", 2025)
    await api.walk(recognized, leader, cycle=2025, until="recognized")
    refused, leader1 = await api.new_case("C1", 2025)
    reviewers = await api.walk(refused, leader1, cycle=2025, until="appraised", failed=("TC3.2",))
    api.clock.set("2026-03-25T02:00:00")
    await api.ok(await api.fire(reviewers.head, refused, "refuse", w.refuse(2025, reasons=["TC3.2 chưa đạt"])))
    lapsed, _ = await api.new_case("C2", 2025)
    services = api.app.state.services
    await sweep(services.sessions, services.registry, now=datetime.fromisoformat("2026-03-01T00:00:00+07:00"))
    return {"recognized": recognized, "refused": refused, "lapsed": lapsed}


async def test_report_walks_from_compile_to_acknowledgement_and_exports(api: Api) -> None:
    cases = await results_of_2025(api)
    officer, director = api.who("province_officer", "P1"), api.who("province_director", "P1")
    api.clock.set("2026-05-10T02:00:00")
    opened = await api.ok(
        await api.client.post("/v1/reports", headers=officer.headers, json={"unit": "P1", "cycle": 2025}), 201
    )
    report_id = opened["id"]
    assert opened["procedure"] == "bao_cao_ket_qua" and opened["state"] == "draft"
    (due,) = opened["deadlines"]
    assert due["key"] == "report" and "31/05/2026" in due["explanation"]
    forged = await api.fire(officer, report_id, "compile", {"snapshot": {"totals": {}}, "audit_position": {}})
    assert forged.status_code == 422
    compiled = await api.ok(await api.fire(officer, report_id, "compile"))
    snapshot = compiled["case"]["dossier"]["compile"]["snapshot"]
    totals = snapshot["totals"]
    assert totals == {
        "communes": 3,
        "cases": 3,
        "recognized_level_1": 1,
        "recognized_level_2": 0,
        "refused": 1,
        "not_submitted": 0,
        "lapsed": 1,
        "withdrawn": 0,
        "in_progress": 0,
        "overdue": 0,
        "no_case": 0,
    }
    listed = await api.ok(await api.get(director, "/v1/cases", procedure="cdht_xa", cycle=2025))
    assert sorted(c["state"] for c in listed["items"]) == ["lapsed", "recognized", "refused"]
    rows = {row["unit"]: row for row in snapshot["communes"]}
    assert rows["C3"]["decision"] == {"number": "35/QĐ-SGDĐT", "date": "2026-03-20"}
    assert rows["C1"]["refusal_reasons"] == ["TC3.2 chưa đạt"]
    assert rows["C2"]["state"] == "lapsed"
    assert {rows[u]["case_id"] for u in ("C1", "C2", "C3")} == set(cases.values())
    assert snapshot["indicators"][0] == {
        "code": "TC3.2",
        "label": DEFINITION.indicator("TC3.2").vi,
        "failed": 1,
        "appraised": 2,
    }
    position = compiled["case"]["dossier"]["compile"]["audit_position"]
    assert sorted(position["cases"]) == sorted(cases.values())
    assert snapshot["report"]["audit_position"]["cases"] == 3

    # Later events do not change the compiled report; rebuilding at its position gives the same bytes, even
    # after a commune is renamed and a case moves on.
    await api.new_case("C9", 2025)
    async with api.app.state.services.sessions() as session, session.begin():
        await session.execute(text("UPDATE admin_unit SET name = 'Xã Một (mới)' WHERE code = 'C1'"))
    api.clock.set("2026-05-11T02:00:00")

    for fmt in ("json", "csv"):
        stored = await api.get(officer, f"/v1/reports/{report_id}/export", format=fmt)
        rebuilt = await api.get(officer, f"/v1/reports/{report_id}/export", format=fmt, rebuild="true")
        assert stored.status_code == rebuilt.status_code == 200
        assert stored.content == rebuilt.content
    lines = list(
        csv.reader(
            io.StringIO(
                (await api.get(officer, f"/v1/reports/{report_id}/export", format="csv")).content.decode("utf-8-sig")
            )
        )
    )
    assert [line[0] for line in lines[1:]] == ["C1", "C2", "C3"]

    api.clock.set("2026-05-15T03:00:00")
    not_yet = await api.get(officer, f"/v1/reports/{report_id}/export", format="docx")
    assert not_yet.status_code == 409
    await api.ok(await api.fire(director, report_id, "approve", APPROVAL))
    xlsx = await api.get(officer, f"/v1/reports/{report_id}/export", format="xlsx")
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    cells = [str(c.value) for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value is not None]
    for name in ("Xã Một", "Xã Hai", "Xã Ba"):
        assert any(name in cell for cell in cells)
    document = docx.Document(
        io.BytesIO((await api.get(officer, f"/v1/reports/{report_id}/export", format="docx")).content)
    )
    text_ = "\n".join(
        [p.text for p in document.paragraphs] + [c.text for t in document.tables for row in t.rows for c in row.cells]
    )
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "125/BC-SGDĐT",
        "Xã Một",
        "Xã Hai",
        "Xã Ba",
        "Nguyễn Văn Ánh",
        "Nơi nhận",
    ):
        assert expected in text_

    submitted = await api.ok(await api.fire(director, report_id, "submit", {"channel": "online"}))
    assert {d["key"]: d["status"] for d in submitted["case"]["deadlines"]} == {"report": "met"}
    async with api.app.state.services.sessions() as session:
        types = (
            (await session.execute(text("SELECT type FROM outbox WHERE case_id = :c ORDER BY seq"), {"c": report_id}))
            .scalars()
            .all()
        )
    assert types[-1] == "report.submitted"
    # The author never acknowledges its own report: under two_tier the Department reports to the provincial
    # People's Committee (TT25/2023 Điều 21 k1) and the Ministry (Điều 21 k3).
    for author in (officer, director):
        refused = await api.fire(author, report_id, "acknowledge", {"note": "Đã nhận"})
        assert refused.status_code == 403, refused.text
        assert "report.recipient: needs role province_leader at unit P1" in refused.text
    committee = api.who("province_leader", "P1")
    acknowledged = await api.ok(await api.fire(committee, report_id, "acknowledge", {"note": "Đã nhận"}))
    assert acknowledged["case"]["state"] == "acknowledged"
    assert acknowledged["event"]["citation"].startswith("not in TT25/2023")
    history = await api.ok(await api.get(committee, f"/v1/cases/{report_id}/history"))
    cited = {e["trigger"]: e["citation"] for e in history if e.get("trigger")}
    assert cited["compile"] == cited["submit"] == "TT25/2023 Điều 21 k1, k3"  # the Department's own duty


async def test_a_returned_report_goes_back_to_draft_with_a_reason(api: Api) -> None:
    officer, director = api.who("province_officer", "P1"), api.who("province_director", "P1")
    api.clock.set("2026-05-10T02:00:00")
    report = await api.ok(
        await api.client.post("/v1/reports", headers=officer.headers, json={"unit": "P1", "cycle": 2025}), 201
    )
    await api.ok(await api.fire(officer, report["id"], "compile"))
    await api.ok(
        await api.fire(
            director, report["id"], "approve", {**APPROVAL, "document": {"number": "1/BC", "date": "2026-05-10"}}
        )
    )
    await api.ok(await api.fire(director, report["id"], "submit", {"channel": "direct"}))
    ministry = api.who("ministry_officer", "VN")
    blank = await api.fire(ministry, report["id"], "return_report", {"reason": "  "})
    assert blank.status_code == 409
    own = await api.fire(officer, report["id"], "return_report", {"reason": "Thiếu số liệu xã C2"})
    assert own.status_code == 403, own.text
    back = await api.ok(await api.fire(ministry, report["id"], "return_report", {"reason": "Thiếu số liệu xã C2"}))
    assert back["case"]["state"] == "draft"
    assert back["event"]["citation"].startswith("not in TT25/2023")


async def test_the_report_belongs_to_the_reviewing_office_of_the_profile(api: Api) -> None:
    officer = api.who("province_officer", "P1")
    wrong = await api.client.post("/v1/reports", headers=officer.headers, json={"unit": "D1", "cycle": 2025})
    assert wrong.status_code == 422
    assert wrong.json()["reasons"][0]["code"] == "unit_level"
    district = await api.client.post(
        "/v1/reports", headers=api.who("district_officer", "D1").headers, json={"unit": "D1", "cycle": 2024}
    )
    assert district.status_code == 201
    assert district.json()["profile"] == "three_tier"
    auditor = api.who("auditor", "VN")
    refused = await api.client.post("/v1/reports", headers=auditor.headers, json={"unit": "P1", "cycle": 2025})
    assert refused.status_code == 403
    compile_by_auditor = await api.fire(auditor, district.json()["id"], "compile")
    assert compile_by_auditor.status_code == 403


async def test_compile_reads_current_cases_proven_by_their_digest_and_replays_the_rest(api: Api) -> None:
    """A compile reads a case whose newest event is the position from the tables only when that event's digest
    proves them; a case changed outside the engine, or moved on since the position, is replayed from its events."""
    recognized, leader = await api.new_case("C3", 2025)
    await api.walk(recognized, leader, cycle=2025, until="recognized")
    pending, leader1 = await api.new_case("C1", 2025)
    reviewers = await api.walk(pending, leader1, cycle=2025, until="appraised", failed=("TC3.2",))
    officer = api.who("province_officer", "P1")
    api.clock.set("2026-05-10T02:00:00")
    report_id = (
        await api.ok(
            await api.client.post("/v1/reports", headers=officer.headers, json={"unit": "P1", "cycle": 2025}), 201
        )
    )["id"]
    services = api.app.state.services
    async with services.sessions() as session:
        positions = dict(
            (
                await session.execute(
                    text("SELECT id, event_seq FROM cases WHERE cycle = 2025 AND procedure = 'cdht_xa'")
                )
            ).all()
        )
        assert set(await replay.proven_current(session, services.registry, positions)) == {recognized, pending}
    # Changed outside the engine: the table says another decision number; the history does not.
    async with services.sessions() as session, session.begin():
        dossier = (await session.execute(text("SELECT dossier FROM cases WHERE id = :c"), {"c": recognized})).scalar()
        dossier = json.loads(dossier) if isinstance(dossier, str) else dossier
        dossier["recognize"]["decision"]["number"] = "999/QĐ-GIẢ"
        await session.execute(
            text("UPDATE cases SET dossier = :d WHERE id = :c"), {"d": json.dumps(dossier), "c": recognized}
        )
    snapshot = (await api.ok(await api.fire(officer, report_id, "compile")))["case"]["dossier"]["compile"]["snapshot"]
    rows = {row["unit"]: row for row in snapshot["communes"]}
    assert rows["C3"]["decision"] == {"number": "35/QĐ-SGDĐT", "date": "2026-03-20"}
    assert rows["C1"]["state"] == "appraised" and snapshot["totals"]["in_progress"] == 1
    stored = await api.get(officer, f"/v1/reports/{report_id}/export", format="json")

    # The pending case moves on after the compile: rebuilding at the recorded position replays it up to there.
    api.clock.set("2026-05-11T02:00:00")
    await api.ok(await api.fire(reviewers.head, pending, "refuse", w.refuse(2025, reasons=["TC3.2 chưa đạt"])))
    rebuilt = await api.get(officer, f"/v1/reports/{report_id}/export", format="json", rebuild="true")
    assert rebuilt.status_code == 200 and rebuilt.content == stored.content
