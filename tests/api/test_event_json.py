"""The history and the audit search write their events straight from the rows (service/api/event_json.py): what a
client reads must be what ``EventOut`` gives for the same events, key for key and in the same order, whatever the
values hold (both databases for the endpoints)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select

from service.api.event_json import OUT_COLUMNS, event_json, event_list_json, event_page_json
from service.api.schemas import EventOut, EventPage, event_out
from service.domain.audit.canonical import canonical_json
from service.persistence.tables import AuditEvent
from tests.helpers import Api

EVENTS = TypeAdapter(list[EventOut])


def pydantic_text(events: list[Any]) -> str:
    return EVENTS.dump_json([event_out(e) for e in events], by_alias=True).decode()


def row_of(event: Any) -> tuple[Any, ...]:
    return tuple(getattr(event, name) for name in OUT_COLUMNS)


def ordered(value: Any) -> Any:
    """A parsed JSON value with its objects' key order kept (lists of pairs), to compare order as well."""
    return json.loads(json.dumps(value), object_pairs_hook=lambda pairs: [(k, ordered(v)) for k, v in pairs])


def hostile(**changes: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "id": 7,
        "uid": "u-1",
        "seq": 3,
        "chain": "case:x",
        "case_id": "x",
        "procedure": "cdht_xa",
        "unit_code": "C1",
        "kind": "transition",
        "trigger": "issue_plan",
        "indicator": None,
        "from_state": "draft",
        "to_state": "planning",
        "actor_sub": 'chu-tich "C1" \\ \n\t\x01\x1f',
        "actor_name": "Nguyễn Văn Á \u2028 </script> 𝔘",
        "actor_role": None,
        "actor_unit": "C1",
        "on_behalf_of": None,
        "occurred_at": datetime(2025, 1, 20, 2, 1, tzinfo=UTC),
        "payload": canonical_json(
            {"z": [1, 2.5, -0.0, 1e-7, 12345678901234567890], "a": {"b": None, "c": True, "d": 'Ä\x00\u2029"/'}}
        ),
        "citation": "TT25/2023 Điều 9 k2",
        "request_id": None,
        "idempotency_key": "k\u00e9y",
        "prev_hash": "0" * 64,
        "hash": "f" * 64,
    }
    fields.update(changes)
    return SimpleNamespace(**fields)


def test_an_event_reads_as_pydantic_writes_it_whatever_its_values() -> None:
    cases = [
        hostile(),
        hostile(occurred_at=datetime(2025, 12, 31, 20, 0, 0, 1, tzinfo=UTC)),  # the local day is the next one
        hostile(occurred_at=datetime(2026, 3, 1, 2, 0, 0, 120000, tzinfo=timezone(timedelta(hours=7)))),
        hostile(occurred_at=datetime(2026, 3, 1, 2, 0, 0, 999999)),  # naive: read as UTC
        hostile(case_id=None, procedure=None, unit_code=None, trigger=None, citation=None, from_state=None),
        hostile(payload="{}", seq=1),
        hostile(payload="[]"),
    ]
    for event in cases:
        expected = json.loads(pydantic_text([event]))
        got = json.loads(event_list_json([row_of(event)]))
        assert got == expected
        assert ordered(got) == ordered(expected)
        assert json.loads(event_json(row_of(event))) == expected[0]
    page = json.loads(event_page_json([row_of(e) for e in cases], "abc"))
    assert page == json.loads(
        EventPage(items=[event_out(e) for e in cases], next_cursor="abc").model_dump_json(by_alias=True)
    )
    assert json.loads(event_page_json([], None)) == {"items": [], "next_cursor": None}


async def test_history_and_search_answer_what_eventout_gives(api: Api) -> None:
    case_id, leader = await api.new_case("C1", 2025)
    await api.walk(case_id, leader, cycle=2025, until="submitted")
    async with api.app.state.services.sessions() as session:
        rows = (
            (await session.execute(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq)))
            .scalars()
            .all()
        )
    expected = json.loads(pydantic_text(list(rows)))
    assert len(expected) > 20 and {e["kind"] for e in expected} >= {"case_opened", "evidence_uploaded"}

    response = await api.get(leader, f"/v1/cases/{case_id}/history")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert ordered(response.json()) == ordered(expected)

    auditor = api.who("auditor", "VN")
    page = await api.ok(await api.get(auditor, "/v1/audit/events", case=case_id, limit=20))
    assert ordered(page["items"]) == ordered(expected[:20])
    rest = await api.ok(await api.get(auditor, "/v1/audit/events", case=case_id, cursor=page["next_cursor"]))
    assert ordered(rest["items"]) == ordered(expected[20:])
    assert rest["next_cursor"] is None
