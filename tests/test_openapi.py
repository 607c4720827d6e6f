"""The committed OpenAPI document is the app's: a change to a route without regenerating it fails here."""

from __future__ import annotations

import json
from pathlib import Path

from service.openapi_dump import document
from workflows.registry import default_registry

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    generated = json.loads(document())
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert generated == committed, "openapi/openapi.json is stale: run `make openapi` and commit it"


REGISTRY_SUBMITTERS = [
    p for p in default_registry().procedures.values() if p.definition.transition("submit_dossier") is not None
]


def test_every_human_trigger_is_its_own_operation_with_its_payload_schema() -> None:
    spec = json.loads(document())
    operations = {op["operationId"]: op for path in spec["paths"].values() for op in path.values()}
    submit = operations["transition_submit_dossier"]
    data = submit["requestBody"]["content"]["application/json"]["schema"]["properties"]["data"]
    # Shared by several procedures: one variant each (anyOf). The three TT25 recognitions and TT24's two tiers ask
    # for a level and say how the dossier was sent.
    variants = data["anyOf"]
    leveled = [v for v in variants if v["required"] == ["requested_level", "channel", "submission_letter"]]
    assert len(variants) == len(REGISTRY_SUBMITTERS) and len(leveled) == 5  # commune, district, province; TT24 x2
    for variant in leveled:
        assert variant["properties"]["channel"]["enum"] == ["direct", "online", "post"]
    for citation in (
        "TT25/2023 Điều 9 k1 d",
        "TT25/2023 Điều 14 k1 d",
        "TT25/2023 Điều 19 k1 d",
        "TT24/2023 Điều 10 k1 c",
        "TT24/2023 Điều 16 k1 c",
    ):
        assert citation in submit["description"]
    assert "transition_lapse" not in operations  # fired only by the deadline worker
    assert "indicator_submit_evidence" in operations
