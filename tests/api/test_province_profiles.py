"""A province's own profile (PROCEDURES.md §3, §10 q1): which office reviews, who decides, whether supplement
requests are allowed, and the report deadline, for that province's cases from a given cycle only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from service import walkthrough as w
from tests.helpers import Api, Reviewers
from tests.support.apps import build_api
from workflows.registry import ROOT, DefinitionError, load

EXAMPLE = ROOT / "profiles" / "examples" / "province.example.yaml"


def province_profile(tmp_path: Path, province: str = "P1", **replace: str) -> Path:
    """The shipped example, pointed at a test province, in a directory of the deployment's own profiles."""
    directory = tmp_path / "profiles"
    directory.mkdir(exist_ok=True)
    text = EXAMPLE.read_text(encoding="utf-8").replace('provinces: ["20"]', f'provinces: ["{province}"]')
    for old, new in replace.items():
        text = text.replace(old, new)
    (directory / "province.yaml").write_text(text, encoding="utf-8")
    return directory


@pytest.fixture
async def province_api(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    registry = load(ROOT, (province_profile(tmp_path),))
    async for api in build_api(database_url, tmp_path / "data", registry=registry):
        yield api


async def test_the_provinces_own_profile_names_who_decides_and_its_settings(province_api: Api) -> None:
    api = province_api
    case_id, leader = await api.new_case("C3", 2025)
    case = await api.ok(await api.get(leader, f"/v1/cases/{case_id}"))
    assert case["profile"] == "two_tier.example"
    reviewers = Reviewers(
        api.who("province_officer", "P1"), api.who("province_leader", "P1"), api.who("council_member", "P1")
    )
    await api.walk(case_id, leader, cycle=2025, until="under_review", reviewers=reviewers)
    # Supplement requests are on in this province (off in two_tier).
    asked = await api.fire(reviewers.officer, case_id, "request_supplement", {"missing": ["Biên bản họp"]})
    await api.ok(asked)
    await api.ok(await api.fire(leader, case_id, "resubmit", {"note": "Đã bổ sung"}))
    # The Department's director no longer forms the council or decides; the provincial People's Committee does.
    director = api.who("province_director", "P1")
    api.clock.set("2026-03-01T02:00:00")
    refused = await api.fire(
        director, case_id, "form_council", w.form_council(2025, secretary_sub=reviewers.secretary.sub)
    )
    assert refused.status_code == 403, refused.text
    assert "needs role province_leader at unit P1" in refused.text
    await api.walk(case_id, leader, cycle=2025, until="recognized", reviewers=reviewers, resume=True)
    decided = await api.ok(await api.get(leader, f"/v1/cases/{case_id}"))
    assert decided["state"] == "recognized"
    # The report falls due on the province's own day.
    report = await api.ok(
        await api.client.post("/v1/reports", headers=reviewers.officer.headers, json={"unit": "P1", "cycle": 2025}),
        201,
    )
    due = {d["key"]: d["due_at"] for d in report["deadlines"]}
    assert due["report"] == "2026-04-30T16:59:59.999999Z", due  # 23:59:59 on 30/04 in Asia/Ho_Chi_Minh


async def test_other_provinces_and_earlier_cycles_keep_the_base_profiles(province_api: Api) -> None:
    api = province_api
    other, _ = await api.new_case("C9", 2025)
    earlier, _ = await api.new_case("C1", 2024)
    admin = api.who("auditor", "VN")
    assert (await api.ok(await api.get(admin, f"/v1/cases/{other}")))["profile"] == "two_tier"
    assert (await api.ok(await api.get(admin, f"/v1/cases/{earlier}")))["profile"] == "three_tier"


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({"extends: two_tier": "extends: four_tier"}, "extends: 'four_tier' is not a base profile"),
        ({"report_due_month_day:": "report_due_day:"}, "settings.report_due_day: two_tier has no such setting"),
        ({"name: two_tier.example": "name: two_tier"}, "name: profile 'two_tier' is also in"),
        ({"reviewer.head: {role: province_leader": "reviewer.head: {role: governor"}, "unknown role 'governor'"),
        (
            {"reviewer.head: {role: province_leader": "report.recipient: {role: province_director"},
            "bodies.report.recipient: province_director at province also fills report.head, the report's author",
        ),
        (
            {"reviewer.head: {role: province_leader": "tt24_report.recipient: {role: province_officer"},
            "bodies.tt24_report.recipient: province_officer at province also fills tt24_district.office, the report's",
        ),
    ],
)
def test_a_bad_province_profile_is_refused_at_loading_with_its_file_and_key(
    tmp_path: Path, replace: dict[str, str], message: str
) -> None:
    with pytest.raises(DefinitionError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load(ROOT, (province_profile(tmp_path, **replace),))


def test_a_province_profile_without_a_base_is_refused(tmp_path: Path) -> None:
    directory = province_profile(tmp_path, **{"extends: two_tier\n": ""})
    with pytest.raises(DefinitionError, match="provinces: a province's profile extends a base profile"):
        load(ROOT, (directory,))
    shutil.rmtree(directory)
