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
from tests.support.audit import execute, incremental, planned, sign, verify
from tests.support.cli import verify_db


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _after_checkpoint(api: Api) -> tuple[str, str, dict[str, Any]]:
    """Two planned cases, a checkpoint, then the first case assigned (seq 3) and a third case opened after it."""
    first, leader = await planned(api, "C1")
    await planned(api, "C2")
    checkpoint = await sign(api)
    await api.ok(await api.fire(leader, first, "assign_indicators", w.assign_indicators(DEFINITION)))
    later, _ = await planned(api, "C3")
    return first, later, checkpoint


async def test_incremental_names_its_checkpoint_and_rehashes_only_what_came_after(api: Api) -> None:
    first, later, checkpoint = await _after_checkpoint(api)
    full = await verify(api)
    assert full["ok"] is True and full["mode"] == "full" and "checkpoint" not in full
    report = await incremental(api)
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
    one = await incremental(api, case=first, checkpoint=checkpoint["id"])
    assert (one["ok"], one["events_checked"], one["chains_checked"], one["events_trusted"]) == (True, 1, 1, 2)


async def test_incremental_without_a_checkpoint_is_refused(api: Api) -> None:
    await planned(api, "C1")
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
    await execute(api, "UPDATE audit_event SET actor_name = 'x' WHERE case_id = :case AND seq = 3", case=first)
    report = await incremental(api)
    assert report["ok"] is False
    assert (report["first_bad_event"]["case_id"], report["first_bad_event"]["seq"]) == (first, 3)
    assert "changed" in report["first_bad_event"]["problem"]
    # a case opened after the checkpoint is walked from its first event
    await execute(api, "UPDATE audit_event SET actor_name = 'x' WHERE case_id = :case AND seq = 3", case=first)
    await execute(api, "UPDATE audit_event SET actor_name = 'y' WHERE case_id = :case AND seq = 1", case=later)
    bad = (await incremental(api))["first_bad_event"]
    assert bad["case_id"] in (first, later) and bad["seq"] in (1, 3)


async def test_a_case_row_changed_after_the_checkpoint_is_caught_even_without_new_events(api: Api) -> None:
    first, _, _ = await _after_checkpoint(api)
    quiet, _ = await planned(api, "C9")
    await sign(api)  # the newest: nothing after it
    await execute(api, "UPDATE cases SET target_level = 3 WHERE id = :case", case=quiet)
    report = await incremental(api)
    assert report["ok"] is False and report["events_checked"] == 0
    assert report["first_bad_event"]["case_id"] == quiet
    assert "differs from the state its newest event recorded" in report["first_bad_event"]["problem"]


async def test_a_change_before_the_checkpoint_is_caught_by_the_full_verify_only(api: Api) -> None:
    """The incremental verify does not re-hash events up to the signed heads: an event changed in place there,
    its stored hash left as it was, keeps every hash and link the checkpoint signed. The full verify finds it."""
    first, _, _ = await _after_checkpoint(api)
    await execute(api, "UPDATE audit_event SET actor_name = 'x' WHERE case_id = :case AND seq = 1", case=first)
    assert (await incremental(api))["ok"] is True  # what the incremental verify takes on the checkpoint's word
    full = await verify(api)
    assert full["ok"] is False
    assert (full["first_bad_event"]["case_id"], full["first_bad_event"]["seq"]) == (first, 1)


async def test_a_rewrite_before_the_checkpoint_that_moves_its_head_is_caught_incrementally(api: Api) -> None:
    """An event before the checkpoint rewritten with its hash (and the head) recomputed, as a forger would: the
    signed head hash no longer matches."""
    first, leader = await planned(api, "C1")
    checkpoint = await sign(api)
    async with api.app.state.services.sessions() as session:
        event = (
            await session.execute(select(AuditEvent).where(AuditEvent.case_id == first, AuditEvent.seq == 2))
        ).scalar_one()
        event.payload = event.payload.replace("15/KH-UBND", "16/KH-UBND")
        forged = event_hash(event)
        session.expunge(event)
    await execute(
        api,
        "UPDATE audit_event SET payload = replace(payload, '15/KH-UBND', '16/KH-UBND'), hash = :h "
        "WHERE case_id = :case AND seq = 2",
        h=forged,
        case=first,
    )
    await execute(api, "UPDATE cases SET last_hash = :h WHERE id = :case", h=forged, case=first)
    assert (await verify(api))["ok"] is True  # the chain alone cannot tell
    report = await incremental(api)
    assert report["ok"] is False
    assert report["first_bad_event"]["chain"] == f"case:{first}"
    assert report["first_bad_event"]["problem"] == (
        f"event changed after checkpoint {checkpoint['id']}: the event it signed at seq 2 is not there"
    )


async def test_an_event_removed_before_the_checkpoint_is_caught_incrementally(api: Api) -> None:
    first, leader = await planned(api, "C1")
    await api.ok(await api.fire(leader, first, "assign_indicators", w.assign_indicators(DEFINITION)))
    await sign(api)
    await execute(api, "DELETE FROM audit_event WHERE case_id = :case AND seq = 2", case=first)
    report = await incremental(api)
    assert report["ok"] is False
    assert "numbered 1 to 3" in report["first_bad_event"]["problem"]
    await execute(api, "DELETE FROM audit_event WHERE case_id = :case", case=first)
    report = await incremental(api)
    assert report["first_bad_event"]["problem"].startswith("chain removed after checkpoint")


async def test_a_changed_checkpoint_is_not_trusted(api: Api) -> None:
    first, _ = await planned(api, "C1")
    checkpoint = await sign(api)
    await execute(
        api, "UPDATE audit_checkpoint SET events_total = 1, created_by = 'x' WHERE id = :id", id=checkpoint["id"]
    )
    assert (await incremental(api))["ok"] is True  # neither is signed
    async with api.app.state.services.sessions() as session:
        heads = (
            await session.execute(text("SELECT heads FROM audit_checkpoint WHERE id = :id"), {"id": checkpoint["id"]})
        ).scalar_one()
    changed = str(heads).replace('"case:', '"case:x') if isinstance(heads, str) else None
    if changed is None:
        import json

        changed = json.dumps({f"x{chain}": head for chain, head in heads.items()})
    await execute(api, "UPDATE audit_checkpoint SET heads = :h WHERE id = :id", h=changed, id=checkpoint["id"])
    report = await incremental(api)
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
    await execute(api, "UPDATE audit_event SET actor_name = 'x' WHERE case_id = :case AND seq = 3", case=first)
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
    quiet, _ = await planned(api, "C9")
    tamperings = [
        ("SELECT 1", {}),
        ("UPDATE cases SET target_level = 3 WHERE id = :case", {"case": quiet}),
        ("UPDATE audit_event SET actor_name = 'x' WHERE case_id = :case AND seq = 2", {"case": later}),
        ("UPDATE audit_event SET actor_name = 'x' WHERE case_id = :case AND seq = 3", {"case": first}),
    ]
    for sql, params in tamperings:
        await execute(api, sql, **params)
        api.settings.verify_parallel_min_events, api.settings.verify_processes = 10**9, 1
        in_process = await incremental(api)
        api.settings.verify_parallel_min_events, api.settings.verify_processes = 0, 2
        in_workers = await incremental(api)
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
    first, leader = await planned(api, "C1")
    await sign(api)
    check_chains = verify_processes.check_chains

    async def written_meanwhile(session: Any, plan: Any) -> Any:
        await api.ok(await api.fire(leader, first, "assign_indicators", w.assign_indicators(DEFINITION)))
        return await check_chains(session, plan)

    monkeypatch.setattr(verify_processes, "check_chains", written_meanwhile)
    api.settings.verify_parallel_min_events, api.settings.verify_processes = 0, processes
    if processes > 1:
        monkeypatch.setattr(verify_processes, "processes_for", _always(processes))
    report = await incremental(api)
    assert report["ok"] is True, report
    assert report["events_checked"] == 0
    monkeypatch.setattr(verify_processes, "check_chains", check_chains)
    assert (await incremental(api))["events_checked"] == 1  # seen by the next one


def _always(processes: int) -> Any:
    async def processes_for(session: Any, settings: Any) -> int:
        return processes

    return processes_for
