"""Run every benchmark (each in a process of its own, each with its own database), print the figures, and prepend
the run — the machine, the load on it, each benchmark's figures, goals met or missed, and the profiles of the
misses — to bench/RESULTS.md, newest first. ``make bench`` runs this; ``make bench BENCH_ARGS=--quick`` is the quick
look.

    python -m bench.run_all [--quick] [--only transitions campaign webhooks console audit] [--audit-events N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.machine import machine
from bench.service_config import PY, ROOT

BENCHMARKS = {  # the longest (the audit load) last
    "transitions": "bench.bench_transitions",
    "campaign": "bench.bench_campaign",
    "webhooks": "bench.bench_webhooks",
    "console": "bench.bench_console",
    "audit": "bench.bench_audit",
}
RESULTS = Path(__file__).with_name("RESULTS.md")
MARKER = "<!-- runs: newest first; bench/run_all.py inserts each run below this line -->"
HEADER = f"""# Benchmark results

Written by `make bench` (`bench/run_all.py`): each run is inserted below, newest first, with the machine it ran on
and the load on that machine at the time. How to run and what each benchmark does: `bench/README.md`.

{MARKER}
"""


def markdown(run: dict[str, Any], reports: list[dict[str, Any]]) -> str:
    m = run["machine"]
    lines = [
        f"## {m['date']} — {'quick' if run['quick'] else 'full'} run ({run['seconds'] / 60:.0f} min)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; Python {m['python']}; "
        f"PostgreSQL {m['postgresql']}; Linux {m['kernel']}. Load average at the start: "
        f"{', '.join(f'{x:.2f}' for x in m['loadavg'])} (the machine is shared: other engineers' test runs "
        "compete for its 2 cores, so figures are noisy). Arguments: `" + " ".join(run["argv"]) + "`.",
        *(
            ["Libraries: " + ", ".join(f"{name} {version}" for name, version in m["libraries"].items()) + "."]
            if m.get("libraries")
            else []
        ),
        "",
        *([run["note"], ""] if run.get("note") else []),
        "| benchmark | goal | target | measured | |",
        "|---|---|---|---|---|",
    ]
    for report in reports:
        for goal in report.get("goals", []):
            lines.append(
                f"| {report['name']} | {goal['label']} | {goal['target']} | {goal['value']} | "
                f"{'met' if goal['met'] else '**missed**'} |"
            )
        if report.get("error"):
            lines.append(f"| {report['name']} | — | — | failed: {report['error']} | **error** |")
    for report in reports:
        lines += ["", f"### {report['title']}", ""]
        if report.get("size"):
            lines += [f"Size: {report['size']}. Took {report.get('seconds', 0) / 60:.1f} min.", ""]
        figures = [row for row in report.get("figures", []) if row]
        if figures:
            lines.append("| " + " | ".join(figures[0]) + " |")
            lines.append("|" + "---|" * len(figures[0]))
            for row in figures[1:]:
                lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
            lines.append("")
        for note in report.get("notes", []):
            lines.append(f"- {note}")
        load = report.get("load") or {}
        if load:
            lines.append(
                f"- machine during the measurements: load average {load.get('loadavg_start', 0):.2f} → "
                f"{load.get('loadavg_end', 0):.2f}, CPU busy {load.get('cpu_busy_pct', 0):.0f}% (all processes)"
            )
        if report.get("error"):
            lines.append(f"- **error**: {report['error']}")
        for title, profile in (report.get("profiles") or {}).items():
            lines += ["", f"Profile — {title}:", "", "```", *profile, "```"]
    return "\n".join(lines) + "\n"


def write_results(text: str, path: Path = RESULTS) -> None:
    current = path.read_text(encoding="utf-8") if path.exists() else HEADER
    if MARKER not in current:
        current = current.rstrip("\n") + "\n\n" + MARKER + "\n"
    head, tail = current.split(MARKER, 1)
    rest = tail.lstrip("\n")
    path.write_text(head + MARKER + "\n\n" + text + ("\n" + rest if rest else ""), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes in all)")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("--audit-events", type=int, help="events for the audit benchmark (default 10M; quick 200k)")
    parser.add_argument("--no-profile", action="store_true", help="do not profile missed goals")
    parser.add_argument("--no-results", action="store_true", help="print only; do not write bench/RESULTS.md")
    parser.add_argument("--work-dir", type=Path, help="logs, profiles and data (default: a temp dir)")
    parser.add_argument(
        "--assemble",
        type=Path,
        metavar="DIR",
        help="run nothing: format the figures an earlier (interrupted) run left in DIR (its run.json and "
        "<benchmark>.json files) and prepend them to RESULTS.md",
    )
    args = parser.parse_args()
    if args.assemble:
        run = json.loads((args.assemble / "run.json").read_text())
        reports = [
            json.loads((args.assemble / f"{name}.json").read_text())
            for name in args.only or list(BENCHMARKS)
            if (args.assemble / f"{name}.json").exists()
        ]
        text = markdown(run, reports)
        print(text, flush=True)
        if not args.no_results:
            write_results(text)
        return
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="cdht-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    run = {"machine": machine(), "quick": args.quick, "argv": ["make bench", *sys.argv[1:]], "seconds": 0.0}
    print(f"[bench] {run['machine']}  (logs and profiles in {work})", flush=True)
    (work / "run.json").write_text(json.dumps(run))
    started = time.monotonic()
    reports = []
    for name in args.only or list(BENCHMARKS):
        out = work / f"{name}.json"
        argv = [PY, "-m", BENCHMARKS[name], "--json", str(out), "--work-dir", str(work / name)]
        if args.quick:
            argv.append("--quick")
        if args.no_profile:
            argv.append("--no-profile")
        if name == "audit" and args.audit_events:
            argv += ["--events", str(args.audit_events)]
        print(f"[bench] {name}: {' '.join(argv[1:])}", flush=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        code = subprocess.run(argv, cwd=ROOT, env=env).returncode
        if out.exists():
            reports.append(json.loads(out.read_text()))
        else:
            reports.append({"name": name, "title": name, "error": f"exited with {code} and wrote no figures"})
    run["seconds"] = time.monotonic() - started
    (work / "run.json").write_text(json.dumps(run))
    text = markdown(run, reports)
    print("\n" + text, flush=True)
    if not args.no_results:
        write_results(text)
        print(f"[bench] prepended to {RESULTS}", flush=True)


if __name__ == "__main__":
    main()
