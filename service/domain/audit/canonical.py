"""The canonical encoding every audit hash and digest covers, and the hash of an event.

One implementation for the writer, the online verify (which hashes plain rows, ``row_hash``), the offline verifier
(``event_hash`` of an exported line) and the checkpoints: sorted keys, no spaces, UTF-8 as is, no NaN, times in UTC
with microseconds (``format_time``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime, timezone
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from service.persistence.tables import AuditEvent

GENESIS = "0" * 64
HASHED_FIELDS = (
    "uid",
    "chain",
    "seq",
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
    "state_digest",
    "prev_hash",
)
SORTED_FIELDS = tuple(sorted(HASHED_FIELDS))  # the key order of the canonical JSON
EVENT_COLUMNS = (*SORTED_FIELDS, "id", "hash")  # an event as ``row_hash`` reads it
_TIME = EVENT_COLUMNS.index("occurred_at")


def encode_default(value: Any) -> Any:
    """How the canonical encoding writes what JSON has no type for: times as ``format_time``, dates in ISO form."""
    if isinstance(value, datetime):
        return format_stored_time(value)  # format_time's text, without strftime for the UTC times rows hold
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} in an audit payload")


def _cached_canonical_encoder() -> Callable[[Any], str]:
    """``canonical_json`` without its cost per call: ``json.dumps`` builds a JSONEncoder and then a C encoder for every
    value, a large share of hashing one event. This builds the C encoder once, with the options ``json.dumps`` hands
    it, so it writes the same bytes; it only skips the check for circular references, which rows cannot hold."""
    if c_make_encoder is None:  # not CPython: the pure-Python encoder, built once
        return json.JSONEncoder(
            sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=encode_default, allow_nan=False
        ).encode
    encode = c_make_encoder(None, encode_default, encode_basestring, None, ":", ",", True, False, False)
    return lambda value: "".join(encode(value, 0))


_encode_canonical = _cached_canonical_encoder()


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 as is, no NaN: the text every hash and digest covers (``json.dumps`` with those
    options, its C encoder built once)."""
    return _encode_canonical(value)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def format_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_stored_time(moment: datetime) -> str:
    """``format_time`` for the aware UTC times the database returns, without the slower ``strftime``; other times
    (and years before 1000, which ``strftime`` does not pad) take ``format_time`` itself."""
    if moment.tzinfo is timezone.utc and moment.year >= 1000:
        return moment.isoformat(timespec="microseconds")[:-6] + "Z"
    return format_time(moment)


def event_hash(event: AuditEvent) -> str:
    """The hash of an event (or of anything carrying its hashed fields, such as an exported line)."""
    return fields_hash({name: getattr(event, name) for name in HASHED_FIELDS})


def fields_hash(fields: dict[str, Any]) -> str:
    """``event_hash`` of an event's ``HASHED_FIELDS`` as values (the writer's, before it builds the row)."""
    return sha256_hex(canonical_json({**fields, "occurred_at": format_stored_time(fields["occurred_at"])}))


def row_hash(row: Any) -> str:
    """``event_hash`` of an event read as a row of ``EVENT_COLUMNS``: the same canonical JSON, the same bytes."""
    fields = dict(zip(SORTED_FIELDS, row, strict=False))  # the row goes on with id and hash
    fields["occurred_at"] = format_stored_time(row[_TIME])
    return sha256_hex(canonical_json(fields))


def case_chain(case_id: str) -> str:
    return f"case:{case_id}"
