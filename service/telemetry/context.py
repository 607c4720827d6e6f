"""The fields every log line of a request or a worker's step carries: request id, actor, case, trigger.

A scope (``new_scope``) holds one mutable dict per request or per swept case; ``bind`` adds to it from wherever the
field becomes known (the middleware, the token check, the engine). The dict is shared, not copied, so a field bound
in a dependency or a task the request started is seen by the request's last log line too."""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

FIELDS = ("request_id", "actor", "unit", "case", "trigger")

_scope: ContextVar[dict[str, Any] | None] = ContextVar("cdht_log_scope", default=None)


def new_scope(**fields: Any) -> Token[dict[str, Any] | None]:
    """Start a fresh scope (a request, a swept case); ``reset`` it with the token when it ends."""
    return _scope.set({k: v for k, v in fields.items() if v is not None})


def reset(token: Token[dict[str, Any] | None]) -> None:
    _scope.reset(token)


def bind(**fields: Any) -> None:
    """Add fields to the current scope (one is started if there is none)."""
    scope = _scope.get()
    if scope is None:
        scope = {}
        _scope.set(scope)
    scope.update({k: v for k, v in fields.items() if v is not None})


def current() -> dict[str, Any]:
    """A copy of the current scope's fields."""
    return dict(_scope.get() or {})
