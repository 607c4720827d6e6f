"""The committed OpenAPI document is the app's: a change to a route without regenerating it fails here."""

from __future__ import annotations

import json
from pathlib import Path

from service.openapi_dump import document

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    generated = json.loads(document())
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert generated == committed, "openapi/openapi.json is stale: run `make openapi` and commit it"


def test_every_human_trigger_is_its_own_operation_with_its_payload_schema() -> None:
    spec = json.loads(document())
    operations = {op["operationId"]: op for path in spec["paths"].values() for op in path.values()}
    submit = operations["transition_submit_dossier"]
    data = submit["requestBody"]["content"]["application/json"]["schema"]["properties"]["data"]
    # Shared by the commune, district and province procedures: one variant each (anyOf), each with its citation.
    variants = data["anyOf"]
    assert len(variants) == 3
    for variant in variants:
        assert variant["required"] == ["requested_level", "channel", "submission_letter"]
        assert variant["properties"]["channel"]["enum"] == ["direct", "online", "post"]
    for citation in ("TT25/2023 Điều 9 k1 d", "TT25/2023 Điều 14 k1 d", "TT25/2023 Điều 19 k1 d"):
        assert citation in submit["description"]
    assert "transition_lapse" not in operations  # fired only by the deadline worker
    assert "indicator_submit_evidence" in operations
