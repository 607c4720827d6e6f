"""The attacks of issue 13 points 2 and 7 against a real ``cdht serve`` (uvicorn with httptools), over raw sockets
and real chunked requests:

* four clients at once each send a 32 MB ``Authorization`` header (before: 401 after 9 s, the worker at 1.3 GB,
  ``/healthz`` at 3.8 s): each reads a 431 problem+json within seconds, ``/healthz`` keeps answering fast, and the
  server's memory does not grow by the header's size;
* a request with too many header fields: 431;
* a JSON body and a multipart upload sent chunked, without ``Content-Length``, past their limits: 413 problem+json
  (before: 500), and the server answers the next request on its keep-alive connections as before.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service import walkthrough as w
from service.auth import issue_dev_token
from service.config import Settings
from tests.helpers import DEFINITION
from tests.reliability.procs import (
    ProcessGroup,
    ServiceProcess,
    sqlite_environment,
)

HEADER_BYTES = 32 * 1024 * 1024
SECRET = "serve-limits-secret-" + "x" * 32
PROBLEM = "application/problem+json"


@dataclass
class Served:
    process: ServiceProcess
    tokens: dict[str, str]
    case_id: str

    @property
    def host_port(self) -> tuple[str, int]:
        assert self.process.port is not None
        return "127.0.0.1", self.process.port

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def rss_kb(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``cdht serve`` on a SQLite file with a province, a commune and a case collecting evidence."""
    root = tmp_path_factory.mktemp("serve-limits")
    environment = sqlite_environment(root, dev_secret=SECRET, now="2025-01-20T09:00:00+07:00")
    settings = Settings(env="test", data_dir=root / "data", auth_dev_secret=SECRET)
    roles = {"admin": "VN", "commune_leader": "C1", "commune_officer": "C1"}
    tokens = {role: issue_dev_token(settings, sub=role, roles=[role], unit=unit) for role, unit in roles.items()}
    with ProcessGroup(root / "logs") as group:
        process = group.serve(environment, "api", migrate=True)
        with httpx.Client(base_url=process.url, timeout=30) as client:

            def ok(response: httpx.Response, status: int = 200) -> dict:  # type: ignore[type-arg]
                assert response.status_code == status, response.text
                return response.json()

            admin = {"Authorization": f"Bearer {tokens['admin']}"}
            leader = {"Authorization": f"Bearer {tokens['commune_leader']}"}
            for unit in ({"code": "P1", "name": "Tỉnh Một", "level": "province", "parent": "VN"},
                         {"code": "C1", "name": "Xã Một", "level": "commune", "parent": "P1"}):  # fmt: skip
                ok(client.post("/v1/admin-units", json=unit, headers=admin), 201)
            case = ok(client.post("/v1/cases", json={"procedure": "cdht_xa", "unit": "C1", "cycle": 2025},
                                  headers=leader), 201)  # fmt: skip
            for trigger, data in (("issue_plan", w.issue_plan(2025)),
                                  ("assign_indicators", w.assign_indicators(DEFINITION))):  # fmt: skip
                ok(client.post(f"/v1/cases/{case['id']}/transitions/{trigger}", json={"data": data}, headers=leader))
        yield Served(process, tokens, case["id"])


def attack(address: tuple[str, int], head: bytes, filler: int, results: list[tuple[float, bytes]]) -> None:
    """Send ``head`` followed by ``filler`` bytes of one header value, then read the whole answer."""
    started = time.monotonic()
    answer = b""
    with socket.create_connection(address, timeout=15) as sock:
        try:
            sock.sendall(head)
            piece = b"A" * (1024 * 1024)
            for _ in range(filler // len(piece)):
                sock.sendall(piece)
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed after answering: the answer is still to be read
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    results.append((time.monotonic() - started, answer))


def parse(answer: bytes) -> tuple[str, dict[str, str], dict]:  # type: ignore[type-arg]
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    fields = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return status_line, fields, json.loads(body) if body else {}


def test_four_32_mb_authorization_headers_are_431_quickly_and_the_server_keeps_answering(served: Served) -> None:
    before = served.rss_kb()
    head = b"GET /v1/cases HTTP/1.1\r\nHost: cdht.test\r\nAuthorization: Bearer "
    results: list[tuple[float, bytes]] = []
    attackers = [
        threading.Thread(target=attack, args=(served.host_port, head, HEADER_BYTES, results)) for _ in range(4)
    ]
    for thread in attackers:
        thread.start()
    health: list[float] = []
    with httpx.Client(base_url=served.process.url, timeout=10) as client:
        while any(thread.is_alive() for thread in attackers) or len(health) < 5:
            started = time.monotonic()
            assert client.get("/healthz").status_code == 200
            health.append(time.monotonic() - started)
            time.sleep(0.05)
    for thread in attackers:
        thread.join(timeout=30)
    assert len(results) == 4
    for elapsed, answer in results:
        status_line, fields, body = parse(answer)
        assert status_line == "HTTP/1.1 431 Request Header Fields Too Large", answer[:300]
        assert fields["content-type"] == PROBLEM and fields["connection"] == "close"
        assert [r["code"] for r in body["reasons"]] == ["headers_too_large"]
        assert "header" in body["detail_vi"]
        assert elapsed < 5, f"the refusal took {elapsed:.1f} s"
    assert max(health) < 1.0, f"/healthz took up to {max(health):.2f} s during the attack"
    grown = served.rss_kb() - before
    assert grown < 64 * 1024, f"the server grew by {grown // 1024} MB"


def test_too_many_header_fields_are_431_at_the_server(served: Served) -> None:
    fields = "".join(f"X-Field-{i}: {i}\r\n" for i in range(500))
    results: list[tuple[float, bytes]] = []
    attack(served.host_port, f"GET /healthz HTTP/1.1\r\nHost: cdht.test\r\n{fields}".encode(), 0, results)
    status_line, _, body = parse(results[0][1])
    assert status_line.startswith("HTTP/1.1 431"), results[0][1][:300]
    assert [r["code"] for r in body["reasons"]] == ["headers_too_many"]


def stream(prefix: bytes, size: int, suffix: bytes = b"") -> Iterator[bytes]:
    """A body of ``size`` bytes after ``prefix``, sent chunked (httpx sends a generator without Content-Length)."""
    yield prefix
    piece = b"0" * (256 * 1024)
    for _ in range(size // len(piece) + 1):
        yield piece
    yield suffix


def test_chunked_bodies_over_the_limits_are_413_at_the_server(served: Served) -> None:
    leader, officer = served.headers("commune_leader"), served.headers("commune_officer")
    with httpx.Client(base_url=served.process.url, timeout=60) as client:
        json_bodies = [
            ("/v1/cases", stream(b'{"procedure": "cdht_xa", "unit": "', 2 * 1024 * 1024, b'"}')),
            (f"/v1/cases/{served.case_id}/transitions/issue_plan", stream(b'{"data": {"x": "', 2 * 1024 * 1024)),
        ]
        for path, body in json_bodies:
            response = client.post(path, content=body, headers={**leader, "Content-Type": "application/json"})
            assert response.request.headers.get("transfer-encoding") == "chunked"
            assert response.status_code == 413, response.text[:300]
            assert response.headers["content-type"] == PROBLEM
            assert [r["code"] for r in response.json()["reasons"]] == ["body_too_large"]
        boundary = "serve-limits"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode() + w.MINIMAL_PDF
        code = DEFINITION.indicators[0].code
        upload = client.post(
            f"/v1/cases/{served.case_id}/indicators/{code}/evidence",
            content=stream(head, 22 * 1024 * 1024, f"\r\n--{boundary}--\r\n".encode()),
            headers={**officer, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert upload.status_code == 413, upload.text[:300]
        assert [r["code"] for r in upload.json()["reasons"]] == ["body_too_large"]
        case = client.get(f"/v1/cases/{served.case_id}", headers=leader)
        assert case.status_code == 200 and case.json()["state"] == "collecting_evidence"
    with httpx.Client(base_url=served.process.url, timeout=30) as keep_alive:  # one connection, several requests
        for _ in range(3):
            assert keep_alive.get("/v1/cases", headers=leader).status_code == 200
            stored = keep_alive.post(
                f"/v1/cases/{served.case_id}/indicators/{code}/evidence",
                files={"file": ("minh-chung.pdf", w.MINIMAL_PDF, "application/pdf")},
                headers=officer,
            )
            assert stored.status_code == 201, stored.text
