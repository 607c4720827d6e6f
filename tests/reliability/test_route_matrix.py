"""Who may call which route: every operation of the app × every role × inside and outside the resource's
jurisdiction, with the expected status computed from a small policy table.

``tests/api/test_authority_matrix.py`` decides, trigger by trigger, who fills which body of cdht_xa (with the near
misses of organisations and council seats). This matrix is wider and shallower: it walks the ROUTES — every
path and method of the app's OpenAPI document, reports, webhooks, audit and units included — and calls each one as
every role of ``workflows.schema.ROLES`` seated inside the resource's jurisdiction and outside it (and, for the
roles a rule names at the national level, at every tier of the resource's path), and once with no token.

Nothing below lists statuses per route. ``POLICY`` has one rule per kind of route, taken from the code:

* reads: any role whose unit is the resource's unit or above it (403 ``outside_jurisdiction`` otherwise); lists
  answer 200 to anyone and hold only what the caller's unit covers;
* writes: the definition's bodies under the case's pinned profile (transitions, evidence, opening a case or a
  report); administrative units and webhooks: role ``admin`` whose unit covers the unit or the subscription's
  owner; audit checkpoints: the auditor or admin role, at ``VN`` to sign, verify or read one;
* health, metrics and the per-procedure OpenAPI documents answer anyone; everything else is 401 without a token.

A rule's answer for a seat is either a refusal — which must be a 403 ``application/problem+json`` carrying the
rule's reason code, and must change nothing (every table is digested before and after all refusals and reads) —
or an admission: the route's documented success status, or, for writes sent on purpose with a payload the
definition refuses after authority (an unknown field, a multipart without a file, a case that exists), the 409 or
422 that the case's state decides. A route no rule matches, or two rules match, fails the test.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlmodel import SQLModel

from service import walkthrough as w
from service.domain.authority import ADMIN as ADMIN_ROLE
from service.domain.authority import SUBJECT_ONLY_ROLES
from service.main import create_app
from service.webhooks.fanout import fan_out
from tests.helpers import DEFINITION, Api, flat_routes
from tests.support.apps import UNITS, make_settings
from tests.support.seats import (
    PROFILES,
    Scenario,
    Seat,
    body_filled,
    inside_unit,
    outside_unit,
    path_of,
)
from workflows.registry import default_registry
from workflows.schema import ROLES, Definition, Transition

REGISTRY = default_registry()
REPORT = REGISTRY.get("bao_cao_ket_qua", "tt25-2023").definition
CASE_SCENARIO = Scenario(PROFILES["two_tier"], 2025, "C1")  # C1 < D1 < P1 < VN; reviewed by the province
REPORT_SCENARIO = Scenario(PROFILES["two_tier"], 2025, "P1")  # the province's annual report
NATIONAL = "VN"
INDICATOR = "TC1.1"
PUBLIC_PATHS = {"/healthz", "/readyz", "/metrics", "/v1/procedures/{key}/{version}/openapi.json"}
DOC_PATHS = {"/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}
NOT_AUTHORISED, OUTSIDE = "not_authorised", "outside_jurisdiction"
CAMPAIGN_UNIT = "P1"  # a campaign covers a province or a district; the matrix's runs cover C1's province
# The triggers the matrix fires, on the targets it builds (a commune case of cdht_xa, a report). Every other
# procedure's trigger routes are checked by test_other_procedures_trigger_routes_refuse_a_national_auditor.
MATRIX_TRIGGERS = {t.trigger for t in DEFINITION.transitions} | {t.trigger for t in REPORT.transitions}


def other_procedure_trigger(method: str, template: str) -> bool:
    return (
        method == "POST"
        and template.startswith("/v1/cases/{case_id}/transitions/")
        and template.rsplit("/", 1)[1] not in MATRIX_TRIGGERS
    )


# --- targets, probes and seats ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a request is about: the unit whose jurisdiction decides, and for writes the case it acts on."""

    unit: str
    scenario: Scenario | None = None
    definition: Definition | None = None
    state: str | None = None  # the case's state when the matrix runs
    indicator_state: str | None = None
    subject: str | None = None  # the organisation the case is about (none for a commune's own case)
    # Units whose jurisdiction also reaches this one's history (unit recognitions: the units it continues and
    # those that continue it), as the service reports them.
    related: tuple[str, ...] = ()

    @property
    def path(self) -> list[str]:
        return path_of(self.unit)


@dataclass
class Probe:
    """One request of a route: its method, path template, the concrete URL and body, and what it is about."""

    method: str
    template: str
    url: str
    target: Target
    success: int  # the 2xx the OpenAPI document gives the operation
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    files: Any = None
    find: str | None = None  # for lists: the id that must appear exactly when the caller covers the target
    admitted: int | None = None  # the answer past authority when not the success status (payload or id refused)

    @property
    def label(self) -> str:
        query = "&".join(f"{k}=…" for k in self.params)
        return f"{self.method} {self.template}{'?' + query if query else ''}"

    @property
    def writes(self) -> bool:
        return self.method != "GET" and self.template != "/v1/campaigns"  # a campaign is a dry run by default


@dataclass(frozen=True)
class Expect:
    status: int
    reason: str | None = None  # the reason code a refusal must carry
    visible: bool | None = None  # lists: must the target's id be in the answer


def covers(seat: Seat, target: Target) -> bool:
    return seat.unit in target.path


def reads(seat: Seat, target: Target) -> bool:
    """authority.can_read: the seat's unit covers the target's, and a subject-only role (a learning unit's head)
    reads only the cases about its own organisation — so never a commune's own case or a unit's campaign."""
    if seat.role in SUBJECT_ONLY_ROLES and (target.subject is None or seat.org != target.subject):
        return False
    return covers(seat, target)


def refuse(reason: str) -> Expect:
    return Expect(403, reason)


# --- the policy ---------------------------------------------------------------------------------------------------


def public(seat: Seat | None, probe: Probe) -> Expect:
    return Expect(probe.success)


def any_token(seat: Seat, probe: Probe) -> Expect:
    return Expect(probe.success)


def covering_read(seat: Seat, probe: Probe) -> Expect:
    return Expect(probe.success) if reads(seat, probe.target) else refuse(OUTSIDE)


def filtered_list(seat: Seat, probe: Probe) -> Expect:
    """The case, deadline and audit-event lists filter by the unit subtree and, for a subject-only role, by subject
    (api/cases.py, api/deadlines.py, api/audit.py)."""
    return Expect(probe.success, visible=reads(seat, probe.target))


def history_read(seat: Seat, probe: Probe) -> Expect:
    """admin_units.ensure_history_readable: readable when the seat reads the unit or any unit of its lineage
    or that continues it."""
    units = (probe.target.unit, *probe.target.related)
    allowed = any(reads(seat, Target(unit, subject=probe.target.subject)) for unit in units)
    return Expect(probe.success) if allowed else refuse(OUTSIDE)


def national_admin(seat: Seat, probe: Probe) -> Expect:
    """case_migrations.require_national_admin; the probe's request is then refused by its payload or its id."""
    allowed = seat.role == ADMIN_ROLE and seat.unit == NATIONAL
    return Expect(probe.admitted or probe.success) if allowed else refuse(NOT_AUTHORISED)


def campaign_opening(seat: Seat, probe: Probe) -> Expect:
    """campaigns.survey: the caller reads the campaign's unit (403 outside_jurisdiction), then must fill the
    definition's open bodies for at least one unit still without the case (403 not_authorised); a dry run (the
    default) then answers 200."""
    target = probe.target
    assert target.definition is not None
    if not reads(seat, target):
        return refuse(OUTSIDE)
    communes = [code for code in target.related]
    assert communes, "a campaign probe needs units still without the case"
    opener = any(
        body_filled(
            target.definition.open.bodies,
            Scenario(REGISTRY.profile_for_cycle(CASE_SCENARIO.cycle, CAMPAIGN_UNIT), CASE_SCENARIO.cycle, code),
            seat,
        )
        for code in communes
    )
    return Expect(probe.success) if opener else refuse(NOT_AUTHORISED)


def auditor_or_admin(seat: Seat, probe: Probe) -> Expect:
    return Expect(probe.success) if seat.role in ("auditor", "admin") else refuse(NOT_AUTHORISED)


def auditor_or_admin_filtered(seat: Seat, probe: Probe) -> Expect:
    if seat.role not in ("auditor", "admin"):
        return refuse(NOT_AUTHORISED)
    return Expect(probe.success, visible=covers(seat, probe.target))


def national_auditor_or_admin(seat: Seat, probe: Probe) -> Expect:
    allowed = seat.role in ("auditor", "admin") and seat.unit == NATIONAL
    return Expect(probe.admitted or probe.success) if allowed else refuse(NOT_AUTHORISED)


def admin_covering(seat: Seat, probe: Probe) -> Expect:
    if seat.role != "admin":
        return refuse(NOT_AUTHORISED)
    return Expect(probe.success) if covers(seat, probe.target) else refuse(OUTSIDE)


def admin_filtered(seat: Seat, probe: Probe) -> Expect:
    if seat.role != "admin":
        return refuse(NOT_AUTHORISED)
    return Expect(probe.success, visible=covers(seat, probe.target))


def _bodies_rule(bodies: list[str], state_ok: bool, seat: Seat, probe: Probe) -> Expect:
    """The definition's bodies under the case's pinned profile; past authority the deliberately bad request is
    refused by the state (409) or by its payload (422)."""
    target = probe.target
    assert target.scenario is not None
    if not reads(seat, target):
        return refuse(OUTSIDE)
    if not body_filled(bodies, target.scenario, seat, indicator_org=seat.org):
        return refuse(NOT_AUTHORISED)
    return Expect(422 if state_ok else 409)


def trigger_bodies(seat: Seat, probe: Probe) -> Expect:
    target = probe.target
    assert target.definition is not None
    transition = target.definition.transition(probe.template.rsplit("/", 1)[1])
    assert transition is not None
    return _bodies_rule(transition.bodies, target.state in transition.source, seat, probe)


def indicator_trigger_bodies(seat: Seat, probe: Probe) -> Expect:
    process = DEFINITION.indicator_process
    assert process is not None
    transition: Transition = DEFINITION.indicator_transition(probe.template.rsplit("/", 1)[1])
    state_ok = probe.target.state in process.case_states and probe.target.indicator_state in transition.source
    return _bodies_rule(transition.bodies, state_ok, seat, probe)


def evidence_bodies(seat: Seat, probe: Probe) -> Expect:
    process = DEFINITION.indicator_process
    assert process is not None
    state_ok = (
        probe.target.state in process.case_states and probe.target.indicator_state in process.evidence.indicator_states
    )
    return _bodies_rule(process.evidence.bodies, state_ok, seat, probe)


def open_bodies(seat: Seat, probe: Probe) -> Expect:
    """The definition's ``open`` bodies. Opening names a unit, not a readable case: a refusal is
    ``not_authorised`` wherever the caller sits; the probe names an existing case, so an opener gets 409."""
    target = probe.target
    assert target.scenario is not None and target.definition is not None
    if not body_filled(target.definition.open.bodies, target.scenario, seat):
        return refuse(NOT_AUTHORISED)
    return Expect(409)


@dataclass(frozen=True)
class Rule:
    name: str
    matches: Callable[[Probe], bool]
    expect: Callable[[Any, Probe], Expect]


def _is(method: str, *templates: str) -> Callable[[Probe], bool]:
    return lambda p: p.method == method and p.template in templates


POLICY = [
    Rule("health, metrics, OpenAPI documents: anyone", lambda p: p.template in PUBLIC_PATHS, public),
    Rule(
        "catalogue reads: any token",
        lambda p: (
            p.method == "GET"
            and p.template.startswith(("/v1/procedures", "/v1/admin-units"))
            and not p.template.endswith(("/recognitions", "/openapi.json"))
        ),
        any_token,
    ),
    Rule(
        "unit recognitions: whoever reads the unit, a unit it continues or one continuing it",
        _is("GET", "/v1/admin-units/{code}/recognitions"),
        history_read,
    ),
    Rule("campaign reads: whoever reads the campaign's unit", _is("GET", "/v1/campaigns/{campaign_id}"), covering_read),
    Rule("campaigns: reading the unit and opening one of its cases", _is("POST", "/v1/campaigns"), campaign_opening),
    Rule(
        "case migrations run or resumed: national admin",
        _is("POST", "/v1/cases/migrations", "/v1/cases/migrations/{migration_id}/resume"),
        national_admin,
    ),
    Rule("the dev clock read: any token", _is("GET", "/v1/dev/clock"), any_token),
    Rule("the dev clock moved: national admin (dev and test only)", _is("POST", "/v1/dev/clock"), national_admin),
    Rule(
        "case migration progress: national auditor or admin",
        _is("GET", "/v1/cases/migrations/{migration_id}"),
        national_auditor_or_admin,
    ),
    Rule(
        "case, deadline and event lists: any token, filtered as cases are read",
        _is("GET", "/v1/cases", "/v1/deadlines", "/v1/audit/events"),
        filtered_list,
    ),
    Rule(
        "case reads: the case's unit and above",
        lambda p: (
            p.method == "GET"
            and (
                bool(re.search(r"{(case_id|report_id)}", p.template))
                or (p.template == "/v1/audit/verify" and "case" in p.params)
            )
        ),
        covering_read,
    ),
    Rule(
        "whole-chain verification: national auditor or admin",
        lambda p: p.template == "/v1/audit/verify" and "case" not in p.params,
        national_auditor_or_admin,
    ),
    Rule(
        "case triggers: the definition's bodies (cdht_xa's and the report's triggers)",
        lambda p: (
            p.template.startswith("/v1/cases/{case_id}/transitions/")
            and p.template.rsplit("/", 1)[1] in MATRIX_TRIGGERS
        ),
        trigger_bodies,
    ),
    Rule(
        "indicator triggers: the indicator process's bodies",
        lambda p: p.template.startswith("/v1/cases/{case_id}/indicators/{code}/transitions/"),
        indicator_trigger_bodies,
    ),
    Rule(
        "evidence: the evidence rule's bodies",
        _is("POST", "/v1/cases/{case_id}/indicators/{code}/evidence"),
        evidence_bodies,
    ),
    Rule("opening: the definition's open bodies", _is("POST", "/v1/cases", "/v1/reports"), open_bodies),
    Rule("administrative units: admin covering the parent", _is("POST", "/v1/admin-units"), admin_covering),
    Rule(
        "webhooks: admin covering the subscription's owner or units",
        lambda p: p.template.startswith("/v1/webhooks") and (p.method, p.template) != ("GET", "/v1/webhooks"),
        admin_covering,
    ),
    Rule("webhook list: admins, filtered", _is("GET", "/v1/webhooks"), admin_filtered),
    Rule("audit export: auditor or admin, filtered", _is("GET", "/v1/audit/export"), auditor_or_admin_filtered),
    Rule(
        "checkpoint summaries and key: auditor or admin",
        _is("GET", "/v1/audit/checkpoints", "/v1/audit/checkpoints/public-key"),
        auditor_or_admin,
    ),
    Rule(
        "checkpoints signed, verified or read whole: national auditor or admin",
        lambda p: (
            (p.method, p.template)
            in {
                ("POST", "/v1/audit/checkpoints"),
                ("GET", "/v1/audit/checkpoints/verify"),
                ("GET", "/v1/audit/checkpoints/{checkpoint_id}"),
            }
        ),
        national_auditor_or_admin,
    ),
]


def rule_for(probe: Probe) -> Rule:
    matched = [rule for rule in POLICY if rule.matches(probe)]
    assert len(matched) == 1, f"{probe.label}: {len(matched)} policy rules match: {[r.name for r in matched]}"
    return matched[0]


def seats() -> list[Seat]:
    """Every role inside the case's jurisdiction (where the role lives for a commune case) and outside it; the
    roles a rule names at the national level (auditor, admin) also at every tier of the case's path."""
    found = []
    for role in sorted(ROLES):
        org = w.org_for(INDICATOR) if role == "commune_member" else None
        found.append(Seat(role, "inside", inside_unit(role, CASE_SCENARIO), org))
        found.append(Seat(role, "outside", outside_unit(role, CASE_SCENARIO), org))
        if role in ("auditor", "admin"):
            placed = {seat.unit for seat in found if seat.role == role}
            found.extend(Seat(role, "inside, tier", unit) for unit in CASE_SCENARIO.path if unit not in placed)
    return found


# --- the seeded service -------------------------------------------------------------------------------------------


@dataclass
class Seeded:
    case_id: str
    report_id: str
    evidence_id: str
    subscription_id: str
    delivery_id: str
    checkpoint_id: str
    campaign_id: str


async def seed(api: Api) -> Seeded:
    """A case of C1 collecting evidence (one file), P1's compiled report, a subscription of P1's admin with a
    delivery, and a signed checkpoint."""
    case_id, leader = await api.new_case(CASE_SCENARIO.commune, CASE_SCENARIO.cycle)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(CASE_SCENARIO.cycle)))
    await api.ok(await api.fire(leader, case_id, "assign_indicators", w.assign_indicators(DEFINITION)))
    officer = api.who("commune_officer", CASE_SCENARIO.commune)
    evidence = await api.ok(await api.upload(officer, case_id, INDICATOR), 201)
    api.clock.set("2026-05-10T02:00:00")
    province_officer = api.who("province_officer", "P1")
    report = await api.ok(
        await api.client.post("/v1/reports", headers=province_officer.headers, json={"unit": "P1", "cycle": 2025}),
        201,
    )
    await api.ok(await api.fire(province_officer, report["id"], "compile"))
    hook = await api.ok(
        await api.client.post(
            "/v1/webhooks",
            headers=api.who("admin", "P1").headers,
            json={"url": "http://127.0.0.1:9/h", "events": ["case.opened", "case.transitioned"]},
        ),
        201,
    )
    assert hook["owner_unit"] == "P1"
    await fan_out(api.app.state.services.sessions, now=api.settings.clock())
    admin = api.who("admin", NATIONAL)
    deliveries = await api.ok(await api.get(admin, f"/v1/webhooks/{hook['id']}/deliveries"))
    checkpoint = await api.ok(await api.client.post("/v1/audit/checkpoints", headers=admin.headers), 201)
    # A recorded campaign over C1's province (re-recognitions, which its communes cannot have yet: it opens nothing
    # the matrix looks at, and leaves the first-recognition cases of the other communes to the dry-run probe).
    opener = api.who("province_director", CAMPAIGN_UNIT)
    campaign = await api.ok(
        await api.client.post(
            "/v1/campaigns",
            headers=opener.headers,
            json={
                "procedure": DEFINITION.key,
                "unit": CAMPAIGN_UNIT,
                "cycle": CASE_SCENARIO.cycle,
                "kind": "re_recognition",
                "dry_run": False,
            },
        ),
        201,
    )
    api.clock.set("2026-05-11T02:00:00")
    return Seeded(
        case_id,
        report["id"],
        evidence["id"],
        hook["id"],
        deliveries["items"][0]["id"],
        checkpoint["id"],
        campaign["id"],
    )


def campaign_communes() -> tuple[str, ...]:
    """The communes under the campaign's unit that have no first-recognition case of the cycle (the seed opens
    one, C1's)."""
    return tuple(
        code
        for code, _, level, _, _ in UNITS
        if level == "commune" and CAMPAIGN_UNIT in path_of(code) and code != CASE_SCENARIO.commune
    )


async def targets(api: Api, seeded: Seeded) -> tuple[Target, Target]:
    auditor = api.who("auditor", NATIONAL)
    case = await api.ok(await api.get(auditor, f"/v1/cases/{seeded.case_id}"))
    indicators = await api.ok(await api.get(auditor, f"/v1/cases/{seeded.case_id}/indicators"))
    row = next(i for i in indicators["indicators"] if i["code"] == INDICATOR)
    report = await api.ok(await api.get(auditor, f"/v1/cases/{seeded.report_id}"))
    history = await api.ok(await api.get(auditor, f"/v1/admin-units/{CASE_SCENARIO.commune}/recognitions"))
    assert history["lineage"][0] == CASE_SCENARIO.commune
    related = (*history["lineage"][1:], *(link["successor"] for link in history["successors"]))
    return (
        Target(CASE_SCENARIO.commune, CASE_SCENARIO, DEFINITION, case["state"], row["state"], related=related),
        Target(REPORT_SCENARIO.commune, REPORT_SCENARIO, REPORT, report["state"]),
    )


UNIT_CODES = (f"RM{n:03d}" for n in itertools.count())


def probes_for(
    method: str, template: str, operation: dict[str, Any], seeded: Seeded, case: Target, report: Target
) -> list[Probe]:
    """The request(s) of one route, aimed at the seeded resources; what each is about decides inside/outside."""
    success = min(int(code) for code in operation["responses"] if code.startswith("2"))
    trigger = template.rsplit("/", 1)[1] if "/transitions/" in template else None
    on_report = trigger is not None and "/indicators/" not in template and REPORT.transition(trigger) is not None
    values = {
        "case_id": seeded.report_id if on_report else seeded.case_id,
        "report_id": seeded.report_id,
        "code": case.unit if template.startswith("/v1/admin-units") else INDICATOR,
        "evidence_id": seeded.evidence_id,
        "subscription_id": seeded.subscription_id,
        "delivery_id": seeded.delivery_id,
        "checkpoint_id": seeded.checkpoint_id,
        "campaign_id": seeded.campaign_id,
        "migration_id": "00000000-0000-0000-0000-000000000000",  # none can be recorded: one version per procedure
        "key": DEFINITION.key,
        "version": DEFINITION.version,
    }
    url = re.sub(r"{(\w+)}", lambda m: values[m.group(1)], template)
    about = report if on_report or "{report_id}" in template else case
    owner = Target("P1")  # the subscription's owner unit
    probe = Probe(method, template, url, about, success)
    if trigger is not None:
        probe.json = {"data": {"not_a_field_of_the_payload": 1}}
    elif template.endswith("/evidence") and method == "POST":
        probe.files = {"title": (None, "Không có tệp")}  # a form without its file part
    elif (method, template) == ("POST", "/v1/cases"):
        probe.json = {"procedure": DEFINITION.key, "unit": case.unit, "cycle": CASE_SCENARIO.cycle}
    elif (method, template) == ("POST", "/v1/reports"):
        probe.json, probe.target = {"unit": report.unit, "cycle": REPORT_SCENARIO.cycle}, report
    elif (method, template) == ("POST", "/v1/admin-units"):
        probe.json, probe.target = {"code": "", "name": "Xã Mới", "level": "commune", "parent": "P1"}, Target("P1")
    elif (method, template) == ("POST", "/v1/webhooks"):
        probe.json = {"url": "http://127.0.0.1:9/new", "events": ["case.opened"], "units": [case.unit]}
    elif template.startswith("/v1/webhooks"):
        probe.target = owner
        if template == "/v1/webhooks":
            probe.find = seeded.subscription_id
        if template.endswith("/replay"):
            probe.json = {"since": "2020-01-01T00:00:00Z"}
    elif template in ("/v1/cases", "/v1/deadlines"):
        probe.params, probe.find = {"procedure": DEFINITION.key}, seeded.case_id
    elif template in ("/v1/audit/events", "/v1/audit/export"):
        probe.params, probe.find = {"case": seeded.case_id}, seeded.case_id
    elif template == "/v1/audit/verify":
        return [Probe(method, template, url, case, success, params={"case": seeded.case_id}), probe]
    elif template == "/v1/reports/{report_id}/export":
        probe.params = {"format": "json"}
    elif template == "/v1/campaigns":  # a dry run, the default
        probe.json = {"procedure": DEFINITION.key, "unit": CAMPAIGN_UNIT, "cycle": CASE_SCENARIO.cycle}
        probe.target = Target(CAMPAIGN_UNIT, CASE_SCENARIO, DEFINITION, related=campaign_communes())
    elif template == "/v1/campaigns/{campaign_id}":
        probe.target = Target(CAMPAIGN_UNIT)
    elif (method, template) == ("POST", "/v1/dev/clock"):
        probe.json, probe.target, probe.admitted = {}, Target(NATIONAL), 422  # neither to, days nor reset: no change
    elif template.startswith("/v1/cases/migrations"):
        probe.target = Target(NATIONAL)
        probe.admitted = 404  # the migration id is unknown
        if template == "/v1/cases/migrations":
            # A dry run to the version the cases already run: refused by check_spec past authority.
            probe.json = {
                "procedure": DEFINITION.key,
                "from_version": DEFINITION.version,
                "to_version": DEFINITION.version,
            }
            probe.admitted = 422
    return [probe]


def all_probes(api: Api, seeded: Seeded, case: Target, report: Target) -> list[Probe]:
    document = api.app.openapi()
    probes = []
    for template, item in sorted(document["paths"].items()):
        for method, operation in sorted(item.items()):
            if not other_procedure_trigger(method.upper(), template):
                probes.extend(probes_for(method.upper(), template, operation, seeded, case, report))
    # Every route the app serves is in the document, so no route escapes the matrix (or, for the other
    # procedures' triggers, test_other_procedures_trigger_routes_refuse_a_national_auditor).
    served = {
        (m, p)
        for p, methods in flat_routes(api.app)
        for m in methods - {"HEAD", "OPTIONS"}
        if p not in DOC_PATHS and p != "/" and not p.startswith("/console/")  # the console's pages: tests/console
    }
    others = {(m, p) for m, p in served if other_procedure_trigger(m, p)}
    assert served == {(p.method, p.template) for p in probes} | others
    return probes


# --- calling and judging ------------------------------------------------------------------------------------------


async def call(api: Api, probe: Probe, headers: dict[str, str]) -> httpx.Response:
    body: dict[str, Any] = {}
    if probe.json is not None:
        body["json"] = probe.json
        if probe.template == "/v1/admin-units":
            body["json"] = {**probe.json, "code": next(UNIT_CODES)}
    if probe.files is not None:
        body["files"] = probe.files
    return await api.client.request(probe.method, probe.url, headers=headers, params=probe.params or None, **body)


def visible(probe: Probe, response: httpx.Response) -> bool:
    assert probe.find is not None
    if probe.template == "/v1/audit/export":
        return probe.find in response.text.split("\n", 1)[1]  # past the preamble, which names the filter
    return probe.find in response.text


def judge(probe: Probe, who: str, expected: Expect, response: httpx.Response) -> str | None:
    """What is wrong with the answer, or None."""
    got = response.status_code
    if got != expected.status:
        return f"{probe.label} as {who}: expected {expected.status}, got {got}: {response.text[:300]}"
    if expected.reason is not None:
        if not response.headers.get("content-type", "").startswith("application/problem+json"):
            return f"{probe.label} as {who}: {got} is not problem+json ({response.headers.get('content-type')})"
        problem = response.json()
        codes = [r.get("code") for r in problem.get("reasons") or []]
        if problem.get("status") != got or expected.reason not in codes or not all(codes):
            return f"{probe.label} as {who}: reasons {problem.get('reasons')}, expected {expected.reason}"
        if not all(r.get("message") for r in problem["reasons"]):
            return f"{probe.label} as {who}: a reason without a message: {problem['reasons']}"
    if expected.visible is not None and visible(probe, response) != expected.visible:
        shown = "shows" if not expected.visible else "does not show"
        return f"{probe.label} as {who}: the answer {shown} the resource {probe.find}"
    return None


async def digest(api: Api) -> dict[str, str]:
    """Every table's rows, hashed: a refused write or a read that changes anything shows here."""
    out = {}
    async with api.app.state.services.sessions() as session:
        for table in SQLModel.metadata.sorted_tables:
            rows = (await session.execute(select(table).order_by(*table.primary_key.columns))).all()
            out[table.name] = f"{len(rows)}:{hashlib.sha256(repr(rows).encode()).hexdigest()[:16]}"
        heads = (
            await session.execute(text("SELECT chain, MAX(seq) FROM audit_event GROUP BY chain ORDER BY chain"))
        ).all()
    out["chain heads"] = repr(heads)
    return out


# --- the tests ------------------------------------------------------------------------------------------------------


async def test_every_route_role_and_jurisdiction_gets_what_the_policy_says(api: Api) -> None:
    seeded = await seed(api)
    case, report = await targets(api, seeded)
    probes = all_probes(api, seeded, case, report)
    everyone = seats()
    tokens = {
        seat: api.who(seat.role, seat.unit, sub=f"matrix-{seat.role}-{seat.unit}".lower(), org=seat.org)
        for seat in everyone
    }
    findings: list[str] = []
    planned: list[tuple[Probe, Seat, Expect]] = []
    for probe in probes:
        rule = rule_for(probe)
        for seat in everyone:
            planned.append((probe, seat, rule.expect(seat, probe)))
    # Every rule admits someone and refuses someone (a rule that refuses no one checks nothing).
    for rule in POLICY:
        outcomes = {e.status == 403 for p, s, e in planned if rule_for(p) is rule}
        if rule.expect not in (public, any_token, filtered_list):
            assert outcomes == {True, False}, f"rule {rule.name!r}: {outcomes}"

    # Phase 1: without a token, every refusal, and every read. None of it may change anything.
    before = await digest(api)
    for probe in probes:
        response = await call(api, probe, {})
        expected = Expect(probe.success) if probe.template in PUBLIC_PATHS else Expect(401, "missing_token")
        if problem := judge(probe, "no token", expected, response):
            findings.append(problem)
    quiet = [(p, s, e) for p, s, e in planned if e.status == 403 or not p.writes]
    for probe, seat, expected in quiet:
        if problem := judge(probe, seat.label, expected, await call(api, probe, tokens[seat].headers)):
            findings.append(problem)
    after = await digest(api)
    changed = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
    if changed:
        findings.append(f"refusals and reads changed tables: {changed}")

    # Phase 2: the admitted writes, deletions last.
    admitted = [(p, s, e) for p, s, e in planned if e.status != 403 and p.writes]
    admitted.sort(key=lambda item: item[0].method == "DELETE")
    for probe, seat, expected in admitted:
        if problem := judge(probe, seat.label, expected, await call(api, probe, tokens[seat].headers)):
            findings.append(problem)
    verified = await api.ok(await api.get(api.who("auditor", NATIONAL), "/v1/audit/verify"))
    assert verified["ok"], verified
    assert len(quiet) > len(admitted) > 0
    print(
        f"{len(probes)} probes × {len(everyone)} seats, and without a token: "
        f"{len(quiet)} refusals and reads, {len(admitted)} admitted writes"  # shown with -rP
    )
    assert not findings, (
        f"{len(findings)} of {len(planned) + len(probes)} calls disagree with the policy:\n" + "\n".join(findings)
    )


def test_every_route_has_exactly_one_policy_rule_and_every_role_a_seat() -> None:

    app = create_app(
        make_settings("sqlite+aiosqlite://", __import__("pathlib").Path("/nonexistent")), registry=REGISTRY
    )
    fake = Seeded("c", "r", "e", "s", "d", "k", "m")
    case = Target(CASE_SCENARIO.commune, CASE_SCENARIO, DEFINITION, "collecting_evidence", "assigned")
    report = Target(REPORT_SCENARIO.commune, REPORT_SCENARIO, REPORT, "compiled")
    document = app.openapi()
    for template, item in document["paths"].items():
        for method, operation in item.items():
            if other_procedure_trigger(method.upper(), template):
                continue
            for probe in probes_for(method.upper(), template, operation, fake, case, report):
                rule_for(probe)
    placed = seats()
    assert {s.role for s in placed if s.where == "inside"} == ROLES
    assert {s.role for s in placed if s.where == "outside"} == ROLES
    assert all(
        s.unit in CASE_SCENARIO.path
        for s in placed
        if s.where.startswith("inside") and s.role.startswith(("commune", "province"))
    )
    assert all(s.unit not in CASE_SCENARIO.path for s in placed if s.where == "outside")


# The openings of tests/api/test_audit_search.py: one case of every procedure whose triggers the matrix does not fire.
OTHER_OPENINGS = [  # (procedure, unit, cycle, opener role, opener unit, clock, extra)
    ("xep_loai_cdht_xa", "C1", 2023, "commune_leader", "C1", "2023-12-10T02:00:00", {}),
    ("khac_phuc", "C2", 2023, "district_leader", "D1", "2024-01-20T02:00:00", {}),
    ("cdht_huyen", "D1", 2024, "district_leader", "D1", "2025-01-05T02:00:00", {}),
    (
        "don_vi_hoc_tap",
        "D1",
        2024,
        "district_head",
        "D1",
        "2025-01-05T02:00:00",
        {"subject": "TTGDNN", "subject_kind": "giao_duc_nghe_nghiep_cong_lap"},
    ),
    ("cdht_tinh", "P1", 2025, "province_leader", "P1", "2026-01-10T02:00:00", {}),
]


async def test_other_procedures_trigger_routes_refuse_a_national_auditor(api: Api) -> None:
    """The trigger routes the matrix leaves out (no cdht_xa or report trigger): each fired by a national auditor
    on a case of a procedure that has the trigger, refused 403 not_authorised, and nothing changes."""
    case_of: dict[str, str] = {}
    for procedure, unit, cycle, role, at, clock, extra in OTHER_OPENINGS:
        api.clock.set(clock)
        body = {"procedure": procedure, "unit": unit, "cycle": cycle, **extra}
        opened = await api.ok(await api.client.post("/v1/cases", headers=api.who(role, at).headers, json=body), 201)
        for transition in REGISTRY.current(procedure).definition.transitions:
            case_of.setdefault(transition.trigger, opened["id"])
    routes = sorted(p for p, methods in flat_routes(api.app) for m in methods if other_procedure_trigger(m, p))
    assert routes, "no other procedure's trigger route: the matrix covers them all"
    auditor = api.who("auditor", NATIONAL)
    before = await digest(api)
    findings = []
    for template in routes:
        trigger = template.rsplit("/", 1)[1]
        assert trigger in case_of, f"{template}: no opened procedure has {trigger}"
        url = template.replace("{case_id}", case_of[trigger])
        probe = Probe("POST", template, url, Target(NATIONAL), 200, json={"data": {}})
        if problem := judge(probe, "auditor@VN", refuse(NOT_AUTHORISED), await call(api, probe, auditor.headers)):
            findings.append(problem)
    assert await digest(api) == before
    assert not findings, "\n".join(findings)
