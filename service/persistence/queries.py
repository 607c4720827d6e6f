"""Read queries shared by the API: unit subtrees and keyset cursors."""

from __future__ import annotations

import base64
import json
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import aliased

from service.domain.errors import InvalidPayload, Reason
from service.persistence.tables import AdminUnit


def unit_subtree(code: str, *, name: str = "subtree") -> Select:
    """The codes of a unit and every unit below it (a recursive CTE; both databases support it).

    A query that filters on two subtrees (the caller's jurisdiction and a requested unit) names them apart."""
    tree = select(AdminUnit.code).where(AdminUnit.code == code).cte(name, recursive=True)
    child = aliased(AdminUnit)
    tree = tree.union_all(select(child.code).where(child.parent_code == tree.c.code))
    return select(tree.c.code)


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != size:
            raise ValueError(cursor)
        return values
    except ValueError as exc:
        raise InvalidPayload(
            "the cursor is not one this service issued",
            reasons=[Reason("cursor_invalid", "pass next_cursor exactly as returned")],
        ) from exc
