"""The named errors leave the API exactly as their status class did: the same status, type, title and reason code
(a client sees no difference), whichever name the domain raised."""

from __future__ import annotations

import httpx

from service import walkthrough as w
from tests.helpers import Api

PROBLEM = "application/problem+json"


def problem(response: httpx.Response) -> tuple[int, str, str, set[str]]:
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    return response.status_code, body["type"].rsplit("/", 1)[1], body["title"], {r["code"] for r in body["reasons"]}


async def test_named_refusals_render_as_their_status_class(api: Api) -> None:
    case_id, leader = await api.new_case("C1", 2025)
    again = await api.open(leader, "C1", 2025)  # CaseExists
    assert problem(again) == (409, "conflict", "Conflict", {"case_exists"})
    assert again.json()["case_id"] == case_id
    stale = await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025), headers={"If-Match": '"v0"'})
    assert problem(stale) == (412, "precondition-failed", "Precondition failed", {"stale_etag"})  # StaleVersion
    early = await api.fire(leader, case_id, "submit_dossier", w.submit_dossier(2025, 1))  # WrongState
    assert problem(early) == (409, "conflict", "Conflict", {"wrong_state"})
    outsider = api.who("commune_leader", "C2")
    assert problem(await api.open(outsider, "C1", 2026)) == (403, "forbidden", "Forbidden", {"not_authorised"})
    missing = await api.get(leader, "/v1/cases/00000000-0000-0000-0000-000000000000")  # UnknownCase
    assert problem(missing) == (404, "not-found", "Not found", {"case_unknown"})
    unit = await api.get(api.who("auditor", "VN"), "/v1/admin-units/NOWHERE")  # UnknownUnit
    assert problem(unit) == (404, "not-found", "Not found", {"unit_unknown"})
