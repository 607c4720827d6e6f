"""Logging set-up for every ``cdht`` command: one line per record on stderr, JSON by default (python-json-logger),
each carrying the fields of its scope (``context``: request id, actor, unit, case, trigger) and, inside a traced
span, its trace and span ids. ``text`` is the same content for a human at a terminal.

The ``transitions`` library logs every state change it makes at INFO; the engine records those itself (audit
events), so it is held at WARNING."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Literal

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from service.telemetry import context

QUIET = {"transitions": logging.WARNING, "alembic.runtime.plugins": logging.WARNING}
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}


class ScopeFields(logging.Filter):
    """Puts the scope's fields (and the current trace and span ids) on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields: dict[str, Any] = context.current()
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            fields["trace_id"], fields["span_id"] = f"{span.trace_id:032x}", f"{span.span_id:016x}"
        for name, value in fields.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        record.cdht_fields = fields
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "cdht_fields", None)
        if fields:
            line += " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]"
        return line


def formatter(fmt: Literal["json", "text"]) -> logging.Formatter:
    """JSON or text lines, each stamped in UTC as ISO 8601 with milliseconds (2026-05-15T03:00:00.123Z)."""
    chosen: logging.Formatter
    if fmt == "text":
        chosen = TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    else:
        chosen = JsonFormatter(
            JSON_FIELDS,
            rename_fields=RENAMED,
            reserved_attrs=[*RESERVED_ATTRS, "taskName", "color_message", "cdht_fields"],
            json_ensure_ascii=False,
        )
    chosen.converter = time.gmtime
    chosen.default_time_format, chosen.default_msec_format = "%Y-%m-%dT%H:%M:%S", "%s.%03dZ"
    return chosen


def configure(fmt: Literal["json", "text"] = "json", level: str = "INFO") -> None:
    """Replace the root logger's handlers with one stderr handler in ``fmt``; quiet the chatty libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(ScopeFields())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(quiet)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers are not installed (log_config=None): its records go through the root's.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
