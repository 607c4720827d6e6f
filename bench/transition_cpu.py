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
import gc
import os
import time
from pathlib import Path

from bench.bench_transitions import CYCLE, NOW, TRIGGER, Run, setup
from bench.databases import _admin, database
from bench.datagen import unit_tree
from bench.datagen.in_process import InProcess
from bench.machine import Collections, backend_pids, cpu_seconds
from bench.profiles import cprofile_summary
from bench.service_config import token

WARM = 20


async def measure(db: str, data: Path, cases: list[tuple[str, str]], profile: bool) -> None:
    import cProfile

    from service import walkthrough as w

    api = InProcess(db, data, NOW)
    api.settle()
    body = {"data": w.submit_dossier(CYCLE)}
    calls = [
        (f"/v1/cases/{case_id}/transitions/{TRIGGER}", token(f"chu-tich.{commune}", "commune_leader", commune))
        for case_id, commune in cases
    ]
    try:
        for path, tok in calls[:WARM]:
            await api.call("POST", path, tok, json=body)
        timed = calls[WARM:]
        prof = cProfile.Profile() if profile else None
        collector = Collections()
        gc.callbacks.append(collector)
        backends = await backend_pids(db)
        server = sum(cpu_seconds(pid) for pid in backends)
        cpu, wall = time.process_time(), time.perf_counter()
        if prof:
            prof.enable()
        for path, tok in timed:
            await api.call("POST", path, tok, json=body)
        if prof:
            prof.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        server = sum(cpu_seconds(pid) for pid in backends) - server
        gc.callbacks.remove(collector)
    finally:
        await api.close()
    load = os.getloadavg()[0]
    print(
        f"{len(timed)} {TRIGGER}: CPU {1000 * cpu / len(timed):.2f} ms each, wall {1000 * wall / len(timed):.2f} ms "
        f"(load average {load:.1f}){' profiled' if prof else ''}; PostgreSQL's backends "
        f"{1000 * server / len(timed):.2f} ms each; garbage collector "
        f"{1000 * collector.seconds / len(timed):.2f} ms each (collections by generation {collector.runs}, "
        f"the longest {1000 * collector.longest:.0f} ms)",
        flush=True,
    )
    if prof:
        import pstats

        calls = pstats.Stats(prof).total_calls  # type: ignore[attr-defined]
        print(f"{calls / len(timed):,.0f} Python function calls per transition (cProfile; steady under load)")
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
