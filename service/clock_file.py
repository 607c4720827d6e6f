"""The dev clock: how far a dev or demo deployment's clock runs ahead of (or behind) the real one, kept in a file of
the data directory so that every process of the deployment (``cdht serve`` with its workers, ``cdht worker``,
``cdht sweep``) sees the same time without a restart. Evidence files already live in that directory, so every
process of a deployment shares it.

``offset(data_dir)`` is read on every reading of the clock, cheaply (the file is parsed again only when it changed);
``write``/``clear`` replace it atomically. Production never reads it (``Settings.clock``).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

FILE_NAME = "dev-clock.json"


@dataclass(frozen=True)
class DevClock:
    offset: timedelta
    set_at: str | None = None  # when it was set (real time, ISO 8601)
    set_by: str | None = None  # who set it (a token's sub, or "cli")

    def as_dict(self) -> dict[str, Any]:
        return {"offset_seconds": self.offset.total_seconds(), "set_at": self.set_at, "set_by": self.set_by}


NONE = DevClock(timedelta(0))
_cache: dict[Path, tuple[tuple[int, int], DevClock]] = {}
_lock = threading.Lock()


def read(data_dir: Path) -> DevClock:
    """The dev clock of the deployment whose data directory is ``data_dir``; none (offset 0) without the file or
    with a file that is not one this module wrote."""
    path = data_dir / FILE_NAME
    try:
        status = path.stat()
    except OSError:
        return NONE
    stamp = (status.st_mtime_ns, status.st_size)
    with _lock:
        cached = _cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        clock = DevClock(timedelta(seconds=float(raw["offset_seconds"])), raw.get("set_at"), raw.get("set_by"))
    except (OSError, ValueError, KeyError, TypeError, OverflowError):
        clock = NONE
    with _lock:
        _cache[path] = (stamp, clock)
    return clock


def offset(data_dir: Path) -> timedelta:
    return read(data_dir).offset


def write(data_dir: Path, clock: DevClock) -> None:
    """Replace the dev clock atomically (a reader sees the old file or the new one, never half of one)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=data_dir, prefix=".dev-clock-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(clock.as_dict(), out)
        os.replace(temporary, data_dir / FILE_NAME)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def clear(data_dir: Path) -> None:
    (data_dir / FILE_NAME).unlink(missing_ok=True)


def shifted(base: datetime, data_dir: Path) -> datetime:
    return base + offset(data_dir)
