"""Evidence files: the documents a commune uploads to prove an indicator.

This module owns what such a file may be: which kinds of document are allowed (judged by their content, not by
what the client claims), how large they may be, and how their names are made safe to show and to send back. Where
the bytes live, and how they are written, synced and hashed on disk, is ``service.persistence.evidence_store``.

The content sniffer reads a bounded amount of any upload, whatever it holds: the first 8 bytes; for a ZIP container
(DOCX, XLSX, ODT) the end of the archive (at most 64 KiB + 22 bytes), its central directory only if it lists at most
``MAX_ZIP_MEMBERS`` members in at most ``MAX_ZIP_DIRECTORY_BYTES`` bytes (larger archives are refused, 422
``archive_too_large``, before anything parses them), and at most 40 bytes of the ODT ``mimetype`` member. Sniffing
and every disk operation run in worker threads, so an upload never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from prometheus_client import Counter

from service.domain.errors import Conflict, InvalidPayload, NotFound, PayloadTooLarge, Reason, UnsupportedMediaType
from service.persistence.evidence_store import PendingFile, is_sha256, read_stored_file
from service.persistence.tables import Evidence

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"

ALLOWED_MEDIA_TYPES: dict[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    JPEG: (".jpg", ".jpeg"),
    PNG: (".png",),
    DOCX: (".docx",),
    XLSX: (".xlsx",),
    ODT: (".odt",),
}

_SHORT_NAMES = {PDF: "PDF", JPEG: "JPEG", PNG: "PNG", DOCX: "DOCX", XLSX: "XLSX", ODT: "ODT"}
_ALLOWED_KINDS = "PDF, JPEG, PNG, DOCX, XLSX or ODT"

# Browsers and some office suites send this when they do not know better; it claims nothing.
_UNDECLARED = "application/octet-stream"

_MAX_NAME_LENGTH = 150
_FALLBACK_NAME = "evidence"

# An office document has tens of members (a workbook with many sheets and pictures a few hundred); an archive
# beyond these is refused before its directory is parsed (issue 13 point 8: 225,000 empty members).
MAX_ZIP_MEMBERS = 10_000
MAX_ZIP_DIRECTORY_BYTES = 1024 * 1024
_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"

log = logging.getLogger("cdht.evidence")
INTEGRITY_FAILURES = Counter(
    "cdht_evidence_integrity_failures_total",
    "Evidence files whose bytes on disk differ from their recorded SHA-256, by what found them",
    ["found_by"],
)


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    media_type: str
    filename: str
    path: Path


async def store_evidence_file(
    chunks: AsyncIterator[bytes],
    *,
    data_dir: Path,
    max_bytes: int,
    declared_type: str | None,
    filename: str | None,
) -> StoredFile:
    """Stream an upload to disk, check what it really is, and keep it under its SHA-256.

    Accepted only if all of these hold, otherwise ``UnsupportedMediaType`` (415) with one reason each:

    * the content sniffs as one of ``ALLOWED_MEDIA_TYPES`` (magic bytes; for ZIP containers, the
      members that make a DOCX, XLSX or ODT);
    * the declared type (the multipart part's Content-Type, parameters ignored) is an allowed type
      and equals the sniffed one. A missing declared type or ``application/octet-stream`` is accepted
      when the content sniffs as allowed: browsers send that for files they have no mapping for, and
      since the content is what we trust, refusing it would only turn away honest uploads;
    * the filename's extension, if it has one, is one of those of the sniffed type, so that a file
      saved back to a desktop opens in the program its content belongs to.

    More than ``max_bytes`` raises ``PayloadTooLarge`` (413) as soon as the limit is passed, without
    reading the rest; a ZIP archive beyond the sniffer's bounds raises ``InvalidPayload`` (422). Nothing is
    left on disk after any refusal.
    """
    safe_name = sanitize_filename(filename)
    pending = await PendingFile.create(data_dir)
    try:
        async for chunk in chunks:
            if pending.size + len(chunk) > max_bytes:
                await _close_source(chunks)
                raise PayloadTooLarge(
                    "The evidence file is larger than the service accepts.",
                    reasons=[
                        Reason(
                            "evidence_too_large",
                            f"Evidence files may be at most {_format_mb(max_bytes)} "
                            f"({max_bytes} bytes); this upload is larger.",
                        )
                    ],
                )
            await pending.write(chunk)
        await pending.seal()
        media_type = await asyncio.to_thread(sniff_media_type, pending.path)
        reasons = _refusals(media_type, declared_type, safe_name)
        if reasons:
            raise UnsupportedMediaType(
                f"Evidence must be a {_ALLOWED_KINDS} file whose declared type and name agree with its content.",
                reasons=reasons,
            )
        assert media_type is not None  # _refusals returns a reason when the content is unknown
        target = await pending.commit()
    except BaseException:
        # Also on cancellation: a client that hangs up must not leave a partial file behind.
        pending.discard()
        raise
    return StoredFile(sha256=pending.sha256, size=pending.size, media_type=media_type, filename=safe_name, path=target)


async def served_bytes(data_dir: Path, row: Evidence) -> bytes:
    """The bytes of an evidence file as a download serves them: read once, and served only if they are the bytes
    the record names (their SHA-256 and size). Otherwise the download is refused: 404 ``evidence_file_missing``
    when no file is there, 409 ``evidence_file_altered`` when its bytes changed on disk (logged and counted:
    ``cdht_evidence_integrity_failures_total{found_by="download"}``)."""
    if not is_sha256(row.sha256):
        raise _altered(row, f"the record's sha256 {row.sha256!r} is not a SHA-256 digest")
    data = await read_stored_file(data_dir, row.sha256, row.size)
    if data is None:
        raise NotFound(
            "Tệp minh chứng không còn trên đĩa / The evidence file is missing from storage.",
            reasons=[Reason("evidence_file_missing", f"sha256 {row.sha256} is not on disk")],
        )
    actual = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
    if actual != row.sha256 or len(data) != row.size:
        raise _altered(row, f"the file holds {len(data)} bytes with sha256 {actual}")
    return data


def _altered(row: Evidence, found: str) -> Conflict:
    """The refusal of a download whose file is not what its record names (logged and counted here)."""
    INTEGRITY_FAILURES.labels(found_by="download").inc()
    log.error(
        "evidence %s of case %s refused for download: %s; the record names %d bytes with sha256 %s",
        row.id,
        row.case_id,
        found,
        row.size,
        row.sha256,
    )
    return Conflict(
        "Nội dung tệp minh chứng trên đĩa đã bị thay đổi so với bản đã ghi nhận; tệp không được cung cấp / "
        "The evidence file on disk no longer matches its record; it is not served.",
        reasons=[
            Reason(
                "evidence_file_altered",
                f"the record names sha256 {row.sha256} ({row.size} bytes); {found}. "
                "Run GET /v1/audit/verify?deep=true and restore the file from a backup.",
            )
        ],
    )


def sniff_media_type(path: Path) -> str | None:
    """``sniff_stream`` of a file on disk (blocking: run it in a worker thread)."""
    try:
        with path.open("rb") as handle:
            return sniff_stream(handle)
    except OSError:
        return None


def sniff_stream(handle: BinaryIO) -> str | None:
    """The allowed media type the content is, or ``None`` if it is none of them; ``InvalidPayload`` (422) for a
    ZIP archive larger than the sniffer reads. Reads a bounded amount (see the module docstring)."""
    head = handle.read(8)
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(handle)
    return None


def _zip_directory(handle: BinaryIO) -> tuple[int, int] | None:
    """(members, central directory bytes) as the archive's end records state them, read from its last 64 KiB (and
    the ZIP64 end record it points to); None when there is no end record."""
    size = handle.seek(0, os.SEEK_END)
    tail_size = min(size, _EOCD_SIZE + 0xFFFF)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < _EOCD_SIZE:
        return None
    members, directory_bytes = struct.unpack("<HI", tail[at + 10 : at + 16])
    locator = at - 20
    if locator >= 0 and tail[locator : locator + 4] == _ZIP64_LOCATOR:
        (record_at,) = struct.unpack("<Q", tail[locator + 8 : locator + 16])
        handle.seek(record_at)
        record = handle.read(56)
        if len(record) == 56 and record[:4] == _ZIP64_EOCD:
            members, directory_bytes = struct.unpack("<QQ", record[32:48])
    return members, directory_bytes


def _sniff_zip(handle: BinaryIO) -> str | None:
    directory = _zip_directory(handle)
    if directory is None:
        return None
    members, directory_bytes = directory
    if members > MAX_ZIP_MEMBERS or directory_bytes > MAX_ZIP_DIRECTORY_BYTES:
        raise InvalidPayload(
            "Tệp nén có quá nhiều thành phần để kiểm tra / The archive has more members than the service checks.",
            reasons=[
                Reason(
                    "archive_too_large",
                    f"A DOCX, XLSX or ODT file may list at most {MAX_ZIP_MEMBERS} members in at most "
                    f"{MAX_ZIP_DIRECTORY_BYTES // 1024} KiB of directory; this one lists {members} in "
                    f"{directory_bytes} bytes.",
                )
            ],
        )
    try:
        handle.seek(0)
        with zipfile.ZipFile(handle) as zf:
            names = set(zf.namelist())
            is_odt = False
            if "mimetype" in names:
                expected = ODT.encode("ascii")
                # Bounded read: a hostile archive could make this member inflate to gigabytes.
                with zf.open("mimetype") as member:
                    is_odt = member.read(len(expected) + 1) == expected
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        OSError,
        EOFError,
        ValueError,
        KeyError,
        NotImplementedError,
        RuntimeError,
    ):
        # Corrupt, encrypted or using a compression we cannot read: not something we can vouch for.
        return None
    if len(names) > MAX_ZIP_MEMBERS:  # the end record understated what the directory holds
        return None
    found = []
    if "word/document.xml" in names and "[Content_Types].xml" in names:
        found.append(DOCX)
    if "xl/workbook.xml" in names:
        found.append(XLSX)
    if is_odt:
        found.append(ODT)
    # An archive that passes for two kinds at once is a polyglot: no single answer is honest.
    return found[0] if len(found) == 1 else None


def sanitize_filename(name: str | None) -> str:
    """A name safe to store, show and send back in Content-Disposition; never empty.

    Only the base name is kept (``/`` and ``\\`` both count as separators, since uploads come from
    Windows too), so ``../../etc/passwd`` becomes ``passwd``. Letters and digits of any script are kept
    (Vietnamese names must survive: ``Biên bản họp.pdf``), after NFC normalisation so that the same
    name typed on macOS (NFD) and Windows (NFC) is the same string. Whitespace, including tabs and
    newlines, collapses to one space; other characters, control characters among them, become ``_``.
    Leading dots are stripped (no hidden files, no ``..``). At most 150 characters, cut from the stem
    so the extension survives. Falls back to ``evidence``.
    """
    if not name:
        return _FALLBACK_NAME
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1]
    kept = []
    for ch in name:
        if ch.isspace():
            kept.append(" ")
        elif ch in ".-_ " or unicodedata.category(ch)[0] in "LNM":
            kept.append(ch)
        else:
            kept.append("_")
    name = re.sub(r" +", " ", "".join(kept)).strip(" ")
    name = name.lstrip(". ")
    if len(name) > _MAX_NAME_LENGTH:
        stem, ext = os.path.splitext(name)
        if ext and len(ext) <= 16:
            name = stem[: _MAX_NAME_LENGTH - len(ext)].rstrip(" ") + ext
        else:
            name = name[:_MAX_NAME_LENGTH].rstrip(" ")
    return name or _FALLBACK_NAME


def _refusals(media_type: str | None, declared_type: str | None, filename: str) -> list[Reason]:
    declared = (declared_type or "").split(";", 1)[0].strip().lower()
    shown = declared or "nothing"
    if media_type is None:
        return [
            Reason(
                "media_type_not_allowed",
                f"The content is not a {_ALLOWED_KINDS} file (declared as {shown}).",
            )
        ]
    found = f"{_SHORT_NAMES[media_type]} ({media_type})"
    reasons = []
    if declared and declared != _UNDECLARED:
        if declared not in ALLOWED_MEDIA_TYPES:
            reasons.append(
                Reason(
                    "media_type_not_allowed",
                    f"Declared type {declared} is not allowed (allowed: {_ALLOWED_KINDS}); the content is {found}.",
                )
            )
        elif declared != media_type:
            reasons.append(Reason("media_type_mismatch", f"Declared as {declared} but the content is {found}."))
    ext = os.path.splitext(filename)[1].lower()
    if ext and ext not in ALLOWED_MEDIA_TYPES[media_type]:
        expected = " or ".join(ALLOWED_MEDIA_TYPES[media_type])
        reasons.append(
            Reason(
                "extension_mismatch",
                f"The name {filename!r} ends in {ext} but the content is {found}, which should be named {expected}.",
            )
        )
    return reasons


async def _close_source(chunks: AsyncIterator[bytes]) -> None:
    # Leaving the loop early does not finalise an async generator; close it so the upload is released.
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


def _format_mb(max_bytes: int) -> str:
    mb = max_bytes / (1024 * 1024)
    return f"{mb:.0f} MB" if mb >= 1 and mb == int(mb) else f"{mb:.2f} MB"
