"""The SQL statements a write costs, counted on the engine (``before_cursor_execute``) and pinned as upper bounds,
so the round trips the single write path saved cannot creep back: opening a case answers from the case file the
opening built, and a transition resolves its trigger once and answers from the case file its write left."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from service import walkthrough as w
from tests.helpers import Api

# Statements sent to the database (SQLite's BEGIN IMMEDIATE left out). Before the write answered from its own case
# file, opening a case cost 15 (the answer read the case again: 7). A transition cost 12 until the case row came with
# the unit tree's version (the unit path and the succession walk from what the process keeps of the tree) and the
# indicators, evidence and deadlines came in one statement; then 8 on both databases, until its five writes (the
# case, the deadline closed, the deadline opened, the audit event, the outbox row) went to PostgreSQL as one
# statement (service/domain/cases/tail_writes.py): 4 there, SQLite still 8 (the same statements one by one); then
# the unit's prior recognitions came in the case file's statement of indicators, evidence and deadlines: 3 and 7.
OPEN_CASE_MAX = 8
SUBMIT_DOSSIER_MAX = {"postgresql": 3, "sqlite": 7}


@contextmanager
def counted(api: Api) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    target = api.app.state.services.engine.sync_engine
    event.listen(target, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(target, "before_cursor_execute", before)


def shown(statements: list[str]) -> str:
    return "\n".join(f"{i + 1}. {s.split(chr(10))[0][:160]}" for i, s in enumerate(statements))


async def test_opening_a_case_costs_at_most_its_pinned_statements(api: Api) -> None:
    leader = api.who("commune_leader", "C3")
    api.clock.set("2025-01-20T02:00:00")
    with counted(api) as statements:
        body = await api.ok(await api.open(leader, "C3", 2025), 201)
    print(f"POST /v1/cases: {len(statements)} statements\n{shown(statements)}")
    assert body["state"] == "planning" and body["allowed_transitions"]
    assert len(statements) <= OPEN_CASE_MAX, shown(statements)


async def test_a_transition_costs_at_most_its_pinned_statements(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.walk(case_id, leader, cycle=2025, until="review_meeting_held")
    api.clock.set("2026-02-10T02:00:00")
    with counted(api) as statements:
        body = await api.ok(await api.fire(leader, case_id, "submit_dossier", w.submit_dossier(2025)))
    print(f"submit_dossier: {len(statements)} statements\n{shown(statements)}")
    assert body["case"]["state"] == "submitted" and body["event"]["trigger"] == "submit_dossier"
    dialect = api.app.state.services.engine.dialect.name
    assert len(statements) <= SUBMIT_DOSSIER_MAX[dialect], shown(statements)
