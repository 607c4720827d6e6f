"""The deep verify: every evidence file on disk against the SHA-256 and size its record holds.

The chains and digests prove what the database says about each file; only reading the files shows that the bytes
on disk are still those. Each stored file is hashed once (files are content-addressed, so several records may share
one), in worker threads, a few at a time; every record whose file is missing or holds other bytes is reported
(the first ``MAX_PROBLEMS`` of them, with the total), and each altered file is logged and counted
(``cdht_evidence_integrity_failures_total{found_by="deep_verify"}``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.evidence import INTEGRITY_FAILURES
from service.persistence.evidence_store import hash_stored_file, is_sha256
from service.persistence.tables import Evidence

log = logging.getLogger("cdht.audit.files")
MAX_PROBLEMS = 100
FILES_AT_ONCE = 4


@dataclass
class FileReport:
    ok: bool = True
    files_checked: int = 0
    records_checked: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    problems_total: int = 0

    def add(self, row: Any, problem: str) -> None:
        self.ok = False
        self.problems_total += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(
                {"evidence_id": row.id, "case_id": row.case_id, "sha256": row.sha256, "problem": problem}
            )


def _problem(found: tuple[str, int] | None, sha256: str, size: int) -> str | None:
    if found is None:
        return "the file is missing from storage"
    actual, actual_size = found
    if actual != sha256:
        return f"the file's bytes changed: they hash to {actual} ({actual_size} bytes), the record names {size} bytes"
    if actual_size != size:
        return f"the file holds {actual_size} bytes, the record {size}"
    return None


async def verify_evidence_files(
    session: AsyncSession, data_dir: Path, *, case_id: str | None = None, batch: int = 500
) -> FileReport:
    """Hash every stored evidence file (or one case's) and compare it with each record that names it."""
    report = FileReport()
    limit = asyncio.Semaphore(FILES_AT_ONCE)

    async def hashed(sha256: str) -> tuple[str, int] | None:
        if not is_sha256(sha256):
            return None  # no file can be named by it; the chain verify reports the changed record
        async with limit:
            return await hash_stored_file(data_dir, sha256)

    query = select(Evidence.id, Evidence.case_id, Evidence.sha256, Evidence.size).order_by(Evidence.sha256, Evidence.id)
    if case_id is not None:
        query = query.where(Evidence.case_id == case_id)
    after: tuple[str, str] | None = None
    while True:
        page = query if after is None else query.where(tuple_(Evidence.sha256, Evidence.id) > tuple_(*after))
        rows = (await session.execute(page.limit(batch))).all()
        if not rows:
            return report
        digests = list(dict.fromkeys(row.sha256 for row in rows))
        found = dict(zip(digests, await asyncio.gather(*(hashed(sha) for sha in digests)), strict=True))
        report.files_checked += len(digests)  # a file split over two pages is counted (and hashed) on each
        for row in rows:
            report.records_checked += 1
            if is_sha256(row.sha256):
                problem = _problem(found[row.sha256], row.sha256, row.size)
            else:
                problem = "the record's sha256 is not a SHA-256 digest"
            if problem is not None:
                report.add(row, problem)
                if found[row.sha256] is not None:
                    INTEGRITY_FAILURES.labels(found_by="deep_verify").inc()
                log.error("evidence %s of case %s: %s (sha256 %s)", row.id, row.case_id, problem, row.sha256)
        if len(rows) < batch:
            return report
        after = (rows[-1].sha256, rows[-1].id)
