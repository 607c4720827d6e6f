"""Checkpoints that record, signed, that a full verify passed over their heads (``POST /v1/audit/checkpoints?verify=
true``, ``cdht audit checkpoint --verify``; ``service.workers.verified_checkpoint``): only a verify that finds
nothing signs one, the record is covered by the signature, the heads signed are those the verify read, and the
incremental verify starts from the newest checkpoint so marked and says so. Both databases."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from service import walkthrough as w
from service.domain.actor import system_actor
from service.domain.audit import checkpoints
from service.domain.audit.offline import verify_lines
from service.persistence.keys import signing_key
from service.persistence.tables import AuditCheckpoint
from service.workers import verified_checkpoint, verify_processes
from tests.helpers import DEFINITION, Api
from tests.support.audit import execute, incremental, planned, sign, verify
from tests.support.cli import in_process, verify_db

AUDITOR = ("auditor", "VN")


async def sign_verified(api: Api) -> dict[str, Any]:
    """A checkpoint signed after a full verify, a second after the previous one."""
    api.clock.set(api.settings.now + timedelta(seconds=1))
    response = await api.client.post("/v1/audit/checkpoints?verify=true", headers=api.who(*AUDITOR).headers)
    return await api.ok(response, 201)


async def _document(api: Api, checkpoint_id: str) -> dict[str, Any]:
    return await api.ok(await api.get(api.who(*AUDITOR), f"/v1/audit/checkpoints/{checkpoint_id}"))


async def _stored(api: Api) -> int:
    async with api.app.state.services.sessions() as session:
        return (await session.execute(select(func.count()).select_from(AuditCheckpoint))).scalar_one()


async def test_a_full_verify_that_passes_signs_its_heads_marked_verified(api: Api) -> None:
    _, leader = await planned(api, "C1")
    await planned(api, "C2")
    full = await verify(api)
    signed = await sign_verified(api)
    assert signed["verified"] == {
        "mode": "full",
        "events_checked": full["events_checked"],
        "chains_checked": full["chains_checked"],
    }
    assert (signed["events_total"], signed["chains_total"]) == (full["events_checked"], full["chains_checked"])
    document = await _document(api, signed["id"])
    assert document["verified"] == signed["verified"]
    assert checkpoints.signature_problem(document, signing_key(api.settings).public_key()) is None
    listed = await api.ok(await api.get(api.who(*AUDITOR), "/v1/audit/checkpoints"))
    assert listed["items"][0]["verified"] == signed["verified"]
    assert (await api.ok(await api.get(api.who(*AUDITOR), "/v1/audit/checkpoints/verify")))["ok"] is True
    plain = await sign(api)
    assert plain["verified"] is None and (await _document(api, plain["id"]))["verified"] is None
    # Signing after a verify needs the right to verify every chain as well as to sign.
    refused = await api.client.post("/v1/audit/checkpoints?verify=true", headers=leader.headers)
    assert refused.status_code == 403


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE audit_event SET actor_name = 'x' WHERE case_id = :case AND seq = 2",
        "UPDATE cases SET target_level = 3 WHERE id = :case",
        "DELETE FROM audit_event WHERE case_id = :case AND seq = 2",
    ],
)
async def test_a_tampered_log_gives_no_verified_checkpoint(api: Api, tamper: str) -> None:
    first, _ = await planned(api, "C1")
    await planned(api, "C2")
    await sign_verified(api)
    await execute(api, tamper, case=first)
    before = await _stored(api)
    refused = await api.client.post("/v1/audit/checkpoints?verify=true", headers=api.who(*AUDITOR).headers)
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["reasons"][0]["code"] == "audit_not_verified"
    assert problem["first_bad_event"] == (await verify(api))["first_bad_event"]
    assert problem["first_bad_event"]["case_id"] == first
    assert problem["detail_vi"] == "Kiểm tra toàn bộ nhật ký phát hiện sai lệch nên không ký điểm kiểm tra"
    assert await _stored(api) == before  # nothing signed


async def test_a_forged_verified_record_fails_signature_verification(api: Api) -> None:
    """Whoever can write the database could mark a checkpoint verified that no full verify passed over (or copy the
    record of a verified one, or recompute the digest): its signature no longer holds, online and offline, and the
    incremental verify, which would now start from it, takes nothing from it."""
    await planned(api, "C1")
    plain = await sign(api)
    forged = {"mode": "full", "events_checked": plain["events_total"], "chains_checked": plain["chains_total"]}
    async with api.app.state.services.sessions() as session, session.begin():
        row = await session.get(AuditCheckpoint, plain["id"])
        assert row is not None
        row.verified = forged
    checked = await api.ok(await api.get(api.who(*AUDITOR), "/v1/audit/checkpoints/verify"))
    assert checked["ok"] is False
    assert "(or its record of a full verify) do not match its digest" in checked["problems"][0]["problem"]
    report = await incremental(api)
    assert report["ok"] is False and report["checkpoint"]["id"] == plain["id"]
    assert report["first_bad_event"]["problem"].startswith(f"checkpoint {plain['id']} its id, time, key or heads")
    assert report["events_checked"] == 0
    # The digest recomputed with the record: only the signature gives it away.
    async with api.app.state.services.sessions() as session, session.begin():
        row = await session.get(AuditCheckpoint, plain["id"])
        assert row is not None
        row.digest = checkpoints.checkpoint_digest(checkpoints.document_of(row))
    document = await _document(api, plain["id"])
    public = signing_key(api.settings).public_key()
    assert checkpoints.signature_problem(document, public) == "its signature does not verify with the public key"
    export = (await api.get(api.who(*AUDITOR), "/v1/audit/export", format="jsonl")).text.splitlines()
    offline = verify_lines(export, checkpoints=[document], public_key=public)
    assert offline.ok is False and "signature does not verify" in offline.bad["problem"]
    # A verified checkpoint's record taken away breaks its signature too.
    verified = await sign_verified(api)
    await execute(api, "UPDATE audit_checkpoint SET verified = NULL WHERE id = :id", id=verified["id"])
    assert checkpoints.signature_problem(await _document(api, verified["id"]), public) is not None


async def test_the_incremental_verify_starts_from_the_newest_verified_checkpoint(api: Api) -> None:
    """A plain checkpoint signed later is passed over: it signed whatever the heads were, and an event changed before
    it with its stored hash left as it was is still found from the verified one."""
    first, leader = await planned(api, "C1")
    await planned(api, "C2")
    verified = await sign_verified(api)
    await api.ok(await api.fire(leader, first, "assign_indicators", w.assign_indicators(DEFINITION)))
    later, _ = await planned(api, "C3")
    plain = await sign(api)
    report = await incremental(api)
    assert report["ok"] is True, report
    assert report["checkpoint"]["id"] == verified["id"]
    assert report["checkpoint"]["verified"] == verified["verified"]
    assert report["events_trusted"] == verified["events_total"]
    assert report["events_checked"] == 3  # seq 3 of the first case and the later case's two events
    # A tamper after the verified checkpoint, before the plain one was signed: signed into the plain one's heads.
    await execute(api, "UPDATE audit_event SET actor_name = 'x' WHERE case_id = :case AND seq = 3", case=first)
    assert (await incremental(api, checkpoint=plain["id"]))["ok"] is True  # taken on the plain one's word
    found = await incremental(api)
    assert found["ok"] is False and found["checkpoint"]["id"] == verified["id"]
    assert (found["first_bad_event"]["case_id"], found["first_bad_event"]["seq"]) == (first, 3)
    # A tamper after both: found from the verified one as well.
    await execute(api, "UPDATE audit_event SET actor_name = 'y' WHERE case_id = :case AND seq = 3", case=first)
    await execute(api, "UPDATE audit_event SET actor_name = 'z' WHERE case_id = :case AND seq = 2", case=later)
    assert (await incremental(api))["ok"] is False
    # No verified checkpoint at all: the newest is used, and the answer says no full verify is recorded over it.
    await execute(api, "DELETE FROM audit_checkpoint WHERE id = :id", id=verified["id"])
    fallback = await incremental(api)
    assert fallback["checkpoint"]["id"] == plain["id"] and fallback["checkpoint"]["verified"] is None


async def test_the_cli_signs_after_a_full_verify_and_says_what_the_incremental_verify_trusts(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first, leader = await planned(api, "C1")
    output = tmp_path / "checkpoint.json"
    assert await in_process(monkeypatch, api, "audit", "checkpoint", "--output", str(output)) == 0
    plain = json.loads(output.read_text())
    assert plain["verified"] is None
    capsys.readouterr()
    assert await verify_db(monkeypatch, api, "--incremental") == 0
    printed = capsys.readouterr().out
    assert f"incremental verify from checkpoint {plain['id']}" in printed
    assert "no full verify is recorded over them" in printed
    assert await in_process(monkeypatch, api, "audit", "checkpoint", "--verify", "--output", str(output)) == 0
    signed = json.loads(output.read_text())
    assert signed["verified"] == {"mode": "full", "events_checked": 2, "chains_checked": 1}
    assert "full verify OK: 2 events in 1 chains" in capsys.readouterr().err
    await api.ok(await api.fire(leader, first, "assign_indicators", w.assign_indicators(DEFINITION)))
    assert await verify_db(monkeypatch, api, "--incremental") == 0
    printed = capsys.readouterr().out
    assert f"incremental verify from checkpoint {signed['id']}" in printed
    assert "a full verify of 2 events in 1 chains passed over exactly those heads" in printed
    assert "chains OK: 1 events" in printed
    await execute(api, "UPDATE audit_event SET actor_name = 'x' WHERE case_id = :case AND seq = 1", case=first)
    before = await _stored(api)
    assert await in_process(monkeypatch, api, "audit", "checkpoint", "--verify", "--output", str(output)) == 1
    assert "nothing was signed" in capsys.readouterr().err
    assert await _stored(api) == before and json.loads(output.read_text())["id"] == signed["id"]


@pytest.mark.postgres
@pytest.mark.parametrize("processes", [1, 2])
async def test_the_heads_signed_are_those_the_verify_read(
    pg_api: Api, monkeypatch: pytest.MonkeyPatch, processes: int
) -> None:
    """A transition committed while the verify runs is neither verified nor signed: the checkpoint's heads (and
    seals) are read in the verify's snapshot, which its worker processes import."""
    api = pg_api
    first, leader = await planned(api, "C1")
    await planned(api, "C2")
    spread: list[int] = []
    in_workers = verify_processes.in_workers

    async def counted(function: Any, calls: list[Any], workers: int) -> list[Any]:
        spread.append(len(calls))
        return await in_workers(function, calls, workers)

    monkeypatch.setattr(verify_processes, "in_workers", counted)
    full_verify = verified_checkpoint._full_verify

    async def written_meanwhile(session: Any, settings: Any) -> Any:
        report = await full_verify(session, settings)
        await api.ok(await api.fire(leader, first, "assign_indicators", w.assign_indicators(DEFINITION)))
        return report

    monkeypatch.setattr(verified_checkpoint, "_full_verify", written_meanwhile)
    api.settings.verify_parallel_min_events, api.settings.verify_processes = 0, processes
    signed = await sign_verified(api)
    assert signed["verified"] == {"mode": "full", "events_checked": 4, "chains_checked": 2}
    assert signed["events_total"] == 4  # the first case's seq 3 came after the verify's snapshot
    if processes == 1:
        assert spread == []
    else:
        assert len(spread) == 1 and spread[0] > 1  # the chains really were spread over workers
    heads = (await _document(api, signed["id"]))["heads"]
    assert heads[f"case:{first}"][0] == 2 and len(heads[f"case:{first}"]) == 3  # sealed as of the snapshot
    report = await incremental(api)
    assert report["ok"] is True and report["checkpoint"]["id"] == signed["id"] and report["events_checked"] == 1


async def test_a_verified_checkpoint_whose_counts_differ_from_its_heads_is_not_signed(api: Api) -> None:
    """``create_checkpoint`` refuses a record of a verify that did not read the heads it is about to sign."""
    await planned(api, "C1")
    wrong = {"mode": "full", "events_checked": 1, "chains_checked": 1}
    async with api.app.state.services.sessions() as session:
        with pytest.raises(checkpoints.NotTheVerifiedHeads):
            await checkpoints.create_checkpoint(
                session, settings=api.settings, actor=system_actor("test"), now=api.settings.now, verified=wrong
            )


def test_the_signed_text_is_unchanged_for_a_checkpoint_without_a_record() -> None:
    """Checkpoints signed before the record existed (no ``verified`` key, or null) verify as they were."""
    document = {"id": "x", "created_at": "2026-01-01T00:00:00.000000Z", "key_id": "k", "heads": {"a": [1, "h"]}}
    assert checkpoints.checkpoint_digest(document) == checkpoints.checkpoint_digest({**document, "verified": None})
    marked = {**document, "verified": {"mode": "full", "events_checked": 1, "chains_checked": 1}}
    assert checkpoints.checkpoint_digest(marked) != checkpoints.checkpoint_digest(document)
