"""Guards any procedure may use: a reason given, and the indicator sub-process (evidence, figures)."""

from __future__ import annotations

from workflows.criteria import figures_problems
from workflows.guards.common import cite, is_blank
from workflows.guards.registry import PASS, GuardContext, Verdict, fail, guard

# --- generic -----------------------------------------------------------------------------------------------


@guard("has_reason", reads=("reason",))
def has_reason(ctx: GuardContext) -> Verdict:
    """A reason is given (it goes on record and to the commune)."""
    if is_blank(ctx.payload.get("reason")):
        return fail("reason_required", "a reason is required and may not be blank")
    return PASS


@guard("has_reasons", reads=("reasons",))
def has_reasons(ctx: GuardContext) -> Verdict:
    """At least one non-blank reason (TT25/2023 Điều 9 k2 d: "nêu rõ lý do không đạt")."""
    reasons = ctx.payload.get("reasons") or []
    if not reasons or any(is_blank(r) for r in reasons):
        return fail(
            "reasons_required", f"the reply must state at least one reason, none blank ({cite(ctx, 'Điều 9 k2 d')})"
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
            f"{code}: upload at least one evidence file before submitting ({cite(ctx, 'Điều 9 k1 b')})",
        )
    return PASS


@guard("has_figures_for_measure", reads=("figures",), shape=True)
def has_figures_for_measure(ctx: GuardContext) -> Verdict:
    """TC4 and TC5 need their figures, in the indicator's shape; the result is computed from them (Điều 6 k4–5,
    Điều 7 k4–5). Malformed or missing figures are a malformed payload (422), not a refusal under the law."""
    if ctx.indicator is None:
        return fail("indicator_missing", "no indicator in context")
    indicator = ctx.definition.indicator(ctx.indicator.code)
    if indicator is None:
        return fail("indicator_unknown", f"{ctx.indicator.code} is not an indicator of this procedure")
    problems = figures_problems(indicator, ctx.payload.get("figures"), ctx.definition.traits(ctx.subject_kind))
    if problems:
        return fail("figures_invalid", "; ".join(problems) + f" ({cite(ctx, 'Điều 6 k4–5, Điều 7 k4–5')})")
    if indicator.measure.kind == "rating" and ctx.payload.get("figures"):
        return fail(
            "figures_unexpected",
            f"{indicator.code} is rated pass/fail with evidence; it takes no figures ({cite(ctx, 'Điều 8 k2 c')})",
        )
    return PASS
