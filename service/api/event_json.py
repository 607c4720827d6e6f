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
    t = _text
    at = row[16]
    return (
        f'{{"id":{t(row[0])},"seq":{int(row[1])},"chain":{t(row[2])},"case_id":{t(row[3])},'
        f'"procedure":{t(row[4])},"unit":{t(row[5])},"kind":{t(row[6])},"trigger":{t(row[7])},'
        f'"indicator":{t(row[8])},"from":{t(row[9])},"to":{t(row[10])},'
        f'"actor":{{"sub":{t(row[11])},"name":{t(row[12])},"role":{t(row[13])},"unit":{t(row[14])},'
        f'"on_behalf_of":{t(row[15])}}},"occurred_at":"{_time(at)}","payload":{row[17]},'
        f'"citation":{t(row[18])},"request_id":{t(row[19])},"idempotency_key":{t(row[20])},'
        f'"prev_hash":{t(row[21])},"hash":{t(row[22])},"occurred_at_local":"{local_time(at).isoformat()}"}}'
    )


def event_list_json(rows: Iterable[Sequence[Any]]) -> bytes:
    """A JSON array of events, as ``list[EventOut]`` serialises it."""
    return ("[" + ",".join(map(event_json, rows)) + "]").encode("utf-8")


def event_page_json(rows: Iterable[Sequence[Any]], next_cursor: str | None) -> bytes:
    """A page of events, as ``EventPage`` serialises it."""
    items = ",".join(map(event_json, rows))
    return f'{{"items":[{items}],"next_cursor":{_text(next_cursor)}}}'.encode()
