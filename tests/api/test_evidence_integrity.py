"""Evidence cannot change without a trace (issue 13 point 4): the case digest covers every served evidence column,
verify compares each evidence row with its upload event, a download never serves bytes that differ from the record,
and a deep verify checks the files on disk."""

from __future__ import annotations

import logging
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, text

from service import walkthrough as w
from service.domain.audit.canonical import event_hash
from service.domain.audit.digest import DIGEST_VERSION, case_state_digest, digest_version
from service.persistence.evidence_store import evidence_path
from service.persistence.tables import AuditEvent, Case, CaseIndicator, Deadline, Evidence
from tests.helpers import DEFINITION, Api
from tests.support.cli import verify_db

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _docx() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


async def _execute(api: Api, sql: str, **params: object) -> None:
    async with api.app.state.services.sessions() as session, session.begin():
        await session.execute(text(sql), params)


async def _case_with_evidence(api: Api) -> tuple[str, dict, bytes]:
    case_id, leader = await api.new_case("C3", 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    await api.ok(await api.fire(leader, case_id, "assign_indicators", w.assign_indicators(DEFINITION)))
    officer = api.who("commune_officer", "C3")
    content = _docx()
    evidence = await api.ok(
        await api.upload(officer, case_id, "TC1.1", content=content, filename="Biên bản.docx", media_type=DOCX), 201
    )
    return case_id, evidence, content


def _download_path(case_id: str, evidence: dict) -> str:
    return f"/v1/cases/{case_id}/indicators/TC1.1/evidence/{evidence['id']}"


def _failures(found_by: str) -> float:
    return REGISTRY.get_sample_value("cdht_evidence_integrity_failures_total", {"found_by": found_by}) or 0.0


async def test_new_events_record_the_newest_digest_version(api: Api) -> None:
    case_id, _, _ = await _case_with_evidence(api)
    async with api.app.state.services.sessions() as session:
        digests = (await session.execute(select(AuditEvent.state_digest).where(AuditEvent.case_id == case_id))).all()
    assert digests and all(digest_version(digest) == DIGEST_VERSION == 2 for (digest,) in digests)
    assert all(digest.startswith("2:") and len(digest) == 64 for (digest,) in digests)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("media_type", "image/png"),
        ("filename", "Biên bản khác.docx"),
        ("title", "Một tiêu đề khác"),
        ("uploaded_by", "someone-else"),
    ],
)
async def test_an_evidence_column_changed_in_the_database_is_reported(api: Api, column: str, value: str) -> None:
    case_id, evidence, _ = await _case_with_evidence(api)
    auditor = api.who("auditor", "VN")
    assert (await api.ok(await api.get(auditor, "/v1/audit/verify", case=case_id)))["ok"] is True
    await _execute(api, f"UPDATE evidence SET {column} = :value WHERE id = :id", value=value, id=evidence["id"])
    for params in ({"case": case_id}, {}):
        report = await api.ok(await api.get(auditor, "/v1/audit/verify", **params))
        assert report["ok"] is False
        assert report["first_bad_event"]["case_id"] == case_id
        assert "changed outside the engine" in report["first_bad_event"]["problem"]


async def _rewrite_newest_digest_as_version_1(api: Api, case_id: str) -> None:
    """Make the case look as if its newest event had been written before the digest covered every evidence column:
    the newest event records a version-1 digest, its hash and the case's head recomputed."""
    async with api.app.state.services.sessions() as session, session.begin():
        case = await session.get(Case, case_id)
        assert case is not None
        rows = [
            (await session.execute(select(table).where(table.case_id == case_id))).scalars().all()
            for table in (CaseIndicator, Deadline, Evidence)
        ]
        newest = (
            await session.execute(
                select(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.seq == case.event_seq)
            )
        ).scalar_one()
        newest.state_digest = case_state_digest(case, *rows, version=1)
        newest.hash = event_hash(newest)
        case.last_hash = newest.hash
    async with api.app.state.services.sessions() as session:
        recorded = (await session.execute(select(AuditEvent.state_digest).where(AuditEvent.hash == newest.hash))).one()
    assert digest_version(recorded[0]) == 1 and len(recorded[0]) == 64


async def test_a_version_1_digest_still_verifies_and_its_evidence_is_held_to_the_upload_event(api: Api) -> None:
    case_id, evidence, _ = await _case_with_evidence(api)
    await _rewrite_newest_digest_as_version_1(api, case_id)
    auditor = api.who("auditor", "VN")
    sound = await api.ok(await api.get(auditor, "/v1/audit/verify", case=case_id))
    assert sound["ok"] is True, sound
    # Version 1 does not cover the type; the upload event, which recorded it, does.
    await _execute(api, "UPDATE evidence SET media_type = 'image/png' WHERE id = :id", id=evidence["id"])
    report = await api.ok(await api.get(auditor, "/v1/audit/verify", case=case_id))
    assert report["ok"] is False
    assert report["first_bad_event"]["problem"] == (
        f"evidence {evidence['id']} of case {case_id} differs from its upload event (media_type): "
        "it was changed outside the engine"
    )


async def test_bytes_changed_on_disk_are_never_served_and_deep_verify_reports_them(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    case_id, evidence, content = await _case_with_evidence(api)
    auditor = api.who("auditor", "VN")
    path: Path = evidence_path(api.settings.data_dir, evidence["sha256"])
    assert (await api.get(auditor, _download_path(case_id, evidence))).content == content
    deep = await api.ok(await api.get(auditor, "/v1/audit/verify", case=case_id, deep="true"))
    assert deep["ok"] is True and deep["files"]["problems"] == [] and deep["files"]["records_checked"] == 1

    for altered in (content[:-1] + bytes([content[-1] ^ 1]), content + b"appended"):  # same size, then longer
        path.write_bytes(altered)
        before = _failures("download")
        with caplog.at_level(logging.ERROR, logger="cdht.evidence"):
            refused = await api.get(auditor, _download_path(case_id, evidence))
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["reasons"][0]["code"] == "evidence_file_altered"
        assert altered not in refused.content
        assert _failures("download") == before + 1
        assert any(evidence["id"] in record.getMessage() for record in caplog.records)

    for params in ({"case": case_id}, {}):
        report = await api.ok(await api.get(auditor, "/v1/audit/verify", deep="true", **params))
        assert report["ok"] is False
        assert report["first_bad_event"] is None  # the database is sound; the file is not
        [problem] = report["files"]["problems"]
        assert problem["evidence_id"] == evidence["id"] and problem["case_id"] == case_id
        assert "bytes changed" in problem["problem"]
    shallow = await api.ok(await api.get(auditor, "/v1/audit/verify", case=case_id))
    assert shallow["ok"] is True and "files" not in shallow

    capsys.readouterr()
    assert await verify_db(monkeypatch, api, "--deep", "--case", case_id) == 1
    printed = capsys.readouterr().out
    assert "chains OK" in printed and "evidence files FAILED" in printed and evidence["id"] in printed
    assert await verify_db(monkeypatch, api, "--case", case_id) == 0

    path.write_bytes(content)
    assert (await api.get(auditor, _download_path(case_id, evidence))).content == content
    assert (await api.ok(await api.get(auditor, "/v1/audit/verify", deep="true")))["ok"] is True
    assert await verify_db(monkeypatch, api, "--deep") == 0


async def test_a_missing_file_is_404_and_reported_by_deep_verify(api: Api) -> None:
    case_id, evidence, _ = await _case_with_evidence(api)
    auditor = api.who("auditor", "VN")
    evidence_path(api.settings.data_dir, evidence["sha256"]).unlink()
    missing = await api.get(auditor, _download_path(case_id, evidence))
    assert missing.status_code == 404
    assert missing.json()["reasons"][0]["code"] == "evidence_file_missing"
    report = await api.ok(await api.get(auditor, "/v1/audit/verify", case=case_id, deep="true"))
    assert report["ok"] is False
    assert report["files"]["problems"] == [
        {
            "evidence_id": evidence["id"],
            "case_id": case_id,
            "sha256": evidence["sha256"],
            "problem": "the file is missing from storage",
        }
    ]


async def test_a_record_naming_no_digest_is_refused_not_a_server_error(api: Api) -> None:
    case_id, evidence, _ = await _case_with_evidence(api)
    auditor = api.who("auditor", "VN")
    await _execute(api, "UPDATE evidence SET sha256 = :bad WHERE id = :id", bad="../" + "x" * 61, id=evidence["id"])
    refused = await api.get(auditor, _download_path(case_id, evidence))
    assert refused.status_code == 409
    assert refused.json()["reasons"][0]["code"] == "evidence_file_altered"
    report = await api.ok(await api.get(auditor, "/v1/audit/verify", case=case_id, deep="true"))
    assert report["ok"] is False
    assert "changed outside the engine" in report["first_bad_event"]["problem"]
    assert report["files"]["problems"][0]["problem"] == "the record's sha256 is not a SHA-256 digest"


async def test_verifying_every_file_needs_a_national_auditor(api: Api) -> None:
    leader = api.who("commune_leader", "C3")
    refused = await api.get(leader, "/v1/audit/verify", deep="true")
    assert refused.status_code == 403
    assert refused.json()["reasons"][0]["code"] == "not_authorised"
