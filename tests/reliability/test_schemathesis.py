"""Schemathesis against the committed OpenAPI document and the app in-process, with tokens of several roles.

The schema is ``openapi/openapi.json`` as committed (``from_path``); the target is ``create_app`` on a seeded
database (``tests/reliability/fuzzing.py``). For every operation Schemathesis generates requests, positive and
negative, each sent as one of five callers (the leader and an officer of commune C3, the director of province P1,
a national auditor, a national admin). Path parameters are mostly the seeded resources' ids (an evidence id with
its own case and indicator), so that requests reach real data and every layer behind the routing. Every response
must pass ``not_a_server_error``, ``response_schema_conformance``, ``status_code_conformance`` and
``content_type_conformance``. A test gathers every distinct failure of its operation, each with the caller and a
``curl`` line that reproduces it, and fails listing them all. (``test_fuzz_hostile.py`` sends what no schema
allows: out-of-range numbers, extreme dates, forged cursors.)

The run is bounded (``MAX_EXAMPLES`` per operation, no deadline) and derandomised: the same code and the same
database make the same requests, in CI and on a laptop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup

from service.main import create_app
from tests.reliability import fuzzing
from tests.reliability.fuzzing import BASE_URL, FUZZ_SETTINGS, OPERATIONS, ROLES, SCHEMA, Fuzzed, aim
from tests.support.apps import make_settings
from workflows.registry import default_registry

fuzzed = fuzzing.fuzzed  # the seeded service, a fixture

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
]

# --- the test ------------------------------------------------------------------------------------------------


def strategy_for(label: str) -> st.SearchStrategy[tuple[str, Any]]:
    """A caller and a request, positive (fits the schema) or negative (does not)."""
    method, path = label.split(" ", 1)
    operation = SCHEMA[path][method]
    requests_ = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    return st.tuples(st.sampled_from(sorted(ROLES)), requests_)


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_answers_within_its_documented_contract(fuzzed: Fuzzed, label: str) -> None:
    problems: dict[tuple[str, ...], str] = {}
    statuses: dict[str, dict[int, int]] = {}

    @given(drawn=strategy_for(label))
    @FUZZ_SETTINGS
    def run(drawn: tuple[str, Any]) -> None:
        role, case = drawn
        headers = fuzzed.headers(role)
        aim(case, fuzzed.ids)
        response = fuzzed.send(case.as_transport_kwargs(base_url=BASE_URL, headers=headers))
        seen = statuses.setdefault(role, {})
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            found = sorted({f"{type(f).__name__}: {f.title}" for f in group.exceptions})
            key = (*found, str(response.status_code))
            if key not in problems:
                curl = case.as_curl_command(headers=headers, base_url=BASE_URL)
                problems[key] = (
                    f"{' | '.join(key)}\n  as {role}@{ROLES[role]} (token: `cdht token --role {role} "
                    f"--unit {ROLES[role]}`):\n  {curl}\n  -> {response.status_code} {response.text[:600]}"
                )

    run()
    print(f"{label}: {statuses}")  # shown with -rP: what the requests reached, by role
    assert statuses, f"{label}: nothing was sent"
    assert not problems, f"{label} (statuses by role: {statuses})\n" + "\n".join(problems.values())


def test_operations_cover_the_app_routes() -> None:
    """The committed document has every route the app serves (a stale document would hide routes from fuzzing)."""
    from tests.helpers import flat_routes

    app = create_app(make_settings("sqlite+aiosqlite:///:memory:", Path("/nonexistent")), registry=default_registry())
    served = {
        f"{method} {path}"
        for path, methods in flat_routes(app)
        for method in methods - {"HEAD", "OPTIONS"}
        if path not in {"/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc", "/"}
        and not path.startswith("/console/")  # the console's HTML pages, outside the API's contract (tests/console)
    }
    assert served == set(OPERATIONS)
