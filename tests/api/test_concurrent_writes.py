"""Concurrent writes to one case serialise on its row lock and all succeed when each is valid on its own: a write
reads its clock once it holds the lock, so a request that started earlier but got the lock later is not dated
before the change it waited for (issue 13 point 3). A clock really set back is still refused.

The app clock here ticks (a millisecond a read, like a real one, never frozen), so a request's start time and the
time it holds the lock differ: read at the start, as before, some of these writes were refused
``time_out_of_order``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from service import walkthrough as w
from service.config import Settings
from tests.helpers import DEFINITION, Api, Who

START = datetime(2025, 1, 20, 2, 0, tzinfo=timezone.utc)


def ticking_clock(monkeypatch: pytest.MonkeyPatch, start: datetime) -> Callable[[], datetime]:
    """The app clock from now on: ``start`` plus a millisecond for every read."""
    ticks = itertools.count()

    def clock(_settings: Settings) -> datetime:
        return start + timedelta(milliseconds=next(ticks))

    monkeypatch.setattr(Settings, "clock", clock)
    return lambda: clock(None)  # type: ignore[arg-type]


async def collecting_case(api: Api) -> tuple[str, Who]:
    case_id, leader = await api.new_case("C3", 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    await api.ok(await api.fire(leader, case_id, "assign_indicators", w.assign_indicators(DEFINITION)))
    return case_id, leader


async def assert_history_in_order(api: Api, who: Who, case_id: str, events: int) -> None:
    history = await api.ok(await api.get(who, f"/v1/cases/{case_id}/history"))
    assert len(history) == events
    times = [datetime.fromisoformat(event["occurred_at"]) for event in history]
    assert times == sorted(times), "the chain's order by time and by sequence disagree"
    report = await api.ok(await api.get(who, "/v1/audit/verify", case=case_id))
    assert report["ok"] is True and report["events_checked"] == events, report


async def test_six_members_submitting_evidence_at_once_all_succeed(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    case_id, leader = await collecting_case(api)
    indicators = [indicator.code for indicator in DEFINITION.indicators[:6]]
    members = {code: api.who("commune_member", "C3", org=w.org_for(code)) for code in indicators}
    for code in indicators:
        await api.ok(await api.upload(members[code], case_id, code), 201)
    ticking_clock(monkeypatch, START + timedelta(minutes=5))
    responses = await asyncio.gather(
        *(
            api.fire_indicator(members[code], case_id, code, "submit_evidence", w.submit_evidence(DEFINITION, code))
            for code in indicators
        )
    )
    assert [r.status_code for r in responses] == [200] * 6, [r.text[:300] for r in responses if r.status_code != 200]
    await assert_history_in_order(api, leader, case_id, 3 + 6 + 6)


async def test_parallel_uploads_to_one_case_all_succeed(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    case_id, leader = await collecting_case(api)
    officers = [api.who("commune_officer", "C3") for _ in range(4)]
    ticking_clock(monkeypatch, START + timedelta(minutes=5))
    uploads = [
        api.upload(officers[i % 4], case_id, indicator.code, content=w.MINIMAL_PDF + f"{i}".encode())
        for i, indicator in enumerate(DEFINITION.indicators * 2)
    ]
    responses = await asyncio.gather(*uploads)
    assert [r.status_code for r in responses] == [201] * len(uploads), [
        r.text[:300] for r in responses if r.status_code != 201
    ]
    await assert_history_in_order(api, leader, case_id, 3 + len(uploads))


async def test_an_upload_dated_before_the_cases_last_change_is_refused(api: Api) -> None:
    case_id, leader = await collecting_case(api)
    api.clock.set(START - timedelta(days=1))  # a clock set back behind the case's last change
    response = await api.upload(api.who("commune_officer", "C3"), case_id, DEFINITION.indicators[0].code)
    assert response.status_code == 409, response.text
    assert response.json()["reasons"][0]["code"] == "time_out_of_order"
    history = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/history"))
    assert [event["trigger"] for event in history] == ["open", "issue_plan", "assign_indicators"]


async def test_a_ticking_clock_set_back_is_still_refused(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    ticking_clock(monkeypatch, START - timedelta(hours=1))  # runs, but behind the opening at START
    response = await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025))
    assert response.status_code == 409, response.text
    assert response.json()["reasons"][0]["code"] == "time_out_of_order"
