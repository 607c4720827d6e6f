"""Parsing of what a caller puts in a URL or a body that the types alone do not bound: instants and page cursors.

* ``Instant``: the one type of every time a caller passes (``since``, ``until``, ``due_before``, ``as_of``, a
  replay's ``since``). Any ISO 8601 time is read (without an offset it is UTC), and it must lie between
  ``INSTANT_MIN`` and ``INSTANT_MAX``: inside those, the time can be shown at any UTC offset and moved by a day
  without leaving Python's calendar, so nothing downstream overflows (``0001-01-01T00:00:00+07:00`` is before
  year 1 in UTC). Outside them the answer is a 422 ``time_out_of_range`` that names the parameter and the range.
* Page cursors (``encode_cursor`` / ``decode_cursor``): a cursor is a list of values the service issued (base64
  JSON), each checked on the way back by its parser — ``aware_datetime`` (an ``Instant`` with an offset),
  ``strict_int`` (a 64-bit integer, what the id columns hold) and ``strict_str`` (a short text the databases can
  store: no NUL, no lone surrogate). A forged or damaged cursor is a 422 ``cursor_invalid``, never a database
  error.

JSON bodies are bounded before a route sees them (numbers: ``service.api.limits``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from service.domain.errors import InvalidPayload, Reason

INSTANT_MIN = datetime(1, 1, 2, tzinfo=UTC)
INSTANT_MAX = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
INSTANT_RANGE = "from 0001-01-02T00:00:00Z to 9999-12-30T23:59:59Z"
INSTANT_RANGE_VI = "từ 0001-01-02T00:00:00Z đến 9999-12-30T23:59:59Z"
CURSOR_INT_MIN, CURSOR_INT_MAX = -(2**63), 2**63 - 1  # a BIGINT column
CURSOR_TEXT_MAX = 200  # ids are UUIDs (36 characters)


def instant_in_range(moment: datetime) -> bool:
    """Whether ``moment`` (naive: UTC) lies between ``INSTANT_MIN`` and ``INSTANT_MAX``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return INSTANT_MIN <= moment.astimezone(UTC) <= INSTANT_MAX
    except OverflowError:  # before year 1 or after year 9999 once in UTC
        return False


def _bounded_instant(moment: datetime) -> datetime:
    if not instant_in_range(moment):
        raise PydanticCustomError(
            "time_out_of_range",
            "{moment} is outside the times this service accepts ({range})",
            {"moment": moment.isoformat(), "range": INSTANT_RANGE, "vi": f"thời điểm phải nằm {INSTANT_RANGE_VI}"},
        )
    return moment


Instant = Annotated[datetime, AfterValidator(_bounded_instant)]
"""An ISO 8601 time between ``INSTANT_MIN`` and ``INSTANT_MAX`` (naive: UTC); outside: 422 ``time_out_of_range``."""


# --- page cursors -------------------------------------------------------------------------------------------------


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, parsers: tuple[Callable[[Any], Any], ...]) -> list[Any]:
    """The values of a cursor this service issued, each checked by its parser; anything else is a 422."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(parsers):
            raise ValueError("not a list of the expected length")
        return [parse(value) for parse, value in zip(parsers, values, strict=True)]
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        problem = str(exc) if isinstance(exc, CursorValueError) else "it does not decode"
        raise InvalidPayload(
            "the cursor is not one this service issued",
            reasons=[Reason("cursor_invalid", f"{problem}; pass next_cursor exactly as returned")],
        ) from exc


class CursorValueError(ValueError):
    """A value inside a well-formed cursor that the service cannot have issued; the message says which."""


def aware_datetime(value: Any) -> datetime:
    """A time with its UTC offset, inside the ``Instant`` range."""
    if not isinstance(value, str):
        raise CursorValueError("its time is not a text")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise CursorValueError("its time has no UTC offset")
    if not instant_in_range(moment):
        raise CursorValueError(f"its time is outside {INSTANT_RANGE}")
    return moment


def strict_str(value: Any) -> str:
    """A short text without NUL characters or lone surrogates (PostgreSQL and the drivers refuse both)."""
    if not isinstance(value, str) or len(value) > CURSOR_TEXT_MAX:
        raise CursorValueError(f"its id is not a text of at most {CURSOR_TEXT_MAX} characters")
    if "\x00" in value:
        raise CursorValueError("its id contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise CursorValueError("its id is not valid Unicode") from None
    return value


def strict_int(value: Any) -> int:
    """A whole number a 64-bit id column can hold."""
    if isinstance(value, bool) or not isinstance(value, int) or not CURSOR_INT_MIN <= value <= CURSOR_INT_MAX:
        raise CursorValueError("its id is not a 64-bit whole number")
    return value
