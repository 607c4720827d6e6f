"""The benchmarks' unit trees: provinces and communes made up by the thousand (``tree``), COPY-loaded into
``admin_unit`` (``add_units``), and the template province ``PTPLZ`` with its template communes ``XTPLZnn``, where the
template cases are walked.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from bench.databases import dsn

TPL_PROVINCE = "PTPLZ"
TPL_NAME = "Tỉnh Mẫu"


def tree(communes: int, provinces: int = 34, *, prefix: str = "") -> list[tuple[str, str, str, str | None]]:
    """``(code, name, level, parent)``: ``provinces`` provinces under VN, ``communes`` communes in contiguous runs."""
    provinces = max(1, min(provinces, communes))
    rows: list[tuple[str, str, str, str | None]] = [
        (f"{prefix}P{p + 1:02d}", f"Tỉnh số {p + 1}", "province", "VN") for p in range(provinces)
    ]
    for i in range(communes):
        p = i * provinces // communes
        rows.append((f"{prefix}X{i + 1:05d}", f"Xã số {i + 1}", "commune", f"{prefix}P{p + 1:02d}"))
    return rows


def communes_of(rows: Sequence[tuple[str, str, str, str | None]]) -> list[tuple[str, str]]:
    """``(commune, province)`` pairs of a tree."""
    return [(code, parent) for code, _, level, parent in rows if level == "commune" and parent]


async def add_units(database: str, rows: Sequence[tuple[str, str, str, str | None]]) -> None:
    connection = await asyncpg.connect(dsn(database))
    try:
        await connection.copy_records_to_table(
            "admin_unit",
            records=[(code, name, level, parent, False) for code, name, level, parent in rows],
            columns=["code", "name", "level", "parent_code", "disadvantaged"],
        )
    finally:
        await connection.close()


def template_units(count: int) -> list[tuple[str, str, str, str | None]]:
    return [(TPL_PROVINCE, TPL_NAME, "province", "VN")] + [
        (template_commune(i), f"Xã mẫu {i}", "commune", TPL_PROVINCE) for i in range(count)
    ]


def template_commune(index: int) -> str:
    return f"XTPLZ{index:02d}"
