"""Proof with a client made by others: ``openapi-python-client`` generates a client from the committed document
and one from the commune procedure's own document (``GET /v1/procedures/cdht_xa/tt25-2023/openapi.json``), and a
commune case walks from opening to recognition with the generated functions and models only, each call as the
office the law names, through the app in process (the generated client takes an httpx client)."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from service.api import openapi_doc
from service.walkthrough import MINIMAL_PDF, submit_evidence
from tests.helpers import DEFINITION, Api, Who
from workflows.examples import example
from workflows.registry import default_registry

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tools" / "openapi-python-client.yaml"
CYCLE = 2025


def generate(document: Path, package: str, into: Path) -> None:
    """The generator as an integrator runs it, into ``into/package``; its warnings fail the test."""
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "openapi-python-client"),
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--output-path",
            str(into / package),
            "--config",
            str(CONFIG),
        ],
        capture_output=True,
        text=True,
        cwd=into,
        check=False,
    )
    assert result.returncode == 0 and "Warning" not in result.stdout, result.stdout + result.stderr


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Two generated packages: ``cdht_client`` (the committed document) and ``cdht_xa_client`` (the commune
    procedure's document)."""
    into = tmp_path_factory.mktemp("generated")
    whole = json.loads((ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
    narrowed = into / "cdht_xa.json"
    narrowed.write_text(json.dumps(openapi_doc.for_procedure(whole, default_registry(), "cdht_xa", "tt25-2023")))
    generate(ROOT / "openapi" / "openapi.json", "cdht_client", into)
    generate(narrowed, "cdht_xa_client", into)
    sys.path.insert(0, str(into))
    yield {"whole": "cdht_client", "cdht_xa": "cdht_xa_client"}
    sys.path.remove(str(into))


class Generated:
    """One generated package, and an authenticated client of it per office, talking to the app in process."""

    def __init__(self, package: str, api: Api) -> None:
        self.package, self.api = package, api
        self.models = importlib.import_module(f"{package}.models")
        self.types = importlib.import_module(f"{package}.types")
        self._client = importlib.import_module(f"{package}.client")

    def op(self, tag: str, operation_id: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.api.{tag}.{operation_id}")

    def as_(self, who: Who) -> Any:
        token = who.headers["Authorization"].removeprefix("Bearer ")
        client = self._client.AuthenticatedClient(base_url="http://cdht.test", token=token)
        client.set_async_httpx_client(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self.api.app),
                base_url="http://cdht.test",
                headers={"Authorization": f"Bearer {token}"},
            )
        )
        return client

    def model(self, name: str) -> Any:
        return getattr(self.models, name)

    async def fire(self, who: Who, case_id: str, trigger: str, body: Any, *, indicator: str | None = None) -> Any:
        """A step through its generated operation; the answer parsed into the generated TransitionOut."""
        if indicator is None:
            module = self.op("transitions", f"transition_{trigger}")
            response = await module.asyncio_detailed(case_id, client=self.as_(who), body=body)
        else:
            module = self.op("indicators", f"indicator_{trigger}")
            response = await module.asyncio_detailed(case_id, indicator, client=self.as_(who), body=body)
        assert response.status_code == 200, response.content
        assert isinstance(response.parsed, self.model("TransitionOut")), response.parsed
        return response.parsed


def body(g: Generated, trigger: str, *, indicator: bool = False, **data: Any) -> Any:
    """The generated body model of the commune's step, from the definition's example (fields in ``data`` replace
    the example's), parsed by the generated models."""
    name = "CdhtXaTt252023" + ("Indicator" if indicator else "") + "".join(p.title() for p in trigger.split("_"))
    return g.model(name).from_dict({"data": {**example(DEFINITION, trigger, CYCLE, indicator=indicator), **data}})


@pytest.mark.parametrize("which", ["whole", "cdht_xa"])
async def test_a_commune_case_walks_to_recognition_with_a_generated_client(
    api: Api, clients: dict[str, str], which: str
) -> None:
    g = Generated(clients[which], api)
    leader, officer = api.who("commune_leader", "C3"), api.who("commune_officer", "C3")
    director, province_officer = api.who("province_director", "P1"), api.who("province_officer", "P1")
    secretary = api.who("council_member", "P1", sub="council-secretary")

    api.clock.set(f"{CYCLE}-01-20T02:00:00")
    opened = await g.op("cases", "open_case").asyncio_detailed(
        client=g.as_(leader), body=g.model("OpenCaseIn")(procedure="cdht_xa", unit="C3", cycle=CYCLE)
    )
    assert opened.status_code == 201, opened.content
    case_id = opened.parsed.id

    # Typed by hand where it is short: the plan's DocRef is the generated DocRef model.
    plan = g.model("CdhtXaTt252023IssuePlan")(
        data=g.model("CdhtXaTt252023IssuePlanData")(
            plan=g.model("DocRef")(number="15/KH-UBND", date=date(CYCLE, 1, 15))
        )
    )
    await g.fire(leader, case_id, "issue_plan", plan)
    await g.fire(leader, case_id, "assign_indicators", body(g, "assign_indicators"))
    for indicator in DEFINITION.indicators:
        upload = g.model("UploadEvidenceBody")(
            file=g.types.File(payload=io.BytesIO(MINIMAL_PDF), file_name="minh-chung.pdf", mime_type="application/pdf")
        )
        uploaded = await g.op("indicators", "upload_evidence").asyncio_detailed(
            case_id, indicator.code, client=g.as_(officer), body=upload
        )
        assert uploaded.status_code == 201, uploaded.content
        evidence = submit_evidence(DEFINITION, indicator.code)
        await g.fire(
            officer,
            case_id,
            "submit_evidence",
            body(g, "submit_evidence", indicator=True, **evidence),
            indicator=indicator.code,
        )
        await g.fire(leader, case_id, "accept", body(g, "accept", indicator=True), indicator=indicator.code)

    steps = [
        ("01-10", leader, "complete_self_assessment", body(g, "complete_self_assessment")),
        ("01-20", leader, "record_review_meeting", body(g, "record_review_meeting")),
        ("02-10", leader, "submit_dossier", body(g, "submit_dossier")),
        ("02-12", province_officer, "receive_dossier", body(g, "receive_dossier")),
        ("03-01", director, "form_council", body(g, "form_council")),
        ("03-10", secretary, "record_appraisal", body(g, "record_appraisal")),
        ("03-20", director, "recognize", body(g, "recognize")),
    ]
    for day, who, trigger, step in steps:
        api.clock.set(f"{CYCLE + 1}-{day}T02:00:00")
        answer = await g.fire(who, case_id, trigger, step)
    assert answer.case.state == "recognized" and answer.case.level == 1

    read = await g.op("cases", "get_case").asyncio(case_id, client=g.as_(director))
    assert isinstance(read, g.model("CaseOut")) and read.state == "recognized"
    refused = await g.op("transitions", "transition_recognize").asyncio(
        case_id, client=g.as_(leader), body=body(g, "recognize")
    )
    assert isinstance(refused, g.model("Problem")) and refused.status in (403, 409)
