"""Guards of the commune procedure (TT25/2023 Điều 9) from the dossier on: document dates, supplement requests,
the appraisal council and its results, the decision that follows the appraisal, and the end of a recognition's
validity. The district and province procedures reuse them where the rule is the same."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from workflows.calendar import local_date
from workflows.guards.common import (
    cite,
    council_officer_problems,
    council_secretary_problems,
    is_blank,
    subject_noun,
)
from workflows.guards.registry import PASS, GuardContext, Verdict, fail, guard


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
        return fail("appraisal_missing", f"no appraisal report is on record ({cite(ctx, 'Điều 9 k2 c')})")
    appraised = date.fromisoformat(report)
    early = [f"{where} {day:%d/%m/%Y}" for where, day in _payload_dates(ctx) if day < appraised]
    if early:
        return fail(
            "decided_before_appraisal",
            f"dated before the appraisal report of {appraised:%d/%m/%Y}: "
            + ", ".join(early)
            + f" ({cite(ctx, 'Điều 9 k2 d–đ')})",
        )
    return PASS


@guard("is_appraised_at_requested_level", reads=("level",))
def is_appraised_at_requested_level(ctx: GuardContext) -> Verdict:
    """The council appraises the dossier at the level the commune applied for (Điều 9 k2 c–đ)."""
    if ctx.payload.get("level") != ctx.requested_level:
        return fail(
            "appraisal_level_mismatch",
            f"the {subject_noun(ctx)} applied for level {ctx.requested_level}; the appraisal is for level "
            f"{ctx.payload.get('level')} ({cite(ctx, 'Điều 9 k2 c')})",
        )
    return PASS


@guard("is_supplement_allowed", needs_settings=("supplement_requests_allowed",))
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
    if not missing or any(is_blank(m) for m in missing):
        return fail("missing_items_required", "list every missing item, none blank")
    return PASS


@guard("is_first_supplement_request")
def is_first_supplement_request(ctx: GuardContext) -> Verdict:
    """The complete list of what is missing is given once (one-stop-shop practice)."""
    if ctx.dossier.get("request_supplement"):
        return fail("supplement_already_requested", "a supplement was already requested; it is asked for once")
    return PASS


# Who the appraisal council must represent (TT25/2023 Điều 9 k2 b, Điều 14 k2 b): "đại diện các cơ quan chuyên môn
# …; đại diện Hội Khuyến học …; đại diện Ủy ban Mặt trận Tổ quốc Việt Nam, các tổ chức chính trị - xã hội …".
COUNCIL_SEATS = (
    ("co_quan_chuyen_mon", "the specialised agencies (cơ quan chuyên môn, or sở, ban, ngành at the province)"),
    ("hoi_khuyen_hoc", "Hội Khuyến học (the Study Promotion Association)"),
    ("mat_tran", "Ủy ban MTTQ (the Fatherland Front committee)"),
    ("chinh_tri_xa_hoi", "the socio-political organisations (tổ chức chính trị - xã hội)"),
)


@guard("is_valid_council", reads=("members",))
def is_valid_council(ctx: GuardContext) -> Verdict:
    """Odd number ≥ 5, one chair, one secretary; the specialised agencies, Hội Khuyến học, Mặt trận and the
    socio-political organisations each represented (Điều 9 k2 b, Điều 14 k2 b): a council lacking one is refused,
    naming it."""
    members = ctx.payload.get("members") or []
    minimum = int(ctx.settings.get("council_min_members", 5))
    problems = []
    if len(members) < minimum or len(members) % 2 == 0:
        problems.append(f"{len(members)} members: the council must be an odd number, at least {minimum}")
    problems += council_officer_problems(members)
    org_types = {m.get("org_type") for m in members if not is_blank(m.get("name"))}
    for org_type, label in COUNCIL_SEATS:
        if org_type not in org_types:
            problems.append(f"no representative of {label}")
    problems += council_secretary_problems(members)
    if problems:
        return fail("council_invalid", "; ".join(problems) + f" ({cite(ctx, 'Điều 9 k2 b')})")
    return PASS


@guard("has_result_for_every_indicator", reads=("results",))
def has_result_for_every_indicator(ctx: GuardContext) -> Verdict:
    """The appraisal gives pass or fail for every indicator, once (Điều 9 k2 c, Điều 8 k2 c); for a TT24 case,
    every indicator that applies to the kind of organisation."""
    known = [ind.code for ind in ctx.indicators_in_scope]
    given = [r.get("indicator") for r in ctx.payload.get("results") or []]
    problems = []
    if missing := [c for c in known if c not in given]:
        problems.append("no result for " + ", ".join(missing))
    if unknown := [c for c in given if c not in known]:
        problems.append("unknown indicators " + ", ".join(map(str, unknown)))
    if twice := sorted({c for c in given if given.count(c) > 1}):
        problems.append("more than one result for " + ", ".join(twice))
    return (
        fail("appraisal_results_incomplete", "; ".join(problems) + f" ({cite(ctx, 'Điều 9 k2 c')})")
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
            f"'eligible' contradicts the failed indicators {', '.join(map(str, failed))} ({cite(ctx, 'Điều 8 k1')})",
        )
    if conclusion == "not_eligible" and results and not failed:
        return fail(
            "conclusion_inconsistent", f"'not_eligible' contradicts results that all pass ({cite(ctx, 'Điều 8 k1')})"
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
            f"the council concluded the {subject_noun(ctx)} is not eligible ({cite(ctx, 'Điều 9 k2 đ')})",
        )
    return PASS


@guard("is_appraisal_not_eligible")
def is_appraisal_not_eligible(ctx: GuardContext) -> Verdict:
    """A refusal follows an appraisal that concluded not eligible (Điều 9 k2 d)."""
    if _appraisal(ctx).get("conclusion") != "not_eligible":
        return fail(
            "appraisal_eligible",
            f"the council concluded the {subject_noun(ctx)} is eligible; refusal is not open "
            f"({cite(ctx, 'Điều 9 k2 d')})",
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
