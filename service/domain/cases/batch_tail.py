"""The I/O of the one write tail, batched: the rows ``tail.record`` creates for many cases (audit events, outbox rows,
deadlines, reminders, indicators, evidence, opened cases) gathered in memory and inserted a table at a time.

A set-based writer (the deadline sweep in batches, a campaign's openings) runs the engine's own per-case code — the
checks, the guards, the appliers, the state digest and the event hash of ``tail.record`` — and hands it a
``RowBatch`` where that code would hand its rows to the session (``add``). The rows are the objects the engine
builds; only their insertion differs: ``RowBatch.insert`` writes each table's rows with one executemany statement
(asyncpg sends every row's execution in one round trip), parents before children, inside the caller's transaction,
which commits or rolls back the batch as a whole. It also writes the columns changed in the rows read through the
session that it is given (``changes``: the case rows, their deadlines) as executemany ``UPDATE``s. The engine's
one-case write gathers its rows in a ``RowBatch`` too, and writes them with its changes as one statement on
PostgreSQL (service/domain/cases/tail_writes.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.cases.tail_writes import ORDER, row_values, write


class Writer(Protocol):
    """Where the write tail hands the rows it creates: a session, or a ``RowBatch``."""

    def add(self, row: Any) -> None: ...


class RowBatch:
    """Rows created by the write tail (for one case or many), inserted a table at a time by ``insert``."""

    def __init__(self) -> None:
        self.rows: dict[type, list[Any]] = {model: [] for model in ORDER}
        self.changed: list[Any] = []

    def add(self, row: Any) -> None:
        kind = type(row)
        if kind not in self.rows:
            raise TypeError(f"a batched write cannot insert {kind.__name__} rows")
        self.rows[kind].append(row)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    def clear(self) -> None:
        for rows in self.rows.values():
            rows.clear()
        self.changed.clear()

    def count(self, model: type) -> int:
        return len(self.rows[model])

    def values(self, model: type) -> list[dict[str, Any]]:
        """The rows of ``model`` as the parameters of its insert (a numbered key left to the database)."""
        return row_values(model, self.rows[model])

    def changes(self, rows: Iterable[Any]) -> None:
        """Rows read through the session (case rows, their deadlines and indicators) whose changed columns
        ``insert`` writes too."""
        self.changed.extend(rows)

    async def insert(self, session: AsyncSession, *, one_case: bool = False) -> None:
        """Every gathered row inserted and the columns the rows given to ``changes`` changed updated, in the
        session's transaction (``tail_writes.write``: a statement per table and shape, executemany; with
        ``one_case``, one statement on PostgreSQL); the batch is empty afterwards."""
        await write(session, self.rows, self.changed, one_case=one_case)
        self.clear()
