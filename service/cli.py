"""The ``cdht`` command: serve, migrate, token, units, seed-demo, audit (its commands in ``service.cli_audit``),
clock and demo-tokens (``service.cli_dev``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from service.cli_audit import add_audit_commands
from service.cli_dev import add_dev_commands, aware_time
from service.config import ConfigurationError, Settings
from service.telemetry import logs, metrics, tracing


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from service import serving
    from service.main import create_app
    from service.persistence import migrate

    settings.check()
    if not args.no_migrate:
        asyncio.run(migrate.upgrade(settings.resolved_database_url))
    if args.no_workers:
        settings.workers_in_process = False
    if args.workers > 1:
        # Each worker process builds its app from the environment (service.main.app_from_environment).
        os.environ["CDHT_WORKERS_IN_PROCESS"] = "true" if settings.workers_in_process else "false"
        metrics.clear_multiprocess_dir()
        serving.run("service.main:app_from_environment", settings, host=args.host, port=args.port, workers=args.workers)
        return 0
    serving.run(create_app(settings), settings, host=args.host, port=args.port)
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from service.persistence import migrate

    asyncio.run(migrate.upgrade(settings.resolved_database_url))
    print(f"database at revision {migrate.head_revision()}: {settings.resolved_database_url}")
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    """The background workers on their own (deadline sweeper, webhook dispatcher, audit checkpoints), until
    SIGTERM."""
    from service.heap import settle_heap
    from service.persistence.db import make_engine, session_factory
    from service.workers.checkpoints import run_checkpointer
    from service.workers.deadlines import run_sweeper
    from service.workers.state_metrics import serve_worker_metrics
    from service.workers.webhooks import run_dispatcher

    settings.check()

    async def run() -> None:
        engine = make_engine(settings.resolved_database_url)
        provider = tracing.setup(settings.otlp_endpoint, settings.otel_service_name)
        if provider is not None:
            tracing.instrument_engine(engine, provider)
        sessions = session_factory(engine)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_name in ("SIGINT", "SIGTERM"):
            loop.add_signal_handler(getattr(signal, signal_name), stop.set)
        server = None
        if settings.worker_metrics_port:
            server, _ = serve_worker_metrics(
                settings.worker_metrics_host, settings.worker_metrics_port, sessions, settings.clock
            )
        try:
            registry = settings.registry()
            settle_heap()  # what the process keeps from now on, out of the collector's reach (as a server's lifespan)
            await asyncio.gather(
                run_sweeper(sessions, registry, settings.clock, interval=settings.sweep_interval_seconds, stop=stop),
                run_dispatcher(sessions, settings, settings.clock, stop=stop),
                run_checkpointer(sessions, settings, settings.clock, stop),
            )
        finally:
            if server is not None:
                await asyncio.to_thread(server.shutdown)
            await engine.dispose()
            tracing.flush()

    asyncio.run(run())
    return 0


def _sweep(args: argparse.Namespace, settings: Settings) -> int:
    """One sweep, now or at --now (never in production): what fired, what was flagged, which reminders went."""
    from service.persistence.db import make_engine, session_factory
    from service.workers.deadlines import sweep

    settings.check()
    if args.now is not None:
        if settings.is_production:
            print("cdht sweep: --now is refused in production", file=sys.stderr)
            return 2
        settings.now = args.now

    async def run() -> int:
        engine = make_engine(settings.resolved_database_url)
        try:
            report = await sweep(session_factory(engine), settings.registry(), now=settings.clock())
        finally:
            await engine.dispose()
        for case_id, trigger in report.fired:
            print(f"fired {trigger} on case {case_id}")
        for case_id, key in report.flagged:
            print(f"flagged {key} overdue on case {case_id}")
        for case_id, key, days in report.reminded:
            print(f"reminded {key} ({days} days before) on case {case_id}")
        for case_id, trigger, reasons in report.refused:
            print(f"refused {trigger} on case {case_id}: {reasons}")
        print(f"sweep at {settings.clock().isoformat()}: {report.summary()}")
        return 1 if report.refused else 0

    return asyncio.run(run())


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from service.auth import issue_dev_token

    try:
        token = issue_dev_token(
            settings,
            sub=args.sub,
            roles=args.role,
            unit=args.unit,
            org=args.org,
            name=args.name,
            ttl_seconds=args.ttl_hours * 3600,
        )
    except ValueError as exc:
        print(f"cdht token: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


def _units_add(args: argparse.Namespace, settings: Settings) -> int:
    from service.domain.actor import system_actor
    from service.domain.errors import DomainError
    from service.domain.units.tree import create_unit
    from service.persistence.db import make_engine, session_factory, unit_of_work

    async def run() -> None:
        engine = make_engine(settings.resolved_database_url)
        try:
            async with unit_of_work(session_factory(engine)) as session:
                await create_unit(
                    session,
                    actor=system_actor("cli"),
                    now=settings.clock(),
                    source_default="cdht units add",
                    data={
                        "code": args.code,
                        "name": args.name,
                        "level": args.level,
                        "parent": args.parent,
                        "disadvantaged": args.disadvantaged,
                    },
                )
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except DomainError as exc:
        print(f"cdht units add: {exc.detail}: " + "; ".join(r.message for r in exc.reasons), file=sys.stderr)
        return 2
    print(f"added {args.level} {args.code} {args.name}")
    return 0


UNITS_MAPPING_HELP = (
    "CSV with columns predecessor_code, successor_code, source (and optionally effective_on, basis): the official "
    "old→new mapping of the communes merged under another code. The full commune-level mapping is in the "
    "per-province resolutions on arranging commune-level units (2025), which this service does not hold; load it "
    "from there. Historical codes take the H prefix (H00073 → 00070). Districts have no successor: they were "
    "abolished on 01/07/2025, not continued."
)
UNITS_DISADVANTAGED_HELP = (
    "CSV with a 'code' column: mark these units disadvantaged ('xã thuộc vùng khó khăn', TT25/2023 Điều 6 k5 b and "
    "Điều 7 k5 b: lower TC5.2 thresholds). TT25 names no list; which official list of communes in disadvantaged "
    "areas applies is a separate decision the deployment takes and loads here. Only sets the flag (never clears "
    "it); a case pins the flag when opened, so only new cases read the change."
)


def _units_import(args: argparse.Namespace, settings: Settings) -> int:
    """Import the official lists (and successions, a mapping, disadvantaged flags) in one audited transaction."""
    import time

    from service.domain.actor import system_actor
    from service.domain.errors import DomainError
    from service.domain.units import import_inputs
    from service.domain.units.import_units import ImportReport, import_units
    from service.persistence.db import make_engine, session_factory, unit_of_work

    async def run() -> ImportReport:
        inputs = import_inputs.gather(args.list, mapping=args.mapping, disadvantaged=args.disadvantaged)
        engine = make_engine(settings.resolved_database_url)
        try:
            async with unit_of_work(session_factory(engine)) as session:
                return await import_units(
                    session,
                    actor=system_actor("cli"),
                    now=settings.clock(),
                    lists=inputs.lists,
                    derived=inputs.derived,
                    mapped=inputs.mapped,
                    disadvantaged=inputs.disadvantaged,
                    files=inputs.files,
                )
        finally:
            await engine.dispose()

    started = time.perf_counter()
    try:
        report = asyncio.run(run())
    except DomainError as exc:
        print(f"cdht units import: {exc.detail}", file=sys.stderr)
        for reason in exc.reasons:
            print(f"  [{reason.code}] {reason.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cdht units import: {exc}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


def _units_build_historical(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild the shipped three-tier list from vietnam-provinces 0.6.0 (the same bytes every time)."""
    from service.domain.authority import NATIONAL_ROOT
    from service.persistence import unit_lists

    output = args.output or unit_lists.shipped_historical_file()
    try:
        output.write_bytes(unit_lists.build_historical(args.source, NATIONAL_ROOT))
    except (OSError, KeyError, ValueError) as exc:
        print(f"cdht units build-historical: {exc}", file=sys.stderr)
        return 2
    units = unit_lists.historical_list(output)
    print(f"wrote {output}: {len(units.units)} units, {units.source}")
    return 0


def _seed_demo(args: argparse.Namespace, settings: Settings) -> int:
    from service.demo import seed

    if settings.is_production:
        print("cdht seed-demo: refused in production", file=sys.stderr)
        return 2
    asyncio.run(seed(settings, migrate_first=not args.no_migrate))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="cdht", description="Learning-community (CĐHT) workflow service")
    sub = root.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate the database, then run the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-migrate", action="store_true", help="do not run migrations first")
    serve.add_argument("--no-workers", action="store_true", help="do not run background workers in-process")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="server processes (uvicorn workers; set PROMETHEUS_MULTIPROC_DIR so /metrics sums them all)",
    )
    serve.set_defaults(run=_serve)

    sub.add_parser("migrate", help="upgrade the database to the newest schema").set_defaults(run=_migrate)
    sub.add_parser("worker", help="run the deadline sweeper and webhook dispatcher (until SIGTERM)").set_defaults(
        run=_worker
    )
    sweep = sub.add_parser("sweep", help="one deadline sweep, then exit")
    sweep.add_argument("--now", type=aware_time, help="sweep as of this time (ISO 8601 with offset; not in production)")
    sweep.set_defaults(run=_sweep)

    token = sub.add_parser("token", help="print a dev bearer token (refused in production)")
    token.add_argument("--sub", required=True)
    token.add_argument("--role", required=True, action="append", help="repeat for several roles")
    token.add_argument("--unit", required=True, help="administrative unit code the roles are scoped to")
    token.add_argument("--org", help="the commune organisation a member belongs to")
    token.add_argument("--name")
    token.add_argument("--ttl-hours", type=int, default=12)
    token.set_defaults(run=_token)

    units = sub.add_parser("units", help="administrative units").add_subparsers(dest="units_command", required=True)
    add = units.add_parser("add", help="add one unit")
    add.add_argument("code")
    add.add_argument("name")
    add.add_argument("--level", required=True, choices=["province", "district", "commune"])
    add.add_argument("--parent")
    add.add_argument("--disadvantaged", action="store_true")
    add.set_defaults(run=_units_add)
    imp = units.add_parser(
        "import",
        help="import the official lists (idempotent; one transaction, one audit event)",
        description=(
            "Import the official administrative units: 'current' (two-tier, from 01/07/2025: 34 provinces, 3,321 "
            "communes; GSO list via the installed vietnam-provinces) and 'historical' (three-tier, until 30/06/2025: "
            "63 provinces, 696 districts, 10,051 communes, codes prefixed H; shipped with the service). Records "
            "the successions: each old province to its new province (Nghị quyết 202/2025/QH15) and each old commune "
            "to the new commune that kept its GSO code. Communes merged under another code need --mapping. "
            "Historical districts have no successor (abolished). Running it again changes nothing; a unit whose "
            "code is held by a unit of another level or parent refuses the whole run."
        ),
    )
    imp.add_argument("--list", choices=["current", "historical", "all"], default="all", help="which list (all)")
    imp.add_argument("--mapping", type=Path, metavar="FILE.csv", help=UNITS_MAPPING_HELP)
    imp.add_argument("--disadvantaged", type=Path, metavar="FILE.csv", help=UNITS_DISADVANTAGED_HELP)
    imp.set_defaults(run=_units_import)
    build = units.add_parser(
        "build-historical",
        help="rebuild the shipped three-tier list from vietnam-provinces 0.6.0 "
        "(pip download vietnam-provinces==0.6.0 --no-deps -d DIR)",
    )
    build.add_argument("source", type=Path, help="the 0.6.0 wheel, or the unpacked package directory")
    build.add_argument("--output", type=Path, help="where to write (default: the shipped file)")
    build.set_defaults(run=_units_build_historical)

    add_audit_commands(sub)
    add_dev_commands(sub)

    demo = sub.add_parser("seed-demo", help="create demo units, cases in several states, and print tokens")
    demo.add_argument("--no-migrate", action="store_true")
    demo.set_defaults(run=_seed_demo)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings()
    except ValueError as exc:
        print(f"cdht: invalid settings: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format, settings.log_level)
    try:
        return args.run(args, settings)
    except ConfigurationError as exc:
        print(f"cdht: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
