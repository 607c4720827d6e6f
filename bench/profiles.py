"""Profiles of a missed goal, summarised for RESULTS.md: py-spy attached to running workers (``PySpy``, its collapsed
stacks folded by ``fold_summary``) and cProfile in-process (``cprofile_summary``), each with where the time goes by
layer (our code, SQLAlchemy, asyncpg, the standard library...).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from bench.service_config import PY, ROOT

PYSPY = shutil.which("py-spy") or str(Path(PY).with_name("py-spy"))
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
