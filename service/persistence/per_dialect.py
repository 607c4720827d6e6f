"""Statements built once per dialect: a list of values bound as one parameter whatever its length (``among``), and
a statement kept built for PostgreSQL and for the others (``PerDialect``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, any_, bindparam
from sqlalchemy.ext.asyncio import AsyncSession


def among(column: Any, postgresql: bool, name: str) -> ColumnElement[bool]:
    """``column`` among the values bound as ``:name``: on PostgreSQL ``= ANY(:name)``, one array parameter whatever
    their number (the statement's text never changes); elsewhere an expanding ``IN`` (a parameter per value,
    rendered at each execution)."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


class PerDialect:
    """A statement built once for PostgreSQL and once for the others (``among``), bound at each execution:
    building a statement (its ``IN`` list, its cache key) costs more Python than running it."""

    def __init__(self, build: Callable[[bool], Any]) -> None:
        self._built = {postgresql: build(postgresql) for postgresql in (True, False)}

    def of(self, session: AsyncSession) -> Any:
        return self._built[session.get_bind().dialect.name == "postgresql"]
