"""The SQL statements an app's engine sends while a block runs (SQLAlchemy's ``before_cursor_execute``), for the
tests that pin what a request costs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event


@contextmanager
def statements_sent(
    app: Any, seen: Callable[[Any, str], Any] = lambda _conn, statement: statement
) -> Iterator[list[Any]]:
    """What ``seen(connection, statement)`` makes of each statement the app's engine sends while the block runs
    (the statement itself by default; a statement it makes None of is left out)."""
    sent: list[Any] = []

    def before(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        item = seen(conn, statement)
        if item is not None:
            sent.append(item)

    engine = app.state.services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", before)
