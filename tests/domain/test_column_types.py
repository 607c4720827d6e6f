"""Times come back from either database aware and in UTC, as ``timezone.utc`` itself (the canonical encoding of the
audit log writes such times without ``strftime``), whatever zone they were written in; naive times are refused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import literal, select
from sqlalchemy.exc import StatementError

from service.persistence.column_types import UTCDateTime
from tests.helpers import Api

HANOI = timezone(timedelta(hours=7))


async def test_times_come_back_in_utc(api: Api) -> None:
    written = datetime(2026, 2, 10, 9, 30, 15, 123456, tzinfo=HANOI)
    async with api.app.state.services.sessions() as session:
        found = (await session.execute(select(literal(written, UTCDateTime()).label("at")))).scalar_one()
        assert found == written
        assert found.tzinfo is timezone.utc and found.hour == 2
        with pytest.raises(StatementError):
            await session.execute(select(literal(datetime(2026, 2, 10, 9, 30), UTCDateTime()).label("at")))
