"""The committed OpenAPI document is the app's (a change to a route without regenerating it fails here), and it is
typed for generated clients: shared components, bearer security, short unique operation ids, described tags, one
named body schema per procedure and trigger with the guards' rules, examples that fit them, and the per-procedure
document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import FastAPI, Header
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from service.api import openapi_doc, trigger_docs
from service.api.cases import IDEMPOTENCY_KEY, IF_MATCH, IdempotencyKey
from service.openapi_dump import document
from workflows.examples import example
from workflows.published import published_schema
from workflows.registry import default_registry

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"
REGISTRY = default_registry()
SPEC = json.loads(document())
OPERATIONS = {op["operationId"]: op for path in SPEC["paths"].values() for op in path.values()}
XA = REGISTRY.get("cdht_xa", "tt25-2023").definition


def test_committed_openapi_matches_the_app() -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert SPEC == committed, "openapi/openapi.json is stale: run `make openapi` and commit it"


def test_the_document_is_valid_openapi() -> None:
    validate(SPEC)
    validate(openapi_doc.for_procedure(SPEC, REGISTRY, "cdht_xa", "tt25-2023"))


def test_problems_and_docrefs_are_shared_components() -> None:
    text = json.dumps(SPEC)
    assert text.count('"detail_vi": {') == 1  # the Problem component, referred to by every error response
    assert '"title": "DocRef"' not in text and text.count('"#/components/schemas/DocRef"') > 40
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status >= "400" and status != "503":
                    schema = response["content"]["application/problem+json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, status)


def test_bearer_security_is_declared_and_only_health_is_public() -> None:
    assert SPEC["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert SPEC["security"] == [{"bearer": []}]
    public = {op["operationId"] for op in OPERATIONS.values() if op.get("security") == []}
    assert public == {"healthz", "readyz", "metrics", "get_procedure_openapi"}


def test_operation_ids_are_short_and_every_tag_is_described() -> None:
    described = {tag["name"] for tag in SPEC["tags"] if tag["description"]}
    for operation_id, operation in OPERATIONS.items():
        assert len(operation_id) <= 40 and "_v1_" not in operation_id, operation_id
        assert operation["tags"] and set(operation["tags"]) <= described, operation_id
        assert operation["description"] and operation["summary"], operation_id


def test_every_human_trigger_is_its_own_operation_with_a_named_body_per_procedure() -> None:
    submit = OPERATIONS["transition_submit_dossier"]
    body = submit["requestBody"]["content"]["application/json"]
    refs = [v["$ref"].rsplit("/", 1)[1] for v in body["schema"]["anyOf"]]
    assert "CdhtXaTt252023SubmitDossier" in refs and "CdhtHuyenTt252023SubmitDossier" in refs
    schemas = SPEC["components"]["schemas"]
    for name in refs:
        assert schemas[name]["properties"]["data"] == {"$ref": f"#/components/schemas/{name}Data"}
    # The three TT25 recognitions and TT24's two tiers ask for a level and say how the dossier was sent.
    leveled = [
        n for n in refs if schemas[n + "Data"]["required"] == ["requested_level", "channel", "submission_letter"]
    ]
    assert len(leveled) == 5  # commune, district, province; TT24 x2
    for name in leveled:
        assert schemas[name + "Data"]["properties"]["channel"]["enum"] == ["direct", "online", "post"]
    for citation in (
        "TT25/2023 Điều 9 k1 d",
        "TT25/2023 Điều 14 k1 d",
        "TT25/2023 Điều 19 k1 d",
        "TT24/2023 Điều 10 k1 c",
        "TT24/2023 Điều 16 k1 c",
    ):
        assert citation in submit["description"]
    assert body["examples"]["CdhtXaTt252023SubmitDossier"]["value"]["data"]["channel"] == "online"
    assert "transition_lapse" not in OPERATIONS  # fired only by the deadline worker
    assert "indicator_submit_evidence" in OPERATIONS


def test_the_guards_rules_that_json_schema_can_say_are_in_the_schemas() -> None:
    schemas = SPEC["components"]["schemas"]
    meeting = schemas["CdhtXaTt252023RecordReviewMeetingData"]["properties"]
    assert meeting["chair"]["properties"]["position"]["enum"] == ["chu_tich", "pho_chu_tich"]
    council = schemas["CdhtXaTt252023FormCouncilData"]["properties"]["members"]
    assert council["minItems"] == 5 and council["items"]["then"] == {"required": ["sub"]}
    figures = schemas["CdhtXaTt252023IndicatorSubmitEvidenceData"]["properties"]["figures"]
    shapes = {tuple(v["required"]) for v in figures["anyOf"]}
    assert ("share",) in shapes and ("trained_share", "university_share") in shapes
    assert "TC1.1" in figures["description"]  # a rated indicator: no figures
    description = schemas["CdhtXaTt252023SubmitDossierData"]["description"]
    assert "is_before_submission_deadline" in description  # what only a guard checks, said


def _fails(schema: dict, payload: dict) -> bool:
    return bool(list(Draft202012Validator(schema).iter_errors(payload)))


def test_the_published_schema_refuses_what_the_guards_refuse() -> None:
    meeting = published_schema(XA, XA.transition("record_review_meeting"))
    good = example(XA, "record_review_meeting")
    assert not _fails(meeting, good)
    assert _fails(meeting, {**good, "chair": {"name": "A", "position": "truong_thon"}})
    assert _fails(meeting, {**good, "participants": good["participants"][:2]})
    council = published_schema(XA, XA.transition("form_council"))
    members = example(XA, "form_council")["members"]
    no_sub = [{k: v for k, v in m.items() if k != "sub"} for m in members]
    assert _fails(council, {**example(XA, "form_council"), "members": no_sub})
    assert _fails(council, {**example(XA, "form_council"), "members": members[:4]})


@pytest.mark.parametrize("key_version", sorted(REGISTRY.procedures), ids="/".join)
def test_every_example_fits_its_published_schema(key_version: tuple[str, str]) -> None:
    definition = REGISTRY.procedures[key_version].definition
    steps = [(t, False) for t in definition.transitions]
    steps += [(t, True) for t in (definition.indicator_process.transitions if definition.indicator_process else [])]
    for transition, indicator in steps:
        if transition.example is not None:
            payload = example(definition, transition.trigger, indicator=indicator)
            errors = list(Draft202012Validator(published_schema(definition, transition)).iter_errors(payload))
            assert not errors, (transition.trigger, [e.message for e in errors])
    if definition.key == "cdht_xa":
        missing = [t.trigger for t, _ in steps if t.example is None and t.bodies != ["system"]]
        assert not missing, f"cdht_xa steps without an example: {missing}"


def test_the_per_procedure_document_carries_one_procedure() -> None:
    narrowed = openapi_doc.for_procedure(SPEC, REGISTRY, "cdht_xa", "tt25-2023")
    ops = {op["operationId"]: op for item in narrowed["paths"].values() for op in item.values()}
    triggers = {t.trigger for t in XA.transitions if t.bodies != ["system"]}
    assert {o.removeprefix("transition_") for o in ops if o.startswith("transition_")} == triggers
    issue_plan = ops["transition_issue_plan"]
    assert issue_plan["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CdhtXaTt252023IssuePlan"
    }
    assert issue_plan["summary"] == "issue_plan: Issue the commune's learning-community plan"
    assert "TT25/2023 Điều 24 k1" in issue_plan["description"] and "cdht_huyen" not in issue_plan["description"]
    assert not [n for n in narrowed["components"]["schemas"] if n.startswith(("CdhtHuyen", "CdhtTinh", "DonVi"))]
    assert "get_procedure_openapi" in ops and "open_case" in ops


def test_the_trigger_operations_document_their_headers_as_fastapi_documents_declared_headers() -> None:
    """The trigger routes read If-Match and Idempotency-Key themselves (service/api/transitions.py); their parameters
    are what FastAPI writes for the same headers declared."""
    app = FastAPI()

    @app.post("/x")
    async def declared(
        if_match: Annotated[str | None, Header(alias="If-Match", description=IF_MATCH)] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> None: ...

    fastapi_writes = app.openapi()["paths"]["/x"]["post"]["parameters"]
    assert fastapi_writes == [
        trigger_docs.header_parameter("If-Match", IF_MATCH),
        trigger_docs.header_parameter("Idempotency-Key", IDEMPOTENCY_KEY),
    ]
    for operation_id in ("transition_submit_dossier", "indicator_accept"):
        assert OPERATIONS[operation_id]["parameters"][-2:] == fastapi_writes, operation_id
