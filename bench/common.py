"""What every benchmark shares: a PostgreSQL database of its own, servers in subprocesses, a lean HTTP client,
percentiles, the machine's description, profiles, and the result format that ``run_all`` turns into RESULTS.md.

Every benchmark creates its own database ``cdht_bench_<pid>_<tag>`` on the server named by ``BENCH_PG_HOST``,
``BENCH_PG_PORT`` and ``BENCH_PG_USER`` (default 127.0.0.1:5432, postgres, trust auth), migrates it with the
service's own migrations, and drops it when done (``--keep`` keeps it, to look at afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import math
import os
import platform
import pstats
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
DEV_SECRET = "cdht-bench-dev-secret-" + "b" * 32  # shared by every worker and by the load generators
WEBHOOK_KEY = "YmVuY2gtd2ViaG9vay1rZXktMzItYnl0ZXMtbG9uZyE="  # Fernet key (32 bytes, urlsafe base64)
PYSPY = shutil.which("py-spy") or str(Path(PY).with_name("py-spy"))


# --- databases ---------------------------------------------------------------------------------------------------


def dsn(database: str = "postgres") -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def sa_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(dsn())
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def bench_database(tag: str, *, keep: bool = False) -> AsyncIterator[str]:
    """A new, migrated database for one benchmark, dropped afterwards (unless ``keep``)."""
    from service.persistence import migrate

    name = f"cdht_bench_{os.getpid()}_{tag}"
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        await migrate.upgrade(sa_url(name))
        yield name
    finally:
        if keep:
            print(f"[bench] kept database {name}", flush=True)
        else:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def database(tag: str, *, keep: bool = False) -> Iterator[str]:
    """``bench_database`` for synchronous code (benchmarks that drive servers in subprocesses)."""
    from service.persistence import migrate

    name = f"cdht_bench_{os.getpid()}_{tag}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(migrate.upgrade(sa_url(name)))
        yield name
    finally:
        if keep:
            print(f"[bench] kept database {name}", flush=True)
        else:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def pg_version() -> str:
    connection = await asyncpg.connect(dsn())
    try:
        return (await connection.fetchval("show server_version")).split()[0]
    finally:
        await connection.close()


# --- the service's settings and tokens ----------------------------------------------------------------------------


def settings_for(database: str, now: datetime, data_dir: Path, **extra: Any):  # type: ignore[no-untyped-def]
    from service.config import Settings

    return Settings(
        env="dev",
        database_url=sa_url(database),
        auth_dev_secret=DEV_SECRET,
        now=now,
        data_dir=data_dir,
        workers_in_process=False,
        webhook_key=WEBHOOK_KEY,
        **extra,
    )


def service_env(database: str, now: datetime, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a service process: dev, a frozen clock, the shared dev secret, no in-process workers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDHT_")}
    env.update(
        PYTHONPATH=str(ROOT),
        CDHT_ENV="dev",
        CDHT_DATABASE_URL=sa_url(database),
        CDHT_AUTH_DEV_SECRET=DEV_SECRET,
        CDHT_NOW=now.isoformat(),
        CDHT_DATA_DIR=str(data_dir),
        CDHT_WORKERS_IN_PROCESS="false",
        CDHT_WEBHOOK_KEY=WEBHOOK_KEY,
    )
    env.update(extra)
    return env


_TOKEN_SETTINGS: list[Any] = []


def token(sub: str, role: str, unit: str, *, org: str | None = None) -> str:
    """A dev token signed with the shared secret, valid for a day of real time."""
    from service.auth import issue_dev_token
    from service.config import Settings

    if not _TOKEN_SETTINGS:
        _TOKEN_SETTINGS.append(Settings(env="dev", auth_dev_secret=DEV_SECRET))
    return issue_dev_token(_TOKEN_SETTINGS[0], sub=sub, roles=[role], unit=unit, org=org, name=sub, ttl_seconds=86400)


# --- statistics ----------------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of the values; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "max": max(ms) if ms else math.nan,
    }


# --- the machine ---------------------------------------------------------------------------------------------------


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


# --- processes -----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class Server:
    """A server in a subprocess (uvicorn with N workers, a receiver...), ready when ``ready_path`` answers."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, log_dir: Path) -> None:
        self.name, self.argv, self.env, self.port = name, argv, env, port
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_path: str = "/healthz", timeout: float = 90.0) -> Server:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            try:
                status, _ = asyncio.run(get_once(self.port, ready_path))
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer {ready_path} within {timeout:.0f} s; see {self.log_path}")

    def workers(self) -> list[int]:
        """The processes that serve requests: uvicorn's worker children, or the server itself with one worker."""
        assert self.process is not None
        kids = [pid for pid in children(self.process.pid) if "resource_tracker" not in cmdline(pid)]
        return kids or [self.process.pid]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        kids = children(self.process.pid)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pid in kids:  # the workers uvicorn started, if any outlived it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def uvicorn_argv(target: str, port: int, workers: int) -> list[str]:
    """A uvicorn server of ``target`` (a factory); several workers each on a socket of their own (``bench.reuseport``:
    the kernel spreads the connections, where uvicorn's shared socket let one worker take them all)."""
    if workers > 1:
        return [PY, "-m", "bench.reuseport", target, "--port", str(port), "--workers", str(workers)]
    return [
        PY,
        "-m",
        "uvicorn",
        target,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


# --- a lean HTTP/1.1 client (keep-alive; little CPU, so the load generator leaves the cores to the servers) --------


class Http:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self.reader = self.writer = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        sink: Any = None,
    ) -> tuple[int, bytes]:
        """One request; the body is returned, or handed chunk by chunk to ``sink`` (then b"" is returned)."""
        if self.writer is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        length, chunked, close = None, False, False
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        parts: list[bytes] = []
        emit = sink or parts.append
        if chunked:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                emit(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
        elif length is not None:
            if length:
                emit(await self.reader.readexactly(length))
        else:
            emit(await self.reader.read())
            close = True
        if close:
            await self.close()
        return status, b"".join(parts)


async def get_once(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    client = Http(port)
    try:
        return await client.request("GET", path, headers=headers)
    finally:
        await client.close()


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


# --- profiles ------------------------------------------------------------------------------------------------------

FRAME = re.compile(r"^(?P<fn>.+?) \((?P<file>[^()]*?)(?::\d+)?\)$")
OURS = ("service/", "workflows/", "bench/")
IDLE_LEAVES = (
    "Runner.run (asyncio/runners.py)",
    "run (asyncio/runners.py)",
    "wait (threading.py)",
    "Condition.wait (threading.py)",
    "Connection._recv (multiprocessing/connection.py)",
    "_recv (multiprocessing/connection.py)",
    "select (selectors.py)",
    "EpollSelector.select (selectors.py)",
    "Event.wait (threading.py)",
    "_worker (concurrent/futures/thread.py)",
)


def _short(file: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/", str(ROOT) + "/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def layer(file: str, fn: str = "") -> str:
    """The package or layer a function belongs to, to say where the time goes by layer."""
    if file in ("~", "") or file.startswith("<built-in"):
        if "epoll" in fn or "poll" in fn or "select" in fn:
            return "waiting for I/O (epoll)"
        if "socket" in fn:
            return "socket calls"
        if "hashlib" in fn or "sha256" in fn:
            return "hashlib"
        return "C builtins"
    if "site-packages/" in file:
        return file.split("site-packages/", 1)[1].split("/", 1)[0].split(".", 1)[0]
    for ours in ("service", "workflows", "bench", "migrations"):  # this tree or another checkout of the project
        if f"/{ours}/" in file and "/python3." not in file:
            return ours + "/"
    if str(ROOT) + "/" in file or file.startswith(OURS):
        rel = file.split(str(ROOT) + "/", 1)[-1]
        return rel.split("/", 1)[0] + "/"
    if "/python3." in file:
        file = file.split("/python3.", 1)[1].split("/", 1)[-1]
    first = file.split("/", 1)[0].removesuffix(".py")
    if first in ("service", "workflows", "bench", "migrations"):
        return first + "/"
    if first in sys.stdlib_module_names or first.startswith("<frozen"):
        return "stdlib " + first
    return first


def by_layer(costs: Iterable[tuple[str, float]], total: float, top: int = 10) -> str:
    groups: Counter[str] = Counter()
    for name, value in costs:
        groups[name] += value
    return "by layer: " + ", ".join(f"{name} {100 * value / total:.0f}%" for name, value in groups.most_common(top))


def fold_summary(paths: Iterable[Path], top: int = 12) -> list[str]:
    """The top costs in py-spy raw (collapsed) stacks: inclusive share per function, then self share."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = idle = 0
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            total += count
            names, leaf_layer = [], "?"
            for frame in stack.split(";"):
                match = FRAME.match(frame.strip())
                names.append(f"{match['fn']} ({_short(match['file'])})" if match else frame.strip())
                leaf_layer = layer(match["file"], match["fn"]) if match else frame.strip()
            if any(names[-1].startswith(leaf) for leaf in IDLE_LEAVES):
                idle += count  # a waiting thread, or the event loop inside uvloop's C code
                total -= count
                continue
            for name in set(names):
                inclusive[name] += count
            own[names[-1]] += count
            layers[leaf_layer] += count
    if not total:
        return ["(no samples)"]
    lines = [
        f"{total} busy samples ({idle} more were idle: event loop waiting or in uvloop's C code, waiting threads); "
        "inclusive (function and what it calls):"
    ]
    ours = [(n, c) for n, c in inclusive.most_common() if any(m in n for m in OURS) or "sqlalchemy" in n]
    for name, count in ours[:top]:
        lines.append(f"  {100 * count / total:5.1f}%  {name}")
    lines.append("self (where the CPU actually is):")
    for name, count in own.most_common(top):
        lines.append(f"  {100 * count / total:5.1f}%  {name}")
    lines.append("self, " + by_layer(layers.items(), total))
    return lines


class PySpy:
    """py-spy attached to running processes for a while (non-blocking sampling, so the figures barely move)."""

    def __init__(self, pids: list[int], seconds: float, out_dir: Path, tag: str) -> None:
        self.paths = [out_dir / f"pyspy-{tag}-{pid}.txt" for pid in pids]
        self.procs = []
        if not Path(PYSPY).exists():
            return
        for pid, path in zip(pids, self.paths, strict=True):
            argv = [PYSPY, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "97"]
            argv += ["-f", "raw", "-o", str(path), "--nonblocking"]
            self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def available(self) -> bool:
        return bool(self.procs)

    def stop(self, top: int = 12) -> list[str]:
        """Stop sampling now (py-spy writes what it has on SIGINT) and summarise."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        return self.finish(top)

    def finish(self, top: int = 12) -> list[str]:
        if not self.procs:
            return ["(py-spy is not installed: pip install py-spy)"]
        for proc in self.procs:
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
        return fold_summary(self.paths, top)


def cprofile_summary(profile: cProfile.Profile, top: int = 14) -> list[str]:
    """The top cumulative and own times of a cProfile run, our code first."""
    stream = io.StringIO()
    stats = pstats.Stats(profile, stream=stream)
    total = stats.total_tt or 1.0
    rows = []
    for (file, line, fn), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((f"{fn} ({_short(file)}:{line})", nc, tt, ct))
    lines = [
        f"cProfile, {total:.2f} s of wall time; cumulative (function and what it calls; a coroutine is counted "
        "at each resumption, so shares can pass 100%):"
    ]
    ours = [r for r in rows if any(m in r[0] for m in OURS)]
    for name, calls, _tt, ct in sorted(ours, key=lambda r: -r[3])[:top]:
        lines.append(f"  {100 * ct / total:5.1f}%  {calls:>8} calls  {name}")
    lines.append("own time (epoll/poll is waiting for the database or the network):")
    for name, calls, tt, _ct in sorted(rows, key=lambda r: -r[2])[:top]:
        lines.append(f"  {100 * tt / total:5.1f}%  {calls:>8} calls  {name}")
    layers = [
        (layer(file, fn), tt)
        for (file, _line, fn), (_cc, _nc, tt, _ct, _callers) in stats.stats.items()  # type: ignore[attr-defined]
    ]
    lines.append("own time, " + by_layer(layers, total))
    return lines


# --- results -------------------------------------------------------------------------------------------------------


@dataclass
class Goal:
    label: str
    target: str
    value: str
    met: bool


@dataclass
class Report:
    """One benchmark's figures: printed as text, saved as JSON for run_all, which writes RESULTS.md."""

    name: str
    title: str
    size: str = ""
    figures: list[list[str]] = field(default_factory=list)  # rows of a table; the first row is the header
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiles: dict[str, list[str]] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    def goal(self, label: str, target: str, value: str, met: bool) -> None:
        self.goals.append(Goal(label, target, value, met))

    def text(self) -> str:
        out = [f"== {self.title} ({self.size})" if self.size else f"== {self.title}"]
        if self.figures:
            widths = [max(len(str(row[i])) for row in self.figures) for i in range(len(self.figures[0]))]
            for row in self.figures:
                out.append("  " + "  ".join(str(cell).rjust(widths[i]) for i, cell in enumerate(row)))
        for g in self.goals:
            out.append(f"  goal {g.label}: {g.target} -> {g.value}: {'MET' if g.met else 'MISSED'}")
        for note in self.notes:
            out.append(f"  note: {note}")
        for title, lines in self.profiles.items():
            out.append(f"  profile: {title}")
            out.extend("    " + line for line in lines)
        if self.load:
            out.append(f"  machine load: {self.load}")
        if self.error:
            out.append(f"  ERROR: {self.error}")
        return "\n".join(out)

    def save(self, path: Path | None) -> None:
        print(self.text(), flush=True)
        self.dump(path)

    def dump(self, path: Path | None) -> None:
        """Write the figures so far (a long benchmark dumps after each step, so an interrupted run keeps them)."""
        if path is not None:
            path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=1, default=str))


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a quick look while developing")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON (for run_all)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark's database afterwards")
    parser.add_argument("--no-profile", action="store_true", help="do not profile a missed goal")
    parser.add_argument("--work-dir", type=Path, help="logs, profiles and data files (default: a temp dir)")
    return parser


def work_dir(args: argparse.Namespace, name: str) -> Path:
    if args.work_dir:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        return args.work_dir
    return Path(tempfile.mkdtemp(prefix=f"cdht-bench-{name}-"))


def fmt(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"
