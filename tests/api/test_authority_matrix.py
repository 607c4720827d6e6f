"""Who may fire what, generated from the definition and the jurisdiction profiles (DESIGN.md contract 3).

Nothing here lists who may do what by hand. For every human trigger of the case process and of the indicator
process, and for each profile (cycle 2024 on C1 under ``three_tier``, cycle 2025 on C3 under ``two_tier``), every
role of ``workflows.schema.ROLES`` is seated inside the case's jurisdiction (where the role lives for this case),
outside it (the other province), for commune roles at a neighbouring commune of the same province, and, for each
role a profile places, at the case's other tiers (a role counts at exactly its unit, not above or below it); bodies
that also need an organisation or a council seat add the near misses (wrong organisation, not named, named at
another position). The expected outcome comes from the profile's body rules and the unit tree of
``tests/support/apps.py``; the service must refuse every seat that fills no body with 403 ``not_authorised``
(``outside_jurisdiction`` for seats that may not even read the case),
change nothing, and then let the seat that fills one fire.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest

from service import walkthrough as w
from tests import helpers
from tests.helpers import DEFINITION, HAPPY_PATH, Api, Who, dated
from tests.support.payloads import CASE_PAYLOADS, COUNCIL_SUBS, INDICATOR_PAYLOADS, council_payload
from tests.support.seats import (
    ALL_UNITS,
    LEVEL,
    PROFILE_NAMES,
    PROFILES,
    REGISTRY,
    SCENARIOS,
    Scenario,
    Seat,
    body_filled,
    reads,
    seats_for,
    unit_at,
    who,
)
from workflows.registry import default_registry
from workflows.schema import ROLES, SYSTEM_BODY, Profile, Setting, Transition

PROCESS = DEFINITION.indicator_process
assert PROCESS is not None


def is_human(transition: Transition) -> bool:
    return transition.bodies != [SYSTEM_BODY]


CASE_TRIGGERS = [t.trigger for t in DEFINITION.transitions if is_human(t)]
SYSTEM_TRIGGERS = [t.trigger for t in DEFINITION.transitions if not is_human(t)]
INDICATOR_TRIGGERS = [t.trigger for t in PROCESS.transitions if is_human(t)]


# --- driving a case -----------------------------------------------------------------------------------------


def first_allowed(
    bodies: list[str],
    scenario: Scenario,
    *,
    indicator_org: str | None = None,
    council: list[dict[str, Any]] | None = None,
) -> Seat:
    seats = [s for s in seats_for(bodies, scenario, indicator_org=indicator_org) if s.where == "inside"]
    return next(s for s in seats if body_filled(bodies, scenario, s, indicator_org=indicator_org, council=council))


@contextmanager
def profile_settings(api: Api, profile: Profile, **values: Any) -> Iterator[None]:
    """Turn profile settings on for the app (to reach states the defaults keep closed), then restore them."""
    services = api.app.state.services
    original = services.registry
    settings = dict(profile.settings)
    for name, value in values.items():
        settings[name] = Setting(default=value, doc=settings[name].doc)
    changed = profile.model_copy(update={"settings": settings})
    services.registry = type(original)(original.procedures, {**original.profiles, profile.name: changed})
    try:
        yield
    finally:
        services.registry = original


async def reach(api: Api, scenario: Scenario, state: str, *, failed: tuple[str, ...] = ()) -> str:
    """A case of the scenario in ``state``: along the happy path, or one step off it from the nearest state on it."""
    cycle = scenario.cycle
    if state not in HAPPY_PATH:
        step = next(t for t in DEFINITION.transitions if t.dest == state and any(s in HAPPY_PATH for s in t.source))
        # Settings are pinned when a case opens: a setting the step needs is in force from the opening on.
        extra = {name: True for name in ("supplement_requests_allowed",) if "is_supplement_allowed" in step.guards}
        with profile_settings(api, scenario.profile, **extra):
            case_id, leader = await api.new_case(scenario.commune, cycle)
        await reach_on(api, scenario, case_id, leader, next(s for s in HAPPY_PATH if s in step.source), failed)
        case = await api.ok(await api.get(api.who("auditor", "VN"), f"/v1/cases/{case_id}"))
        seat = first_allowed(step.bodies, scenario, council=council_of(case))
        await api.ok(
            await api.fire(
                who(api, seat),
                case_id,
                step.trigger,
                dated(CASE_PAYLOADS[step.trigger](cycle, case), api.clock.today()),
            )
        )
        return case_id
    case_id, leader = await api.new_case(scenario.commune, cycle)
    await reach_on(api, scenario, case_id, leader, state, failed)
    return case_id


async def reach_on(
    api: Api, scenario: Scenario, case_id: str, leader: Who, state: str, failed: tuple[str, ...]
) -> None:
    """The walk helper up to under_review; past it, our own council (one sub per position) and appraisal."""
    cycle = scenario.cycle
    stop = HAPPY_PATH.index(state)
    review = HAPPY_PATH.index("under_review")
    reviewers = await api.walk(case_id, leader, cycle=cycle, until=HAPPY_PATH[min(stop, review)])
    if stop > review:
        api.clock.set(f"{cycle + 1}-03-01T02:00:00")
        await api.ok(await api.fire(reviewers.head, case_id, "form_council", council_payload(cycle)))
    if stop > HAPPY_PATH.index("council_formed"):
        api.clock.set(f"{cycle + 1}-03-10T02:00:00")
        secretary = api.who(reviewers.secretary.role, reviewers.secretary.unit, sub=COUNCIL_SUBS["secretary"])
        await api.ok(
            await api.fire(secretary, case_id, "record_appraisal", w.record_appraisal(DEFINITION, cycle, failed=failed))
        )
    if stop > HAPPY_PATH.index("appraised"):
        api.clock.set(f"{cycle + 1}-03-20T02:00:00")
        await api.ok(await api.fire(reviewers.head, case_id, "recognize", w.recognize(cycle)))


def council_of(case: dict[str, Any]) -> list[dict[str, Any]]:
    return list((case["dossier"].get("form_council") or {}).get("members") or [])


def after_cycle_end(api: Api, cycle: int) -> None:
    """Fire after the evaluation year has ended (complete_self_assessment needs it), never moving the clock back."""
    floor = datetime(cycle + 1, 1, 10, 2, 0, tzinfo=timezone.utc)
    if api.settings.now is None or api.settings.now < floor:
        api.clock.set(floor)


@dataclass
class Snapshot:
    etag: str | None
    version: str
    history: int
    indicator: dict[str, Any] | None = None


async def snapshot(api: Api, observer: Who, case_id: str, indicator: str | None = None) -> Snapshot:
    read = await api.get(observer, f"/v1/cases/{case_id}")
    case = await api.ok(read)
    history = await api.ok(await api.get(observer, f"/v1/cases/{case_id}/history"))
    row = None
    if indicator:
        listed = await api.ok(await api.get(observer, f"/v1/cases/{case_id}/indicators"))
        row = next(i for i in listed["indicators"] if i["code"] == indicator)
        row = {key: row[key] for key in ("state", "rating", "figures", "note", "assignee_org")}
    assert read.headers.get("ETag") == case["etag"]
    return Snapshot(read.headers.get("ETag"), case["etag"], len(history), row)


@dataclass
class Findings:
    """Mismatches gathered over the whole matrix, so that one run reports them all."""

    problems: list[str] = field(default_factory=list)

    def add(self, seat: Seat, message: str) -> None:
        self.problems.append(f"{seat.label}: {message}")

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)


def check_refusal(
    findings: Findings,
    seat: Seat,
    response: Any,
    bodies: list[str],
    scenario: Scenario,
    *,
    case_exists: bool = True,
    indicator_org: str | None = None,
    council: list[dict[str, Any]] | None = None,
) -> None:
    """403 problem+json, one not_authorised reason per body, each naming its body and what it needs."""
    if response.status_code != 403:
        findings.add(seat, f"expected 403, got {response.status_code}: {response.text[:300]}")
        return
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        findings.add(seat, f"403 is not problem+json: {response.headers.get('content-type')}")
    reasons = response.json().get("reasons") or []
    if case_exists and not reads(seat.role, seat.unit, scenario):
        # Outside the case's jurisdiction nothing about the case is told: one reason, the jurisdiction.
        if [r.get("code") for r in reasons] != ["outside_jurisdiction"]:
            findings.add(seat, f"outside seat got reasons {reasons}, expected only outside_jurisdiction")
        return
    if {r.get("code") for r in reasons} != {"not_authorised"}:
        findings.add(seat, f"reason codes {[r.get('code') for r in reasons]}, expected only not_authorised")
    messages = [r.get("message", "") for r in reasons]
    for body in bodies:
        rule = scenario.profile.bodies[body]
        message = next((m for m in messages if m.startswith(f"{body}:")), None)
        if message is None:
            findings.add(seat, f"no reason names body {body}: {messages}")
            continue
        unit = unit_at(scenario.commune, rule.at)
        if rule.role != seat.role or unit != seat.unit:
            needs = [rule.role, unit] if unit else [rule.at]
        elif rule.match_org:
            needs = [str(indicator_org)]
        else:
            needs = ["council"]
        if not all(part in message for part in needs):
            findings.add(seat, f"reason for {body} does not name {needs}: {message!r}")
    if len(reasons) != len(bodies):
        findings.add(seat, f"{len(reasons)} reasons for {len(bodies)} bodies: {messages}")


# --- the definition and the routes agree --------------------------------------------------------------------


def test_the_scenarios_run_under_their_profiles() -> None:
    assert set(SCENARIOS) == set(PROFILES)
    for name, scenario in SCENARIOS.items():
        assert REGISTRY.profile_for_cycle(scenario.cycle).name == name
        for rule in scenario.profile.bodies.values():
            assert rule.at == "case_unit" or rule.at in LEVEL.values()


def test_every_human_trigger_has_a_payload_and_every_seat_a_unit() -> None:
    assert set(CASE_PAYLOADS) == set(CASE_TRIGGERS)
    assert set(INDICATOR_PAYLOADS) == set(INDICATOR_TRIGGERS)
    assert SYSTEM_TRIGGERS, "the definition has system-only triggers (lapse, expire)"
    for scenario in SCENARIOS.values():
        for trigger in CASE_TRIGGERS:
            transition = DEFINITION.transition(trigger)
            seats = seats_for(transition.bodies, scenario)
            assert any(
                body_filled(transition.bodies, scenario, s, council=council_payload(2024)["members"]) for s in seats
            ), f"no seat may fire {trigger} under {scenario.profile.name}"
            assert {s.role for s in seats} == ROLES


# --- case triggers ------------------------------------------------------------------------------------------


def source_state(transition: Transition) -> str:
    """The earliest source on the happy path; else a source one step off it."""
    on_path = [s for s in HAPPY_PATH if s in transition.source]
    return on_path[0] if on_path else transition.source[0]


@pytest.mark.parametrize("trigger", CASE_TRIGGERS)
@pytest.mark.parametrize("profile", PROFILE_NAMES)
async def test_case_trigger_is_refused_to_everyone_the_profile_does_not_name(
    api: Api, profile: str, trigger: str
) -> None:
    scenario = SCENARIOS[profile]
    transition = DEFINITION.transition(trigger)
    failed = ("TC3.2",) if "is_appraisal_not_eligible" in transition.guards else ()
    case_id = await reach(api, scenario, source_state(transition), failed=failed)
    after_cycle_end(api, scenario.cycle)
    observer = api.who("auditor", "VN")
    case = await api.ok(await api.get(observer, f"/v1/cases/{case_id}"))
    assert case["state"] in transition.source
    council = council_of(case)
    payload = dated(CASE_PAYLOADS[trigger](scenario.cycle, case), api.clock.today())
    seats = seats_for(transition.bodies, scenario)
    expected = {seat: body_filled(transition.bodies, scenario, seat, council=council) for seat in seats}
    allowed = [seat for seat in seats if expected[seat]]
    assert allowed, f"the profile names no one for {trigger}"
    findings = Findings()

    # What /explain says before anything is fired, for every seat that may read the case.
    for seat in seats:
        if not reads(seat.role, seat.unit, scenario):
            continue
        explained = await api.ok(await api.get(who(api, seat), f"/v1/cases/{case_id}/explain"))
        check = next((c for c in explained["triggers"] if c["trigger"] == trigger), None)
        if check is None:
            findings.add(seat, f"/explain does not list {trigger} in state {case['state']}")
            continue
        codes = {r["code"] for r in check["reasons"]}
        if bool(expected[seat]) == ("not_authorised" in codes):
            findings.add(seat, f"/explain says {check['reasons']}; expected authorised={bool(expected[seat])}")

    before = await snapshot(api, observer, case_id)
    for seat in seats:
        if expected[seat]:
            continue
        response = await api.fire(who(api, seat), case_id, trigger, payload)
        check_refusal(findings, seat, response, transition.bodies, scenario, council=council)
    after = await snapshot(api, observer, case_id)
    if after != before:
        findings.problems.append(f"a refused trigger changed the case: {before} -> {after}")
    findings.check()

    seat = allowed[0]
    response = await api.fire(who(api, seat), case_id, trigger, payload)
    settings = scenario.settings
    # Steps a profile setting turns off are refused to the right seat too, naming the setting's reason code.
    for guard, setting, code in (
        ("is_supplement_allowed", "supplement_requests_allowed", "supplement_not_allowed"),
        ("is_extension_allowed", "extensions_allowed", "extension_not_allowed"),
    ):
        if guard in transition.guards and not settings.get(setting):
            assert response.status_code == 409, response.text
            assert code in [r["code"] for r in response.json()["reasons"]]
            assert await snapshot(api, observer, case_id) == before
            return
    body = await api.ok(response)
    assert body["case"]["state"] == (case["state"] if transition.dest == "=" else transition.dest)
    rule = scenario.profile.bodies[expected[seat]]
    assert body["event"]["actor"]["role"] == rule.role
    assert body["event"]["actor"]["unit"] == seat.unit
    assert response.headers["ETag"] != before.etag


# --- indicator triggers -------------------------------------------------------------------------------------


def indicator_path(target: str) -> list[Transition]:
    """The shortest run of indicator transitions from the initial state to ``target``."""
    queue: deque[tuple[str, list[Transition]]] = deque([(PROCESS.initial, [])])
    seen = {PROCESS.initial}
    while queue:
        state, steps = queue.popleft()
        if state == target:
            return steps
        for t in PROCESS.transitions:
            if state in t.source and t.dest not in seen and t.dest != "=":
                seen.add(t.dest)
                queue.append((t.dest, [*steps, t]))
    raise AssertionError(f"indicator state {target} is unreachable")


async def upload_evidence(api: Api, scenario: Scenario, case_id: str, code: str) -> None:
    org = w.org_for(code)
    uploader = first_allowed(PROCESS.evidence.bodies, scenario, indicator_org=org)
    await api.ok(await api.upload(who(api, uploader), case_id, code), 201)


async def drive_indicator(api: Api, scenario: Scenario, case_id: str, code: str, target: str) -> None:
    org = w.org_for(code)
    for step in indicator_path(target):
        if "has_evidence_file" in step.guards:
            await upload_evidence(api, scenario, case_id, code)
        seat = first_allowed(step.bodies, scenario, indicator_org=org)
        await api.ok(
            await api.fire_indicator(
                who(api, seat), case_id, code, step.trigger, INDICATOR_PAYLOADS[step.trigger](code)
            )
        )


@pytest.mark.parametrize("trigger", INDICATOR_TRIGGERS)
@pytest.mark.parametrize("profile", PROFILE_NAMES)
async def test_indicator_trigger_is_refused_to_everyone_the_profile_does_not_name(
    api: Api, profile: str, trigger: str
) -> None:
    scenario = SCENARIOS[profile]
    transition = DEFINITION.indicator_transition(trigger)
    cycle = scenario.cycle
    case_id, leader = await api.new_case(scenario.commune, cycle)
    entry = next(t for t in DEFINITION.transitions if t.dest in PROCESS.case_states)
    await api.walk(case_id, leader, cycle=cycle, until=entry.source[0])
    await api.ok(
        await api.fire(
            leader, case_id, entry.trigger, dated(CASE_PAYLOADS[entry.trigger](cycle, {}), api.clock.today())
        )
    )
    target = next(s for s in PROCESS.states if s in transition.source)

    # One indicator per allowed seat (each fires on its own), all brought to the source state first.
    code = DEFINITION.indicators[0].code
    org = w.org_for(code)
    seats = seats_for(transition.bodies, scenario, indicator_org=org)
    expected = {seat: body_filled(transition.bodies, scenario, seat, indicator_org=org) for seat in seats}
    allowed = [seat for seat in seats if expected[seat]]
    assert allowed, f"the profile names no one for {trigger}"
    targets = DEFINITION.indicators[: len(allowed)]
    for indicator in targets:
        await drive_indicator(api, scenario, case_id, indicator.code, target)
        if "has_evidence_file" in transition.guards:
            await upload_evidence(api, scenario, case_id, indicator.code)

    observer = api.who("auditor", "VN")
    findings = Findings()
    before = await snapshot(api, observer, case_id, code)
    assert before.indicator and before.indicator["state"] == target
    payload = INDICATOR_PAYLOADS[trigger](code)
    for seat in seats:
        if expected[seat]:
            continue
        response = await api.fire_indicator(who(api, seat), case_id, code, trigger, payload)
        check_refusal(findings, seat, response, transition.bodies, scenario, indicator_org=org)
    after = await snapshot(api, observer, case_id, code)
    if after != before:
        findings.problems.append(f"a refused indicator trigger changed the case: {before} -> {after}")
    findings.check()

    for seat, indicator in zip(allowed, targets, strict=True):
        own_org = w.org_for(indicator.code)
        seat = Seat(seat.role, seat.where, seat.unit, own_org if seat.org else None, seat.sub)
        assert body_filled(transition.bodies, scenario, seat, indicator_org=own_org)
        response = await api.fire_indicator(
            who(api, seat), case_id, indicator.code, trigger, INDICATOR_PAYLOADS[trigger](indicator.code)
        )
        body = await api.ok(response)
        assert body["event"]["indicator"] == indicator.code
        assert body["event"]["to"] == transition.dest
        assert body["event"]["actor"]["unit"] == seat.unit


# --- reading and opening ------------------------------------------------------------------------------------


def flat_routes(api: Api) -> list[tuple[str, set[str]]]:
    return helpers.flat_routes(api.app)


def case_read_paths(api: Api) -> list[str]:
    """Every GET route of the API whose only path parameter is the case id (the console's pages sign in with a
    cookie: tests/console checks who reads them)."""
    return sorted(
        path
        for path, methods in flat_routes(api)
        if "GET" in methods and re.findall(r"{(\w+)}", path) == ["case_id"] and path.startswith("/v1/")
    )


@pytest.mark.parametrize("profile", PROFILE_NAMES)
async def test_a_case_is_read_by_its_own_units_and_those_above_only(api: Api, profile: str) -> None:
    scenario = SCENARIOS[profile]
    case_id, _ = await api.new_case(scenario.commune, scenario.cycle)
    paths = case_read_paths(api)
    assert "/v1/cases/{case_id}" in paths
    findings = Findings()
    for role in sorted(ROLES):
        for unit in ALL_UNITS:
            seat = Seat(role, "inside" if unit in scenario.path else "outside", unit)
            token = who(api, seat)
            for path in paths:
                response = await api.get(token, path.replace("{case_id}", case_id))
                if reads(role, unit, scenario):
                    if response.status_code != 200:
                        findings.add(seat, f"GET {path}: expected 200, got {response.status_code}")
                elif response.status_code != 403:
                    findings.add(seat, f"GET {path}: expected 403, got {response.status_code}")
                elif [r["code"] for r in response.json()["reasons"]] != ["outside_jurisdiction"]:
                    findings.add(seat, f"GET {path}: reasons {response.json()['reasons']}")
    findings.check()
    # The named cases of the contract, spelled out.
    leader_c9, auditor_p2 = api.who("commune_leader", "C9"), api.who("auditor", "P2")
    auditor_vn = api.who("auditor", "VN")
    assert (await api.get(leader_c9, f"/v1/cases/{case_id}")).status_code == 403
    assert (await api.get(auditor_p2, f"/v1/cases/{case_id}")).status_code == 403
    assert (await api.get(auditor_vn, f"/v1/cases/{case_id}")).status_code == 200


@pytest.mark.parametrize("profile", PROFILE_NAMES)
async def test_a_case_is_opened_only_by_the_bodies_of_the_open_rule(api: Api, profile: str) -> None:
    scenario = SCENARIOS[profile]
    api.clock.set(f"{scenario.cycle}-01-10T02:00:00")
    seats = seats_for(DEFINITION.open.bodies, scenario)
    expected = {seat: body_filled(DEFINITION.open.bodies, scenario, seat) for seat in seats}
    allowed = [seat for seat in seats if expected[seat]]
    assert sorted(expected[s] for s in allowed) == sorted(DEFINITION.open.bodies)
    assert len(allowed) <= len(DEFINITION.kinds)
    findings = Findings()
    for seat in seats:
        if expected[seat]:
            continue
        response = await api.open(who(api, seat), scenario.commune, scenario.cycle)
        check_refusal(findings, seat, response, DEFINITION.open.bodies, scenario, case_exists=False)
    findings.check()
    admin = api.who("admin", "VN")
    assert (await api.ok(await api.get(admin, "/v1/cases")))["items"] == []
    # The first allowed opener opens the case; the others pass authority and meet the one-case rule (409).
    first, *others = allowed
    body = await api.ok(await api.open(who(api, first), scenario.commune, scenario.cycle), 201)
    assert body["profile"] == profile
    history = await api.ok(await api.get(admin, f"/v1/cases/{body['id']}/history"))
    assert history[0]["actor"]["role"] == first.role and history[0]["actor"]["unit"] == first.unit
    for seat in others:
        response = await api.open(who(api, seat), scenario.commune, scenario.cycle)
        assert response.status_code == 409, response.text
        assert [r["code"] for r in response.json()["reasons"]] == ["case_exists"]
    # The named cases of the contract, spelled out.
    for role, unit in (("commune_officer", scenario.commune), ("commune_leader", "C9"), ("province_director", "P2")):
        response = await api.open(api.who(role, unit), scenario.commune, scenario.cycle, kind="upgrade", target_level=2)
        assert response.status_code == 403, (role, unit, response.text)


# --- authentication -----------------------------------------------------------------------------------------

PUBLIC_PATHS = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/docs/oauth2-redirect",
    "/openapi.json",
    "/redoc",
    "/v1/procedures/{key}/{version}/openapi.json",
}


async def test_every_route_but_health_and_docs_needs_a_token(api: Api) -> None:
    # The console's pages (and "/", which sends a browser to them) sign in with a cookie and send a stranger to
    # the sign-in page: tests/console checks them.
    routes = [
        (path, methods)
        for path, methods in flat_routes(api)
        if path not in PUBLIC_PATHS and path != "/" and not path.startswith("/console/")
    ]
    assert {"/v1/cases", "/v1/cases/{case_id}"} <= {path for path, _ in routes}
    wrong = []
    checked = 0
    for route_path, methods in routes:
        path = re.sub(r"{(\w+)(:\w+)?}", lambda m: f"dummy-{m.group(1)}", route_path)
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            response = await api.client.request(method, path)
            checked += 1
            if response.status_code != 401:
                wrong.append(f"{method} {route_path}: {response.status_code} {response.text[:200]}")
            elif [r["code"] for r in response.json()["reasons"]] != ["missing_token"]:
                wrong.append(f"{method} {route_path}: reasons {response.json()['reasons']}")
            elif 'Bearer realm="cdht"' not in response.headers.get("WWW-Authenticate", ""):
                wrong.append(f"{method} {route_path}: no WWW-Authenticate challenge")
    assert not wrong, "\n".join(wrong)
    assert checked >= len(CASE_TRIGGERS) + len(INDICATOR_TRIGGERS)


async def test_routes_are_the_human_triggers_and_no_system_trigger(api: Api) -> None:
    posts = {path for path, methods in flat_routes(api) if "POST" in methods}
    case_routes = {p.rsplit("/", 1)[1] for p in posts if p.startswith("/v1/cases/{case_id}/transitions/")}
    indicator_routes = {
        p.rsplit("/", 1)[1] for p in posts if p.startswith("/v1/cases/{case_id}/indicators/{code}/transitions/")
    }
    every = [p.definition for p in default_registry().procedures.values()]
    human = {t.trigger for d in every for t in d.transitions if is_human(t)}
    assert set(CASE_TRIGGERS) <= case_routes
    assert case_routes == human  # every procedure's human triggers, and nothing else
    assert indicator_routes == set(INDICATOR_TRIGGERS)
    case_id, _ = await api.new_case("C3", 2025)
    for trigger in SYSTEM_TRIGGERS:
        response = await api.fire(api.who("admin", "VN"), case_id, trigger)
        assert response.status_code == 404, response.text
