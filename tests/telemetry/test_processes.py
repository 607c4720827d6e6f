"""The operators' signals of real processes (issue 15 point 6): ``cdht serve --workers 2`` in prometheus_client's
multiprocess mode (a scrape of either process counts the requests both served), its JSON log lines with request
id, actor, case and trigger, its traces (HTTP, SQL and the engine's steps) received by a real OTLP/HTTP receiver,
and ``cdht worker``'s own metrics endpoint."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service import walkthrough as w
from service.auth import issue_dev_token
from service.config import Settings
from tests.reliability.procs import (
    ProcessGroup,
    ServiceProcess,
    free_port,
    sqlite_environment,
)
from tests.telemetry.otlp_receiver import OtlpReceiver
from tests.telemetry.prom import promtool_check, value

SECRET = "telemetry-secret-" + "x" * 32
REQUEST_ID = "req-telemetry-1"


@dataclass
class Served:
    group: ProcessGroup
    environment: dict[str, str]
    server: ServiceProcess
    receiver: OtlpReceiver
    multiproc: Path
    case_id: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("telemetry")
    environment = sqlite_environment(root, dev_secret=SECRET, now="2025-01-20T09:00:00+07:00")
    settings = Settings(env="test", data_dir=root / "data", auth_dev_secret=SECRET)
    admin = {"Authorization": "Bearer " + issue_dev_token(settings, sub="admin", roles=["admin"], unit="VN")}
    token = issue_dev_token(settings, sub="leader-c1", roles=["commune_leader"], unit="C1")
    leader = {"Authorization": f"Bearer {token}"}
    multiproc = root / "prometheus"
    with OtlpReceiver() as receiver, ProcessGroup(root / "logs") as group:
        api_environment = dict(
            environment,
            PROMETHEUS_MULTIPROC_DIR=str(multiproc),
            CDHT_OTLP_ENDPOINT=receiver.url,
            OTEL_BSP_SCHEDULE_DELAY="200",
        )
        server = group.serve(api_environment, "api", migrate=True, extra_args=("--workers", "2"))
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for unit in ({"code": "P1", "name": "Tỉnh Một", "level": "province", "parent": "VN"},
                         {"code": "C1", "name": "Xã Một", "level": "commune", "parent": "P1"}):  # fmt: skip
                assert client.post("/v1/admin-units", json=unit, headers=admin).status_code == 201
            opened = client.post(
                "/v1/cases", json={"procedure": "cdht_xa", "unit": "C1", "cycle": 2025}, headers=leader
            )
            assert opened.status_code == 201, opened.text
            case_id = opened.json()["id"]
            fired = client.post(
                f"/v1/cases/{case_id}/transitions/issue_plan",
                json={"data": w.issue_plan(2025)},
                headers={**leader, "X-Request-ID": REQUEST_ID},
            )
            assert fired.status_code == 200, fired.text
        yield Served(group, environment, server, receiver, multiproc, case_id)


def test_two_server_processes_are_counted_together(served: Served) -> None:
    for _ in range(20):
        with httpx.Client(timeout=10) as fresh:  # a new connection each time: the kernel spreads them
            assert fresh.get(served.server.url + "/healthz").status_code == 200
    pids = {path.stem.rsplit("_", 1)[-1] for path in served.multiproc.glob("*.db")}
    assert len(pids) >= 2, sorted(served.multiproc.iterdir())
    for _ in range(6):
        with httpx.Client(timeout=10) as fresh:
            text = fresh.get(served.server.url + "/metrics").text
        healthz = {"method": "GET", "route": "/healthz", "status": "200"}
        assert value(text, "cdht_http_requests_total", **healthz) == 20
        assert value(text, "cdht_deadlines", procedure="cdht_xa", deadline="submission", status="open") == 1
    assert promtool_check(text) == ""


def test_log_lines_are_json_with_request_actor_case_and_trigger(served: Served) -> None:
    lines = [line for line in served.server.log_text().splitlines() if line and not line.startswith("=====")]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", records[0]["time"]), records[0]
    (request,) = [r for r in records if r.get("request_id") == REQUEST_ID and r["logger"] == "cdht.http"]
    assert request["actor"] == "leader-c1" and request["unit"] == "C1"
    assert request["case"] == served.case_id and request["trigger"] == "issue_plan"
    assert request["status"] == 200 and request["route"] == "/v1/cases/{case_id}/transitions/issue_plan"
    (opening,) = [r for r in records if r["logger"] == "cdht.http" and r.get("route") == "/v1/cases"]
    assert opening["case"] == served.case_id and opening["trigger"] == "open" and opening["status"] == 201
    assert not [r for r in records if r["logger"].startswith("transitions")]


def test_traces_of_http_sql_and_the_engine_reach_an_otlp_receiver(served: Served) -> None:
    def complete(spans: list) -> bool:  # type: ignore[type-arg]
        names = {span.name for span in spans}
        return {"engine.transition", "check.authority", "check.guards", "engine.record"} <= names

    spans = served.receiver.wait_for(complete)
    (engine,) = [s for s in spans if s.name == "engine.transition" and s.attributes["cdht.trigger"] == "issue_plan"]
    assert engine.attributes["cdht.case"] == served.case_id and engine.service == "cdht"
    same_trace = [s for s in spans if s.trace_id == engine.trace_id]
    http = [s for s in same_trace if s.attributes.get("http.route") == "/v1/cases/{case_id}/transitions/issue_plan"]
    assert http, [s.name for s in same_trace]
    sql = [s for s in same_trace if "sqlite" in (s.attributes.get("db.system"), s.attributes.get("db.system.name"))]
    assert sql, [(s.name, s.attributes) for s in same_trace]
    checks = {s.name for s in same_trace if s.name.startswith("check.")}
    assert {"check.readable", "check.clock", "check.version", "check.trigger", "check.authority"} <= checks


def test_the_worker_serves_its_own_metrics(served: Served) -> None:
    port = free_port()
    worker = served.group.worker(dict(served.environment, CDHT_WORKER_METRICS_PORT=str(port)), "worker")
    url = f"http://127.0.0.1:{port}/metrics"
    text = ""
    for _ in range(300):
        assert worker.alive, worker.log_tail()
        try:
            text = httpx.get(url, timeout=5).text
        except httpx.TransportError:
            pass
        if value(text, "cdht_sweep_duration_seconds_count") >= 1:
            break
        time.sleep(0.1)
    assert value(text, "cdht_sweep_duration_seconds_count") >= 1, worker.log_tail()
    assert value(text, "cdht_deadlines", procedure="cdht_xa", deadline="submission", status="open") == 1
    assert value(text, "cdht_webhook_queue_depth") == 0
    assert promtool_check(text) == ""


def test_a_worker_whose_metrics_port_is_taken_stops_naming_the_setting(served: Served) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        environment = dict(served.environment, CDHT_WORKER_METRICS_PORT=str(taken.getsockname()[1]))
        result = subprocess.run(
            [sys.executable, "-m", "service.cli", "worker"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "CDHT_WORKER_METRICS_PORT" in result.stderr
