"""Audit events written as JSON straight from their rows, for the answers that list many of them (a case's history,
a page of the audit search).

Each event is the text ``EventOut`` describes, in its key order, with the stored canonical JSON of its payload put
in as it is: no pydantic object per event, no payload decoded and encoded again. The strings are escaped by the
json module's C encoder, the times written as pydantic writes an aware time (``…Z`` in UTC, ``…+07:00`` local).
The answer a client reads is the one ``EventOut`` gives (tests/api/test_event_json.py compares the two); the
OpenAPI document still describes the answers by ``EventOut``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from service.api.schemas import local_time
from service.persistence.tables import AuditEvent

# The columns an event's JSON is written from, in the order ``event_json`` reads them; ``id`` last (the search's
# cursor), not written.
OUT_COLUMNS = (
    "uid",
    "seq",
    "chain",
    "case_id",
    "procedure",
    "unit_code",
    "kind",
    "trigger",
    "indicator",
    "from_state",
    "to_state",
    "actor_sub",
    "actor_name",
    "actor_role",
    "actor_unit",
    "on_behalf_of",
    "occurred_at",
    "payload",
    "citation",
    "request_id",
    "idempotency_key",
    "prev_hash",
    "hash",
    "id",
)
ROW_ID = OUT_COLUMNS.index("id")
_ZERO = timedelta(0)


def out_columns() -> list[Any]:
    """The audit table's columns ``event_json`` reads, to select."""
    return [AuditEvent.__table__.c[name] for name in OUT_COLUMNS]


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _time(moment: datetime) -> str:
    """A time as pydantic writes it: ISO 8601, ``Z`` for UTC (the database's times), the fraction only when there
    is one."""
    text = moment.isoformat()
    return text[:-6] + "Z" if moment.utcoffset() == _ZERO else text


def event_json(row: Sequence[Any]) -> str:
    """One event (a row of ``OUT_COLUMNS``) as ``EventOut`` serialises it, its payload the stored text."""
    uid, seq, chain, case_id, procedure, unit, kind, trigger, indicator, from_state, to_state = row[:11]
    sub, name, role, actor_unit, on_behalf_of, at, payload = row[11:18]
    citation, request_id, idempotency_key, prev_hash, hash_ = row[18:23]
    e = encode_basestring  # the columns that may be null are tested inline (a call per value costs as much)
    return (
        f'{{"id":{e(uid)},"seq":{int(seq)},"chain":{e(chain)},'
        f'"case_id":{"null" if case_id is None else e(case_id)},'
        f'"procedure":{"null" if procedure is None else e(procedure)},"unit":{"null" if unit is None else e(unit)},'
        f'"kind":{e(kind)},"trigger":{"null" if trigger is None else e(trigger)},'
        f'"indicator":{"null" if indicator is None else e(indicator)},'
        f'"from":{"null" if from_state is None else e(from_state)},"to":{"null" if to_state is None else e(to_state)},'
        f'"actor":{{"sub":{e(sub)},"name":{e(name)},"role":{"null" if role is None else e(role)},'
        f'"unit":{"null" if actor_unit is None else e(actor_unit)},'
        f'"on_behalf_of":{"null" if on_behalf_of is None else e(on_behalf_of)}}},'
        f'"occurred_at":"{_time(at)}","payload":{payload},"citation":{"null" if citation is None else e(citation)},'
        f'"request_id":{"null" if request_id is None else e(request_id)},'
        f'"idempotency_key":{"null" if idempotency_key is None else e(idempotency_key)},'
        f'"prev_hash":{e(prev_hash)},"hash":{e(hash_)},"occurred_at_local":"{local_time(at).isoformat()}"}}'
    )


def event_list_json(rows: Iterable[Sequence[Any]]) -> bytes:
    """A JSON array of events, as ``list[EventOut]`` serialises it."""
    return ("[" + ",".join(map(event_json, rows)) + "]").encode("utf-8")


def event_page_json(rows: Iterable[Sequence[Any]], next_cursor: str | None) -> bytes:
    """A page of events, as ``EventPage`` serialises it."""
    items = ",".join(map(event_json, rows))
    return f'{{"items":[{items}],"next_cursor":{_text(next_cursor)}}}'.encode()
