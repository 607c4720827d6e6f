"""The official lists, read once per test session, and an import run against a test app's database."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import func, select

from service.domain import unit_import as ui
from service.domain.actor import Actor, system_actor
from service.persistence.db import unit_of_work
from service.persistence.tables import AdminUnit, AuditEvent, UnitSuccession
from tests.helpers import Api

LUNG_CU_OLD, LUNG_CU_NEW = "H00715", "00715"  # Xã Lũng Cú, huyện Đồng Văn, Hà Giang → Tuyên Quang (same GSO code)


@cache
def lists() -> tuple[ui.UnitList, ui.UnitList, tuple[ui.SuccessionRow, ...]]:
    current, historical = ui.current_list(), ui.historical_list()
    return current, historical, tuple(ui.derived_successions(current, historical))


async def run_import(
    api: Api,
    *,
    which: str = "all",
    mapped: list[ui.SuccessionRow] | None = None,
    disadvantaged: list[str] | None = None,
    actor: Actor | None = None,
) -> ui.ImportReport:
    current, historical, derived = lists()
    chosen = {"current": [current], "historical": [historical], "all": [current, historical]}[which]
    async with unit_of_work(api.app.state.services.sessions) as session:
        return await ui.import_units(
            session,
            actor=actor or system_actor("test"),
            now=api.settings.clock(),
            lists=chosen,
            derived=derived,
            mapped=mapped or [],
            disadvantaged=disadvantaged or [],
        )


async def scalar(api: Api, query: Any) -> Any:
    async with api.app.state.services.sessions() as session:
        return (await session.execute(query)).scalar_one()


async def counts(api: Api) -> dict[str, int]:
    """Rows per table the import writes."""
    return {
        "units": await scalar(api, select(func.count()).select_from(AdminUnit)),
        "successions": await scalar(api, select(func.count()).select_from(UnitSuccession)),
        "admin_events": await scalar(
            api, select(func.count()).select_from(AuditEvent).where(AuditEvent.chain == "admin")
        ),
    }
