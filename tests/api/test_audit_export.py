"""Audit exports stream, verify offline and fail on any change; signed checkpoints catch what a chain cannot."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import logging
import tracemalloc
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import insert, select, text

from service.domain.audit.canonical import GENESIS, canonical_json, event_hash, format_time
from service.domain.audit.offline import EXPORT_FIELDS, verify_file, verify_lines
from service.persistence.tables import AuditCheckpoint, AuditEvent, ChainHead
from service.workers.checkpoints import run_checkpointer
from tests.helpers import Api, chained_event


async def _execute(api: Api, sql: str, **params: object) -> None:
    async with api.app.state.services.sessions() as session, session.begin():
        await session.execute(text(sql), params)


async def _export(api: Api, who: Any, **params: Any) -> httpx.Response:
    response = await api.get(who, "/v1/audit/export", **params)
    assert response.status_code == 200, response.text
    return response


def _lines(response: httpx.Response) -> list[str]:
    """The event lines of a JSONL export (its first line, the preamble, checked and left out)."""
    lines = response.text.splitlines()
    if response.headers["content-type"].startswith("application/x-ndjson"):
        preamble = json.loads(lines[0])["export"]
        assert preamble["format"] == "cdht-audit-jsonl/1" and preamble["taken_at"].endswith("Z")
        return lines[1:]
    return lines


async def _walked_case(api: Api) -> str:
    case_id, leader = await api.new_case("C3", 2025)
    await api.walk(case_id, leader, cycle=2025, until="recognized")
    return case_id


# --- export and offline verification -------------------------------------------------------------------------


async def test_walked_case_export_verifies_offline(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    case_id = await _walked_case(api)
    auditor = api.who("auditor", "VN")
    history = await api.ok(await api.get(auditor, f"/v1/cases/{case_id}/history"))
    with caplog.at_level(logging.INFO, logger="cdht.audit.access"):
        caplog.clear()  # only the export's own lines: the history read above is logged too where INFO is on
        response = await _export(api, auditor, format="jsonl", case=case_id)
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["content-disposition"].startswith(f'attachment; filename="cdht-audit-case-{case_id}')
    lines = _lines(response)
    records = [json.loads(line) for line in lines]
    assert [r["seq"] for r in records] == list(range(1, len(history) + 1))
    assert set(records[0]) == set(EXPORT_FIELDS)
    assert records[-1]["to_state"] == "recognized" and records[-1]["hash"] == history[-1]["hash"]
    report = verify_lines(lines)
    assert report.ok, report.text()
    assert (report.events, report.chains) == (len(history), 1)
    assert json.loads(response.text.splitlines()[0])["export"]["complete"] is False  # filtered by case
    assert verify_lines(response.text.splitlines()).ok  # the whole file, preamble included
    logged = [r for r in caplog.records if r.name == "cdht.audit.access"]
    assert len(logged) == 1
    assert auditor.sub in logged[0].getMessage() and f"case={case_id}" in logged[0].getMessage()
    assert logged[0].events == len(history) and logged[0].complete is True


async def test_one_changed_payload_byte_fails_offline_at_that_line(api: Api) -> None:
    case_id = await _walked_case(api)
    lines = _lines(await _export(api, api.who("auditor", "VN"), case=case_id))
    target = next(i for i, line in enumerate(lines) if "15/KH-UBND" in line)
    lines[target] = lines[target].replace("15/KH-UBND", "16/KH-UBND", 1)  # one byte of the payload
    report = verify_lines(lines)
    assert report.ok is False
    assert report.bad is not None
    assert report.bad["line"] == target + 1
    assert report.bad["chain"] == f"case:{case_id}" and report.bad["seq"] == target + 1
    assert "changed" in report.bad["problem"]
    assert report.text().startswith(f"FAILED: line {target + 1}, chain case:{case_id}, seq {target + 1}:")


async def test_deleted_line_fails_offline_on_sequence(api: Api) -> None:
    case_id = await _walked_case(api)
    lines = _lines(await _export(api, api.who("auditor", "VN"), case=case_id))
    del lines[4]
    report = verify_lines(lines)
    assert report.ok is False
    assert report.bad is not None
    assert report.bad["line"] == 5 and report.bad["seq"] == 6
    assert "sequence 6 where 5 was expected" in report.bad["problem"]


async def test_csv_export_holds_the_same_rows_as_jsonl(api: Api) -> None:
    case_id = await _walked_case(api)
    auditor = api.who("auditor", "VN")
    jsonl = [json.loads(line) for line in _lines(await _export(api, auditor, case=case_id))]
    response = await _export(api, auditor, format="csv", case=case_id)
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == list(EXPORT_FIELDS)
    assert rows == [
        {name: "" if record[name] is None else str(record[name]) for name in EXPORT_FIELDS} for record in jsonl
    ]


async def test_province_auditor_export_holds_only_its_jurisdiction(api: Api) -> None:
    mine, leader = await api.new_case("C3", 2025)
    await api.walk(mine, leader, cycle=2025, until="plan_issued")
    other, _ = await api.new_case("C9", 2025)
    lines = _lines(await _export(api, api.who("auditor", "P1")))
    assert {json.loads(line)["chain"] for line in lines} == {f"case:{mine}"}
    assert verify_lines(lines).ok
    outside = _lines(await _export(api, api.who("auditor", "P1"), case=other))
    assert outside == []
    national = _lines(await _export(api, api.who("admin", "VN"), unit="P2"))
    assert {json.loads(line)["chain"] for line in national} == {f"case:{other}"}


async def test_export_by_time_verifies_only_as_partial(api: Api) -> None:
    case_id = await _walked_case(api)
    lines = _lines(await _export(api, api.who("auditor", "VN"), case=case_id, since="2026-02-01T00:00:00Z"))
    assert lines and json.loads(lines[0])["seq"] > 1
    strict = verify_lines(lines)
    assert strict.ok is False and "an event is missing" in strict.bad["problem"]  # type: ignore[index]
    partial = verify_lines(lines, partial=True)
    assert partial.ok, partial.text()
    assert partial.partial_chains == 1


async def test_export_without_auditor_role_is_refused(api: Api) -> None:
    await api.new_case("C3", 2025)
    refused = await api.get(api.who("commune_leader", "C3"), "/v1/audit/export")
    assert refused.status_code == 403
    assert (await api.client.get("/v1/audit/export")).status_code == 401
    bad_format = await api.get(api.who("auditor", "VN"), "/v1/audit/export", format="xml")
    assert bad_format.status_code == 422


# --- bounded memory ------------------------------------------------------------------------------------------


class StreamingASGITransport(httpx.AsyncBaseTransport):
    """An ASGI transport that hands the body over chunk by chunk, with back-pressure (httpx's own ASGITransport
    collects the whole body before returning, which would hide whether the app streams)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = b"".join([chunk async for chunk in request.stream])  # type: ignore[union-attr]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "server": (request.url.host, request.url.port or 80),
            "client": ("127.0.0.1", 123),
            "root_path": "",
        }
        chunks: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=4)
        started: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        disconnected = asyncio.Event()
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.set_result(message)
            elif message["type"] == "http.response.body":
                await chunks.put(message.get("body", b""))
                if not message.get("more_body", False):
                    await chunks.put(None)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            except BaseException as exc:  # noqa: BLE001 - handed to the reader
                if not started.done():
                    started.set_exception(exc)
                await chunks.put(exc)

        task = asyncio.create_task(run())
        start = await started

        class Body(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                while (item := await chunks.get()) is not None:
                    if isinstance(item, BaseException):
                        raise item
                    if item:
                        yield item

            async def aclose(self) -> None:
                disconnected.set()
                await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), timeout=10)

        return httpx.Response(start["status"], headers=start["headers"], stream=Body())


CHAINS, EVENTS_PER_CHAIN = 1000, 100
NOTE = "Biên bản kiểm tra hồ sơ cộng đồng học tập cấp xã; " * 8  # ~420 characters of Vietnamese text per payload


async def _insert_load(api: Api) -> int:
    """100,000 valid chained events in non-case chains, with their heads, straight into the tables."""
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    async with api.app.state.services.sessions() as session, session.begin():
        for first in range(0, CHAINS, 50):
            rows = []
            heads = []
            for number in range(first, first + 50):
                chain, prev = f"load:{number:04d}", GENESIS
                for seq in range(1, EVENTS_PER_CHAIN + 1):
                    event = chained_event(
                        chain=chain,
                        seq=seq,
                        prev=prev,
                        kind="load_test",
                        trigger="load",
                        actor_sub="system:load",
                        actor_name="Tải thử",
                        actor_role="system",
                        occurred_at=start + timedelta(seconds=number * EVENTS_PER_CHAIN + seq),
                        payload={"n": seq, "note": NOTE},
                        citation="Điều 5 Thông tư 25/2023/TT-BGDĐT",
                    )
                    prev = event.hash
                    rows.append(vars(event))
                heads.append({"chain": chain, "seq": EVENTS_PER_CHAIN, "hash": prev})
            await session.execute(insert(AuditEvent), rows)
            await session.execute(insert(ChainHead), heads)
    return CHAINS * EVENTS_PER_CHAIN


async def test_hundred_thousand_events_stream_in_bounded_memory(api: Api, tmp_path: Path) -> None:
    total = await _insert_load(api)
    target = tmp_path / "export.jsonl"
    transport = StreamingASGITransport(api.app)
    auditor = api.who("auditor", "VN")
    size = chunks = 0
    async with httpx.AsyncClient(transport=transport, base_url="http://cdht.test") as client:
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            with target.open("wb") as out:
                async with client.stream(
                    "GET", "/v1/audit/export", params={"format": "jsonl"}, headers=auditor.headers
                ) as response:
                    assert response.status_code == 200
                    async for chunk in response.aiter_raw():
                        out.write(chunk)
                        size += len(chunk)
                        chunks += 1
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert chunks > 50  # it arrived in pieces, not as one body
    assert size > 50 * 1024 * 1024
    # A response built in memory holds the whole export (and more); streaming holds a batch or two.
    assert peak < size / 3, f"peak {peak / 2**20:.1f} MiB for an export of {size / 2**20:.1f} MiB"
    assert peak < 40 * 1024 * 1024
    report = verify_file(target)
    assert report.ok, report.text()
    assert (report.events, report.chains) == (total, CHAINS)


# --- checkpoints ---------------------------------------------------------------------------------------------


async def _checkpoint(api: Api, who: Any | None = None) -> dict[str, Any]:
    who = who or api.who("auditor", "VN")
    response = await api.client.post("/v1/audit/checkpoints", headers=who.headers)
    body = await api.ok(response, 201)
    assert response.headers["location"] == f"/v1/audit/checkpoints/{body['id']}"
    return body


async def test_checkpoint_signature_verifies_with_the_public_key(api: Api) -> None:
    case_id = await _walked_case(api)
    auditor = api.who("auditor", "VN")
    created = await _checkpoint(api, auditor)
    document = await api.ok(await api.get(auditor, f"/v1/audit/checkpoints/{created['id']}"))
    pem = await api.get(auditor, "/v1/audit/checkpoints/public-key")
    assert pem.status_code == 200 and pem.text.startswith("-----BEGIN PUBLIC KEY-----")
    key = serialization.load_pem_public_key(pem.content)
    assert isinstance(key, Ed25519PublicKey)
    history = await api.ok(await api.get(auditor, f"/v1/cases/{case_id}/history"))
    head = document["heads"][f"case:{case_id}"]
    assert list(document["heads"]) == [f"case:{case_id}"] and head[:2] == [len(history), history[-1]["hash"]]
    # On PostgreSQL a case whose tables match its digest has them sealed into its head (``table_seals``)
    assert len(head) == (3 if api.app.state.services.engine.dialect.name == "postgresql" else 2)
    moment = datetime.fromisoformat(document["created_at"]).astimezone(timezone.utc)
    signed_part = {
        "id": document["id"],
        "created_at": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "key_id": document["key_id"],
        "heads": document["heads"],
    }
    digest = hashlib.sha256(canonical_json(signed_part).encode()).hexdigest()  # id, time, key and heads are signed
    assert document["digest"] == created["digest"] == digest
    key.verify(base64.b64decode(created["signature"]), bytes.fromhex(digest))  # raises if it does not verify
    with pytest.raises(InvalidSignature):
        key.verify(base64.b64decode(created["signature"]), hashlib.sha256(b"other heads").digest())
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert created["key_id"] == hashlib.sha256(raw).hexdigest()[:16]
    assert (created["events_total"], created["chains_total"]) == (len(history), 1)
    listed = await api.ok(await api.get(api.who("auditor", "P1"), "/v1/audit/checkpoints"))
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    report = await api.ok(await api.get(auditor, "/v1/audit/checkpoints/verify"))
    assert report["ok"] is True and report["heads_checked"] == 1


async def test_checkpoints_are_listed_newest_first_in_pages(api: Api) -> None:
    await api.new_case("C3", 2025)
    made = []
    for hour in range(3):
        api.clock.set(f"2025-02-01T0{hour}:00:00")
        made.append((await _checkpoint(api))["id"])
    auditor = api.who("admin", "VN")
    first = await api.ok(await api.get(auditor, "/v1/audit/checkpoints", limit=2))
    rest = await api.ok(await api.get(auditor, "/v1/audit/checkpoints", limit=2, cursor=first["next_cursor"]))
    assert [item["id"] for item in first["items"] + rest["items"]] == made[::-1]
    assert rest["next_cursor"] is None


async def test_event_rehashed_after_checkpoint_is_reported(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.walk(case_id, leader, cycle=2025, until="plan_issued")
    auditor = api.who("auditor", "VN")
    checkpoint = await _checkpoint(api, auditor)
    # Rewrite the newest event consistently: a new payload, its recomputed hash, and the case's head to match.
    async with api.app.state.services.sessions() as session:
        event = (
            (
                await session.execute(
                    select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq.desc())
                )
            )
            .scalars()
            .first()
        )
        assert event is not None
        event.payload = event.payload.replace("15/KH-UBND", "16/KH-UBND")
        forged, seq = event_hash(event), event.seq
        session.expunge(event)
    await _execute(
        api,
        "UPDATE audit_event SET payload = replace(payload, '15/KH-UBND', '16/KH-UBND'), hash = :h "
        "WHERE case_id = :case AND seq = :seq",
        h=forged,
        case=case_id,
        seq=seq,
    )
    await _execute(api, "UPDATE cases SET last_hash = :h WHERE id = :case", h=forged, case=case_id)
    chain_only = await api.ok(await api.get(auditor, "/v1/audit/verify", case=case_id))
    assert chain_only["ok"] is True  # the chain alone cannot tell
    report = await api.ok(await api.get(auditor, "/v1/audit/checkpoints/verify"))
    assert report["ok"] is False
    assert report["problems"] == [
        {
            "checkpoint_id": checkpoint["id"],
            "chain": f"case:{case_id}",
            "seq": seq,
            "problem": f"event changed after checkpoint {checkpoint['id']}",
        }
    ]


async def test_chain_removed_after_checkpoint_is_reported(api: Api) -> None:
    case_id, _ = await api.new_case("C3", 2025)
    checkpoint = await _checkpoint(api)
    await _execute(api, "DELETE FROM audit_event WHERE case_id = :case", case=case_id)
    report = await api.ok(await api.get(api.who("admin", "VN"), "/v1/audit/checkpoints/verify"))
    assert report["ok"] is False
    assert (
        report["problems"][0]["problem"] == f"chain removed after checkpoint {checkpoint['id']}: it has no events left"
    )


async def test_changed_checkpoint_heads_are_reported(api: Api) -> None:
    case_id, _ = await api.new_case("C3", 2025)
    checkpoint = await _checkpoint(api)
    async with api.app.state.services.sessions() as session, session.begin():
        row = await session.get(AuditCheckpoint, checkpoint["id"])
        assert row is not None
        row.heads = {f"case:{case_id}": [1, "f" * 64]}
    report = await api.ok(await api.get(api.who("admin", "VN"), "/v1/audit/checkpoints/verify"))
    assert report["ok"] is False
    assert "do not match its digest" in report["problems"][0]["problem"]


async def test_checkpoint_creation_needs_a_national_auditor_or_admin(api: Api) -> None:
    refused = await api.client.post("/v1/audit/checkpoints", headers=api.who("auditor", "P1").headers)
    assert refused.status_code == 403
    assert (await api.client.post("/v1/audit/checkpoints")).status_code == 401
    assert (await api.client.get("/v1/audit/checkpoints")).status_code == 401
    leader = api.who("commune_leader", "C3")
    assert (await api.get(leader, "/v1/audit/checkpoints")).status_code == 403
    assert (await api.get(api.who("auditor", "P1"), "/v1/audit/checkpoints/verify")).status_code == 403
    assert (await api.client.post("/v1/audit/checkpoints", headers=api.who("admin", "VN").headers)).status_code == 201


async def test_offline_verify_with_checkpoints_catches_a_rehashed_export_line(api: Api, tmp_path: Path) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.walk(case_id, leader, cycle=2025, until="plan_issued")
    auditor = api.who("auditor", "VN")
    checkpoint = await _checkpoint(api, auditor)
    document = await api.ok(await api.get(auditor, f"/v1/audit/checkpoints/{checkpoint['id']}"))
    (tmp_path / "checkpoints.json").write_text(json.dumps([document]), encoding="utf-8")
    (tmp_path / "key.pem").write_text((await api.get(auditor, "/v1/audit/checkpoints/public-key")).text)
    lines = _lines(await _export(api, auditor))
    (tmp_path / "export.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    good = verify_file(
        tmp_path / "export.jsonl", checkpoints_path=tmp_path / "checkpoints.json", public_key_path=tmp_path / "key.pem"
    )
    assert good.ok, good.text()
    assert (good.checkpoints, good.heads_matched) == (1, 1)
    # Re-hash the newest line consistently: the chain alone verifies, the checkpoint does not.
    record = json.loads(lines[-1])
    record["payload"] = record["payload"].replace("15/KH-UBND", "16/KH-UBND")
    moment = datetime.strptime(record["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert format_time(moment) == record["occurred_at"]
    record["hash"] = event_hash(SimpleNamespace(**{**record, "occurred_at": moment}))  # type: ignore[arg-type]
    lines[-1] = json.dumps(record, ensure_ascii=False)
    (tmp_path / "export.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert verify_file(tmp_path / "export.jsonl").ok
    bad = verify_file(
        tmp_path / "export.jsonl", checkpoints_path=tmp_path / "checkpoints.json", public_key_path=tmp_path / "key.pem"
    )
    assert bad.ok is False and bad.bad is not None
    assert bad.bad["line"] == len(lines)
    assert "changed after that checkpoint" in bad.bad["problem"] and checkpoint["id"] in bad.bad["problem"]


async def test_checkpointer_signs_once_per_interval(api: Api) -> None:
    await api.new_case("C3", 2025)
    services = api.app.state.services
    stop = asyncio.Event()

    async def count() -> int:
        async with services.sessions() as session:
            return len((await session.execute(select(AuditCheckpoint.id))).all())

    async def until(expected: int) -> None:
        for _ in range(200):
            if await count() == expected:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {expected} checkpoints, found {await count()}")

    worker = asyncio.create_task(
        run_checkpointer(services.sessions, api.settings, api.settings.clock, stop, recheck_seconds=0.02)
    )
    try:
        await until(1)
        await asyncio.sleep(0.2)
        assert await count() == 1  # the interval (24 h) has not passed on the frozen clock
        api.clock.set(api.settings.clock() + timedelta(hours=24))
        await until(2)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=5)
