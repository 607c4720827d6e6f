"""The audit benchmark's latencies, one request at a time: timed GETs over HTTP, the history query alone over
asyncpg, the six kinds of filtered search, the latency figures and goals (history, search, as_of) in the report, and
PostgreSQL's plan of a slow search's query.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg

from bench.audit_data import FIRST_CYCLE
from bench.databases import dsn
from bench.datagen.in_process import InProcess
from bench.results import Report, fmt, latency_summary
from bench.servers import Http, bearer


async def timed_gets(port: int, requests: list[tuple[str, dict[str, str]]]) -> tuple[list[float], list[str]]:
    http = Http(port)
    latencies, problems = [], []
    try:
        for path, headers in requests:
            t0 = time.perf_counter()
            status, body = await http.request("GET", path, headers=headers)
            latencies.append((time.perf_counter() - t0) * 1000)
            if status != 200 and len(problems) < 3:
                problems.append(f"{status} {path[:120]}: {body[:200]!r}")
    finally:
        await http.close()
    return latencies, problems


async def query_latencies(db: str, case_ids: list[str]) -> list[float]:
    """The query behind the history endpoint, alone (asyncpg, a prepared statement)."""
    connection = await asyncpg.connect(dsn(db))
    statement = await connection.prepare("SELECT * FROM audit_event WHERE case_id = $1 ORDER BY seq")
    latencies = []
    try:
        for case_id in case_ids:
            t0 = time.perf_counter()
            await statement.fetch(case_id)
            latencies.append((time.perf_counter() - t0) * 1000)
    finally:
        await connection.close()
    return latencies


def search_requests(
    rng: random.Random, n: int, pick: Any, province_tokens: dict[str, str], national: str, cycles: int
) -> dict[str, list[tuple[str, dict[str, str]]]]:
    """Six kinds of filtered searches, first page (the default 50), random values."""
    kinds: dict[str, list[tuple[str, dict[str, str]]]] = {k: [] for k in SEARCHES}
    for i in range(n):
        kind = SEARCHES[i % len(SEARCHES)]
        commune, province = pick()
        year = FIRST_CYCLE + rng.randrange(cycles)
        headers = bearer(province_tokens[province])
        if kind == "rare trigger in the province":
            params = {"kind": "transition", "trigger": rng.choice(["recognize", "form_council", "submit_dossier"])}
        elif kind == "one commune":
            params = {"unit": commune}
        elif kind == "one actor":
            params = {"actor": f"chu-tich.{commune}"}
        elif kind == "a week":
            start = datetime(year, 2, 1, tzinfo=UTC) + timedelta(days=rng.randrange(200))
            params = {"since": start.isoformat(), "until": (start + timedelta(days=7)).isoformat()}
        elif kind == "national trigger since a date":
            headers = bearer(national)
            params = {"trigger": "record_appraisal", "since": f"{year + 1}-01-01T00:00:00+00:00"}
        else:
            params = {"citation": "TT25/2023 Điều 9 k2"}
        kinds[kind].append((f"/v1/audit/events?{urlencode(params, quote_via=quote)}", headers))
    return kinds


SEARCHES = (
    "rare trigger in the province",
    "one commune",
    "one actor",
    "a week",
    "national trigger since a date",
    "citation prefix",
)


def latency_report(
    report: Report,
    history_ms: list[float],
    query_ms: list[float],
    search_ms: dict[str, list[float]],
    as_of_ms: list[float],
    problems: list[str],
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """The latency figures and goals (history, search, as_of) into ``report``; the summaries of history, its query
    alone and every search pooled."""
    report.notes = [note for note in report.notes if not note.startswith("measured as they came")]
    h, q, a = latency_summary(history_ms), latency_summary(query_ms), latency_summary(as_of_ms)
    s = latency_summary([ms for values in search_ms.values() for ms in values])
    row = lambda name, k, places=1: [name, str(k["n"]), *(fmt(k[p], places) for p in ("p50", "p95", "p99", "max"))]  # noqa: E731
    report.figures.append(["measure", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"])
    report.figures.append(row("history (HTTP)", h))
    report.figures.append(row("history query alone (asyncpg)", q, 2))
    for kind, values in search_ms.items():
        report.figures.append(row(f"search: {kind}", latency_summary(values)))
    report.figures.append(row("search: all kinds", s))
    report.figures.append(row("as_of (replay, HTTP)", a))
    report.goal(
        "history p99", "< 10 ms", f"{h['p99']:.1f} ms over HTTP ({q['p99']:.2f} ms the query alone)", h["p99"] < 10
    )
    report.goal("filtered search first page p99", "< 50 ms", f"{s['p99']:.1f} ms", s["p99"] < 50)
    report.goal("as_of p99", "< 50 ms", f"{a['p99']:.1f} ms", a["p99"] < 50)
    if problems:
        report.notes.append("non-200 answers: " + "; ".join(problems[:3]))
    return h, q, s


async def explain(db: str, out: Path, now: datetime, path: str, tok: str) -> list[str]:
    """EXPLAIN ANALYZE of the audit query one search request runs (captured from the app in-process)."""
    from sqlalchemy import event

    api = InProcess(db, out / "data", now)
    captured: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "FROM audit_event" in statement:
            captured.append((statement, parameters))

    event.listen(api.app.state.services.engine.sync_engine, "before_cursor_execute", before)
    try:
        await api.call("GET", path, tok)
    finally:
        await api.close()
    if not captured:
        return ["(no audit query captured)"]
    statement, parameters = captured[-1]
    connection = await asyncpg.connect(dsn(db))
    try:
        plan = await connection.fetch("EXPLAIN (ANALYZE, BUFFERS) " + statement, *parameters)
    finally:
        await connection.close()
    # The recursive CTEs resolving the unit subtrees come first in the plan; the scan of audit_event is what counts.
    lines = [row[0] for row in plan]
    start = next((i for i, line in enumerate(lines) if "Semi Join" in line or "audit_event" in line), 0)
    return [f"GET {path[:150]}", lines[0], *lines[start : start + 30], *[x for x in lines if "Execution Time" in x]]
