"""The console in a real browser (Chromium through Playwright) against a real ``cdht serve`` on SQLite with the
demo data: a commune case of cycle 2026 walked from the plan to the recognition entirely in the console, each step
by the official whose step it is, evidence uploaded from files (one dropped on the drop zone); a step refused with
its reasons and citation, the same as the API says; a stale form refused without acting; the steps not open with
their reasons; then an auditor finds the recognition in the audit search, opens the case as it stood before it,
verifies the chain and downloads the export.

One server and one browser for the module; the walk is one test (each step depends on the one before).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import httpx
import openpyxl
import pytest

from service import walkthrough as w
from service.auth import issue_dev_token
from service.config import Settings
from tests.helpers import DEFINITION
from tests.support.browser import (
    SECRET,
    VIEWPORT,
    Served,
    browser,
    console_server,
    fill_step,
    signed_in,
    step_form_id,
    take_step,
    upload,
)

T1 = "2027-02-20T09:00:00+07:00"  # the commune's work, the dossier received, the council formed and its appraisal
T2 = "2027-02-25T09:00:00+07:00"  # the Department's decision, days later
CYCLE = 2026
TT24 = Settings(env="test").registry().current("don_vi_hoc_tap").definition


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with console_server(tmp_path_factory.mktemp("console"), now=T1) as served:
        yield served


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as chromium:
        yield chromium


def token(sub: str, role: str, unit: str) -> dict[str, str]:
    settings = Settings(env="test", auth_dev_secret=SECRET)
    return {"Authorization": f"Bearer {issue_dev_token(settings, sub=sub, roles=[role], unit=unit)}"}


def case_id_of(page: Any) -> str:
    return page.url.split("/console/cases/")[1].split("?")[0]


def history(served: Served, case_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{served.url}/v1/cases/{case_id}/history", headers=token("auditor", "auditor", "VN"), timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def picture(page: Any, name: str) -> None:
    """A screenshot for the README, only when $CDHT_SCREENSHOTS_DIR is set (docs/console/)."""
    if where := os.environ.get("CDHT_SCREENSHOTS_DIR"):
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / f"{name}.png"))


def evidence_files(root: Path) -> dict[str, Path]:
    files = {}
    for indicator in DEFINITION.indicators:
        path = root / f"minh-chung-{indicator.code}.pdf"
        path.write_bytes(w.MINIMAL_PDF)
        files[indicator.code] = path
    return files


def drop_file(page: Any, path: Path, indicator: str) -> None:
    """Drag and drop: a DataTransfer holding the file, dropped on the drop zone."""
    page.select_option("#upload-indicator", indicator)
    data = base64.b64encode(path.read_bytes()).decode()
    transfer = page.evaluate_handle(
        """([data, name]) => { const t = new DataTransfer();
             const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
             t.items.add(new File([bytes], name, {type: 'application/pdf'})); return t; }""",
        [data, path.name],
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    assert page.eval_on_selector("#upload-file", "e => e.files.length") == 1
    with page.expect_navigation():
        page.click("#upload button[type=submit]")


def test_walk_a_commune_case_in_the_console(served: Served, chromium: Any, tmp_path: Path) -> None:
    leader = signed_in(chromium, served.url, "leader-x02")

    # The leader opens the case of cycle 2026 for the commune.
    leader.goto("/console/cases")
    leader.fill("#open-unit", "DEMO-X02")
    leader.fill("#open-cycle", str(CYCLE))
    with leader.expect_navigation():
        leader.click("form.stack button[type=submit]")
    case_id = case_id_of(leader)
    assert leader.get_attribute("#case-state", "data-state") == "planning"

    # A stale page: a second tab holds the case as it was; the first issues the plan; the second is refused.
    stale_tab = leader.context.new_page()
    stale_tab.goto(f"/console/cases/{case_id}")
    take_step(leader, "issue_plan", w.issue_plan(CYCLE))
    stale_form = fill_step(stale_tab, "issue_plan", w.issue_plan(CYCLE, plan=w.docref("16/KH-UBND", "2026-01-16")))
    with stale_tab.expect_navigation():
        stale_form.locator("button[type=submit]").click()
    banner = stale_tab.locator(".problem.stale")
    assert banner.count() == 1 and "issue_plan" in banner.inner_text()
    assert "Chủ tịch UBND xã Hòa Lạc" in banner.inner_text()  # who changed it
    picture(stale_tab, "stale-page")
    assert stale_tab.locator(".stale a.button").get_attribute("href") == f"/console/cases/{case_id}"
    assert [e["trigger"] for e in history(served, case_id)].count("issue_plan") == 1
    stale_tab.close()

    # A step refused by a guard: indicators left without an assignee. The form shows each reason with its legal
    # citation, exactly as the API answers the same payload; nothing is done.
    partial = {"assignments": w.assign_indicators(DEFINITION)["assignments"][:3]}
    form = fill_step(leader, "assign_indicators", partial)
    with leader.expect_navigation():
        form.locator("button[type=submit]").click()
    problem = leader.locator(f"form#{step_form_id('assign_indicators')} .problem")
    assert problem.count() == 1, leader.inner_text("main")[:3000]
    shown = problem.inner_text()
    api = httpx.post(
        f"{served.url}/v1/cases/{case_id}/transitions/assign_indicators",
        json={"data": partial},
        headers=token("leader-x02", "commune_leader", "DEMO-X02"),
        timeout=30,
    )
    assert api.status_code == 409
    assert api.json()["reasons"], api.text
    for reason in api.json()["reasons"]:
        assert reason["code"] in shown and reason["message_en"] in shown  # the particulars, as raised
    assert "(Điều 24 k2)" in shown  # the legal citation travels in the guard's message
    problem.scroll_into_view_if_needed()
    picture(leader, "refused-step")
    assert leader.get_attribute("#case-state", "data-state") == "plan_issued"
    assert [e.get("trigger") for e in history(served, case_id)].count("assign_indicators") == 0

    take_step(leader, "assign_indicators", w.assign_indicators(DEFINITION))

    # Steps not open are listed with their reasons and citation.
    closed = leader.locator('ul.closed > li[data-trigger="complete_self_assessment"]')
    assert "indicators_not_accepted" in closed.inner_text() and "Điều 9 k1" in closed.inner_text()

    # The commune officer uploads each indicator's evidence from a file and submits it.
    officer = signed_in(chromium, served.url, "officer-x02")
    officer.goto(f"/console/cases/{case_id}")
    files = evidence_files(tmp_path)
    for index, indicator in enumerate(DEFINITION.indicators):
        code = indicator.code
        if index == 0:
            drop_file(officer, files[code], code)
        else:
            upload(officer, code, files[code], f"Minh chứng {code}")
        assert officer.locator(f'tr[data-indicator="{code}"] a', has_text=files[code].name).count() == 1
        take_step(officer, "submit_evidence", w.submit_evidence(DEFINITION, code), indicator=code)
        if index == 3:
            picture(officer, "case-steps")

    # The leader accepts each, assesses, holds the review meeting and sends the dossier.
    leader.goto(f"/console/cases/{case_id}")
    for indicator in DEFINITION.indicators:
        take_step(leader, "accept", {}, indicator=indicator.code)
    take_step(leader, "complete_self_assessment", w.complete_self_assessment(CYCLE))
    # A double click: the same form sent twice acts once (its Idempotency-Key), and both answers say done.
    form = fill_step(leader, "record_review_meeting", w.record_review_meeting(CYCLE))
    sent = form.evaluate("f => Object.fromEntries(new FormData(f))")
    action = f"{served.url}/console/cases/{case_id}/steps/record_review_meeting"
    answers = [leader.request.post(action, form=sent, max_redirects=0) for _ in range(2)]
    assert [a.status for a in answers] == [303, 303], [a.text()[:500] for a in answers]
    assert [e.get("trigger") for e in history(served, case_id)].count("record_review_meeting") == 1
    leader.goto(f"/console/cases/{case_id}")
    take_step(leader, "submit_dossier", w.submit_dossier(CYCLE, 1))

    # The Department (two-tier after 1/7/2025) receives it, its director forms the council, the secretary appraises.
    reviewer = signed_in(chromium, served.url, "province-officer")
    reviewer.goto(f"/console/cases/{case_id}")
    take_step(reviewer, "receive_dossier", {"received_on": "2027-02-20"})
    director = signed_in(chromium, served.url, "province-director")
    director.goto(f"/console/cases/{case_id}")
    take_step(
        director,
        "form_council",
        w.form_council(CYCLE, secretary_sub="council-secretary", decision=w.docref("21/QĐ-SGDĐT", "2027-02-20")),
    )
    secretary = signed_in(chromium, served.url, "council-secretary")
    secretary.goto(f"/console/cases/{case_id}")
    take_step(
        secretary,
        "record_appraisal",
        w.record_appraisal(DEFINITION, CYCLE, report=w.docref("02/BC-HĐĐG", "2027-02-20")),
    )
    assert secretary.get_attribute("#case-state", "data-state") == "appraised"

    # Days later the director decides.
    served.restart_at(T2)
    director = signed_in(chromium, served.url, "province-director")
    director.goto(f"/console/cases/{case_id}")
    take_step(director, "recognize", w.recognize(CYCLE, decision=w.docref("35/QĐ-SGDĐT", "2027-02-25")))
    assert director.get_attribute("#case-state", "data-state") == "recognized"
    assert director.locator("#chain-badge.ok").count() == 1
    assert director.locator(".diagram .state.current[data-state=recognized]").count() == 1

    # Each step was taken once, by the official whose step it is.
    events = history(served, case_id)
    by_trigger = {e["trigger"]: e["actor"]["sub"] for e in events if e["kind"] == "transition"}
    assert by_trigger == {
        "issue_plan": "leader-x02",
        "assign_indicators": "leader-x02",
        "complete_self_assessment": "leader-x02",
        "record_review_meeting": "leader-x02",
        "submit_dossier": "leader-x02",
        "receive_dossier": "province-officer",
        "form_council": "province-director",
        "record_appraisal": "council-secretary",
        "recognize": "province-director",
    }
    assert sum(e["kind"] == "evidence_uploaded" for e in events) == len(DEFINITION.indicators)
    assert {e["actor"]["sub"] for e in events if e.get("trigger") == "submit_evidence"} == {"officer-x02"}

    auditor_finds_the_recognition(chromium, served, case_id)
    json.dumps(events)  # the history is plain JSON


def auditor_finds_the_recognition(chromium: Any, served: Served, case_id: str) -> None:
    auditor = signed_in(chromium, served.url, "auditor")
    auditor.goto("/console/audit")
    auditor.fill("#audit-trigger", "recognize")
    auditor.fill("#audit-unit", "DEMO-X02")
    with auditor.expect_navigation():
        auditor.click("form.audit-search button[type=submit]")
    row = auditor.locator(f'tr[data-case="{case_id}"]')
    assert row.count() == 1, auditor.inner_text("main")
    with auditor.expect_navigation():
        row.locator("a.before").click()
    assert auditor.get_attribute("#case-state", "data-state") == "appraised"
    assert auditor.locator(".asof-note").count() == 1
    picture(auditor, "as-of")

    auditor.goto(f"/console/audit?case={case_id}")
    with auditor.expect_navigation():
        auditor.click("form.verify button[type=submit]")
    result = auditor.locator("#verify-result")
    assert result.get_attribute("data-ok") == "true", result.inner_text()

    # Everything: the page shows each range of chains as it is verified, then the result, as the API reports it.
    auditor.goto("/console/audit")
    with auditor.expect_navigation():
        auditor.click("form.verify button[type=submit]")
    result = auditor.locator("#verify-result")
    assert result.get_attribute("data-ok") == "true", result.inner_text()
    steps = auditor.locator("#verify-progress li.verify-step.done")
    assert 2 <= steps.count() <= 8, auditor.inner_text("main")
    api = httpx.get(f"{served.url}/v1/audit/verify", headers=token("auditor", "auditor", "VN"), timeout=60).json()
    assert f": {api['events_checked']} ·" in result.inner_text() and api["ok"] is True
    counted = sum(
        int(re.search(r"(\d+) (?:sự kiện|events)", steps.nth(i).inner_text())[1]) for i in range(steps.count())
    )
    assert counted == api["events_checked"]

    auditor.goto(f"/console/audit?case={case_id}")
    with auditor.expect_download() as waiting:
        auditor.click("a#export-jsonl")
    path = waiting.value.path()
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    assert any(json.loads(line).get("trigger") == "recognize" for line in lines)


def test_a_report_compiled_approved_and_downloaded(served: Served, chromium: Any) -> None:
    """The Department's annual report of cycle 2026: opened and compiled by its officer, approved and sent by its
    director, its figures previewed and its XLSX and DOCX downloaded — the API's own documents."""
    officer = signed_in(chromium, served.url, "province-officer")
    officer.goto("/console/reports")
    officer.fill("#report-unit", "DEMO-LS")
    officer.fill("#report-cycle", str(CYCLE))
    with officer.expect_navigation():
        officer.click("form.open-report button[type=submit]")
    report_id = case_id_of(officer)
    take_step(officer, "compile", {})
    api = httpx.get(
        f"{served.url}/v1/reports/{report_id}", headers=token("auditor", "auditor", "VN"), timeout=30
    ).json()
    for name, value in api["snapshot"]["totals"].items():
        assert officer.locator(f'td[data-total="{name}"]').inner_text() == str(value)

    director = signed_in(chromium, served.url, "province-director")
    director.goto(f"/console/cases/{report_id}")
    approval = {
        "document": w.docref("12/BC-SGDĐT", served.environment["CDHT_NOW"][:10]),
        "place": "Lạng Sơn",
        "signer_title": "GIÁM ĐỐC",
        "signer_name": "Hoàng Văn Em",
        "recipients": ["Bộ GDĐT (để b/c)", "Lưu: VT, GDTX"],
    }
    take_step(director, "approve", approval)
    take_step(director, "submit", {"channel": "online"})
    assert director.get_attribute("#case-state", "data-state") == "submitted"
    with director.expect_download() as waiting:
        director.click("a#report-xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(Path(waiting.value.path()).read_bytes()))
    cells = [str(c) for sheet in workbook for row in sheet.iter_rows(values_only=True) for c in row if c]
    for commune in api["snapshot"]["communes"]:
        assert any(commune["name"] in c for c in cells), commune
    with director.expect_download() as waiting:
        director.click("a#report-docx")
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(Path(waiting.value.path()).read_bytes())).paragraphs)
    assert f"năm {CYCLE}" in text and "Lạng Sơn" in text


AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PHONE = {"width": 390, "height": 844}


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page (injected by the test only; the console never serves
    it, and the context bypasses the page's CSP to inject it)."""
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    violations = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def test_main_pages_pass_axe_and_are_photographed(served: Served, chromium: Any, tmp_path: Path) -> None:
    """The main pages, signed in as the Department's director (after the walk and the report when they ran
    first): no serious or critical axe-core violation, at 1366x768 and on a phone; a screenshot of each, written to
    $CDHT_SCREENSHOTS_DIR when it is set (the README's pictures: docs/console/)."""
    shots = Path(os.environ.get("CDHT_SCREENSHOTS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport=VIEWPORT, base_url=served.url, bypass_csp=True, locale="vi-VN")
    page = context.new_page()
    page.goto("/console/sign-in")
    problems = {"sign-in": serious_violations(page)}
    page.screenshot(path=str(shots / "sign-in.png"))
    page.select_option("#sub", "province-director")
    with page.expect_navigation():
        page.click("form.signin button[type=submit]")
    case = httpx.get(
        f"{served.url}/v1/cases",
        params={"unit": "DEMO-X02", "procedure": "cdht_xa"},
        headers=token("auditor", "auditor", "VN"),
    ).json()["items"][0]["id"]
    pages = {
        "inbox": "/console/",
        "cases": "/console/cases",
        "case": f"/console/cases/{case}",
        "deadlines": "/console/deadlines",
        "audit": f"/console/audit?case={case}",
        "reports": "/console/reports",
    }
    for name, path in pages.items():
        page.goto(path)
        problems[name] = serious_violations(page)
        page.screenshot(path=str(shots / f"{name}.png"), full_page=name not in ("case", "audit"))
    page.set_viewport_size(PHONE)
    page.goto(pages["case"])
    problems["case (phone)"] = serious_violations(page)
    page.screenshot(path=str(shots / "case-phone.png"))
    context.close()
    assert not any(problems.values()), problems


def test_admin_pages_units_campaign_webhooks_checkpoints(served: Served, chromium: Any) -> None:
    """The service pages, each the API's own answer: a unit added under the province and shown with its parent; a
    campaign's dry run (its table) and then its run, refused first to an admin whom no rule lets open cases, then
    run by the Department's director; a webhook subscription (its secret shown once), a replay and the delivery
    log; a checkpoint signed and every signature checked."""
    admin = signed_in(chromium, served.url, "admin")
    admin.goto("/console/units?parent=DEMO-LS")
    admin.fill("#unit-code", "DEMO-X09")
    admin.fill("#unit-name", "Xã Thử Nghiệm (demo)")
    admin.fill("#unit-source", "Nghị quyết thử nghiệm")
    with admin.expect_navigation():
        admin.click("form.add-unit button[type=submit]")
    assert admin.locator("table td", has_text="DEMO-X09").count() == 1

    admin.goto("/console/campaigns")
    admin.fill("#c-unit", "DEMO-LS")
    admin.fill("#c-cycle", "2027")
    with admin.expect_navigation():
        admin.click("form.campaign button[value=false]")
    assert "not_authorised" in admin.inner_text("main")  # the engine's authority, as the API says it

    director = signed_in(chromium, served.url, "province-director")
    director.goto("/console/campaigns")
    director.fill("#c-unit", "DEMO-LS")
    director.fill("#c-cycle", "2027")
    with director.expect_navigation():
        director.click("form.campaign button[value=false]")
    assert director.get_attribute("#campaign-result", "data-dry-run") == "true"
    would_open = int(director.inner_text('td[data-count="would_open"]'))
    assert would_open >= 1
    with director.expect_navigation():
        director.click("#campaign-run")
    assert director.get_attribute("#campaign-result", "data-dry-run") == "false"
    assert int(director.inner_text('td[data-count="opened"]')) == would_open

    admin.goto("/console/webhooks")
    admin.fill("#w-url", "http://127.0.0.1:9/hook")
    admin.check("input[value='case.opened']")
    with admin.expect_navigation():
        admin.click("form.subscribe button[type=submit]")
    assert admin.locator("#webhook-created code").inner_text().startswith("whsec_")
    with admin.expect_navigation():
        admin.locator("table a", has_text="127.0.0.1:9").click()
    admin.fill("#replay-since", "2024-01-01T00:00:00+07:00")
    with admin.expect_navigation():
        admin.click("form.replay button[type=submit]")
    assert admin.locator("#webhook-done").count() == 1, admin.inner_text("main")[:2000]

    admin.goto("/console/audit/checkpoints")
    with admin.expect_navigation():
        admin.click("form.inline button[type=submit] >> text=/Ký điểm/")
    with admin.expect_navigation():
        admin.click("#verify-checkpoints")
    assert admin.get_attribute("#checkpoints-result", "data-ok") == "true"


def test_a_learning_unit_case_opened_with_its_kind_of_organisation(served: Served, chromium: Any) -> None:
    """TT24/2023: the open-case form offers the kinds of organisation the definition names (Điều 2); without one
    the opening is refused with the API's reason, with one the case opens about that organisation and kind."""
    director = signed_in(chromium, served.url, "province-director")
    director.goto("/console/cases")
    offered = director.locator('#open-subject-kind option[data-procedure="don_vi_hoc_tap"]')
    assert offered.count() == len(TT24.organisation_kinds)
    assert "Ủy ban nhân dân cấp xã" in director.locator("#open-subject-kind").inner_text()

    def open_form(kind: str) -> None:
        director.goto("/console/cases")
        director.select_option("#open-procedure", "don_vi_hoc_tap")
        director.fill("#open-unit", "DEMO-LS")
        director.fill("#open-cycle", str(CYCLE))
        director.fill("#open-subject", "Trường Chính trị tỉnh Lạng Sơn")
        director.select_option("#open-subject-kind", kind)
        with director.expect_navigation():
            director.click("form.stack button[type=submit]")

    open_form("")
    assert "subject_kind_required" in director.content()
    open_form("co_quan_nha_nuoc")
    case_id = case_id_of(director)
    case = httpx.get(f"{served.url}/v1/cases/{case_id}", headers=token("auditor", "auditor", "VN"), timeout=30).json()
    assert (case["procedure"], case["subject"], case["subject_kind"]) == (
        "don_vi_hoc_tap",
        "Trường Chính trị tỉnh Lạng Sơn",
        "co_quan_nha_nuoc",
    )
