"""The official lists, read once per test session, and an import run against a test app's database."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from service.domain.actor import Actor, system_actor
from service.domain.units.import_inputs import current_list, derived_successions, historical_list
from service.domain.units.import_units import ImportReport, import_units
from service.persistence.db import unit_of_work
from service.persistence.tables import AdminUnit, AuditEvent, UnitSuccession
from service.persistence.unit_lists import SuccessionRow, UnitList
from tests.helpers import Api

LUNG_CU_OLD, LUNG_CU_NEW = "H00715", "00715"  # Xã Lũng Cú, huyện Đồng Văn, Hà Giang → Tuyên Quang (same GSO code)


@cache
def lists() -> tuple[UnitList, UnitList, tuple[SuccessionRow, ...]]:
    current, historical = current_list(), historical_list()
    return current, historical, tuple(derived_successions(current, historical))


async def run_import(
    api: Api,
    *,
    which: str = "all",
    mapped: list[SuccessionRow] | None = None,
    disadvantaged: list[str] | None = None,
    actor: Actor | None = None,
) -> ImportReport:
    current, historical, derived = lists()
    chosen = {"current": [current], "historical": [historical], "all": [current, historical]}[which]
    async with unit_of_work(api.app.state.services.sessions) as session:
        return await import_units(
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


def miniature_three_tier_package(where: Path) -> Path:
    """An unpacked package shaped like ``vietnam-provinces`` 0.6.0 holding one province, district and commune."""
    package = where / "vietnam_provinces"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("__version__ = '0.6.0'\n__data_version__ = '2025-01-04'\n")
    commune = {"name": "Xã Lũng Cú", "code": 715, "division_type": "xã"}
    district = {"name": "Huyện Đồng Văn", "code": 26, "division_type": "huyện", "wards": [commune]}
    province = {"name": "Tỉnh Hà Giang", "code": 2, "division_type": "tỉnh", "districts": [district]}
    (package / "data" / "nested-divisions.json").write_text(json.dumps([province]), encoding="utf-8")
    return package
