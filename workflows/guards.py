"""Named pure guards: ``(GuardContext) -> Verdict``, each refusal with a readable reason.

All I/O happens before a guard runs; the engine collects what the guards need into a frozen ``GuardContext``.
A guard declares the payload fields it reads (``reads``) so that loading a definition that uses it without
declaring those fields fails. Every rule cites the clause it comes from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

from workflows.calendar import describe, local_date
from workflows.criteria import Assessment, IndicatorRecord, assess, figures_problems
from workflows.schema import Definition


@dataclass(frozen=True)
class Verdict:
    ok: bool
    code: str = ""
    message: str = ""


PASS = Verdict(True)


def fail(code: str, message: str) -> Verdict:
    return Verdict(False, code, message)


@dataclass(frozen=True)
class DeadlineView:
    key: str
    due_at: datetime
    status: str
    explanation: str = ""


@dataclass(frozen=True)
class PriorRecognition:
    """A recognition the case's unit (or a unit it continues) already holds under the same procedure."""

    case_id: str
    level: int
    decided_on: date
    valid_until: date | None = None
    unit_code: str = ""


@dataclass(frozen=True)
class GuardContext:
    definition: Definition
    trigger: str
    state: str
    kind: str
    cycle: int
    now: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    target_level: int | None = None
    requested_level: int | None = None
    disadvantaged: bool = False
    dossier: Mapping[str, Any] = field(default_factory=dict)  # payloads of earlier transitions, by trigger
    indicators: Mapping[str, IndicatorRecord] = field(default_factory=dict)
    indicator: IndicatorRecord | None = None
    deadlines: Mapping[str, DeadlineView] = field(default_factory=dict)
    prior_recognitions: tuple[PriorRecognition, ...] = ()

    @cached_property
    def assessment(self) -> Assessment:
        return assess(self.definition, self.indicators, disadvantaged=self.disadvantaged)


@dataclass(frozen=True)
class Guard:
    name: str
    check: Callable[[GuardContext], Verdict]
    reads: tuple[str, ...]
    doc: str
    history: bool = False  # reads ctx.prior_recognitions: the case file must be read with the unit's recognitions


GUARDS: dict[str, Guard] = {}


def guard(
    name: str, *, reads: tuple[str, ...] = (), history: bool = False
) -> Callable[[Callable[[GuardContext], Verdict]], Callable]:
    def register(fn: Callable[[GuardContext], Verdict]) -> Callable[[GuardContext], Verdict]:
        known = GUARDS.get(name)
        if known and (known.check.__module__, known.check.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"guard {name!r} registered twice ({GUARDS[name].check.__module__}, {fn.__module__})")
        GUARDS[name] = Guard(name, fn, reads, (fn.__doc__ or "").strip(), history)
        return fn

    return register


def reads_history(names: Iterable[str]) -> bool:
    """Whether any of these guards reads the unit's recognitions on record (``ctx.prior_recognitions``)."""
    return any(GUARDS[name].history for name in names if name in GUARDS)


def run_guards(names: list[str], ctx: GuardContext) -> list[Verdict]:
    """Every failing verdict, in the definition's order (all are run, so a refusal lists every reason)."""
    return [verdict for verdict in (GUARDS[name].check(ctx) for name in names) if not verdict.ok]


# The district (Điều 14) and province (Điều 19) procedures repeat the commune procedure (Điều 9) clause for clause,
# and their criteria (Điều 11–13, 16–18) the commune's (Điều 6–8); a guard shared with them cites the clause of the
# case's own procedure, as its definition's ``clauses`` maps it.


def _cite(ctx: GuardContext, ref: str) -> str:
    """``ref``, a clause of the commune procedure, as the same clause of the case's procedure."""
    for commune, own in ctx.definition.clauses.items():
        if ref == commune or ref.startswith(commune + " "):
            return own + ref[len(commune) :]
    return ref


def _unit(ctx: GuardContext) -> str:
    """What the case is about, in a message: commune, district or province."""
    level = ctx.definition.subject_level
    if ctx.definition.open.subject is not None:  # a case about an organisation inside the unit (TT24)
        return "unit"
    return level if level in ("commune", "district", "province") else "unit"


def _blank(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip()


# --- generic -----------------------------------------------------------------------------------------------


@guard("has_reason", reads=("reason",))
def has_reason(ctx: GuardContext) -> Verdict:
    """A reason is given (it goes on record and to the commune)."""
    if _blank(ctx.payload.get("reason")):
        return fail("reason_required", "a reason is required and may not be blank")
    return PASS


@guard("has_reasons", reads=("reasons",))
def has_reasons(ctx: GuardContext) -> Verdict:
    """At least one non-blank reason (TT25/2023 Điều 9 k2 d: "nêu rõ lý do không đạt")."""
    reasons = ctx.payload.get("reasons") or []
    if not reasons or any(_blank(r) for r in reasons):
        return fail(
            "reasons_required", f"the reply must state at least one reason, none blank ({_cite(ctx, 'Điều 9 k2 d')})"
        )
    return PASS


# --- indicator sub-process ---------------------------------------------------------------------------------


@guard("has_evidence_file")
def has_evidence_file(ctx: GuardContext) -> Verdict:
    """At least one evidence file is uploaded for the indicator (Điều 9 k1 b: the figures need proof)."""
    if ctx.indicator is None or ctx.indicator.evidence_count < 1:
        code = ctx.indicator.code if ctx.indicator else "?"
        return fail(
            "evidence_missing",
            f"{code}: upload at least one evidence file before submitting ({_cite(ctx, 'Điều 9 k1 b')})",
        )
    return PASS


@guard("has_figures_for_measure", reads=("figures",))
def has_figures_for_measure(ctx: GuardContext) -> Verdict:
    """TC4 and TC5 need their figures; the result is computed from them (Điều 6 k4–5, Điều 7 k4–5)."""
    if ctx.indicator is None:
        return fail("indicator_missing", "no indicator in context")
    indicator = ctx.definition.indicator(ctx.indicator.code)
    if indicator is None:
        return fail("indicator_unknown", f"{ctx.indicator.code} is not an indicator of this procedure")
    problems = figures_problems(indicator, ctx.payload.get("figures"))
    if problems:
        return fail("figures_invalid", "; ".join(problems) + f" ({_cite(ctx, 'Điều 6 k4–5, Điều 7 k4–5')})")
    if indicator.measure.kind == "rating" and ctx.payload.get("figures"):
        return fail(
            "figures_unexpected",
            f"{indicator.code} is rated pass/fail with evidence; it takes no figures ({_cite(ctx, 'Điều 8 k2 c')})",
        )
    return PASS


# --- commune procedure (TT25/2023 Điều 9) ------------------------------------------------------------------


@guard("has_assignee_for_every_indicator", reads=("assignments",))
def has_assignee_for_every_indicator(ctx: GuardContext) -> Verdict:
    """Every indicator of the target level is assigned to an organisation, once (Điều 24 k2)."""
    known = [ind.code for ind in ctx.definition.indicators]
    seen: dict[str, int] = {}
    problems: list[str] = []
    for item in ctx.payload.get("assignments") or []:
        code = item.get("indicator")
        seen[code] = seen.get(code, 0) + 1
        if code not in known:
            problems.append(f"{code} is not an indicator of {ctx.definition.key}")
        if _blank(item.get("org")):
            problems.append(f"{code} has no organisation")
    missing = [code for code in known if code not in seen]
    twice = [code for code, n in seen.items() if n > 1]
    if missing:
        problems.append("not assigned: " + ", ".join(missing))
    if twice:
        problems.append("assigned more than once: " + ", ".join(twice))
    return fail("assignments_incomplete", "; ".join(problems) + f" ({_cite(ctx, 'Điều 24 k2')})") if problems else PASS


@guard("is_every_indicator_accepted")
def is_every_indicator_accepted(ctx: GuardContext) -> Verdict:
    """The self-assessment covers every indicator, each accepted by the commune leader (Điều 9 k1 a–b)."""
    pending = [
        f"{ind.code} ({ctx.indicators[ind.code].state if ind.code in ctx.indicators else 'not assigned'})"
        for ind in ctx.definition.indicators
        if ind.code not in ctx.indicators or ctx.indicators[ind.code].state != "accepted"
    ]
    if pending:
        return fail(
            "indicators_not_accepted", "not yet accepted: " + ", ".join(pending) + f" ({_cite(ctx, 'Điều 9 k1 a–b')})"
        )
    return PASS


@guard("is_after_cycle_end")
def is_after_cycle_end(ctx: GuardContext) -> Verdict:
    """The figures cover 01/01–31/12 of the evaluation year, so the report closes after it (Điều 9 k1 b)."""
    if not ctx.settings.get("self_assessment_after_cycle_end", True):
        return PASS
    if local_date(ctx.now) < date(ctx.cycle + 1, 1, 1):
        return fail(
            "cycle_not_ended",
            f"the self-assessment of cycle {ctx.cycle} covers 01/01–31/12/{ctx.cycle}; it can be completed "
            f"from 01/01/{ctx.cycle + 1} ({_cite(ctx, 'Điều 9 k1 b')}; setting self_assessment_after_cycle_end)",
        )
    return PASS


@guard("is_chaired_by_commune_leader", reads=("chair",))
def is_chaired_by_commune_leader(ctx: GuardContext) -> Verdict:
    """The review meeting is chaired by a leader of the commune People's Committee (Điều 9 k1 c)."""
    allowed = list(ctx.settings.get("meeting_chair_positions", ["chu_tich", "pho_chu_tich"]))
    position = (ctx.payload.get("chair") or {}).get("position")
    if position not in allowed:
        return fail(
            "chair_not_commune_leader",
            f"the meeting must be chaired by a leader of the commune People's Committee "
            f"(position one of {', '.join(allowed)}), not {position!r} (Điều 9 k1 c)",
        )
    return PASS


@guard("has_required_meeting_participants", reads=("participants",))
def has_required_meeting_participants(ctx: GuardContext) -> Verdict:
    """Hội Khuyến học, Mặt trận and at least one socio-political organisation attend (Điều 9 k1 c)."""
    present = {p.get("org_type") for p in ctx.payload.get("participants") or []}
    required = {
        "hoi_khuyen_hoc": "the commune Study Promotion Association (Hội Khuyến học xã)",
        "mat_tran": "the Fatherland Front committee (Ủy ban MTTQ)",
        "chinh_tri_xa_hoi": "at least one socio-political organisation (tổ chức chính trị - xã hội)",
    }
    missing = [label for org_type, label in required.items() if org_type not in present]
    if missing:
        return fail("meeting_participants_missing", "the meeting lacks " + "; ".join(missing) + " (Điều 9 k1 c)")
    return PASS


@guard("is_requested_level_assessed", reads=("requested_level",))
def is_requested_level_assessed(ctx: GuardContext) -> Verdict:
    """The commune applies at the level its self-assessment reached, no other (Điều 9 k1 d)."""
    requested = ctx.payload.get("requested_level")
    reached = ctx.assessment.level
    if requested == reached:
        return PASS
    failing = [
        f"{code} ({', '.join(f'L{lv}' for lv, ok in passes.items() if not ok)})"
        for code, passes in ctx.assessment.criteria.items()
        if not all(passes.values())
    ]
    detail = f"; criteria not met: {', '.join(failing)}" if failing else ""
    return fail(
        "requested_level_not_assessed",
        f"requested level {requested} but the self-assessment reaches "
        f"{'no level' if reached == 0 else f'level {reached}'}{detail} ({_cite(ctx, 'Điều 9 k1 d')})",
    )


@guard("is_dossier_complete", reads=("submission_letter",))
def is_dossier_complete(ctx: GuardContext) -> Verdict:
    """Letter, self-assessment report and summary table (generated) make the dossier (Điều 9 k1 d)."""
    missing = []
    if not ctx.payload.get("submission_letter"):
        missing.append("submission letter (tờ trình)")
    if not (ctx.dossier.get("complete_self_assessment") or {}).get("report"):
        missing.append("self-assessment report (báo cáo tự đánh giá)")
    unrated = [ind.code for ind in ctx.definition.indicators if ind.code not in ctx.indicators]
    if unrated:
        missing.append("summary table rows for " + ", ".join(unrated))
    if missing:
        return fail("dossier_incomplete", "the dossier lacks " + "; ".join(missing) + f" ({_cite(ctx, 'Điều 9 k1 d')})")
    return PASS


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise ValueError(day)


@guard("is_upgrade_interval_met", reads=("requested_level",), history=True)
def is_upgrade_interval_met(ctx: GuardContext) -> Verdict:
    """An upgrade asks for level 2 no earlier than 12 months after the level-1 decision [practice]."""
    if ctx.kind != "upgrade":
        return PASS
    months = int(ctx.settings.get("upgrade_min_months_after_level1", 12))
    if ctx.payload.get("requested_level") != 2:
        return fail("upgrade_requires_level_2", "an upgrade case applies for level 2")
    level1 = [r for r in ctx.prior_recognitions if r.level == 1]
    if not level1:
        return fail("no_level1_recognition", f"no level-1 recognition of this {_unit(ctx)} is on record to upgrade")
    latest = max(r.decided_on for r in level1)
    earliest = _add_months(latest, months)
    if local_date(ctx.now) < earliest:
        return fail(
            "upgrade_too_early",
            f"the level-1 decision of {latest:%d/%m/%Y} allows an upgrade from {earliest:%d/%m/%Y} "
            f"(setting upgrade_min_months_after_level1 = {months})",
        )
    return PASS


@guard("is_kind_consistent_with_history", history=True)
def is_kind_consistent_with_history(ctx: GuardContext) -> Verdict:
    """At opening: a ``first`` case for a unit never recognised; ``re_recognition`` once the last recognition's
    validity ends within the cycle assessed or earlier (Điều 5 k4, Điều 9 k4); ``upgrade`` from a level-1
    recognition still in force, never past level 2 [practice]."""
    history = sorted(ctx.prior_recognitions, key=lambda r: (r.decided_on, r.case_id))
    latest = history[-1] if history else None
    today, cycle_end = local_date(ctx.now), date(ctx.cycle, 12, 31)

    def held(r: PriorRecognition) -> str:
        where = f" by {r.unit_code}" if r.unit_code else ""
        until = f", valid until {r.valid_until:%d/%m/%Y}" if r.valid_until else ""
        return f"level {r.level} decided on {r.decided_on:%d/%m/%Y}{where} (case {r.case_id}{until})"

    if ctx.kind == "first" and latest is not None:
        return fail(
            "already_recognised",
            f"the unit already holds a recognition: {held(latest)}; open a re_recognition or upgrade case instead",
        )
    if ctx.kind == "re_recognition":
        if latest is None:
            return fail(
                "no_recognition_to_renew", "no earlier recognition of this unit is on record; open a first case"
            )
        if latest.valid_until is not None and latest.valid_until > cycle_end:
            return fail(
                "recognition_still_valid",
                f"{held(latest)}; re-recognition assesses the cycle in which it expires, "
                f"{latest.valid_until.year} at the earliest ({_cite(ctx, 'Điều 5 k4')})",
            )
    if ctx.kind == "upgrade":
        in_force = [r for r in history if r.valid_until is None or r.valid_until >= today]
        if any(r.level >= 2 for r in in_force):
            top = max((r for r in in_force if r.level >= 2), key=lambda r: r.decided_on)
            return fail("already_level_2", f"the unit already holds level 2: {held(top)}")
        if not any(r.level == 1 for r in in_force):
            return fail("no_level1_recognition", "an upgrade starts from a level-1 recognition in force; none is")
    return PASS


@guard("is_before_submission_deadline")
def is_before_submission_deadline(ctx: GuardContext) -> Verdict:
    """The dossier reaches the office before 28/02 of N+1, or before an extension on record (Điều 9 k1 d)."""
    due = ctx.deadlines.get("submission")
    if due is None or ctx.now <= due.due_at:
        return PASS
    return fail("submission_deadline_passed", f"the submission deadline has passed: {due.explanation}")


@guard("is_submission_deadline_passed")
def is_submission_deadline_passed(ctx: GuardContext) -> Verdict:
    """The case lapses only after the deadline (with any extension) has passed (Điều 9 k1 d)."""
    due = ctx.deadlines.get("submission")
    if due is not None and ctx.now > due.due_at:
        return PASS
    when = due.explanation if due else "no submission deadline is open"
    return fail("submission_deadline_not_passed", f"the submission deadline has not passed: {when}")


@guard("is_extension_date_later", reads=("until",))
def is_extension_date_later(ctx: GuardContext) -> Verdict:
    """An extension moves the submission deadline later, never earlier, and not past the date by which the
    office must decide (TT25/2023 Điều 9 k3), since a dossier after it could not be decided in time [config]."""
    due = ctx.deadlines.get("submission")
    until = ctx.payload.get("until")
    if due is None:
        return fail("no_deadline", "no submission deadline is open to extend")
    if isinstance(until, str):
        until = date.fromisoformat(until)
    if until is None or until <= local_date(due.due_at) or until < local_date(ctx.now):
        return fail(
            "extension_not_later",
            f"the new date must be after the current deadline ({describe(due.due_at)}) and not in the past",
        )
    decision = ctx.definition.deadlines.get("decision")
    if decision is not None and decision.rule.kind == "fixed_date":
        latest = date(ctx.cycle + decision.rule.year_offset, decision.rule.month, decision.rule.day)
        if until >= latest:
            return fail(
                "extension_too_late",
                f"the new date must be before {latest:%d/%m/%Y}, when the decision is due ({decision.citation})",
            )
    return PASS


def _dates_in(value: Any, spec: Any, path: str = "") -> list[tuple[str, date]]:
    """Every document date (DocRef.date) and past-tense date field (``*_on``) in a payload, by its schema."""
    found: list[tuple[str, date]] = []
    if spec is None or value is None:
        return found
    if spec.type == "docref" and isinstance(value, Mapping) and isinstance(value.get("date"), str):
        found.append((f"{path}/date", date.fromisoformat(value["date"])))
    elif spec.type == "date" and path.endswith("_on") and isinstance(value, str):
        found.append((path, date.fromisoformat(value)))
    elif spec.type == "array" and isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_dates_in(item, spec.items, f"{path}/{index}"))
    elif spec.type == "object" and spec.properties and isinstance(value, Mapping):
        for name, child in spec.properties.items():
            found.extend(_dates_in(value.get(name), child, f"{path}/{name}"))
    return found


def _payload_dates(ctx: GuardContext) -> list[tuple[str, date]]:
    transition = ctx.definition.transition(ctx.trigger) or ctx.definition.indicator_transition(ctx.trigger)
    if transition is None:
        return []
    return [
        (f"{name}{where}", day)
        for name, spec in transition.payload.items()
        for where, day in _dates_in(ctx.payload.get(name), spec)
    ]


@guard("has_no_future_dates")
def has_no_future_dates(ctx: GuardContext) -> Verdict:
    """A document cannot be dated, nor a meeting held, after today (local date in Asia/Ho_Chi_Minh)."""
    today = local_date(ctx.now)
    future = [f"{where} {day:%d/%m/%Y}" for where, day in _payload_dates(ctx) if day > today]
    if future:
        return fail("future_date", f"dated after today ({today:%d/%m/%Y}): " + ", ".join(future))
    return PASS


@guard("is_decided_after_appraisal")
def is_decided_after_appraisal(ctx: GuardContext) -> Verdict:
    """The decision or reply follows the council's appraisal report (Điều 9 k2 d–đ: "căn cứ kết quả thẩm định")."""
    report = (_appraisal(ctx).get("report") or {}).get("date")
    if not isinstance(report, str):
        return fail("appraisal_missing", f"no appraisal report is on record ({_cite(ctx, 'Điều 9 k2 c')})")
    appraised = date.fromisoformat(report)
    early = [f"{where} {day:%d/%m/%Y}" for where, day in _payload_dates(ctx) if day < appraised]
    if early:
        return fail(
            "decided_before_appraisal",
            f"dated before the appraisal report of {appraised:%d/%m/%Y}: "
            + ", ".join(early)
            + f" ({_cite(ctx, 'Điều 9 k2 d–đ')})",
        )
    return PASS


@guard("is_appraised_at_requested_level", reads=("level",))
def is_appraised_at_requested_level(ctx: GuardContext) -> Verdict:
    """The council appraises the dossier at the level the commune applied for (Điều 9 k2 c–đ)."""
    if ctx.payload.get("level") != ctx.requested_level:
        return fail(
            "appraisal_level_mismatch",
            f"the {_unit(ctx)} applied for level {ctx.requested_level}; the appraisal is for level "
            f"{ctx.payload.get('level')} ({_cite(ctx, 'Điều 9 k2 c')})",
        )
    return PASS


@guard("is_supplement_allowed")
def is_supplement_allowed(ctx: GuardContext) -> Verdict:
    """Supplement requests are one-stop-shop practice, allowed only where the profile turns them on."""
    if ctx.settings.get("supplement_requests_allowed", False):
        return PASS
    return fail(
        "supplement_not_allowed",
        "this jurisdiction's profile does not allow supplement requests (setting supplement_requests_allowed)",
    )


@guard("has_missing_items", reads=("missing",))
def has_missing_items(ctx: GuardContext) -> Verdict:
    """The request lists what is missing, completely, none blank."""
    missing = ctx.payload.get("missing") or []
    if not missing or any(_blank(m) for m in missing):
        return fail("missing_items_required", "list every missing item, none blank")
    return PASS


@guard("is_first_supplement_request")
def is_first_supplement_request(ctx: GuardContext) -> Verdict:
    """The complete list of what is missing is given once (one-stop-shop practice)."""
    if ctx.dossier.get("request_supplement"):
        return fail("supplement_already_requested", "a supplement was already requested; it is asked for once")
    return PASS


def council_officer_problems(members: list[Mapping[str, Any]]) -> list[str]:
    """Every appraisal council has exactly one chair and one secretary (TT25/2023 Điều 9 k2 b, Điều 14 k2 b)."""
    problems = []
    for position, plural in (("chair", "chairs"), ("secretary", "secretaries")):
        count = sum(1 for m in members if m.get("position") == position)
        if count != 1:
            problems.append(f"{count} {plural}: exactly one {position} is required")
    return problems


def council_secretary_problems(members: list[Mapping[str, Any]]) -> list[str]:
    """The secretary records the appraisal, so the council names the secretary's account."""
    secretary = next((m for m in members if m.get("position") == "secretary"), None)
    if secretary is not None and _blank(secretary.get("sub")):
        return ["the secretary must be named by account (sub) to record the appraisal"]
    return []


@guard("is_valid_council", reads=("members",))
def is_valid_council(ctx: GuardContext) -> Verdict:
    """Odd number ≥ 5, one chair, one secretary, Hội Khuyến học and Mặt trận among members (Điều 9 k2 b)."""
    members = ctx.payload.get("members") or []
    minimum = int(ctx.settings.get("council_min_members", 5))
    problems = []
    if len(members) < minimum or len(members) % 2 == 0:
        problems.append(f"{len(members)} members: the council must be an odd number, at least {minimum}")
    problems += council_officer_problems(members)
    org_types = {m.get("org_type") for m in members}
    for org_type, label in (("hoi_khuyen_hoc", "Hội Khuyến học"), ("mat_tran", "Ủy ban MTTQ")):
        if org_type not in org_types:
            problems.append(f"no representative of {label}")
    problems += council_secretary_problems(members)
    if problems:
        return fail("council_invalid", "; ".join(problems) + f" ({_cite(ctx, 'Điều 9 k2 b')})")
    return PASS


@guard("has_result_for_every_indicator", reads=("results",))
def has_result_for_every_indicator(ctx: GuardContext) -> Verdict:
    """The appraisal gives pass or fail for every indicator, once (Điều 9 k2 c, Điều 8 k2 c)."""
    known = [ind.code for ind in ctx.definition.indicators]
    given = [r.get("indicator") for r in ctx.payload.get("results") or []]
    problems = []
    if missing := [c for c in known if c not in given]:
        problems.append("no result for " + ", ".join(missing))
    if unknown := [c for c in given if c not in known]:
        problems.append("unknown indicators " + ", ".join(map(str, unknown)))
    if twice := sorted({c for c in given if given.count(c) > 1}):
        problems.append("more than one result for " + ", ".join(twice))
    return (
        fail("appraisal_results_incomplete", "; ".join(problems) + f" ({_cite(ctx, 'Điều 9 k2 c')})")
        if problems
        else PASS
    )


@guard("is_conclusion_consistent", reads=("results", "conclusion"))
def is_conclusion_consistent(ctx: GuardContext) -> Verdict:
    """Eligible only when every indicator passes; not eligible when any fails (Điều 8 k1, k2 b)."""
    results = ctx.payload.get("results") or []
    failed = [r.get("indicator") for r in results if r.get("result") != "pass"]
    conclusion = ctx.payload.get("conclusion")
    if conclusion == "eligible" and failed:
        return fail(
            "conclusion_inconsistent",
            f"'eligible' contradicts the failed indicators {', '.join(map(str, failed))} ({_cite(ctx, 'Điều 8 k1')})",
        )
    if conclusion == "not_eligible" and results and not failed:
        return fail(
            "conclusion_inconsistent", f"'not_eligible' contradicts results that all pass ({_cite(ctx, 'Điều 8 k1')})"
        )
    return PASS


def _appraisal(ctx: GuardContext) -> Mapping[str, Any]:
    return ctx.dossier.get("record_appraisal") or {}


@guard("is_appraisal_eligible")
def is_appraisal_eligible(ctx: GuardContext) -> Verdict:
    """Recognition follows an appraisal that concluded eligible at the requested level (Điều 9 k2 đ)."""
    if _appraisal(ctx).get("conclusion") != "eligible":
        return fail(
            "appraisal_not_eligible",
            f"the council concluded the {_unit(ctx)} is not eligible ({_cite(ctx, 'Điều 9 k2 đ')})",
        )
    return PASS


@guard("is_appraisal_not_eligible")
def is_appraisal_not_eligible(ctx: GuardContext) -> Verdict:
    """A refusal follows an appraisal that concluded not eligible (Điều 9 k2 d)."""
    if _appraisal(ctx).get("conclusion") != "not_eligible":
        return fail(
            "appraisal_eligible",
            f"the council concluded the {_unit(ctx)} is eligible; refusal is not open ({_cite(ctx, 'Điều 9 k2 d')})",
        )
    return PASS


@guard("is_validity_ended")
def is_validity_ended(ctx: GuardContext) -> Verdict:
    """A recognition expires only after its validity ends (Điều 5 k4)."""
    due = ctx.deadlines.get("validity")
    if due is not None and ctx.now > due.due_at:
        return PASS
    return fail(
        "validity_not_ended", f"the recognition is still valid: {due.explanation if due else 'no validity on record'}"
    )


# Guards of the other procedures live in their own modules and register themselves on import.
from workflows import guards_other, guards_tiers  # noqa: E402,F401
