"""The sweeper's batches (service/workers/sweep_batches.py): many cases in one transaction write exactly what the
one-by-one path writes for the same case (the same event, hash, state digest, outbox row, case and deadline rows),
their results verify and replay, and a sweep that dies mid-batch loses nothing and fires nothing twice."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from service.domain.audit.canonical import case_chain
from service.domain.cases.batch_tail import RowBatch
from service.domain.cases.replay import case_as_of
from service.persistence.db import unit_of_work
from service.persistence.tables import AuditEvent, Case, Deadline, DeadlineReminder, OutboxMessage
from service.workers import deadlines as sweeper
from service.workers import sweep_batches
from service.workers.sweep_batches import SweepReport, sweep_batch
from tests.helpers import Api

LAPSE_AT = "2026-03-01T00:00:00+07:00"
REMIND_AT = "2026-02-14T00:00:00+07:00"
FLAG_AT = "2026-04-01T00:00:00+07:00"


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


def _row(obj: Any, *, leave: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns if c.key not in leave}


async def _written(session: Any, case_id: str) -> dict[str, Any]:
    """Everything the sweep of a case leaves: its row, its deadlines, its events, outbox rows and reminders."""
    case = (await session.execute(select(Case).where(Case.id == case_id))).scalar_one()
    deadlines = (await session.execute(select(Deadline).where(Deadline.case_id == case_id))).scalars().all()
    events = (
        (await session.execute(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq)))
        .scalars()
        .all()
    )
    outbox = (
        (
            await session.execute(
                select(OutboxMessage).where(OutboxMessage.case_id == case_id).order_by(OutboxMessage.seq)
            )
        )
        .scalars()
        .all()
    )
    ids = [d.id for d in deadlines]
    reminders = (
        (await session.execute(select(DeadlineReminder).where(DeadlineReminder.deadline_id.in_(ids)))).scalars().all()
    )
    return {
        "case": _row(case),
        "deadlines": sorted((_row(d) for d in deadlines), key=lambda d: d["key"]),
        "events": [_row(e) for e in events],
        "outbox": [_row(o) for o in outbox],
        "reminders": sorted((_row(r, leave=("deadline_id",)) for r in reminders), key=lambda r: r["days_before"]),
    }


async def _sweep_each_way(
    api: Api, case_id: str, moment: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], dict[str, Any], SweepReport, SweepReport]:
    """The case swept at ``moment`` one by one, then by a batch, each in a transaction rolled back afterwards, with
    the same event id handed out to both (so that their hashes may be compared too)."""
    services = api.app.state.services
    fixed = uuid.UUID("00000000-0000-4000-8000-000000000017")
    monkeypatch.setattr("service.domain.audit.writer.uuid.uuid4", lambda: fixed)
    out = []
    for batch in (False, True):
        report = SweepReport()
        async with services.sessions() as session:
            await session.connection(execution_options={"cdht_write": True})
            if batch:
                assert await sweep_batch(session, services.registry, [case_id], at(moment), report) == []
            else:
                await sweeper._sweep_case(session, services.registry, case_id, at(moment), report)
            out.append((await _written(session, case_id), report))
            await session.rollback()
    (one, one_report), (many, many_report) = out
    return one, many, one_report, many_report


@pytest.mark.parametrize(
    ("moment", "outcome"), [(LAPSE_AT, "fired"), (REMIND_AT, "reminded")], ids=["lapse", "reminder"]
)
async def test_a_batch_writes_what_the_one_by_one_path_writes(
    api: Api, monkeypatch: pytest.MonkeyPatch, moment: str, outcome: str
) -> None:
    case_id, _ = await api.new_case("C3", 2025)
    one, many, one_report, many_report = await _sweep_each_way(api, case_id, moment, monkeypatch)
    assert getattr(one_report, outcome) and getattr(one_report, outcome) == getattr(many_report, outcome)
    assert len(one["events"]) == 2  # the opening, then the sweeper's one event
    assert one["events"][-1]["actor_sub"] == "system:deadlines"
    assert many == one  # the same rows, event hash and state digest included


async def test_a_batch_flags_what_the_one_by_one_path_flags(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.walk(case_id, leader, cycle=2025, until="under_review")
    one, many, one_report, many_report = await _sweep_each_way(api, case_id, FLAG_AT, monkeypatch)
    assert one_report.flagged == many_report.flagged == [(case_id, "decision")]
    assert one["events"][-1]["kind"] == "deadline_breached"
    assert many == one


async def _sweep(api: Api, moment: str, **options: Any) -> SweepReport:
    services = api.app.state.services
    return await sweeper.sweep(services.sessions, services.registry, now=at(moment), **options)


async def _lapses(api: Api) -> dict[str, int]:
    async with api.app.state.services.sessions() as session:
        rows = await session.execute(
            select(AuditEvent.case_id, func.count()).where(AuditEvent.trigger == "lapse").group_by(AuditEvent.case_id)
        )
        return dict(rows.all())


async def _verified(api: Api, cases: list[str]) -> None:
    auditor = api.who("auditor", "VN")
    for case_id in cases:
        assert (await api.ok(await api.get(auditor, "/v1/audit/verify", case=case_id)))["ok"] is True


async def _open_cases(api: Api, units: list[str]) -> list[str]:
    return [(await api.new_case(unit, 2025))[0] for unit in units]


async def test_batched_results_verify_and_replay(api: Api) -> None:
    cases = await _open_cases(api, ["C1", "C2", "C3"])
    reminded = (await _sweep(api, REMIND_AT, batch_size=2)).reminded  # batches run at once: in any order
    assert sorted(reminded) == sorted((c, "submission", 14) for c in cases)
    report = await _sweep(api, LAPSE_AT, batch_size=2)
    assert sorted(report.fired) == sorted((c, "lapse") for c in cases)
    auditor = api.who("auditor", "VN")
    services = api.app.state.services
    for case_id in cases:
        assert (await api.ok(await api.get(auditor, "/v1/audit/verify", case=case_id)))["ok"] is True
        async with services.sessions() as session:
            events = (
                (await session.execute(select(AuditEvent).where(AuditEvent.chain == case_chain(case_id))))
                .scalars()
                .all()
            )
            for event in events:
                cf, last = await case_as_of(session, services.registry, case_id, event.occurred_at)
                assert cf.state_digest() == event.state_digest, f"replay differs after {event.trigger}"
        shown = await api.ok(await api.get(auditor, f"/v1/cases/{case_id}", as_of=LAPSE_AT))
        assert shown["state"] == "lapsed"


async def test_the_one_by_one_path_alone_sweeps_the_same(api: Api) -> None:
    cases = await _open_cases(api, ["C1", "C2"])
    report = await _sweep(api, LAPSE_AT, batch_size=1)
    assert sorted(report.fired) == sorted((c, "lapse") for c in cases)
    assert await _lapses(api) == {c: 1 for c in cases}


async def test_a_failed_batch_is_swept_one_by_one_and_writes_nothing_of_its_own(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = await _open_cases(api, ["C1", "C2", "C3"])

    async def fails(self: RowBatch, session: Any) -> None:
        raise RuntimeError("the database went away while the batch was written")

    monkeypatch.setattr(RowBatch, "insert", fails)  # after every case of the batch was decided and flushed
    report = await _sweep(api, LAPSE_AT, batch_size=3)
    assert sorted(report.fired) == sorted((c, "lapse") for c in cases)  # each once, by the one-by-one path
    assert await _lapses(api) == {c: 1 for c in cases}
    await _verified(api, cases)


class Died(Exception):
    """The process stopping mid-batch: its transaction is never committed (the database rolls it back) and nothing
    after it runs."""


async def test_a_sweep_that_dies_mid_batch_loses_nothing_and_fires_nothing_twice(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = await _open_cases(api, ["C1", "C2", "C3"])
    written = RowBatch.insert
    batches = 0

    async def dies_in_the_second(self: RowBatch, session: Any) -> None:
        nonlocal batches
        batches += 1
        await written(self, session)  # its rows sent to the database, not committed
        if batches == 2:
            raise Died()

    async def dead(*args: Any) -> None:
        raise Died()

    monkeypatch.setattr(RowBatch, "insert", dies_in_the_second)
    monkeypatch.setattr(sweeper, "_sweep_case", dead)  # nothing runs after the death, not even the one-by-one path
    monkeypatch.setattr(sweeper, "BATCH_CONCURRENCY", 1)
    report = await _sweep(api, LAPSE_AT, batch_size=2)
    assert report.fired == [(cases[0], "lapse"), (cases[1], "lapse")]
    assert report.skipped == [cases[2]]
    assert await _lapses(api) == {cases[0]: 1, cases[1]: 1}  # the first batch committed; the second left nothing
    monkeypatch.undo()
    again = await _sweep(api, "2026-03-01T01:00:00+07:00", batch_size=2)
    assert again.fired == [(cases[2], "lapse")]
    assert await _lapses(api) == {c: 1 for c in cases}
    await _verified(api, cases)


async def test_a_case_held_elsewhere_is_skipped_by_its_batch(pg_api: Api) -> None:
    """PostgreSQL: a case whose row another transaction holds is passed over (SKIP LOCKED), the others swept."""
    api = pg_api
    held, free = await _open_cases(api, ["C1", "C2"])
    services = api.app.state.services
    async with unit_of_work(services.sessions) as holder:
        await holder.execute(select(Case).where(Case.id == held).with_for_update())
        report = await _sweep(api, LAPSE_AT)
        assert report.fired == [(free, "lapse")]
        assert report.skipped == [held]
    assert (await _sweep(api, LAPSE_AT)).fired == [(held, "lapse")]


async def test_a_batch_claims_none_of_the_cases_another_sweeper_swept_since_they_were_listed(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sweepers at work at once (one per server process) list the same due cases; a batch whose cases another one
    swept meanwhile claims and reads none of them, fires nothing on them and does not call them skipped."""
    done, left = await _open_cases(api, ["C1", "C2"]), (await _open_cases(api, ["C3"]))[0]
    services = api.app.state.services
    async with unit_of_work(services.sessions) as session:  # the other sweeper, first
        assert await sweep_batch(session, services.registry, done, at(LAPSE_AT), SweepReport()) == []
    read: list[str] = []
    files = sweep_batches.case_files

    async def reading(session: Any, registry: Any, cases: Any) -> Any:
        cases = list(cases)
        read.extend(case.id for case in cases)
        return await files(session, registry, cases)

    monkeypatch.setattr(sweep_batches, "case_files", reading)
    report = SweepReport()
    async with unit_of_work(services.sessions) as session:  # this one, with the list it read before
        assert await sweep_batch(session, services.registry, [*done, left], at(LAPSE_AT), report) == []
    assert read == [left]
    assert report.fired == [(left, "lapse")]
    assert report.skipped == []
    assert await _lapses(api) == {case_id: 1 for case_id in [*done, left]}


def test_sweepers_started_at_different_moments_tick_together() -> None:
    assert sweeper.until_next_tick(60, 1_000.25) == pytest.approx(19.75)  # next tick at 1,020
    assert sweeper.until_next_tick(60, 1_019.5) == pytest.approx(0.5)  # the same tick
    assert sweeper.until_next_tick(60, 1_020.0) == 60  # on a tick: the next one
    assert sweeper.until_next_tick(0.5, 10.2) == pytest.approx(0.3)


async def test_a_batch_another_sweeper_is_at_is_passed_over_whole(pg_api: Api) -> None:
    """PostgreSQL: sweepers that tick together list the same due cases and cut them into the same batches; a batch
    whose very cases another sweeper's batch is at is passed over (neither claimed, read nor called skipped), and
    swept by that sweeper; a batch of other cases is not held up by it."""
    api = pg_api
    cases = await _open_cases(api, ["C1", "C2", "C3"])
    services = api.app.state.services
    async with unit_of_work(services.sessions) as other:
        assert await sweep_batches._taken_elsewhere(other, cases[:2]) is False  # the other sweeper takes it
        report = SweepReport()
        async with unit_of_work(services.sessions) as session:
            assert await sweep_batch(session, services.registry, cases[:2], at(LAPSE_AT), report) == []
        assert report == SweepReport()
        async with unit_of_work(services.sessions) as session:  # another cut of the cases: swept
            assert await sweep_batch(session, services.registry, cases[1:], at(LAPSE_AT), report) == []
        assert report.fired == [(cases[1], "lapse"), (cases[2], "lapse")]
    report = SweepReport()
    async with unit_of_work(services.sessions) as session:  # the other sweeper gone (it swept nothing): swept
        assert await sweep_batch(session, services.registry, cases[:2], at(LAPSE_AT), report) == []
    assert report.fired == [(cases[0], "lapse")]
    assert await _lapses(api) == {case_id: 1 for case_id in cases}
