"""The column types the tables share: times stored timezone-aware in UTC (``UTCDateTime`` restores the zone SQLite
drops), and JSON stored as JSONB on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC time")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        """None on asyncpg: it decodes ``timestamptz`` as aware datetimes in ``timezone.utc`` already (whatever the
        session's time zone), which ``process_result_value`` would return as they are, at a Python call per value
        (a case file reads some 250 times). Elsewhere (SQLite drops the zone) the values are processed."""
        if dialect.driver == "asyncpg":
            return None
        return super().result_processor(dialect, coltype)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
# None stored as SQL NULL (JSONType stores JSON null), for a column queried with IS NULL.
NullableJSONType = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
