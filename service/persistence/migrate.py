"""Schema migrations (Alembic), driven from code: no ``alembic.ini``, the URL always comes from the caller.

The revisions live in the ``migrations`` package next to ``service`` and ship with it, so an installed
(non-editable) ``cdht`` can migrate its database. Everything here is awaitable and safe to call from a running
event loop (the CLI, the app's lifespan): Alembic's commands are synchronous and ``env.py`` runs its own event
loop, so each command runs in a worker thread (``asyncio.to_thread``) and never blocks the caller's loop.

Alembic keeps its ``context`` in module globals, so two commands must not run at once in one process; a lock
serialises them. Across processes, ``env.py`` serialises migrations too: PostgreSQL takes a transaction-scoped
advisory lock, SQLite takes the write lock (``BEGIN IMMEDIATE``), before the current revision is read.

Developer commands (``--url`` defaults to the settings' database URL)::

    python -m service.persistence.migrate upgrade [REV] | downgrade [REV] | current | heads | check
    python -m service.persistence.migrate revision -m "add x" [--rev-id 0003] [--empty]
    python -m service.persistence.migrate initial > migrations/versions/0001_initial.py  # while unreleased
"""

from __future__ import annotations

import argparse
import asyncio
import pprint
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import alembic.config
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import _repr_type
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, types
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

import migrations
import service.persistence.tables  # noqa: F401  (registers every table on SQLModel.metadata)
from service.persistence.db import is_sqlite

SCRIPT_LOCATION: Path = migrations.SCRIPT_LOCATION
TARGET_METADATA = SQLModel.metadata
# Any fixed 64-bit key; every process migrating the same PostgreSQL database takes this lock first.
PG_ADVISORY_LOCK_KEY = 0x0C_D4_7A_11_0E_55_01_01

# How live schemas are compared with the models, by autogenerate (env.py) and diff_against_models alike.
# Types are compared by the DDL they compile to on the live dialect, so UTCDateTime (TIMESTAMP WITH TIME ZONE,
# DATETIME), sqlmodel's AutoString (VARCHAR) and the JSON/JSONB variant match their columns without a custom
# comparator, while a changed length, type or time zone is still reported (tests/migrations prove both).
MIGRATION_CONTEXT_OPTS: dict[str, Any] = {"target_metadata": TARGET_METADATA, "compare_type": True}

INITIAL_MESSAGE = """The initial schema: every table and index of ``service/persistence/tables.py``.

Why: the service's schema is created by migrations, not by ``create_all``, so that later changes to the tables
reach existing databases as further revisions. Rendered by ``python -m service.persistence.migrate initial``
and reviewed by hand. Column types are the stored types: ``UTCDateTime`` is ``DateTime(timezone=True)``,
sqlmodel's ``AutoString`` is ``String``, and JSON is ``JSONB`` on PostgreSQL."""

_command_lock = threading.Lock()


def alembic_config(url: str) -> alembic.config.Config:
    """An Alembic config without an ini file: the packaged migrations, ``url`` (``%`` escaped as ``%%``)."""
    cfg = alembic.config.Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The head revision of the packaged migrations (a single head: the history is linear)."""
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {SCRIPT_LOCATION}")
    return head


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (creating the schema on an empty database)."""
    await _run_command(command.upgrade, alembic_config(url), revision)


async def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision``; ``base`` leaves only ``alembic_version``."""
    await _run_command(command.downgrade, alembic_config(url), revision)


async def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at; ``None`` for a database never migrated (or at base)."""
    engine = migration_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda conn: MigrationContext.configure(conn).get_current_revision())
    finally:
        await engine.dispose()


async def diff_against_models(url: str) -> list[Any]:
    """Alembic's autogenerate diff between the live database at ``url`` and the SQLModel tables.

    An empty list means the models and the migrated schema agree (tables, columns, types, nullability,
    indexes, unique and foreign keys). Items are Alembic's diff tuples, e.g. ``("add_index", Index(...))`` or,
    for column changes, lists of ``("modify_type", schema, table, column, info, old_type, new_type)``.
    """

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts=MIGRATION_CONTEXT_OPTS)
        return list(compare_metadata(context, TARGET_METADATA))

    engine = migration_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()


async def make_revision(url: str, message: str, *, rev_id: str | None = None, autogenerate: bool = True) -> None:
    """Write a new revision file into ``migrations/versions`` (a developer tool; needs the source checkout).

    With ``autogenerate``, the database at ``url`` must be at head; the revision holds what the models add.
    """
    await _run_command(command.revision, alembic_config(url), message=message, autogenerate=autogenerate, rev_id=rev_id)


def render_initial_revision(message: str = INITIAL_MESSAGE) -> str:
    """The source of a revision ``0001`` that creates the models' whole schema, autogenerated from empty.

    It works without the revision chain (later revisions that depend on 0001 may stay in place), so while the
    project is unreleased ``0001_initial.py`` can be regenerated from ``tables.py``; see migrations/README.md.
    """
    from datetime import datetime

    from alembic.autogenerate import produce_migrations, render_python_code
    from mako.template import Template
    from sqlalchemy import create_engine

    with create_engine("sqlite://").connect() as connection:  # empty: everything is to be created
        context = MigrationContext.configure(connection, opts={**MIGRATION_CONTEXT_OPTS, "render_item": render_item})
        script = produce_migrations(context, TARGET_METADATA)
        upgrades, downgrades = (
            render_python_code(ops, render_item=render_item, migration_context=context)
            for ops in (script.upgrade_ops, script.downgrade_ops)
        )
    imports = "from sqlalchemy.dialects import postgresql" if "postgresql." in upgrades else ""
    return Template(filename=str(SCRIPT_LOCATION / "script.py.mako")).render_unicode(
        message=message,
        up_revision="0001",
        down_revision=None,
        branch_labels=None,
        depends_on=None,
        create_date=datetime.now().date().isoformat(),
        comma=lambda value: ", ".join(value) if isinstance(value, (list, tuple)) else (value or ""),
        imports=imports,
        upgrades=upgrades.strip("\n").removeprefix("    "),
        downgrades=downgrades.strip("\n").removeprefix("    "),
    )


# --- shared with migrations/env.py ------------------------------------------------------------------------


def migration_engine(url: str) -> AsyncEngine:
    """A pool-less engine for migrating.

    SQLite: no ``foreign_keys`` pragma (batch migrations rebuild tables, which enforced foreign keys would
    break), and ``BEGIN IMMEDIATE`` so a migration is one transaction holding the write lock from its start.
    """
    if not is_sqlite(url):
        return create_async_engine(url, poolclass=NullPool)
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """``render_item`` hook: write a TypeDecorator as the SQLAlchemy type it stores as.

    ``UTCDateTime`` becomes ``sa.DateTime(timezone=True)`` and sqlmodel's ``AutoString(length=n)`` becomes
    ``sa.String(length=n)``, so revision files import neither ``sqlmodel`` nor the models and keep working
    when the models change. The decorators only convert values in Python; the column is of the impl type.
    """
    if type_ != "type":
        return False
    if isinstance(obj, types.TypeDecorator):
        return _repr_type(obj.impl_instance, autogen_context)
    if isinstance(obj, postgresql.JSONB):
        # Generated against SQLite, Alembic would write JSONB(astext_type=Text()) with Text unimported.
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "postgresql.JSONB()"
    return False


# --- internals -------------------------------------------------------------------------------------------


async def _run_command(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    def locked() -> None:
        with _command_lock:
            fn(*args, **kwargs)

    await asyncio.to_thread(locked)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.persistence.migrate", description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="SQLAlchemy async URL (default: the settings' database URL)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("upgrade").add_argument("revision", nargs="?", default="head")
    sub.add_parser("downgrade").add_argument("revision", nargs="?", default="base")
    sub.add_parser("current")
    sub.add_parser("heads")
    sub.add_parser("check", help="exit 1 and print the diff when the database schema differs from the models")
    rev = sub.add_parser("revision")
    rev.add_argument("-m", "--message", required=True)
    rev.add_argument("--rev-id")
    rev.add_argument("--empty", action="store_true", help="no autogenerate")
    sub.add_parser("initial", help="print a revision 0001 creating the models' whole schema (no database used)")
    args = parser.parse_args(argv)

    if args.cmd == "heads":
        print(head_revision())
        return 0
    if args.cmd == "initial":
        sys.stdout.write(render_initial_revision())
        return 0
    url = args.url
    if url is None:
        from service.config import Settings

        url = Settings().resolved_database_url

    async def run() -> int:
        if args.cmd == "upgrade":
            await upgrade(url, args.revision)
        elif args.cmd == "downgrade":
            await downgrade(url, args.revision)
        elif args.cmd == "current":
            print(await current_revision(url))
        elif args.cmd == "check":
            diff = await diff_against_models(url)
            if diff:
                pprint.pprint(diff)
                return 1
            print("no differences between the models and the database")
        elif args.cmd == "revision":
            await make_revision(url, args.message, rev_id=args.rev_id, autogenerate=not args.empty)
        return 0

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(_main())
