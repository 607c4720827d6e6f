"""The fast full verify: the same hashes as ``event_hash``, the same reports in small batches as in one pass, and the
same report from worker processes as from the API process."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from service import walkthrough as w
from service.domain.actor import Actor
from service.domain.audit import canonical, event_reader, writer
from service.domain.audit import verify as verifier
from service.persistence.tables import AuditEvent
from service.workers.verify_processes import chain_ranges, verify_in_processes, verify_with_progress
from tests.helpers import Api

ODD_ACTOR = Actor(
    sub='người-dùng\u2028"q"\\', name="Nguyễn Văn Ả 🙂 \x01\t", roles=("admin",), unit="VN", on_behalf_of=None
)
ODD_PAYLOADS = [
    {"tên": "Xã Một", "nested": {"z": [1, 2.5, None, True, {"b": -0.0, "a": 1e-7}], "a": 1e21}, "empty": {}},
    {"when": datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=7))), "day": date(2025, 1, 1)},
    None,
    [0.1, 3.0, -12, "\u0000 \ud7ff \ue000 \U0010ffff"],
]


async def _execute(api: Api, sql: str, **params: object) -> None:
    async with api.app.state.services.sessions() as session, session.begin():
        await session.execute(text(sql), params)


async def _verify(api: Api, **kwargs: object) -> verifier.VerifyReport:
    async with api.app.state.services.sessions() as session:
        return verifier.merge_parts([await verifier.verify_part(session, **kwargs)])  # type: ignore[arg-type]


async def _cases(api: Api) -> list[str]:
    """Four cases with chains of several events each, in chain order."""
    ids = []
    for unit in ("C1", "C2", "C3", "C9"):
        case_id, leader = await api.new_case(unit, 2025)
        await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
        ids.append(case_id)
    return sorted(ids)


async def _odd_events(api: Api) -> None:
    """Events whose fields hold what the encoder must write exactly: unicode, control characters, nested payloads
    with floats, None, dates and times in another zone, a time on a whole second."""
    async with api.app.state.services.sessions() as session, session.begin():
        for number, payload in enumerate(ODD_PAYLOADS):
            await writer.append_chain_event(
                session,
                chain="odd",
                facts=writer.EventFacts(kind="note", trigger="ghi chú", payload=payload, citation="Điều 9"),
                actor=ODD_ACTOR,
                actor_role=None,
                now=datetime(2025, 1, 2, 3, 4, 5, number * 250_000, tzinfo=timezone(timedelta(hours=-3))),
                unit_code=None,
            )
            await session.flush()


def test_the_cached_encoder_writes_what_json_dumps_writes() -> None:
    for value in [*ODD_PAYLOADS, {"b": 1, "a": {"d": [1.5, None], "c": "ễ"}}, "ễ\n", 7, 2.5]:
        reference = json.dumps(
            value,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=canonical.encode_default,
            allow_nan=False,
        )
        assert canonical.canonical_json(value) == reference


async def test_row_hash_is_event_hash_on_real_events(api: Api) -> None:
    await _cases(api)
    await _odd_events(api)
    events = AuditEvent.__table__
    async with api.app.state.services.sessions() as session:
        orm = (await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars().all()
        rows = (
            await session.execute(select(*[events.c[n] for n in canonical.EVENT_COLUMNS]).order_by(events.c.id))
        ).all()
    assert len(rows) == len(orm) > 8
    for event, row in zip(orm, rows, strict=True):
        assert canonical.row_hash(row) == canonical.event_hash(event) == event.hash
    assert (await _verify(api, batch=2)).ok is True
    async with api.app.state.services.sessions() as session:
        # What verify compares: on PostgreSQL the hash the server recomputes, elsewhere ``row_hash``'s.
        checked = await (await event_reader.event_reader(session, event_reader.EVERY_CHAIN, None)).page(None, 10_000)
    assert [row[event_reader.COMPUTED] for row in checked] == [row[event_reader.HASH] for row in checked]
    assert len(checked) == len(rows)


@pytest.mark.postgres
async def test_a_server_hash_that_differs_is_hashed_again_before_it_is_reported(
    pg_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _cases(pg_api)
    await _odd_events(pg_api)
    read = event_reader.PostgresEvents.page

    async def garbled(self: event_reader.PostgresEvents, after: tuple[str, int] | None, limit: int) -> list[tuple]:
        return [(*row[: event_reader.COMPUTED], "0" * 64) for row in await read(self, after, limit)]

    monkeypatch.setattr(event_reader.PostgresEvents, "page", garbled)
    assert (await _verify(pg_api, batch=3)).ok is True  # every event hashed again here, and sound
    await _execute(pg_api, "UPDATE audit_event SET actor_name = 'x' WHERE chain = 'odd' AND seq = 3")
    report = await _verify(pg_api, batch=3)
    assert report.first_bad_event is not None
    assert (report.first_bad_event["chain"], report.first_bad_event["seq"]) == ("odd", 3)


async def test_a_changed_payload_is_found_across_a_batch_boundary(api: Api) -> None:
    ids = await _cases(api)
    target = ids[2]
    await _execute(
        api,
        "UPDATE audit_event SET payload = replace(payload, '15/KH-UBND', '16/KH-UBND') WHERE case_id = :c AND seq = 2",
        c=target,
    )
    small = await _verify(api, batch=3, heads_batch=2)
    assert small == await _verify(api)
    assert small.first_bad_event is not None
    assert (small.first_bad_event["case_id"], small.first_bad_event["seq"]) == (target, 2)
    assert "changed" in small.first_bad_event["problem"]
    assert small.events_checked == 5 and small.chains_checked == 3  # two whole chains and the first event of this


async def test_a_gap_is_found_across_a_batch_boundary(api: Api) -> None:
    ids = await _cases(api)
    await _execute(api, "DELETE FROM audit_event WHERE case_id = :c AND seq = 1", c=ids[1])
    small = await _verify(api, batch=3, heads_batch=2)
    assert small == await _verify(api)
    assert small.first_bad_event is not None
    assert (small.first_bad_event["case_id"], small.first_bad_event["seq"]) == (ids[1], 2)
    assert "missing" in small.first_bad_event["problem"]


async def test_a_changed_case_is_found_in_a_later_batch_of_heads(api: Api) -> None:
    ids = await _cases(api)
    for case_id in (ids[3], ids[2]):
        await _execute(api, "UPDATE cases SET state = 'recognized' WHERE id = :c", c=case_id)
    small = await _verify(api, batch=3, heads_batch=2)
    assert small == await _verify(api)
    assert small.first_bad_event is not None
    assert small.first_bad_event["case_id"] == ids[2]  # the first changed chain by name, not the first found
    assert "changed outside the engine" in small.first_bad_event["problem"]
    assert small.events_checked == 8 and small.chains_checked == 4


async def test_a_head_left_without_events_is_reported(api: Api) -> None:
    ids = await _cases(api)
    await _execute(api, "DELETE FROM audit_event WHERE case_id = :c", c=ids[1])
    report = await _verify(api, batch=3, heads_batch=2)
    assert report == await _verify(api)
    assert report.first_bad_event == {
        "id": None,
        "uid": None,
        "chain": f"case:{ids[1]}",
        "seq": None,
        "case_id": None,
        "problem": f"chain case:{ids[1]} ends at seq 0 but its head records seq 2: events are missing",
    }


async def test_changed_pinned_settings_are_reported(api: Api) -> None:
    ids = await _cases(api)
    async with api.app.state.services.sessions() as session:
        pinned = (await session.execute(text("SELECT pinned FROM cases WHERE id = :c"), {"c": ids[0]})).scalar_one()
    pinned = json.loads(pinned) if isinstance(pinned, str) else pinned
    await _execute(api, "UPDATE cases SET pinned = :p WHERE id = :c", c=ids[0], p=json.dumps({**pinned, "extra": 1}))
    report = await _verify(api, batch=3, heads_batch=2)
    assert report == await _verify(api)
    assert report.first_bad_event is not None and "pinned settings" in report.first_bad_event["problem"]


def _tamperings(ids: list[str]) -> list[tuple[str, dict[str, object]]]:
    return [
        ("UPDATE cases SET state = 'recognized' WHERE id = :c", {"c": ids[3]}),
        ("UPDATE cases SET state = 'recognized' WHERE id = :c", {"c": ids[1]}),
        ("UPDATE audit_event SET actor_sub = 'x' WHERE case_id = :c AND seq = 2", {"c": ids[2]}),
        ("DELETE FROM audit_event WHERE case_id = :c AND seq = 1", {"c": ids[0]}),
    ]


@pytest.mark.postgres
async def test_worker_processes_give_the_in_process_report(pg_api: Api) -> None:
    api = pg_api
    ids = await _cases(api)
    await _odd_events(api)
    url = api.settings.resolved_database_url
    async with api.app.state.services.sessions() as session:
        assert len(await chain_ranges(session, 8)) > 2  # the cases really are split
    # Sound, then each tampering on top of the last: the first bad event moves towards the first chain.
    for sql, params in [("SELECT 1", {}), *_tamperings(ids)]:
        await _execute(api, sql, **params)
        async with api.app.state.services.sessions() as session:
            in_process = await verifier.verify(session)
            in_workers = await verify_in_processes(session, url, processes=2, batch=3)
        assert in_workers == in_process
    assert in_process.first_bad_event is not None and in_process.first_bad_event["case_id"] == ids[0]


@pytest.mark.postgres
async def test_the_route_verifies_in_workers_on_postgres(pg_api: Api) -> None:
    api = pg_api
    ids = await _cases(api)
    auditor = api.who("auditor", "VN")
    sql, params = _tamperings(ids)[1]
    await _execute(api, sql, **params)
    in_process = await api.ok(await api.get(auditor, "/v1/audit/verify"))
    api.settings.verify_parallel_min_events = 0
    api.settings.verify_processes = 2
    in_workers = await api.ok(await api.get(auditor, "/v1/audit/verify"))
    assert in_workers == in_process
    assert in_workers["first_bad_event"]["case_id"] == ids[1]


async def test_the_verify_with_progress_gives_the_full_report(api: Api) -> None:
    """The console's "verify everything" (range by range, in worker processes on PostgreSQL): its parts merged in
    chain order are the full verify's report, sound (the ranges really split the chains) and after each tampering."""
    ids = await _cases(api)
    api.settings.verify_parallel_min_events, api.settings.verify_processes = 0, 2
    for sql, params in [("SELECT 1", {}), *_tamperings(ids)]:
        await _execute(api, sql, **params)
        async with api.app.state.services.sessions() as session:
            expected = await verifier.verify(session)
            steps = [step async for step in verify_with_progress(session, api.settings, 4)]
        assert len({step.index for step in steps}) == len(steps)
        assert len(steps) > 1 or not expected.ok  # sound: every range; else it may stop after the bad event's range
        assert [step.done for step in steps] == list(range(1, len(steps) + 1))
        by_index = {step.index: step.part for step in steps}
        assert verifier.merge_parts(by_index[i] for i in sorted(by_index)) == expected
    assert expected.first_bad_event is not None


def test_times_in_digests_are_written_as_format_time_writes_them() -> None:
    """``encode_default`` takes ``format_stored_time``'s quicker path for UTC times; every time reads the same."""
    for moment in (
        datetime(2025, 3, 4, 5, 6, 7, 89, tzinfo=timezone.utc),
        datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=7))),
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
        datetime(2025, 12, 31, 23, 59, 59, 999999),
    ):
        assert canonical.encode_default(moment) == canonical.format_time(moment)


@pytest.mark.postgres
async def test_a_run_the_server_found_sound_must_still_link_to_the_walk(pg_api: Api) -> None:
    """A page comes summed up by chain on PostgreSQL: a run whose own events all hold but whose first event does not
    link to the event before it (its prev_hash changed and its hash recomputed to match) is walked event by event
    and reported as the one walk reports it, whatever the page size."""
    ids = await _cases(pg_api)
    async with pg_api.app.state.services.sessions() as session, session.begin():
        events = AuditEvent.__table__
        picked = [events.c[name] for name in canonical.EVENT_COLUMNS]
        row = (
            await session.execute(select(*picked).where(events.c.chain == f"case:{ids[1]}", events.c.seq == 2))
        ).one()
        relinked = dict(zip(canonical.EVENT_COLUMNS, row, strict=True))
        relinked["prev_hash"] = "f" * 64
        new_hash = canonical.row_hash(tuple(relinked[name] for name in canonical.EVENT_COLUMNS))
        await session.execute(events.update().where(events.c.id == row.id).values(prev_hash="f" * 64, hash=new_hash))
        await session.execute(text("UPDATE cases SET last_hash = :h WHERE id = :c"), {"h": new_hash, "c": ids[1]})
    for batch in (1, 3, 1000):
        report = await _verify(pg_api, batch=batch, heads_batch=2)
        assert report.first_bad_event is not None
        assert (report.first_bad_event["case_id"], report.first_bad_event["seq"]) == (ids[1], 2)
        assert "prev_hash" in report.first_bad_event["problem"]


@pytest.mark.postgres
async def test_a_case_read_as_json_is_read_again_before_a_difference_is_reported(
    pg_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a case's row and tables come as one JSON value, times as the server writes them; a case that
    differs from its digest that way is read again value by value before anything is reported."""
    ids = await _cases(pg_api)
    read = verifier.case_documents
    garbled_times = []

    async def garbled(*args: object) -> list[list]:
        documents = await read(*args)  # type: ignore[arg-type]
        for document in documents:
            for deadline in document[2]:
                deadline[1] = "0999-01-01T00:00:00.000000Z"  # due_at, as a server might spell an early year
                garbled_times.append(deadline[0])
        return documents

    monkeypatch.setattr(verifier, "case_documents", garbled)
    assert (await _verify(pg_api, batch=3, heads_batch=2)).ok is True  # each case read again, and sound
    assert garbled_times  # the cases have deadlines: the digests really were compared on the garbled reading
    await _execute(pg_api, "UPDATE deadline SET due_at = due_at + interval '1 day' WHERE case_id = :c", c=ids[2])
    report = await _verify(pg_api, batch=3, heads_batch=2)
    assert report.first_bad_event is not None and report.first_bad_event["case_id"] == ids[2]
    assert "differs from the state its newest event recorded" in report.first_bad_event["problem"]
