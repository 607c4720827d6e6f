"""The Alembic migrations round-trip and build exactly the schema of the models; the check is not vacuous.

SQLite always runs (a file in tmp_path). PostgreSQL runs when ``CDHT_TEST_POSTGRES_URL`` is set, e.g.
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``, each test on a database of its own (``conftest.py``).
"""

from __future__ import annotations

import asyncio
import pprint
from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel, select

from service.persistence import migrate
from service.persistence.db import make_engine, session_factory, unit_of_work
from service.persistence.tables import AdminUnit, Case


async def _on_connection(url: str, fn: Any) -> Any:
    """Run ``fn(sync_connection)`` in one committed transaction on a fresh connection."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


async def _table_names(url: str) -> set[str]:
    return set(await _on_connection(url, lambda conn: sa.inspect(conn).get_table_names()))


async def _assert_no_diff(url: str) -> None:
    diff = await migrate.diff_against_models(url)
    if diff:
        rendered = pprint.pformat(diff, width=120)
        print("Differences between the models and the migrated schema:\n" + rendered)
        pytest.fail(
            "the migrations do not build the schema of service/persistence/tables.py; add a revision "
            "(or, while unreleased, regenerate 0001: see migrations/README.md). Differences:\n" + rendered
        )


def _flatten(diff: list[Any]) -> list[tuple[Any, ...]]:
    """Alembic nests column modifications in lists; flatten them to one tuple per change."""
    flat: list[tuple[Any, ...]] = []
    for item in diff:
        flat.extend(item if isinstance(item, list) else [item])
    return flat


def _modified_types(diff: list[Any]) -> dict[tuple[str, str], tuple[Any, Any]]:
    return {(change[2], change[3]): (change[5], change[6]) for change in _flatten(diff) if change[0] == "modify_type"}


# --- the round trip and the "no difference between models and migrations" check -----------------------------


async def test_upgrade_downgrade_upgrade_matches_models(url: str) -> None:
    head = migrate.head_revision()
    assert await migrate.current_revision(url) is None

    await migrate.upgrade(url)
    assert await migrate.current_revision(url) == head
    assert await _table_names(url) >= set(SQLModel.metadata.tables) | {"alembic_version"}

    await migrate.downgrade(url)
    assert await migrate.current_revision(url) is None
    assert await _table_names(url) <= {"alembic_version"}

    await migrate.upgrade(url)
    await _assert_no_diff(url)
    assert await migrate.current_revision(url) == head
    # Upgrading a database at head is a no-op.
    await migrate.upgrade(url)
    assert await migrate.current_revision(url) == head


async def test_diff_reports_a_missing_index_a_missing_column_and_a_changed_length(url: str) -> None:
    await migrate.upgrade(url)
    await _assert_no_diff(url)

    def drift(conn: Connection) -> None:
        conn.exec_driver_sql("DROP INDEX ix_cases_state")
        conn.exec_driver_sql("ALTER TABLE case_indicator DROP COLUMN note")
        # SQLite cannot change a column's type in place; batch mode rebuilds the table there.
        context = MigrationContext.configure(conn, opts={"render_as_batch": conn.dialect.name == "sqlite"})
        with Operations(context).batch_alter_table("evidence") as batch:
            batch.alter_column("filename", type_=sa.String(length=100), existing_nullable=False)

    await _on_connection(url, drift)
    diff = await migrate.diff_against_models(url)
    flat = _flatten(diff)

    added_indexes = {change[1].name for change in flat if change[0] == "add_index"}
    added_columns = {(change[2], change[3].name) for change in flat if change[0] == "add_column"}
    assert "ix_cases_state" in added_indexes, pprint.pformat(diff)
    assert ("case_indicator", "note") in added_columns, pprint.pformat(diff)
    old, new = _modified_types(diff)[("evidence", "filename")]
    assert (old.length, new.length) == (100, 200)
    assert len(flat) == 3, pprint.pformat(diff)


@pytest.mark.postgres
async def test_diff_reports_time_zone_and_jsonb_changes_on_postgres(pg_url: str) -> None:
    """UTCDateTime and the JSON/JSONB variant compare by what they store: no false positive; changes show."""
    await migrate.upgrade(pg_url)
    await _assert_no_diff(pg_url)

    def drift(conn: Connection) -> None:
        conn.exec_driver_sql("ALTER TABLE cases ALTER COLUMN created_at TYPE timestamp without time zone")
        conn.exec_driver_sql("ALTER TABLE cases ALTER COLUMN dossier TYPE json")

    await _on_connection(pg_url, drift)
    changed = _modified_types(await migrate.diff_against_models(pg_url))
    assert set(changed) == {("cases", "created_at"), ("cases", "dossier")}, changed


# --- the migrated schema serves the app ---------------------------------------------------------------------


async def test_migrated_schema_stores_rows_through_the_models(url: str) -> None:
    await migrate.upgrade(url)
    engine = make_engine(url)
    try:
        factory = session_factory(engine)
        now = datetime(2026, 2, 28, 16, 59, tzinfo=timezone.utc)
        async with unit_of_work(factory) as session:
            session.add(AdminUnit(code="01", name="Hà Nội", level="province"))
            await session.flush()
            session.add(
                Case(
                    id="c1",
                    procedure="p",
                    version="1",
                    profile="default",
                    unit_code="01",
                    cycle=2026,
                    kind="recognition",
                    state="draft",
                    dossier={"a": [1, "ư"]},
                    opened_by="u",
                    created_at=now,
                    updated_at=now,
                )
            )
        async with unit_of_work(factory) as session:
            case = (await session.execute(select(Case))).scalar_one()
        assert case.created_at == now and case.created_at.tzinfo is not None
        assert case.dossier == {"a": [1, "ư"]}
    finally:
        await engine.dispose()


# --- how the migrations are run -----------------------------------------------------------------------------


async def test_concurrent_upgrades_in_one_process_are_serialised(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'cdht.sqlite3'}"
    await asyncio.gather(*(migrate.upgrade(url) for _ in range(4)))
    assert await migrate.current_revision(url) == migrate.head_revision()
    await _assert_no_diff(url)


async def test_alembic_command_called_synchronously_inside_a_running_loop(tmp_path: Any) -> None:
    """Not the recommended path (it blocks the loop), but env.py copes by migrating in a fresh thread."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cdht.sqlite3'}"
    command.upgrade(migrate.alembic_config(url), "head")
    assert await migrate.current_revision(url) == migrate.head_revision()


async def test_upgrade_on_a_connection_passed_in_config_attributes(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cdht.sqlite3'}"

    def run(conn: Connection) -> None:
        cfg = migrate.alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

    await _on_connection(url, run)
    assert await migrate.current_revision(url) == migrate.head_revision()
    await _assert_no_diff(url)


async def test_the_rendered_initial_revision_builds_the_models_schema(tmp_path: Any) -> None:
    """``python -m service.persistence.migrate initial`` (how 0001 is regenerated) writes a working revision."""
    source = migrate.render_initial_revision()
    assert 'revision: str = "0001"' in source.replace("'", '"')
    namespace: dict[str, Any] = {}
    exec(compile(source, "0001_initial.py", "exec"), namespace)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cdht.sqlite3'}"

    def run_upgrade(conn: Connection) -> None:
        with Operations.context(MigrationContext.configure(conn)):
            namespace["upgrade"]()

    await _on_connection(url, run_upgrade)
    await _assert_no_diff(url)


def test_config_escapes_percent_and_points_at_the_packaged_migrations() -> None:
    url = "postgresql+asyncpg://cdht:p%40ss%25word@db:5432/cdht"
    cfg = migrate.alembic_config(url)
    assert cfg.get_main_option("sqlalchemy.url") == url
    assert cfg.config_file_name is None
    script = ScriptDirectory.from_config(cfg)
    assert script.dir == str(migrate.SCRIPT_LOCATION)
    assert script.get_heads() == [migrate.head_revision()]  # one head: the history stays linear
    assert [rev.revision for rev in script.walk_revisions()][-1] == "0001"


@pytest.mark.postgres
async def test_the_citation_prefix_search_can_use_its_index_on_postgres(pg_url: str) -> None:
    """Alembic's diff does not compare operator classes, so this checks what it cannot: under a non-C collation a
    plain btree cannot serve ``LIKE 'prefix%'`` nor step to the next citation (``~>~``); the ``varchar_pattern_ops``
    index of migration 0004 can both."""
    await migrate.upgrade(pg_url)

    def plan(conn: Connection) -> str:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        query = sa.text(
            "EXPLAIN SELECT citation FROM audit_event WHERE citation LIKE 'TT25/2023 Điều 9%' "
            "AND citation ~>~ 'TT25/2023 Điều 9 k1' ORDER BY citation USING ~<~ LIMIT 1"
        )
        return "\n".join(conn.execute(query).scalars())

    definition = await _on_connection(
        pg_url,
        lambda conn: conn.exec_driver_sql(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_audit_citation_id'"
        ).scalar_one(),
    )
    assert "varchar_pattern_ops" in definition
    assert "ix_audit_citation_id" in await _on_connection(pg_url, plan)
