"""The CPU one ``submit_dossier`` costs in-process (the whole app behind an ASGI client, no network), for a
before → after on the same data in minutes (bench_transitions' cases: clones in review_meeting_held).

    python -m bench.transition_cpu --make 1500 --work-dir DIR       # make the cases once, keep their database
    python -m bench.transition_cpu --reuse NAME --work-dir DIR --count 300 [--profile]

Each measurement copies the kept database (``CREATE DATABASE … TEMPLATE``), fires ``--count`` transitions one after
the other (the first 20 untimed), prints this process's CPU time per transition (``time.process_time``: the app
and the ASGI client), the CPU of PostgreSQL's backends serving it (from /proc), wall time and the cyclic garbage
collector's time, then drops the copy. The app's heap is settled first as a server's worker settles it
(``service.main.settle_heap``, when the code measured has it). ``--profile`` adds cProfile's top costs and the
Python function calls per transition (a count, which the machine's load does not move).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.bench_transitions import CYCLE, NOW, TRIGGER, Run, setup
from bench.databases import _admin, database
from bench.datagen import unit_tree
from bench.datagen.in_process import InProcess
from bench.machine import Collections, backend_pids, cpu_seconds
from bench.profiles import cprofile_summary
from bench.service_config import token

WARM = 20


@dataclass
class Timed:
    """What firing the timed calls cost: CPU of this process, wall time and PostgreSQL's backends' CPU (seconds),
    and the cyclic garbage collector's runs meanwhile."""

    count: int
    cpu: float
    wall: float
    server: float
    collector: Collections


async def fire_timed(
    api: InProcess,
    db: str,
    calls: list[tuple[str, str]],
    body: dict,
    *,
    each: Callable[[], None] | None = None,
    profile: cProfile.Profile | None = None,
) -> Timed:
    """Fire ``calls`` (path, token) one after the other, the first ``WARM`` untimed, the rest timed (``each`` called
    before each timed one; ``profile`` enabled around them). The app's heap is settled first, as a server's worker
    settles it before its first request."""
    api.settle()
    for path, tok in calls[:WARM]:
        await api.call("POST", path, tok, json=body)
    timed = calls[WARM:]
    backends = await backend_pids(db)
    with Collections() as collector:
        server = sum(cpu_seconds(pid) for pid in backends)
        cpu, wall = time.process_time(), time.perf_counter()
        if profile:
            profile.enable()
        for path, tok in timed:
            if each:
                each()
            await api.call("POST", path, tok, json=body)
        if profile:
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        server = sum(cpu_seconds(pid) for pid in backends) - server
    return Timed(len(timed), cpu, wall, server, collector)


async def measure(db: str, data: Path, cases: list[tuple[str, str]], profile: bool) -> None:
    from service import walkthrough as w

    api = InProcess(db, data, NOW)
    body = {"data": w.submit_dossier(CYCLE)}
    calls = [
        (f"/v1/cases/{case_id}/transitions/{TRIGGER}", token(f"chu-tich.{commune}", "commune_leader", commune))
        for case_id, commune in cases
    ]
    prof = cProfile.Profile() if profile else None
    try:
        t = await fire_timed(api, db, calls, body, profile=prof)
    finally:
        await api.close()
    load, n, collector = os.getloadavg()[0], t.count, t.collector
    print(
        f"{n} {TRIGGER}: CPU {1000 * t.cpu / n:.2f} ms each, wall {1000 * t.wall / n:.2f} ms "
        f"(load average {load:.1f}){' profiled' if prof else ''}; PostgreSQL's backends "
        f"{1000 * t.server / n:.2f} ms each; garbage collector "
        f"{1000 * collector.seconds / n:.2f} ms each (collections by generation {collector.runs}, "
        f"the longest {1000 * collector.longest:.0f} ms)",
        flush=True,
    )
    if prof:
        import pstats

        calls_made = pstats.Stats(prof).total_calls  # type: ignore[attr-defined]
        print(f"{calls_made / n:,.0f} Python function calls per transition (cProfile; steady under load)")
        print("\n".join(cprofile_summary(prof, top=30)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--make", type=int, help="make this many cases and keep their database")
    parser.add_argument("--reuse", help="the kept database to copy")
    parser.add_argument("--work-dir", type=Path, required=True, help="the cases' data directory lives here")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--skip", type=int, default=0, help="cases to leave out at the start")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    data = args.work_dir / "data"
    if args.make:
        with database("cpu", keep=True) as db:
            run = Run("cpu", 0.0, CYCLE, args.make)
            asyncio.run(setup(db, data, [run], lambda m: print(m, flush=True)))
            (args.work_dir / "ids").write_text("\n".join(run.ids))
            (args.work_dir / "communes").write_text("\n".join(run.communes))
        return
    ids = (args.work_dir / "ids").read_text().split()
    kept = args.work_dir / "communes"  # a database made before cases shared communes has one per case in tree order
    communes = (
        kept.read_text().split() if kept.exists() else [c for c, _ in unit_tree.communes_of(unit_tree.tree(len(ids)))]
    )
    cases = list(zip(ids, communes, strict=True))[args.skip : args.skip + args.count]
    copy = f"{args.reuse}_copy_{os.getpid()}"
    asyncio.run(_admin(f'CREATE DATABASE "{copy}" TEMPLATE "{args.reuse}"'))
    try:
        asyncio.run(measure(copy, data, cases, args.profile))
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
