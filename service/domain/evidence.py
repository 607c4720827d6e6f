"""Evidence files: the documents a commune uploads to prove an indicator.

This module owns how such a file is accepted and kept on disk: which kinds of document are allowed
(judged by their content, not by what the client claims), how large they may be, how their names are
made safe to show and to send back, and where their bytes live. Files are content-addressed by
SHA-256 under ``<data_dir>/evidence/<sha[0:2]>/<sha[2:4]>/<sha>``, so the same document uploaded twice
is kept once and a stored file can never be overwritten with different bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from service.domain.errors import NotFound, PayloadTooLarge, Reason, UnsupportedMediaType

CHUNK_SIZE = 64 * 1024

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
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


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

    The bytes go to a temporary file in ``<data_dir>/evidence/tmp/`` while they are hashed and
    counted, so that a file is never held in memory whole and a half-written or refused upload is never
    visible at its final path. Only once the content has been sniffed and accepted is it moved into
    place with ``os.replace`` (atomic on one file system).

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
    reading the rest. Nothing is left on disk after any refusal.

    Writes are plain blocking writes per chunk: evidence files are at most a few tens of MB and a
    thread hop per 64 KiB would cost more than it saves.
    """
    safe_name = sanitize_filename(filename)
    tmp_dir = data_dir / "evidence" / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    tmp_path = Path(tmp_name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
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
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            # The database will soon point at this digest; the bytes must survive a crash first.
            os.fsync(out.fileno())

        media_type = sniff_media_type(tmp_path)
        reasons = _refusals(media_type, declared_type, safe_name)
        if reasons:
            raise UnsupportedMediaType(
                f"Evidence must be a {_ALLOWED_KINDS} file whose declared type and name agree with its content.",
                reasons=reasons,
            )
        assert media_type is not None  # _refusals returns a reason when the content is unknown

        sha256 = digest.hexdigest()
        target = evidence_path(data_dir, sha256)
        if target.exists():
            # Same digest, same bytes: the copy already in place is as good as ours.
            tmp_path.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_path, target)
            _fsync_dir(target.parent)
    except BaseException:
        # Also on cancellation: a client that hangs up must not leave a partial file behind.
        tmp_path.unlink(missing_ok=True)
        raise

    return StoredFile(sha256=sha256, size=size, media_type=media_type, filename=safe_name, path=target)


def evidence_path(data_dir: Path, sha256: str) -> Path:
    """Where the file with this digest lives (whether or not it exists).

    The digest usually comes from a URL, so anything but 64 hex characters is refused as ``NotFound``
    before it can be joined to a path (``../`` and friends never reach the file system).
    """
    sha = sha256.lower()
    if not _SHA256_RE.fullmatch(sha):
        raise NotFound(
            "No such evidence file.",
            reasons=[
                Reason(
                    "evidence_not_found", "An evidence file is named by a SHA-256 digest (64 hexadecimal characters)."
                )
            ],
        )
    return data_dir / "evidence" / sha[0:2] / sha[2:4] / sha


def sniff_media_type(path: Path) -> str | None:
    """The allowed media type the file's content is, or ``None`` if it is none of them."""
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError:
        return None
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(path)
    return None


def _sniff_zip(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as zf:
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


def _format_mb(max_bytes: int) -> str:
    mb = max_bytes / (1024 * 1024)
    return f"{mb:.0f} MB" if mb >= 1 and mb == int(mb) else f"{mb:.2f} MB"
