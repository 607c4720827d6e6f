"""The machine a benchmark runs on and what its processes use: the CPU, RAM, kernel, load and library versions a run
records (``machine``), the whole machine's CPU use during a measurement (``CpuLoad``), the time this process spends in
the cyclic garbage collector (``Collections``), and per-process readings from /proc (children, command line, CPU
time, a PostgreSQL backend's CPU clock, peak memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg

from bench.databases import dsn, pg_version


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def ram_gib() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return math.nan


def loadavg() -> tuple[float, float, float]:
    try:
        a, b, c = Path("/proc/loadavg").read_text().split()[:3]
        return float(a), float(b), float(c)
    except OSError:
        return (math.nan, math.nan, math.nan)


# The libraries a request goes through: a fresh venv resolves them anew (pyproject.toml has lower bounds only), so a
# run records which it measured.
STACK = ("fastapi", "starlette", "uvicorn", "uvloop", "sqlalchemy", "sqlmodel", "asyncpg", "pydantic", "pydantic-core")


def stack_versions() -> dict[str, str]:
    found = {}
    for name in STACK:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def machine() -> dict[str, Any]:
    return {
        "libraries": stack_versions(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": round(ram_gib(), 1),
        "python": platform.python_version(),
        "postgresql": asyncio.run(pg_version()) if not _loop_running() else None,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(),
        "loadavg": loadavg(),
    }


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class CpuLoad:
    """The whole machine's CPU use between start and stop (all processes, ours and everyone else's)."""

    def __init__(self) -> None:
        self.started = self._read()
        self.load_start = loadavg()[0]

    @staticmethod
    def _read() -> tuple[int, int]:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        except OSError:
            return (0, 0)
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    def stop(self) -> dict[str, float]:
        total0, idle0 = self.started
        total1, idle1 = self._read()
        busy = 100.0 * (1 - (idle1 - idle0) / (total1 - total0)) if total1 > total0 else math.nan
        return {"loadavg_start": self.load_start, "loadavg_end": loadavg()[0], "cpu_busy_pct": round(busy, 1)}


class Collections:
    """This process's cyclic garbage collector: its runs by generation and the time they took, while the block runs
    (``with Collections() as collector:``; a ``gc.callbacks`` entry)."""

    def __init__(self) -> None:
        self.runs, self.seconds, self.started, self.longest = [0, 0, 0], 0.0, 0.0, 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            took = time.perf_counter() - self.started
            self.seconds, self.longest = self.seconds + took, max(self.longest, took)
            self.runs[info["generation"]] += 1

    def __enter__(self) -> Collections:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def summary(self) -> str:
        return (
            f"{self.seconds:.2f} s in the garbage collector (collections by generation {self.runs}, the longest "
            f"{1000 * self.longest:.0f} ms)"
        )


def children(pid: int) -> list[int]:
    """Direct children of a process (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}/cmdline").read_bytes()).replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) a process has used so far, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_clock(pid: int) -> Callable[[], float]:
    """A clock of the CPU time the PostgreSQL backend ``pid`` has used, when the server runs on this machine (/proc),
    so that other sessions' load does not count; else the wall clock."""
    if not Path(f"/proc/{pid}/stat").exists():
        return time.perf_counter
    return lambda: cpu_seconds(pid)


async def backend_pids(db: str) -> list[int]:
    """The PostgreSQL backends connected to ``db`` (this query's own left out)."""
    connection = await asyncpg.connect(dsn(db))
    try:
        mine = await connection.fetchval("SELECT pg_backend_pid()")
        rows = await connection.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", db)
        return [row["pid"] for row in rows if row["pid"] != mine]
    finally:
        await connection.close()


def memory_kb(pid: int) -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS of a process, in kB."""
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmHWM:", "VmRSS:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0])
    return out
