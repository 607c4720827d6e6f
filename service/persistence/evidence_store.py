"""Where evidence bytes live on disk, and how they are written, hashed and read back.

Files are content-addressed by SHA-256 under ``<data_dir>/evidence/<sha[0:2]>/<sha[2:4]>/<sha>``, so the same
document uploaded twice is kept once and a stored file is never overwritten with different bytes. An upload is
written to a temporary file in ``<data_dir>/evidence/tmp/`` while it is hashed and counted (never held in memory
whole, never visible at its final path half-written or refused), made durable (``fsync``) and only then moved into
place with ``os.replace`` (atomic on one file system), the directory entry made durable too.

Every call that touches the disk runs in a worker thread, so the event loop keeps answering while a file is
written, synced, moved or hashed. What may be stored (types, names, limits) is decided by
``service.domain.evidence``; this module raises no domain errors.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from pathlib import Path

CHUNK_SIZE = 64 * 1024
WRITE_BUFFER = 1024 * 1024  # bytes gathered before one write in a worker thread
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def is_sha256(value: str) -> bool:
    return _SHA256_RE.fullmatch(value.lower()) is not None


def evidence_path(data_dir: Path, sha256: str) -> Path:
    """Where the file with this digest lives (whether or not it exists); ``ValueError`` for anything but 64 hex
    characters, so that no other text (``../`` and friends) is ever joined to a path."""
    sha = sha256.lower()
    if not _SHA256_RE.fullmatch(sha):
        raise ValueError("an evidence file is named by a SHA-256 digest (64 hexadecimal characters)")
    return data_dir / "evidence" / sha[0:2] / sha[2:4] / sha


class PendingFile:
    """An upload being written to a temporary file, hashed and counted as it goes. ``write`` gathers chunks and
    writes them a megabyte at a time in a worker thread; ``seal`` makes the bytes durable; ``commit`` moves them
    into place under their digest; ``discard`` removes the temporary file (always safe to call)."""

    def __init__(self, data_dir: Path, descriptor: int, path: Path) -> None:
        self.data_dir = data_dir
        self.path = path
        self._file = os.fdopen(descriptor, "wb")
        self._buffer = bytearray()
        self._digest = hashlib.sha256()
        self.size = 0

    @classmethod
    async def create(cls, data_dir: Path) -> PendingFile:
        def make() -> tuple[int, str]:
            tmp_dir = data_dir / "evidence" / "tmp"
            tmp_dir.mkdir(parents=True, exist_ok=True)
            return tempfile.mkstemp(dir=tmp_dir, prefix="upload-")

        descriptor, name = await asyncio.to_thread(make)
        return cls(data_dir, descriptor, Path(name))

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._digest.update(chunk)
        self._buffer += chunk
        if len(self._buffer) >= WRITE_BUFFER:
            await self._flush_buffer()

    async def _flush_buffer(self) -> None:
        data, self._buffer = bytes(self._buffer), bytearray()
        if data:
            await asyncio.to_thread(self._file.write, data)

    async def seal(self) -> None:
        """Write what is gathered and make it durable: the database will soon point at this digest, so the bytes
        must survive a crash first."""
        await self._flush_buffer()

        def sync_and_close() -> None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

        await asyncio.to_thread(sync_and_close)

    async def commit(self) -> Path:
        """Move the sealed file to its place under its digest; if the same bytes are already there, keep those."""
        target = evidence_path(self.data_dir, self.sha256)

        def move() -> None:
            if target.exists():
                self.path.unlink()  # same digest, same bytes: the copy in place is as good as ours
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.path, target)
            _fsync_dir(target.parent)

        await asyncio.to_thread(move)
        return target

    def discard(self) -> None:
        """Remove the temporary file: after a refusal, and on cancellation (a client that hangs up must not leave
        a partial file behind). Synchronous on purpose: it must run even while the task is being cancelled."""
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    # The rename is only durable once the directory entry is; not every platform allows this.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _hash_file(path: Path) -> tuple[str, int] | None:
    try:
        digest, size = hashlib.sha256(), 0
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_SIZE * 16):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size
    except FileNotFoundError:
        return None


async def hash_stored_file(data_dir: Path, sha256: str) -> tuple[str, int] | None:
    """The SHA-256 and size of the bytes stored under this digest now (None when no file is there), read in a
    worker thread: what a download and the deep verify compare with the record."""
    return await asyncio.to_thread(_hash_file, evidence_path(data_dir, sha256))


async def read_stored_file(data_dir: Path, sha256: str, expected_size: int) -> bytes | None:
    """The bytes stored under this digest, at most one byte more than ``expected_size`` (so a longer file shows as
    longer without being read whole); None when no file is there. Read in a worker thread."""

    def read() -> bytes | None:
        try:
            with evidence_path(data_dir, sha256).open("rb") as handle:
                return handle.read(expected_size + 1)
        except FileNotFoundError:
            return None

    return await asyncio.to_thread(read)
