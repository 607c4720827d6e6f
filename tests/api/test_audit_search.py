"""Audit search returns exactly what a brute-force filter over the same events returns, for random combinations
of filters, within the caller's jurisdiction; the auditor role changes nothing."""

from __future__ import annotations

import random
from datetime import datetime

from service import walkthrough as w
from service.workers.deadlines import sweep
from tests.conftest import UNITS
from tests.helpers import DEFINITION, Api, flat_routes
from workflows.registry import default_registry

REGISTRY = default_registry()
REPORT = REGISTRY.get("bao_cao_ket_qua", "tt25-2023").definition
COMMUNE_TRIGGERS = {t.trigger for t in DEFINITION.transitions}

TREE = {code: parent for code, _, _, parent, _ in UNITS} | {"VN": None}


def within(unit: str | None, root: str) -> bool:
    while unit is not None:
        if unit == root:
            return True
        unit = TREE.get(unit)
    return False


async def everything(api: Api, who, **params) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    items, cursor = [], None
    while True:
        page = await api.ok(
            await api.get(who, "/v1/audit/events", limit=7, **params, **({"cursor": cursor} if cursor else {}))
        )
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def build_history(api: Api) -> None:
    recognized, leader = await api.new_case("C1", 2024)
    await api.walk(recognized, leader, cycle=2024, until="recognized")
    refused, leader3 = await api.new_case("C3", 2025)
    await api.walk(refused, leader3, cycle=2025, until="appraised", failed=("TC2.2",))
    api.clock.set("2026-03-20T02:00:00")
    await api.ok(await api.fire(api.reviewers(2025).head, refused, "refuse", w.refuse(2025)))
    waiting, leader2 = await api.new_case("C2", 2025)
    await api.walk(waiting, leader2, cycle=2025, until="submitted")
    await api.new_case("C9", 2025)
    services = api.app.state.services
    await sweep(services.sessions, services.registry, now=datetime.fromisoformat("2026-04-01T00:00:00+07:00"))


def matches(event: dict, filters: dict) -> bool:  # type: ignore[type-arg]
    checks = {
        "case": event["case_id"],
        "procedure": event["procedure"],
        "actor": event["actor"]["sub"],
        "role": event["actor"]["role"],
        "trigger": event["trigger"],
        "kind": event["kind"],
    }
    for name, value in checks.items():
        if name in filters and filters[name] != value:
            return False
    if "unit" in filters and not within(event["unit"], filters["unit"]):
        return False
    if "citation" in filters and not (event["citation"] or "").startswith(filters["citation"]):
        return False
    if filters.get("breaches") is True and event["kind"] != "deadline_breached":
        return False
    if filters.get("breaches") is False and event["kind"] == "deadline_breached":
        return False
    moment = datetime.fromisoformat(event["occurred_at"])
    if "since" in filters and moment < datetime.fromisoformat(filters["since"]):
        return False
    return not ("until" in filters and moment >= datetime.fromisoformat(filters["until"]))


async def test_random_filter_combinations_equal_a_brute_force_filter(api: Api) -> None:
    await build_history(api)
    national = api.who("auditor", "VN")
    all_events = await everything(api, national)
    assert len(all_events) > 100
    assert any(e["kind"] == "deadline_breached" for e in all_events)
    pick = random.Random(20251231)
    values = {
        "case": sorted({e["case_id"] for e in all_events if e["case_id"]}),
        "procedure": ["cdht_xa"],
        "actor": sorted({e["actor"]["sub"] for e in all_events}),
        "role": sorted({e["actor"]["role"] for e in all_events if e["actor"]["role"]}),
        "unit": ["VN", "P1", "D1", "C1", "C3", "P2"],
        "trigger": sorted({e["trigger"] for e in all_events if e["trigger"]}),
        "kind": sorted({e["kind"] for e in all_events}),
        "citation": ["TT25/2023", "TT25/2023 Điều 9", "TT25/2023 Điều 9 k2", "TT25/2023 Điều 24"],
        "breaches": [True, False],
        "since": sorted({e["occurred_at"] for e in all_events}),
        "until": sorted({e["occurred_at"] for e in all_events}),
    }
    for round_ in range(40):
        names = pick.sample(sorted(values), k=pick.randint(1, 3))
        filters = {name: pick.choice(values[name]) for name in names}
        for who, root in ((national, "VN"), (api.who("auditor", "P1"), "P1")):
            params = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in filters.items()}
            found = [e["id"] for e in await everything(api, who, **params)]
            expected = [e["id"] for e in all_events if within(e["unit"], root) and matches(e, filters)]
            assert found == expected, (round_, root, filters)


async def test_the_auditor_role_writes_nothing(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    auditor = api.who("auditor", "VN")
    fired = await api.fire(auditor, case_id, "issue_plan", w.issue_plan(2025))
    opened = await api.open(auditor, "C1", 2025)
    upload = await api.upload(auditor, case_id, "TC1.1")
    unit = await api.client.post(
        "/v1/admin-units",
        headers=auditor.headers,
        json={"code": "C7", "name": "Xã Bảy", "level": "commune", "parent": "P1"},
    )
    hook = await api.client.post(
        "/v1/webhooks", headers=auditor.headers, json={"url": "http://127.0.0.1:9/h", "events": ["case.opened"]}
    )
    assert [r.status_code for r in (fired, opened, upload, unit, hook)] == [403] * 5


async def test_an_auditor_gets_403_on_every_write_route(api: Api) -> None:
    """Generated from the app's routes: every POST and DELETE, called by a national auditor on real resources; each
    trigger route on a case of a procedure that has the trigger."""
    openings = [  # (procedure, unit, cycle, opener role, opener unit, clock, extra)
        ("xep_loai_cdht_xa", "C1", 2023, "commune_leader", "C1", "2023-12-10T02:00:00", {}),
        ("cdht_huyen", "D1", 2024, "district_leader", "D1", "2025-01-05T02:00:00", {}),
        ("don_vi_hoc_tap", "D1", 2024, "district_head", "D1", "2025-01-05T02:00:00", {"subject": "TTGDNN"}),
        ("cdht_tinh", "P1", 2025, "province_leader", "P1", "2026-01-10T02:00:00", {}),
        ("khac_phuc", "C3", 2025, "province_director", "P1", "2026-01-10T02:00:00", {}),
    ]
    case_of = {}
    for procedure, unit, cycle, role, at, clock, extra in openings:
        api.clock.set(clock)
        body = {"procedure": procedure, "unit": unit, "cycle": cycle, **extra}
        opened = await api.ok(await api.client.post("/v1/cases", headers=api.who(role, at).headers, json=body), 201)
        for transition in REGISTRY.current(procedure).definition.transitions:
            case_of.setdefault(transition.trigger, opened["id"])
    commune, leader = await api.new_case("C3", 2025)
    await api.ok(await api.fire(leader, commune, "issue_plan", w.issue_plan(2025)))
    await api.ok(await api.fire(leader, commune, "assign_indicators", w.assign_indicators(DEFINITION)))
    api.clock.set("2026-05-10T02:00:00")
    report = (
        await api.ok(
            await api.client.post(
                "/v1/reports", headers=api.who("province_officer", "P1").headers, json={"unit": "P1", "cycle": 2025}
            ),
            201,
        )
    )["id"]
    hook = await api.ok(
        await api.client.post(
            "/v1/webhooks",
            headers=api.who("admin", "VN").headers,
            json={"url": "http://127.0.0.1:9/h", "events": ["case.opened"]},
        ),
        201,
    )
    report_triggers = {t.trigger for t in REPORT.transitions}
    bodies = {
        "/v1/cases": {"procedure": "cdht_xa", "unit": "C1", "cycle": 2025},
        "/v1/admin-units": {"code": "C7", "name": "Xã Bảy", "level": "commune", "parent": "P1"},
        "/v1/webhooks": {"url": "http://127.0.0.1:9/h", "events": ["case.opened"]},
        "/v1/reports": {"unit": "P1", "cycle": 2025},
        "/v1/webhooks/{subscription_id}/replay": {"since": "2025-01-01T00:00:00Z"},
        "/v1/campaigns": {"procedure": "cdht_xa", "unit": "P1", "cycle": 2025},
    }
    # Signing a checkpoint changes no record of anyone's case; a national auditor may ask for one (issue 5).
    exempt = {("POST", "/v1/audit/checkpoints")}
    auditor = api.who("auditor", "VN")
    checked = 0
    for path, route_methods in flat_routes(api.app):
        for method in sorted(route_methods & {"POST", "DELETE", "PUT", "PATCH"}):
            if (method, path) in exempt or not path.startswith("/v1/"):
                continue
            trigger = path.rsplit("/", 1)[1]
            case_id = report if trigger in report_triggers else commune
            if (
                "/transitions/" in path
                and "/indicators/" not in path
                and trigger not in COMMUNE_TRIGGERS | report_triggers
            ):
                case_id = case_of[trigger]
            url = (
                path.replace("{case_id}", case_id)
                .replace("{code}", "TC1.1")
                .replace("{subscription_id}", hook["id"])
                .replace("{delivery_id}", "00000000-0000-0000-0000-000000000000")
            )
            if path.endswith("/evidence"):
                response = await api.upload(auditor, commune, "TC1.1")
            else:
                body = bodies.get(path, {"data": {}})
                response = await api.client.request(method, url, headers=auditor.headers, json=body)
            assert response.status_code == 403, (method, path, response.status_code, response.text[:200])
            checked += 1
    assert checked >= 25
