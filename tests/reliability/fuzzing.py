"""The seeded service the fuzz tests aim at (``test_schemathesis.py``, ``test_fuzz_hostile.py``).

``fuzzed`` (module scope, once per database) is ``create_app`` on a seeded database: a recognised case, one under
review, one collecting evidence with files, one in another province, a compiled report, a webhook subscription
with deliveries, a signed checkpoint; its ``Fuzzed`` sends a request as Schemathesis serialised it (the exact
bytes) as one of five callers (``ROLES``). ``aim`` points a generated request at the seeded data: path ids (an
evidence id with its own case and indicator), the query filters and body fields that name a case, a unit or a
procedure, and (half the time) an ``If-Match`` that matches.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from service.auth import issue_dev_token
from service.main import create_app
from service.webhooks import safety
from service.webhooks.fanout import fan_out
from tests.helpers import DEFINITION, Api, Clock
from tests.support.apps import add_units, make_settings
from tests.support.databases import POSTGRES_URL, empty_postgres, run_in_thread
from workflows.registry import default_registry

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
SPEC = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
SCHEMA = schemathesis.openapi.from_path(SPEC_PATH)
OPERATIONS = sorted(
    f"{method.upper()} {path}" for path, item in SPEC["paths"].items() for method in item if method != "parameters"
)
# The callers: (role, unit). Tokens are dev tokens of the app's settings.
ROLES = {
    "commune_leader": "C3",  # C3's case collects evidence: its leader accepts, returns and reopens indicators
    "commune_officer": "C3",  # uploads evidence (multipart) and submits indicators
    "province_director": "P1",  # reviews C2 and C3 (two-tier), approves P1's report
    "auditor": "VN",
    "admin": "VN",
}
# Per operation; CDHT_FUZZ_MAX_EXAMPLES raises it for a longer, exploratory run (e.g. nightly).
MAX_EXAMPLES = int(os.environ.get("CDHT_FUZZ_MAX_EXAMPLES", "15"))
# Bounded and derandomised: the same code and the same database make the same requests, in CI and on a laptop.
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
BASE_URL = "http://cdht.test"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)] if POSTGRES_URL else ["sqlite"]


# --- the seeded service --------------------------------------------------------------------------------------


@dataclass
class Fuzzed:
    """The app, its client on a loop of its own (a blocking portal), and the ids requests are pointed at."""

    api: Api
    portal: anyio.from_thread.BlockingPortal
    ids: dict[str, list[Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        if role not in self.tokens:
            self.tokens[role] = issue_dev_token(
                self.api.settings, sub=f"fuzz-{role}", roles=[role], unit=ROLES[role], name=f"Fuzz {role}"
            )
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def send(self, kwargs: dict[str, Any], rewrite: Callable[[bytes], bytes] | None = None) -> httpx.Response:
        """The request as Schemathesis serialises it for ``requests`` (the exact bytes), sent to the app;
        ``rewrite`` changes the body's bytes first (e.g. to put in a number JSON encoders refuse to write)."""
        prepared = requests.Request(
            method=kwargs["method"],
            url=kwargs["url"],
            headers=kwargs.get("headers"),
            params=kwargs.get("params"),
            cookies=kwargs.get("cookies"),
            json=kwargs.get("json"),
            data=kwargs.get("data"),
            files=kwargs.get("files"),
        ).prepare()
        headers, body = dict(prepared.headers), prepared.body
        if rewrite is not None and body:
            body = rewrite(body.encode() if isinstance(body, str) else body)
            headers["Content-Length"] = str(len(body))
        return self.portal.call(
            lambda: self.api.client.request(
                prepared.method or "GET", prepared.url or BASE_URL, headers=headers, content=body
            )
        )


async def offline_resolver(host: str, port: int) -> list[str]:
    """DNS for webhook targets without the network: only localhost resolves (to loopback), like a sandbox."""
    if host.rstrip(".").lower() == "localhost":
        return ["127.0.0.1"]
    raise OSError(f"{host}: name not known (offline test resolver)")


async def seed(api: Api) -> dict[str, list[Any]]:
    """Cases in several states and units, a report, a webhook subscription with deliveries, a checkpoint."""
    recognized, leader_c1 = await api.new_case("C1", 2024)
    await api.walk(recognized, leader_c1, cycle=2024, until="recognized")
    reviewing, leader_c2 = await api.new_case("C2", 2025)
    await api.walk(reviewing, leader_c2, cycle=2025, until="under_review")
    collecting, leader_c3 = await api.new_case("C3", 2025)
    await api.collect(collecting, leader_c3, cycle=2025)
    elsewhere, _ = await api.new_case("C9", 2025)
    api.clock.set("2026-05-10T02:00:00")
    officer = api.who("province_officer", "P1")
    report = await api.ok(
        await api.client.post("/v1/reports", headers=officer.headers, json={"unit": "P1", "cycle": 2025}), 201
    )
    await api.ok(await api.fire(officer, report["id"], "compile"))
    admin = api.who("admin", "VN")
    hook = await api.ok(
        await api.client.post(
            "/v1/webhooks",
            headers=admin.headers,
            json={"url": "http://127.0.0.1:9/h", "events": ["case.opened", "case.transitioned"]},
        ),
        201,
    )
    services = api.app.state.services
    await fan_out(services.sessions, now=api.settings.clock())
    deliveries = await api.ok(await api.get(admin, f"/v1/webhooks/{hook['id']}/deliveries"))
    assert deliveries["items"], "the fan-out made no delivery to point requests at"
    auditor = api.who("auditor", "VN")
    checkpoint = await api.ok(await api.client.post("/v1/audit/checkpoints", headers=auditor.headers), 201)
    indicators = await api.ok(await api.get(auditor, f"/v1/cases/{collecting}/indicators"))
    evidence = [(collecting, item["code"], e["id"]) for item in indicators["indicators"] for e in item["evidence"]]
    cases = [recognized, reviewing, collecting, elsewhere]
    return {
        "case_id": cases + [report["id"]],
        "report_id": [report["id"], recognized],
        "code": [i.code for i in DEFINITION.indicators[:3]],
        "evidence_id": [e[2] for e in evidence[:3]],
        "evidence": evidence[:2],  # (case, indicator, evidence) that belong together
        "subscription_id": [hook["id"]],
        "delivery_id": [d["id"] for d in deliveries["items"][:3]],
        "checkpoint_id": [checkpoint["id"]],
        "key": ["cdht_xa", "bao_cao_ket_qua"],
        "version": ["tt25-2023"],
        # query parameters worth pointing at real things
        "case": cases,
        "unit": ["C1", "P1", "C9", "VN"],
        "parent": ["VN", "P1", "D1"],
        "procedure": ["cdht_xa", "bao_cao_ket_qua"],
        "If-Match": ["*"],
    }


@pytest.fixture(scope="module", params=BACKENDS)
def fuzzed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        shutil.copy(template, data_dir / "cdht.sqlite3")
        url = f"sqlite+aiosqlite:///{data_dir / 'cdht.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_migrated")
        run_in_thread(lambda: empty_postgres(url))
    app_settings = make_settings(url, data_dir / "data")
    app_settings.workers_in_process = False
    app = create_app(app_settings, registry=default_registry())
    with pytest.MonkeyPatch.context() as patch, anyio.from_thread.start_blocking_portal() as portal:
        patch.setattr(safety, "system_resolver", offline_resolver)

        async def start() -> Api:
            await add_units(app)
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
            return Api(app, client, app_settings, Clock(app_settings))

        api = portal.call(start)
        ids = portal.call(seed, api)

        async def stop() -> None:
            await api.client.aclose()
            await app.state.services.engine.dispose()

        try:
            yield Fuzzed(api, portal, ids)
        finally:
            portal.call(stop)


def aimed(name: str, generated: Any, pool: dict[str, list[Any]]) -> Any:
    """Mostly a seeded value for the parameter, sometimes the generated one (to reach the 404s and 422s); the
    choice is a function of the generated value, so a derandomised run makes the same requests."""
    choices = pool.get(name)
    if not choices:
        return generated
    index = zlib.crc32(repr(generated).encode()) % (len(choices) + 1)
    return generated if index == len(choices) else choices[index]


def aim(case: Any, pool: dict[str, Any]) -> None:
    """Point the generated request at the seeded data: path ids (an evidence id with its own case and indicator),
    the query filters and body fields that name a case, a unit or a procedure, and (half the time) an
    ``If-Match`` that matches."""
    path = case.path_parameters or {}
    for name, value in list(path.items()):
        # ``code`` names an indicator under a case, an administrative unit under /admin-units
        path[name] = aimed("unit" if name == "code" and "case_id" not in path else name, value, pool)
    if "code" in path and "case_id" in path:
        linked = aimed("evidence", path["code"], pool)
        if isinstance(linked, tuple):
            path["case_id"], path["code"] = linked[:2]
            if "evidence_id" in path:
                path["evidence_id"] = linked[2]
    for name, value in list((case.query or {}).items()):
        if name in AIMED_FIELDS:
            case.query[name] = aimed(name, value, pool)
    if isinstance(case.body, dict):
        for name, value in list(case.body.items()):
            if name in AIMED_FIELDS:
                case.body[name] = aimed(name, value, pool)
    if case.headers and "If-Match" in case.headers:
        case.headers["If-Match"] = aimed("If-Match", case.headers["If-Match"], pool)


AIMED_FIELDS = ("case", "unit", "parent", "procedure")
