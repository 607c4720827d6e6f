"""The ``cdht audit`` commands: verify an export offline, verify the database (``--deep`` for the evidence files),
and sign a checkpoint now (``--verify``: after a full verify of its heads passed, which it then records signed)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from service.config import Settings


def _verify_export(args: argparse.Namespace, settings: Settings) -> int:
    """Verify a JSONL export offline (no database): print OK with counts (exit 0) or the first bad line (exit 1);
    2 for bad usage."""
    from service.domain.audit.offline import verify_file

    try:
        report = verify_file(
            args.file, checkpoints_path=args.checkpoints, public_key_path=args.public_key, partial=args.partial
        )
    except (OSError, ValueError, KeyError) as exc:
        print(f"cdht audit verify: {exc}", file=sys.stderr)
        return 2
    print(report.text())
    return 0 if report.ok else 1


def _verify_database(args: argparse.Namespace, settings: Settings) -> int:
    """Verify the chains in the database, as ``GET /v1/audit/verify`` does (``--incremental``: only what came after
    a signed checkpoint, as ``mode=incremental``); with ``--deep`` also every evidence file on disk against its
    recorded SHA-256. Exit 0 when everything holds, 1 naming what does not, 2 for bad usage or no checkpoint."""
    from service.domain.audit.evidence_files import verify_evidence_files
    from service.domain.audit.incremental import NoCheckpoint
    from service.domain.audit.verify import verify
    from service.persistence.db import make_engine, session_factory
    from service.workers.verify_processes import verify_every_chain, verify_since_checkpoint

    settings.check()

    async def run() -> tuple[Any, Any, Any]:
        engine = make_engine(settings.resolved_database_url)
        since = None
        try:
            async with session_factory(engine)() as session:
                if args.incremental:
                    since = await verify_since_checkpoint(
                        session, settings, checkpoint_id=args.checkpoint, case_id=args.case
                    )
                    chains = since.report
                elif args.case is not None:
                    chains = await verify(session, case_id=args.case)
                else:
                    chains = await verify_every_chain(session, settings)
            files = None
            if args.deep:
                async with session_factory(engine)() as session:
                    files = await verify_evidence_files(session, settings.data_dir, case_id=args.case)
        finally:
            await engine.dispose()
        return chains, files, since

    if args.checkpoint and not args.incremental:
        print("cdht audit verify-db: --checkpoint goes with --incremental", file=sys.stderr)
        return 2
    try:
        chains, files, since = asyncio.run(run())
    except NoCheckpoint as missing:
        print(f"cdht audit verify-db --incremental: {missing}; sign one (cdht audit checkpoint)", file=sys.stderr)
        return 2
    if since is None:
        print("full verify: every event re-hashed")
    else:
        print(_trusted(since.checkpoint, since.events_trusted))
    if chains.ok:
        print(f"chains OK: {chains.events_checked} events in {chains.chains_checked} chains")
    else:
        print(f"chains FAILED: {json.dumps(chains.first_bad_event, ensure_ascii=False)}")
    if files is not None:
        if files.ok:
            print(f"evidence files OK: {files.files_checked} files for {files.records_checked} records")
        else:
            print(f"evidence files FAILED: {files.problems_total} records whose file is missing or changed")
            for problem in files.problems:
                print(f"  {json.dumps(problem, ensure_ascii=False)}")
    return 0 if chains.ok and (files is None or files.ok) else 1


def _trusted(signed: dict[str, Any], trusted: int) -> str:
    """Which checkpoint an incremental verify started from, and what that trusts."""
    start = (
        f"incremental verify from checkpoint {signed['id']} (signed {signed['created_at']}, key {signed['key_id']}): "
        f"{trusted} events up to its heads taken on its signature, only the events after them re-hashed"
    )
    verified = signed.get("verified")
    if verified:
        return (
            f"{start}; a full verify of {verified['events_checked']} events in {verified['chains_checked']} chains "
            "passed over exactly those heads before it was signed, and the checkpoint signs that too"
        )
    return (
        f"{start}; no full verify is recorded over them: they are trusted as they were when it was signed, whatever "
        "they were (sign one after a full verify: cdht audit checkpoint --verify)"
    )


def _checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    """Sign the heads of every chain now (``--verify``: only after a full verify of them passes, marked verified);
    print the checkpoint document (or write it to --output). Exit 1, signing nothing, when that verify fails."""
    from service.domain.actor import system_actor
    from service.domain.audit.checkpoints import create_checkpoint, document_of
    from service.persistence.db import make_engine, session_factory, unit_of_work
    from service.workers.verified_checkpoint import verify_and_sign

    settings.check()

    async def run() -> dict | None:
        engine = make_engine(settings.resolved_database_url)
        actor, now = system_actor("cli"), settings.clock()
        try:
            if args.verify:
                report, checkpoint = await verify_and_sign(
                    session_factory(engine), settings, actor=actor, now=now, reseal=args.reseal
                )
                if checkpoint is None:
                    print(f"chains FAILED: {json.dumps(report.first_bad_event, ensure_ascii=False)}", file=sys.stderr)
                    return None
                print(
                    f"full verify OK: {report.events_checked} events in {report.chains_checked} chains", file=sys.stderr
                )
            else:
                async with unit_of_work(session_factory(engine)) as session:
                    checkpoint = await create_checkpoint(
                        session, settings=settings, actor=actor, now=now, reseal=args.reseal
                    )
        finally:
            await engine.dispose()
        return document_of(checkpoint)

    document = asyncio.run(run())
    if document is None:
        print("cdht audit checkpoint --verify: the full verify found a problem; nothing was signed", file=sys.stderr)
        return 1
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    print(
        f"checkpoint {document['id']}: {document['chains_total']} chains, {document['events_total']} events, "
        f"key {document['key_id']}{', marked verified' if document['verified'] else ''}",
        file=sys.stderr,
    )
    return 0


def add_audit_commands(sub: Any) -> None:
    """``cdht audit verify FILE``, ``cdht audit verify-db [--deep] [--case ID] [--incremental [--checkpoint ID]]``,
    ``cdht audit checkpoint [--output FILE] [--reseal] [--verify]``."""
    audit = sub.add_parser("audit", help="the audit log: verification, signed checkpoints")
    commands = audit.add_subparsers(dest="audit_command", required=True)
    verify_export = commands.add_parser(
        "verify", help="verify a JSONL export without the database (exit 0 when it holds, 1 when not)"
    )
    verify_export.add_argument("file", type=Path, help="a JSONL export (GET /v1/audit/export?format=jsonl)")
    verify_export.add_argument("--checkpoints", type=Path, help="checkpoint documents (a JSON array, or one a line)")
    verify_export.add_argument("--public-key", type=Path, help="the PEM public key the checkpoints are signed with")
    verify_export.add_argument(
        "--partial",
        action="store_true",
        help="a time-filtered export: chains may start after seq 1; checkpoint heads outside it are skipped",
    )
    verify_export.set_defaults(run=_verify_export)
    verify_db = commands.add_parser(
        "verify-db", help="verify the chains in the database (exit 0 when they hold, 1 when not)"
    )
    verify_db.add_argument("--case", help="only this case's chain (and, with --deep, its files)")
    verify_db.add_argument(
        "--deep", action="store_true", help="also hash every evidence file on disk and compare it with its record"
    )
    verify_db.add_argument(
        "--incremental",
        action="store_true",
        help="re-hash only the events after the newest signed checkpoint's heads, trusting its signature for the "
        "rest after cheap checks (the default is the full verify)",
    )
    verify_db.add_argument("--checkpoint", help="with --incremental: start from this checkpoint, not the newest")
    verify_db.set_defaults(run=_verify_database)
    checkpoint = commands.add_parser("checkpoint", help="sign the heads of every chain now")
    checkpoint.add_argument("--output", type=Path, help="write the checkpoint document here, not stdout")
    checkpoint.add_argument(
        "--reseal",
        action="store_true",
        help="compare every case's tables with its digest and seal them afresh (PostgreSQL), instead of carrying "
        "forward the previous checkpoint's seals of cases with nothing new",
    )
    checkpoint.add_argument(
        "--verify",
        action="store_true",
        help="verify every chain in full first and sign only if that finds nothing: the heads that verify read, "
        "marked verified (the incremental verify starts from the newest checkpoint so marked)",
    )
    checkpoint.set_defaults(run=_checkpoint)
