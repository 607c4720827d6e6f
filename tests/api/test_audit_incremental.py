"""The incremental verify (``GET /v1/audit/verify?mode=incremental``, ``cdht audit verify-db --incremental``): what
changed after a signed checkpoint is caught; what was changed before it is caught by the full verify, and by the
incremental one only where it moved what the checkpoint signed (a head hash, the numbering). Both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from service import walkthrough as w
from service.domain.audit.canonical import event_hash
from service.persistence.tables import AuditEvent
from service.workers import verify_processes
from tests.helpers import DEFINITION, Api
from tests.support.cli import verify_db


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _execute(api: Api, sql: str, **params: object) -> None:
    async with api.app.state.services.sessions() as session, session.begin():
        await session.execute(text(sql), params)


async def _checkpoint(api: Api) -> dict[str, Any]:
    response = await api.client.post("/v1/audit/checkpoints", headers=api.who("auditor", "VN").headers)
    return await api.ok(response, 201)


async def _verify(api: Api, **params: str) -> dict[str, Any]:
    return await api.ok(await api.get(api.who("auditor", "VN"), "/v1/audit/verify", **params))


async def _incremental(api: Api, **params: str) -> dict[str, Any]:
    return await _verify(api, mode="incremental", **params)


async def _planned(api: Api, unit: str) -> tuple[str, Any]:
    case_id, leader = await api.new_case(unit, 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    return case_id, leader


async def _after_checkpoint(api: Api) -> tuple[str, str, dict[str, Any]]:
    """Two planned cases, a checkpoint, then the first case assigned (seq 3) and a third case opened after it."""
    first, leader = await _planned(api, "C1")
    await _planned(api, "C2")
    checkpoint = await _checkpoint(api)
    await api.ok(await api.fire(leader, first, "assign_indicators", w.assign_indicators(DEFINITION)))
    later, _ = await _planned(api, "C3")
    return first, later, checkpoint


async def test_incremental_names_its_checkpoint_and_rehashes_only_what_came_after(api: Api) -> None:
    first, later, checkpoint = await _after_checkpoint(api)
    full = await _verify(api)
    assert full["ok"] is True and full["mode"] == "full" and "checkpoint" not in full
    report = await _incremental(api)
    assert report["ok"] is True, report
    assert report["mode"] == "incremental"
    signed = report["checkpoint"]
    assert {key: signed[key] for key in ("id", "key_id", "events_total", "chains_total")} == {
        key: checkpoint[key] for key in ("id", "key_id", "events_total", "chains_total")
    }
    assert _moment(signed["created_at"]) == _moment(checkpoint["created_at"])
    assert report["events_trusted"] == checkpoint["events_total"]
    # seq 3 of the first case and the later case's two events: nothing else was re-hashed
    assert report["events_checked"] == 3
    assert report["events_checked"] + report["events_trusted"] == full["events_checked"]
    assert report["chains_checked"] == full["chains_checked"]
    one = await _incremental(api, case=first, checkpoint=checkpoint["id"])
    assert (one["ok"], one["events_checked"], one["chains_checked"], one["events_trusted"]) == (True, 1, 1, 2)


async def test_incremental_without_a_checkpoint_is_refused(api: Api) -> None:
    await _planned(api, "C1")
    refused = await api.get(api.who("auditor", "VN"), "/v1/audit/verify", mode="incremental")
    assert refused.status_code == 404
    assert refused.json()["reasons"][0]["code"] == "checkpoint_unknown"
    # The Vietnamese says it all in Vietnamese, the English in English.
    assert refused.json()["detail_vi"] == "Chưa có điểm kiểm tra nào được ký"
    assert refused.json()["detail_en"] == "no checkpoint has been signed yet"
    assert refused.json()["reasons"][0]["message_vi"] == "hãy ký một điểm kiểm tra trước"
    assert refused.json()["reasons"][0]["message_en"] == "sign a checkpoint first"
    unknown = await api.get(api.who("auditor", "VN"), "/v1/audit/verify", mode="incremental", checkpoint="nope")
    assert unknown.status_code == 404
    assert (unknown.json()["detail_vi"], unknown.json()["detail_en"]) == (
        "Không có điểm kiểm tra nope",
        "no checkpoint nope",
    )
    wrong = await api.get(api.who("auditor", "VN"), "/v1/audit/verify", mode="sometimes")
    assert wrong.status_code == 422


async def test_a_change_after_the_checkpoint_is_caught_incrementally(api: Api) -> None:
    first, later, _ = await _after_checkpoint(api)
    await _execute(api, "UPDATE audit_event SET actor_name = 'x' WHERE case_id = :case AND seq = 3", case=first)
    report = await _incremental(api)
    assert report["ok"] is False
    assert (report["first_bad_event"]["case_id"], report["first_bad_event"]["seq"]) == (first, 3)
    assert "changed" in report["first_bad_event"]["problem"]
    # a case opened after the checkpoint is walked from its first event
    await _execute(api, "UPDATE audit_event SET actor_name = 'x' WHERE case_id = :case AND seq = 3", case=first)
    await _execute(api, "UPDATE audit_event SET actor_name = 'y' WHERE case_id = :case AND seq = 1", case=later)
    bad = (await _incremental(api))["first_bad_event"]
    assert bad["case_id"] in (first, later) and bad["seq"] in (1, 3)


async def test_a_case_row_changed_after_the_checkpoint_is_caught_even_without_new_events(api: Api) -> None:
    first, _, _ = await _after_checkpoint(api)
    quiet, _ = await _planned(api, "C9")
    await _checkpoint(api)  # the newest: nothing after it
    await _execute(api, "UPDATE cases SET target_level = 3 WHERE id = :case", case=quiet)
    report = await _incremental(api)
    assert report["ok"] is False and report["events_checked"] == 0
    assert report["first_bad_event"]["case_id"] == quiet
    assert "differs from the state its newest event recorded" in report["first_bad_event"]["problem"]


async def test_a_change_before_the_checkpoint_is_caught_by_the_full_verify_only(api: Api) -> None:
    """The incremental verify does not re-hash events up to the signed heads: an event changed in place there,
    its stored hash left as it was, keeps every hash and link the checkpoint signed. The full verify finds it."""
    first, _, _ = await _after_checkpoint(api)
    await _execute(api, "UPDATE audit_event SET actor_name = 'x' WHERE case_id = :case AND seq = 1", case=first)
    assert (await _incremental(api))["ok"] is True  # what the incremental verify takes on the checkpoint's word
    full = await _verify(api)
    assert full["ok"] is False
    assert (full["first_bad_event"]["case_id"], full["first_bad_event"]["seq"]) == (first, 1)


async def test_a_rewrite_before_the_checkpoint_that_moves_its_head_is_caught_incrementally(api: Api) -> None:
    """An event before the checkpoint rewritten with its hash (and the head) recomputed, as a forger would: the
    signed head hash no longer matches."""
    first, leader = await _planned(api, "C1")
    checkpoint = await _checkpoint(api)
    async with api.app.state.services.sessions() as session:
        event = (
            await session.execute(select(AuditEvent).where(AuditEvent.case_id == first, AuditEvent.seq == 2))
        ).scalar_one()
        event.payload = event.payload.replace("15/KH-UBND", "16/KH-UBND")
        forged = event_hash(event)
        session.expunge(event)
    await _execute(
        api,
        "UPDATE audit_event SET payload = replace(payload, '15/KH-UBND', '16/KH-UBND'), hash = :h "
        "WHERE case_id = :case AND seq = 2",
        h=forged,
        case=first,
    )
    await _execute(api, "UPDATE cases SET last_hash = :h WHERE id = :case", h=forged, case=first)
    assert (await _verify(api))["ok"] is True  # the chain alone cannot tell
    report = await _incremental(api)
    assert report["ok"] is False
    assert report["first_bad_event"]["chain"] == f"case:{first}"
    assert report["first_bad_event"]["problem"] == (
        f"event changed after checkpoint {checkpoint['id']}: the event it signed at seq 2 is not there"
    )


async def test_an_event_removed_before_the_checkpoint_is_caught_incrementally(api: Api) -> None:
    first, leader = await _planned(api, "C1")
    await api.ok(await api.fire(leader, first, "assign_indicators", w.assign_indicators(DEFINITION)))
    await _checkpoint(api)
    await _execute(api, "DELETE FROM audit_event WHERE case_id = :case AND seq = 2", case=first)
    report = await _incremental(api)
    assert report["ok"] is False
    assert "numbered 1 to 3" in report["first_bad_event"]["problem"]
    await _execute(api, "DELETE FROM audit_event WHERE case_id = :case", case=first)
    report = await _incremental(api)
    assert report["first_bad_event"]["problem"].startswith("chain removed after checkpoint")


async def test_a_changed_checkpoint_is_not_trusted(api: Api) -> None:
    first, _ = await _planned(api, "C1")
    checkpoint = await _checkpoint(api)
    await _execute(
        api, "UPDATE audit_checkpoint SET events_total = 1, created_by = 'x' WHERE id = :id", id=checkpoint["id"]
    )
    assert (await _incremental(api))["ok"] is True  # neither is signed
    async with api.app.state.services.sessions() as session:
        heads = (
            await session.execute(text("SELECT heads FROM audit_checkpoint WHERE id = :id"), {"id": checkpoint["id"]})
        ).scalar_one()
    changed = str(heads).replace('"case:', '"case:x') if isinstance(heads, str) else None
    if changed is None:
        import json

        changed = json.dumps({f"x{chain}": head for chain, head in heads.items()})
    await _execute(api, "UPDATE audit_checkpoint SET heads = :h WHERE id = :id", h=changed, id=checkpoint["id"])
    report = await _incremental(api)
    assert report["ok"] is False
    assert report["first_bad_event"]["problem"].startswith(f"checkpoint {checkpoint['id']} its id, time, key or heads")
    assert report["events_checked"] == 0


async def test_the_cli_says_which_verify_it_ran(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def cli(*args: str) -> Any:
        return verify_db(monkeypatch, api, *args)  # ``cdht audit verify-db ARGS`` on the test's database

    first, _, checkpoint = await _after_checkpoint(api)
    capsys.readouterr()
    assert await cli() == 0
    assert capsys.readouterr().out.startswith("full verify: every event re-hashed\nchains OK")
    assert await cli("--incremental") == 0
    printed = capsys.readouterr().out
    assert f"incremental verify from checkpoint {checkpoint['id']}" in printed
    assert f"{checkpoint['events_total']} events up to its heads taken on its signature" in printed
    assert "chains OK: 3 events" in printed
    await _execute(api, "UPDATE audit_event SET actor_name = 'x' WHERE case_id = :case AND seq = 3", case=first)
    assert await cli("--incremental", "--checkpoint", checkpoint["id"]) == 1
    assert "chains FAILED" in capsys.readouterr().out
    assert await cli("--checkpoint", checkpoint["id"]) == 2


@pytest.mark.postgres
async def test_worker_processes_give_the_in_process_incremental_report(
    pg_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = pg_api
    spread: list[int] = []
    in_workers_of = verify_processes.in_workers

    async def counted(function: Any, calls: list[Any], processes: int) -> list[Any]:
        spread.append(len(calls))
        return await in_workers_of(function, calls, processes)

    monkeypatch.setattr(verify_processes, "in_workers", counted)
    first, later, _ = await _after_checkpoint(api)
    quiet, _ = await _planned(api, "C9")
    tamperings = [
        ("SELECT 1", {}),
        ("UPDATE cases SET target_level = 3 WHERE id = :case", {"case": quiet}),
        ("UPDATE audit_event SET actor_name = 'x' WHERE case_id = :case AND seq = 2", {"case": later}),
        ("UPDATE audit_event SET actor_name = 'x' WHERE case_id = :case AND seq = 3", {"case": first}),
    ]
    for sql, params in tamperings:
        await _execute(api, sql, **params)
        api.settings.verify_parallel_min_events, api.settings.verify_processes = 10**9, 1
        in_process = await _incremental(api)
        api.settings.verify_parallel_min_events, api.settings.verify_processes = 0, 2
        in_workers = await _incremental(api)
        assert in_workers == in_process
    assert len(spread) == len(tamperings) and min(spread) > 1  # the chains really were spread over workers
    assert in_process["ok"] is False and in_process["first_bad_event"]["case_id"] in (first, later)


@pytest.mark.postgres
@pytest.mark.parametrize("processes", [1, 2])
async def test_a_chain_written_during_the_verify_is_not_taken_for_a_broken_one(
    pg_api: Api, monkeypatch: pytest.MonkeyPatch, processes: int
) -> None:
    """The plan and the checks read one snapshot (workers import it): an event written between them is not seen."""
    api = pg_api
    first, leader = await _planned(api, "C1")
    await _checkpoint(api)
    check_chains = verify_processes.check_chains

    async def written_meanwhile(session: Any, plan: Any) -> Any:
        await api.ok(await api.fire(leader, first, "assign_indicators", w.assign_indicators(DEFINITION)))
        return await check_chains(session, plan)

    monkeypatch.setattr(verify_processes, "check_chains", written_meanwhile)
    api.settings.verify_parallel_min_events, api.settings.verify_processes = 0, processes
    if processes > 1:
        monkeypatch.setattr(verify_processes, "processes_for", _always(processes))
    report = await _incremental(api)
    assert report["ok"] is True, report
    assert report["events_checked"] == 0
    monkeypatch.setattr(verify_processes, "check_chains", check_chains)
    assert (await _incremental(api))["events_checked"] == 1  # seen by the next one


def _always(processes: int) -> Any:
    async def processes_for(session: Any, settings: Any) -> int:
        return processes

    return processes_for


@pytest.mark.postgres
async def test_a_checkpoint_seals_only_tables_that_match_their_digest(pg_api: Api) -> None:
    """On PostgreSQL a checkpoint seals a case's tables into its head only when they match its newest event's digest
    as it signs (``table_seals``): a case changed before the checkpoint is signed without a seal, so the
    incremental verify still compares its tables with its digest, and reports it."""
    api = pg_api
    sound, _ = await _planned(api, "C1")
    changed, _ = await _planned(api, "C2")
    await _execute(api, "UPDATE cases SET target_level = 3 WHERE id = :case", case=changed)
    signed = await _checkpoint(api)
    document = await api.ok(await api.get(api.who("auditor", "VN"), f"/v1/audit/checkpoints/{signed['id']}"))
    assert len(document["heads"][f"case:{sound}"]) == 3
    assert len(document["heads"][f"case:{changed}"]) == 2
    report = await _incremental(api)
    assert report["ok"] is False and report["first_bad_event"]["case_id"] == changed
    assert "differs from the state its newest event recorded" in report["first_bad_event"]["problem"]


@pytest.mark.postgres
async def test_a_sealed_case_is_compared_again_only_when_its_tables_changed(
    pg_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case sealed by the checkpoint with nothing new since is taken as it was while the server seals its tables
    the same; once they change (even to what the digest would not show) it is compared with its digest again."""
    from service.domain.audit import incremental

    api = pg_api
    first, _ = await _planned(api, "C1")
    second, _ = await _planned(api, "C2")
    await _checkpoint(api)
    compared: list[str] = []
    check_heads = incremental.check_heads

    async def counted(session: Any, finished: list[Any], part: Any) -> None:
        compared.extend(chain.chain for chain in finished)
        await check_heads(session, finished, part)

    monkeypatch.setattr(incremental, "check_heads", counted)
    assert (await _incremental(api))["ok"] is True
    assert not {f"case:{first}", f"case:{second}"} & set(compared)
    await _execute(api, "UPDATE cases SET subject = 'khác' WHERE id = :case", case=second)
    compared.clear()
    assert (await _incremental(api))["ok"] is True  # the subject is not in the digest: the full verify finds it
    assert f"case:{second}" in compared and f"case:{first}" not in compared
    await _execute(api, "UPDATE deadline SET status = 'closed' WHERE case_id = :case", case=first)
    report = await _incremental(api)
    assert report["ok"] is False and report["first_bad_event"]["case_id"] == first
