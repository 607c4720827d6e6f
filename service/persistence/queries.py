"""Read queries shared by the API: unit subtrees and keyset cursors."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import aliased

from service.domain.errors import InvalidPayload, Reason
from service.persistence.tables import AdminUnit, Deadline


def unit_subtree(code: str, *, name: str = "subtree") -> Select:
    """The codes of a unit and every unit below it (a recursive CTE; both databases support it).

    A query that filters on two subtrees (the caller's jurisdiction and a requested unit) names them apart."""
    tree = select(AdminUnit.code).where(AdminUnit.code == code).cte(name, recursive=True)
    child = aliased(AdminUnit)
    tree = tree.union_all(select(child.code).where(child.parent_code == tree.c.code))
    return select(tree.c.code)


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """A deadline past due and not closed: open after its time, or flagged breached and still waiting."""
    return and_(
        Deadline.closed_at.is_(None),
        or_(Deadline.status == "breached", and_(Deadline.status == "open", Deadline.due_at < now)),
    )


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, parsers: tuple[Callable[[Any], Any], ...]) -> list[Any]:
    """The values of a cursor this service issued, each checked by its parser; anything else is a 422."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(parsers):
            raise ValueError(cursor)
        return [parse(value) for parse, value in zip(parsers, values, strict=True)]
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise InvalidPayload(
            "the cursor is not one this service issued",
            reasons=[Reason("cursor_invalid", "pass next_cursor exactly as returned")],
        ) from exc


def aware_datetime(value: Any) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(value)
    return moment


def strict_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def strict_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(value)
    return value
