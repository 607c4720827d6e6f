"""What a case's audit reads cost in SQL statements, counted on the engine (``before_cursor_execute``) and pinned:
a case's history is one statement (the case's unit and subject, the unit tree's version and the events together),
and on PostgreSQL it is sent outside any transaction (the connection in autocommit: no BEGIN, no ROLLBACK travel);
an ``as_of`` read is the case row, its events and the unit's recognitions, the unit path and the succession walk
taken from the tree the process keeps (both databases)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from service import walkthrough as w
from tests.helpers import Api
from tests.support.statements import statements_sent

HISTORY_STATEMENTS = 1  # it was 3 before the case row and the events came together (the row, the unit path, events)
AS_OF_MAX = 2  # it was 5: the case row, its unit path, the events, the succession walk, the recognitions


def counting(api: Api) -> AbstractContextManager[list[tuple[str, Any, bool | None]]]:
    """The statements the app's engine sends while the block runs, each with the isolation level its connection was
    given and, on PostgreSQL, whether the driver's connection was in autocommit (then it sends no BEGIN)."""

    def seen(conn: Any, statement: str) -> tuple[str, Any, bool | None] | None:
        if statement.startswith("BEGIN"):  # SQLite's own BEGIN (a local call); asyncpg's is not a statement here
            return None
        autocommit = conn.connection.dbapi_connection.autocommit if conn.dialect.name == "postgresql" else None
        return statement, conn.get_execution_options().get("isolation_level"), autocommit

    return statements_sent(api.app, seen)


def shown(sent: list[tuple[str, Any, bool | None]]) -> str:
    return "\n".join(
        f"{i + 1}. {s.split(chr(10))[0][:150]} ({level}, {auto})" for i, (s, level, auto) in enumerate(sent)
    )


async def test_a_history_is_one_statement_outside_a_transaction(api: Api) -> None:
    case_id, leader = await api.new_case("C1", 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    await api.ok(await api.get(leader, f"/v1/cases/{case_id}/history"))  # the process reads the unit tree once
    postgres = api.app.state.services.engine.dialect.name == "postgresql"
    for who, path, status in [
        (leader, f"/v1/cases/{case_id}/history", 200),
        (api.who("commune_leader", "C2"), f"/v1/cases/{case_id}/history", 403),  # another commune: refused
        (leader, "/v1/cases/no-such-case/history", 404),
    ]:
        with counting(api) as sent:
            response = await api.get(who, path)
        assert response.status_code == status, response.text
        assert len(sent) == HISTORY_STATEMENTS, shown(sent)
        if postgres:
            assert all(level == "AUTOCOMMIT" and auto is True for _, level, auto in sent), shown(sent)
        if status == 200:
            events = response.json()
            assert [(e["seq"], e["trigger"]) for e in events][1:] == [(2, "issue_plan")], events
        else:
            assert "events" not in response.text and case_id not in response.json().get("detail", "")


async def test_as_of_costs_at_most_its_pinned_statements(api: Api) -> None:
    case_id, leader = await api.new_case("C1", 2025)  # opened on 20/01 at 02:00 UTC
    api.clock.set("2025-01-21T02:00:00")
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    at = "2025-01-20T12:00:00Z"  # before the plan: the replay stops at the opening
    await api.ok(await api.get(leader, f"/v1/cases/{case_id}", as_of=at))  # the process reads the unit tree once
    with counting(api) as sent:
        case = await api.ok(await api.get(leader, f"/v1/cases/{case_id}", as_of=at))
    assert case["state"] == "planning"
    assert len(sent) <= AS_OF_MAX, shown(sent)
    if api.app.state.services.engine.dialect.name == "postgresql":
        assert all(level == "AUTOCOMMIT" and auto is True for _, level, auto in sent), shown(sent)


async def test_as_of_in_one_statement_still_refuses_first_and_then_tells_what_is_missing(api: Api) -> None:
    case_id, leader = await api.new_case("C1", 2025)
    before = "2024-12-31T00:00:00Z"
    outside = await api.get(api.who("commune_leader", "C2"), f"/v1/cases/{case_id}", as_of=before)
    assert outside.status_code == 403, outside.text  # not told whether the case existed then
    assert "outside_jurisdiction" in outside.text and "case_not_yet_opened" not in outside.text
    not_yet = await api.get(leader, f"/v1/cases/{case_id}", as_of=before)
    assert not_yet.status_code == 404 and "case_not_yet_opened" in not_yet.text, not_yet.text
    unknown = await api.get(leader, "/v1/cases/no-such-case", as_of=before)
    assert unknown.status_code == 404 and "case_not_yet_opened" not in unknown.text, unknown.text
