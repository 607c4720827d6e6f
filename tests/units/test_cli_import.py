"""`cdht units import` as an operator runs it: a real process against a temp SQLite file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from service.persistence.unit_lists import build_historical
from tests.support.cli import cdht
from tests.units.support import miniature_three_tier_package


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


def test_units_import_twice_prints_counts_and_changes_nothing_the_second_time(tmp_path: Path) -> None:
    assert cdht("migrate", cwd=tmp_path).returncode == 0
    mapping = tmp_path / "mapping.csv"
    mapping.write_text("predecessor_code,successor_code,source\nH00001,00004,NQ (ví dụ)\n", encoding="utf-8")
    disadvantaged = tmp_path / "disadvantaged.csv"
    disadvantaged.write_text("code,name\n00715,Xã Lũng Cú\n", encoding="utf-8")
    args = ("units", "import", "--mapping", str(mapping), "--disadvantaged", str(disadvantaged))
    first = cdht(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("current list (GSO danh mục hành chính via vietnam-provinces 2025.10.1")
    assert lines[0].endswith("3355 units — added 3355, unchanged 0, names updated 0, validity/source updated 0")
    assert lines[1].endswith("10810 units — added 10810, unchanged 0, names updated 0, validity/source updated 0")
    assert lines[2] == "successions: added 3374 (gso_code_continued 3310, resolution 64), unchanged 0"
    assert lines[3] == "disadvantaged: set 1, already set 0"
    assert lines[4] == "audit event admin#1"
    db = tmp_path / "var" / "cdht.sqlite3"
    assert rows(db, "select level, count(*) from admin_unit group by level order by level") == [
        ("commune", 3321 + 10051),
        ("district", 696),
        ("national", 1),
        ("province", 34 + 63),
    ]
    second = cdht(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "added 0, unchanged 3355" in second.stdout and "added 0, unchanged 10810" in second.stdout
    assert "successions: added 0, unchanged 3374" in second.stdout
    assert "disadvantaged: set 0, already set 1" in second.stdout
    assert "nothing changed; no audit event written" in second.stdout
    events = rows(db, "select kind, payload from audit_event where chain = 'admin'")
    assert [kind for kind, _ in events] == ["admin_units_imported"]
    assert json.loads(events[0][1])["files"]["mapping"]["name"] == "mapping.csv"


def test_units_import_refuses_a_conflicting_unit_and_exits_2(tmp_path: Path) -> None:
    assert cdht("migrate", cwd=tmp_path).returncode == 0
    added = cdht("units", "add", "00715", "Xã Lũng Cú", "--level", "province", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    refused = cdht("units", "import", "--list", "current", cwd=tmp_path)
    assert refused.returncode == 2
    assert "the list conflicts with the database (1 unit); nothing was imported" in refused.stderr
    assert "[unit_conflict] 00715: the database has a province under VN" in refused.stderr
    db = tmp_path / "var" / "cdht.sqlite3"
    assert rows(db, "select count(*) from admin_unit") == [(2,)]


def test_units_import_help_says_what_the_service_does_not_hold(tmp_path: Path) -> None:
    shown = cdht("units", "import", "--help", cwd=tmp_path)
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    assert "which this service does not hold" in text
    assert "Districts have no successor" in text
    assert "Nghị quyết 202/2025/QH15" in text


def test_units_build_historical_writes_the_list_and_refuses_a_two_tier_package(tmp_path: Path) -> None:
    package = miniature_three_tier_package(tmp_path)
    out = tmp_path / "units.csv.gz"
    built = cdht("units", "build-historical", str(package), "--output", str(out), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith(f"wrote {out}: 3 units, GSO danh mục hành chính via vietnam-provinces 0.6.0")
    assert out.read_bytes() == build_historical(package, "VN")
    two_tier = json.dumps([{"name": "Tuyên Quang", "code": 8, "division_type": "tỉnh", "wards": []}])
    (package / "data" / "nested-divisions.json").write_text(two_tier, encoding="utf-8")
    refused = cdht("units", "build-historical", str(package), "--output", str(tmp_path / "no.gz"), cwd=tmp_path)
    assert refused.returncode == 2
    assert "is not a three-tier (district) list" in refused.stderr
    assert not (tmp_path / "no.gz").exists()
