"""An upload never stalls the event loop (issue 13 point 8): the content sniffer reads a bounded amount of any
archive and refuses, 422 ``archive_too_large``, one whose directory is larger than it checks (a DOCX with 225,000
empty members), before anything parses that directory; sniffing and syncing run in worker threads."""

from __future__ import annotations

import asyncio
import io
import itertools
import string
import struct
import threading
import time
import zipfile
from typing import Any

import pytest

from service.domain import evidence
from service.domain.errors import InvalidPayload
from service.persistence import evidence_store
from service.walkthrough import assign_indicators, issue_plan
from tests.helpers import DEFINITION, Api

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# What the sniffer may read of an archive: its first 8 bytes, the end of the archive (22 bytes of end record and at
# most 65,535 of comment) and a ZIP64 end record (56 bytes) — nothing of the directory when it is refused.
SNIFF_BOUND = 8 + 22 + 0xFFFF + 56


def _raw_zip(names: list[str], *, stated_members: int | None = None) -> bytes:
    """A stored ZIP of empty members, written directly (zipfile takes seconds for 225,000 members); ZIP64 end
    records when there are more than 65,535. ``stated_members`` puts another count in the end record."""
    local, central = bytearray(), bytearray()
    for name in names:
        encoded = name.encode()
        offset = len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, 0, 0, 0, len(encoded), 0) + encoded
        central += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, 0, 0, 0, len(encoded), 0, 0, 0, 0, 0, offset
            )
            + encoded
        )
    count = len(names) if stated_members is None else stated_members
    end = bytearray()
    if count > 0xFFFF:
        zip64_at = len(local) + len(central)
        end += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(central), len(local))
        end += struct.pack("<IIQI", 0x07064B50, 0, zip64_at, 1)
        end += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, len(central), len(local), 0)
    else:
        end += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(local), 0)
    return bytes(local + central + end)


def _member_names(count: int) -> list[str]:
    alphabet = string.ascii_letters + string.digits
    names = ["[Content_Types].xml", "word/document.xml"]
    names += ["".join(p) for p in itertools.islice(itertools.product(alphabet, repeat=3), count - len(names))]
    return names


@pytest.fixture(scope="module")
def hostile_docx() -> bytes:
    data = _raw_zip(_member_names(225_000))
    assert len(zipfile.ZipFile(io.BytesIO(data)).namelist()) == 225_000  # a real archive, as zipfile reads it
    return data


class _CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def _no_zipfile(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the archive's directory was parsed")

    monkeypatch.setattr(evidence.zipfile, "ZipFile", refuse)


def test_the_sniffer_refuses_225000_members_reading_only_the_end_of_the_archive(
    hostile_docx: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_zipfile(monkeypatch)
    reader = _CountingReader(hostile_docx)
    with pytest.raises(InvalidPayload) as refused:
        evidence.sniff_stream(reader)
    assert refused.value.reasons[0].code == "archive_too_large"
    assert "225000" in refused.value.reasons[0].message
    assert reader.bytes_read <= SNIFF_BOUND < len(hostile_docx) / 100


def test_an_end_record_that_understates_the_members_is_held_to_the_directory_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _raw_zip(_member_names(30_000), stated_members=2)  # 30,000 entries: 1.4 MB of directory
    _no_zipfile(monkeypatch)
    reader = _CountingReader(data)
    with pytest.raises(InvalidPayload) as refused:
        evidence.sniff_stream(reader)
    assert refused.value.reasons[0].code == "archive_too_large"
    assert reader.bytes_read <= SNIFF_BOUND


def test_an_archive_within_the_bounds_is_sniffed_as_before() -> None:
    docx = _raw_zip(_member_names(evidence.MAX_ZIP_MEMBERS))
    assert evidence.sniff_stream(io.BytesIO(docx)) == DOCX
    over = _raw_zip(_member_names(evidence.MAX_ZIP_MEMBERS + 1))
    with pytest.raises(InvalidPayload):
        evidence.sniff_stream(io.BytesIO(over))


async def test_the_upload_is_refused_422_while_the_loop_keeps_answering(
    api: Api, hostile_docx: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", issue_plan(2025)))
    await api.ok(await api.fire(leader, case_id, "assign_indicators", assign_indicators(DEFINITION)))
    officer = api.who("commune_officer", "C3")
    loop_thread = threading.get_ident()
    threads: dict[str, set[int]] = {"sniff": set(), "fsync": set()}
    sniff, fsync = evidence.sniff_media_type, evidence_store.os.fsync

    def spying_sniff(path: Any) -> Any:
        threads["sniff"].add(threading.get_ident())
        return sniff(path)

    def spying_fsync(descriptor: int) -> None:
        threads["fsync"].add(threading.get_ident())
        fsync(descriptor)

    monkeypatch.setattr(evidence, "sniff_media_type", spying_sniff)
    monkeypatch.setattr(evidence_store.os, "fsync", spying_fsync)
    _no_zipfile(monkeypatch)

    done = asyncio.Event()
    pings: list[float] = []

    async def ping() -> None:
        while not done.is_set():
            started = time.perf_counter()
            assert (await api.client.get("/healthz")).status_code == 200
            pings.append(time.perf_counter() - started)
            await asyncio.sleep(0.005)

    pinger = asyncio.create_task(ping())
    try:
        response = await api.upload(officer, case_id, "TC1.1", content=hostile_docx, filename="a.docx", media_type=DOCX)
    finally:
        done.set()
        await pinger
    assert response.status_code == 422, response.text
    assert response.json()["reasons"][0]["code"] == "archive_too_large"
    assert pings, "no ping was answered while the upload ran"
    assert threads["sniff"] and loop_thread not in threads["sniff"]
    assert threads["fsync"] and loop_thread not in threads["fsync"]
    stored = [p for p in (api.settings.data_dir / "evidence").rglob("*") if p.is_file()]
    assert stored == []
    print(f"longest /healthz while the upload ran: {max(pings) * 1000:.0f} ms over {len(pings)} pings")
