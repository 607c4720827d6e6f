"""Evidence files: real minimal documents of each allowed kind, stored, deduplicated and refused."""

from __future__ import annotations

import hashlib
import io
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.domain.errors import PayloadTooLarge, UnsupportedMediaType
from service.domain.evidence import (
    ALLOWED_MEDIA_TYPES,
    sanitize_filename,
    sniff_media_type,
    store_evidence_file,
)
from service.persistence.evidence_store import evidence_path

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"
MB = 1024 * 1024


# --- real minimal documents ---------------------------------------------------------------------


def make_pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def make_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    idat = zlib.compress(b"\x00\xc0\x20\x10")  # filter byte, one pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def make_jpeg() -> bytes:
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"


def make_zip(members: dict[str, bytes], *, stored_first: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        if stored_first is not None:
            zf.writestr(stored_first, members[stored_first], compress_type=zipfile.ZIP_STORED)
        for name, data in members.items():
            if name != stored_first:
                zf.writestr(name, data)
    return buffer.getvalue()


def make_docx() -> bytes:
    return make_zip(
        {
            "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
            b'package/2006/content-types"/>',
            "_rels/.rels": b'<?xml version="1.0"?><Relationships/>',
            "word/document.xml": b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.'
            b'openxmlformats.org/wordprocessingml/2006/main"><w:body/></w:document>',
        }
    )


def make_xlsx() -> bytes:
    return make_zip(
        {
            "[Content_Types].xml": b'<?xml version="1.0"?><Types/>',
            "_rels/.rels": b'<?xml version="1.0"?><Relationships/>',
            "xl/workbook.xml": b'<?xml version="1.0"?><workbook><sheets/></workbook>',
        }
    )


def make_odt(mimetype: bytes = ODT.encode()) -> bytes:
    return make_zip(
        {
            "mimetype": mimetype,
            "content.xml": b'<?xml version="1.0"?><office:document-content/>',
            "META-INF/manifest.xml": b'<?xml version="1.0"?><manifest:manifest/>',
        },
        stored_first="mimetype",
    )


async def chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def store(tmp_path: Path, data: bytes, declared: str | None, filename: str | None, max_bytes: int = MB):
    return await store_evidence_file(
        chunked(data), data_dir=tmp_path, max_bytes=max_bytes, declared_type=declared, filename=filename
    )


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def codes(error: UnsupportedMediaType) -> list[str]:
    return [reason.code for reason in error.reasons]


# --- storing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "declared", "data"),
    [
        ("bien-ban.pdf", PDF, make_pdf()),
        ("anh.jpg", JPEG, make_jpeg()),
        ("anh.jpeg", JPEG, make_jpeg()),
        ("so-do.png", PNG, make_png()),
        ("bao-cao.docx", DOCX, make_docx()),
        ("so-lieu.xlsx", XLSX, make_xlsx()),
        ("ke-hoach.odt", ODT, make_odt()),
    ],
)
async def test_allowed_type_is_stored_under_its_digest(tmp_path: Path, filename: str, declared: str, data: bytes):
    stored = await store(tmp_path, data, declared, filename)

    sha = hashlib.sha256(data).hexdigest()
    assert stored.sha256 == sha
    assert stored.size == len(data)
    assert stored.media_type == declared
    assert stored.filename == filename
    assert stored.path == tmp_path / "evidence" / sha[:2] / sha[2:4] / sha
    assert stored.path.read_bytes() == data
    assert files_under(tmp_path / "evidence" / "tmp") == []


async def test_file_larger_than_one_chunk_hashes_all_chunks(tmp_path: Path):
    data = make_pdf() + b"%" + b"x" * (3 * 64 * 1024 + 17) + b"\n"

    stored = await store(tmp_path, data, PDF, "lon.pdf")

    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    assert stored.path.read_bytes() == data


async def test_same_content_twice_is_stored_once(tmp_path: Path):
    data = make_pdf()

    first = await store(tmp_path, data, PDF, "lan-1.pdf")
    inode = first.path.stat().st_ino
    second = await store(tmp_path, data, PDF, "lan-2.pdf")

    assert first.path == second.path
    assert second.filename == "lan-2.pdf"
    assert files_under(tmp_path / "evidence") == [first.path]
    assert first.path.stat().st_ino == inode  # kept, not rewritten


async def test_octet_stream_with_pdf_content_is_accepted(tmp_path: Path):
    stored = await store(tmp_path, make_pdf(), "application/octet-stream", "bien-ban.pdf")

    assert stored.media_type == PDF
    assert stored.path.is_file()


async def test_missing_declared_type_with_png_content_is_accepted(tmp_path: Path):
    stored = await store(tmp_path, make_png(), None, None)

    assert stored.media_type == PNG
    assert stored.filename == "evidence"
    assert stored.path.is_file()


async def test_declared_type_parameters_and_case_are_ignored(tmp_path: Path):
    stored = await store(tmp_path, make_pdf(), "Application/PDF; charset=binary", "BIEN-BAN.PDF")

    assert stored.media_type == PDF
    assert stored.filename == "BIEN-BAN.PDF"


async def test_name_without_extension_is_accepted(tmp_path: Path):
    stored = await store(tmp_path, make_docx(), DOCX, "bao cao")

    assert stored.media_type == DOCX
    assert stored.filename == "bao cao"


async def test_stored_filename_is_sanitised(tmp_path: Path):
    stored = await store(tmp_path, make_pdf(), PDF, "../../etc/Biên bản họp.pdf")

    assert stored.filename == "Biên bản họp.pdf"
    assert stored.path.parent.parent.parent == tmp_path / "evidence"


# --- size limit ---------------------------------------------------------------------------------


async def test_content_over_limit_raises_payload_too_large_and_leaves_nothing(tmp_path: Path):
    data = make_pdf() + b"x" * (3 * 64 * 1024)

    with pytest.raises(PayloadTooLarge) as caught:
        await store(tmp_path, data, PDF, "lon.pdf", max_bytes=64 * 1024)

    assert caught.value.status == 413
    assert [r.code for r in caught.value.reasons] == ["evidence_too_large"]
    assert "MB" in caught.value.reasons[0].message
    assert files_under(tmp_path / "evidence") == []


async def test_limit_message_states_default_limit_in_mb(tmp_path: Path):
    with pytest.raises(PayloadTooLarge) as caught:
        await store(tmp_path, b"x" * 10, PDF, "a.pdf", max_bytes=5)
    assert "MB" in caught.value.reasons[0].message

    big = 20 * MB

    async def one_oversized_chunk() -> AsyncIterator[bytes]:
        yield b"\0" * (big + 1)

    with pytest.raises(PayloadTooLarge) as caught:
        await store_evidence_file(
            one_oversized_chunk(), data_dir=tmp_path, max_bytes=big, declared_type=PDF, filename="a.pdf"
        )
    assert "20 MB" in caught.value.reasons[0].message


async def test_content_over_limit_stops_reading_at_the_limit(tmp_path: Path):
    pulled = 0
    closed = False

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled, closed
        try:
            while True:
                pulled += 1
                yield b"%PDF-" + b"x" * 1019  # 1 KiB
        finally:
            closed = True

    with pytest.raises(PayloadTooLarge):
        await store_evidence_file(endless(), data_dir=tmp_path, max_bytes=4096, declared_type=PDF, filename="a.pdf")

    assert pulled == 5
    assert closed
    assert files_under(tmp_path / "evidence") == []


async def test_content_exactly_at_limit_is_accepted(tmp_path: Path):
    data = make_pdf()

    stored = await store(tmp_path, data, PDF, "vua-du.pdf", max_bytes=len(data))

    assert stored.size == len(data)


# --- refusals -----------------------------------------------------------------------------------


async def test_declared_pdf_with_png_content_raises_415(tmp_path: Path):
    with pytest.raises(UnsupportedMediaType) as caught:
        await store(tmp_path, make_png(), PDF, "anh.png")

    assert caught.value.status == 415
    assert codes(caught.value) == ["media_type_mismatch"]
    message = caught.value.reasons[0].message
    assert PDF in message and PNG in message
    assert files_under(tmp_path / "evidence") == []


async def test_exe_content_named_pdf_raises_415(tmp_path: Path):
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 48 + b"This program cannot be run"

    with pytest.raises(UnsupportedMediaType) as caught:
        await store(tmp_path, exe, PDF, "setup.pdf")

    assert codes(caught.value) == ["media_type_not_allowed"]
    assert PDF in caught.value.reasons[0].message
    assert files_under(tmp_path / "evidence") == []


async def test_pdf_content_named_exe_raises_415(tmp_path: Path):
    with pytest.raises(UnsupportedMediaType) as caught:
        await store(tmp_path, make_pdf(), PDF, "setup.exe")

    assert codes(caught.value) == ["extension_mismatch"]
    message = caught.value.reasons[0].message
    assert ".exe" in message and ".pdf" in message
    assert files_under(tmp_path / "evidence") == []


async def test_zip_that_is_no_office_document_raises_415(tmp_path: Path):
    data = make_zip({"readme.txt": b"hello", "word/other.xml": b"<x/>"})

    with pytest.raises(UnsupportedMediaType) as caught:
        await store(tmp_path, data, DOCX, "bao-cao.docx")

    assert codes(caught.value) == ["media_type_not_allowed"]
    assert files_under(tmp_path / "evidence") == []


async def test_declared_text_html_with_pdf_content_raises_415(tmp_path: Path):
    with pytest.raises(UnsupportedMediaType) as caught:
        await store(tmp_path, make_pdf(), "text/html", "bien-ban.pdf")

    assert codes(caught.value) == ["media_type_not_allowed"]
    message = caught.value.reasons[0].message
    assert "text/html" in message and PDF in message
    assert files_under(tmp_path / "evidence") == []


async def test_xlsx_declared_as_docx_raises_415(tmp_path: Path):
    with pytest.raises(UnsupportedMediaType) as caught:
        await store(tmp_path, make_xlsx(), DOCX, "so-lieu.xlsx")

    assert codes(caught.value) == ["media_type_mismatch"]


async def test_every_mismatch_is_reported(tmp_path: Path):
    with pytest.raises(UnsupportedMediaType) as caught:
        await store(tmp_path, make_png(), JPEG, "anh.jpg")

    assert codes(caught.value) == ["media_type_mismatch", "extension_mismatch"]


async def test_empty_upload_raises_415(tmp_path: Path):
    with pytest.raises(UnsupportedMediaType):
        await store(tmp_path, b"", PDF, "rong.pdf")

    assert files_under(tmp_path / "evidence") == []


# --- sniffing -----------------------------------------------------------------------------------


def test_corrupt_zip_sniffs_as_unknown(tmp_path: Path):
    path = tmp_path / "broken.docx"
    path.write_bytes(make_docx()[:60])

    assert sniff_media_type(path) is None


def test_odt_with_other_mimetype_sniffs_as_unknown(tmp_path: Path):
    path = tmp_path / "bang-tinh.ods"
    path.write_bytes(make_odt(b"application/vnd.oasis.opendocument.spreadsheet"))

    assert sniff_media_type(path) is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (make_pdf(), PDF),
        (make_jpeg(), JPEG),
        (make_png(), PNG),
        (make_docx(), DOCX),
        (make_xlsx(), XLSX),
        (make_odt(), ODT),
        (b"<html></html>", None),
        (b"", None),
    ],
)
def test_content_sniffs_as_its_kind(tmp_path: Path, data: bytes, expected: str | None):
    path = tmp_path / "file"
    path.write_bytes(data)

    assert sniff_media_type(path) == expected


def test_allowed_media_types_are_exactly_the_six_kinds():
    assert set(ALLOWED_MEDIA_TYPES) == {PDF, JPEG, PNG, DOCX, XLSX, ODT}
    assert ALLOWED_MEDIA_TYPES[JPEG] == (".jpg", ".jpeg")


# --- evidence_path ------------------------------------------------------------------------------


def test_valid_digest_maps_to_sharded_path(tmp_path: Path):
    sha = hashlib.sha256(b"x").hexdigest()

    assert evidence_path(tmp_path, sha.upper()) == tmp_path / "evidence" / sha[:2] / sha[2:4] / sha


@pytest.mark.parametrize("bad", ["", "abc", "../" + "a" * 61, "g" * 64, "a" * 63, "a" * 65, "a" * 63 + "/"])
def test_malformed_digest_is_refused_before_it_becomes_a_path(tmp_path: Path, bad: str):
    with pytest.raises(ValueError, match="SHA-256"):
        evidence_path(tmp_path, bad)


# --- sanitize_filename --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\system32\\cmd.exe", "cmd.exe"),
        ("C:\\Users\\xa\\Biên bản họp.pdf", "Biên bản họp.pdf"),
        ("Biên bản họp.pdf", "Biên bản họp.pdf"),
        ("bao\x00cao\x1b.pdf", "bao_cao_.pdf"),
        ("bien\tban\n\r  hop.pdf", "bien ban hop.pdf"),
        ("  ...hidden.pdf  ", "hidden.pdf"),
        ('a<b>c:d"e|f?g*.pdf', "a_b_c_d_e_f_g_.pdf"),
        ("..", "evidence"),
        ("", "evidence"),
        (None, "evidence"),
        ("/", "evidence"),
    ],
)
def test_filename_is_sanitised(raw: str | None, expected: str):
    assert sanitize_filename(raw) == expected


def test_decomposed_vietnamese_name_is_normalised_to_nfc():
    decomposed = unicodedata.normalize("NFD", "Biên bản họp.pdf")

    result = sanitize_filename(decomposed)

    assert result == unicodedata.normalize("NFC", "Biên bản họp.pdf")
    assert result != decomposed


def test_long_filename_is_cut_keeping_extension():
    result = sanitize_filename("Báo cáo " * 40 + ".docx")

    assert len(result) == 150
    assert result.endswith(".docx")
    assert result.startswith("Báo cáo")
