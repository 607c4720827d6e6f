"""Evidence over HTTP: real files in, the same bytes out, refusals that store nothing, and an audit trail."""

from __future__ import annotations

import hashlib
import zipfile
from io import BytesIO

from service import walkthrough as w
from tests.helpers import DEFINITION, Api


async def _collecting(api: Api) -> tuple[str, object]:
    case_id, leader = await api.new_case("C3", 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    await api.ok(await api.fire(leader, case_id, "assign_indicators", w.assign_indicators(DEFINITION)))
    return case_id, leader


def _docx() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


async def test_upload_then_download_returns_the_same_bytes_and_audits_the_hash(api: Api) -> None:
    case_id, leader = await _collecting(api)
    member = api.who("commune_member", "C3", org=w.org_for("TC2.1"))
    content = _docx()
    created = await api.ok(
        await api.upload(member, case_id, "TC2.1", content=content, filename="Biên bản họp.docx", media_type=w_docx()),
        201,
    )
    assert created["sha256"] == hashlib.sha256(content).hexdigest()
    assert created["size"] == len(content)
    assert created["filename"] == "Biên bản họp.docx"
    download = await api.get(leader, f"/v1/cases/{case_id}/indicators/TC2.1/evidence/{created['id']}")
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-type"] == w_docx()
    assert "filename*=UTF-8''Bi%C3%AAn" in download.headers["content-disposition"]
    history = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/history"))
    upload = history[-1]
    assert upload["kind"] == "evidence_uploaded"
    assert upload["payload"]["sha256"] == created["sha256"]
    assert upload["indicator"] == "TC2.1"
    indicators = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/indicators"))
    tc21 = next(i for i in indicators["indicators"] if i["code"] == "TC2.1")
    assert [e["id"] for e in tc21["evidence"]] == [created["id"]]


def w_docx() -> str:
    return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


async def test_declared_pdf_that_is_an_executable_is_415_and_stores_nothing(api: Api) -> None:
    case_id, leader = await _collecting(api)
    officer = api.who("commune_officer", "C3")
    response = await api.upload(
        officer,
        case_id,
        "TC1.1",
        content=b"MZ\x90\x00" + b"\x00" * 100,
        filename="bao-cao.pdf",
        media_type="application/pdf",
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    history = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/history"))
    assert all(e["kind"] != "evidence_uploaded" for e in history)
    stored = list((api.settings.data_dir / "evidence").rglob("*"))
    assert [p for p in stored if p.is_file()] == []


async def test_file_over_the_limit_is_413(api: Api) -> None:
    case_id, _ = await _collecting(api)
    api.settings.evidence_max_bytes = 1000
    officer = api.who("commune_officer", "C3")
    response = await api.upload(officer, case_id, "TC1.1", content=w.MINIMAL_PDF + b"0" * 2000)
    assert response.status_code == 413
    assert response.json()["reasons"][0]["code"] == "evidence_too_large"


async def test_member_of_another_organisation_may_not_add_evidence(api: Api) -> None:
    case_id, _ = await _collecting(api)
    outsider = api.who("commune_member", "C3", org="doan_thanh_nien")
    response = await api.upload(outsider, case_id, "TC2.1")
    assert response.status_code == 403
    assert "assigned to hoi_khuyen_hoc" in response.json()["reasons"][0]["message"]


async def test_evidence_is_required_before_submitting_an_indicator(api: Api) -> None:
    case_id, _ = await _collecting(api)
    officer = api.who("commune_officer", "C3")
    response = await api.fire_indicator(
        officer, case_id, "TC1.1", "submit_evidence", w.submit_evidence(DEFINITION, "TC1.1")
    )
    assert response.status_code == 409
    assert response.json()["reasons"][0]["code"] == "evidence_missing"


async def test_accepted_indicator_takes_no_more_evidence_until_reopened(api: Api) -> None:
    case_id, leader = await _collecting(api)
    officer = api.who("commune_officer", "C3")
    await api.ok(await api.upload(officer, case_id, "TC1.1"), 201)
    await api.ok(
        await api.fire_indicator(officer, case_id, "TC1.1", "submit_evidence", w.submit_evidence(DEFINITION, "TC1.1"))
    )
    await api.ok(await api.fire_indicator(leader, case_id, "TC1.1", "accept"))
    refused = await api.upload(officer, case_id, "TC1.1", content=w.MINIMAL_PDF + b"2")
    assert refused.status_code == 409
    reopened = await api.ok(
        await api.fire_indicator(leader, case_id, "TC1.1", "reopen", {"reason": "Thiếu ảnh chụp hoạt động"})
    )
    assert reopened["event"]["to"] == "returned"
    await api.ok(await api.upload(officer, case_id, "TC1.1", content=w.MINIMAL_PDF + b"2"), 201)
