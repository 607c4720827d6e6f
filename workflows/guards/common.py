"""What several guard modules share: the wording of refusals and the checks of a council's officers.

The district (Điều 14) and province (Điều 19) procedures repeat the commune procedure (Điều 9) clause for clause,
and their criteria (Điều 11–13, 16–18) the commune's (Điều 6–8); a guard shared with them cites the clause of the
case's own procedure, as its definition's ``clauses`` maps it (``cite``). A guard that serves one transition cites
that transition's own citation in the definition (``transition_source``), so a message never cites an instrument
the case does not run under.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflows.guards.registry import GuardContext


def cite(ctx: GuardContext, ref: str) -> str:
    """``ref``, a clause of the commune procedure, as the same clause of the case's procedure."""
    for commune, own in ctx.definition.clauses.items():
        if ref == commune or ref.startswith(commune + " "):
            return own + ref[len(commune) :]
    return ref


def transition_source(ctx: GuardContext) -> str:
    """The legal source of the transition being fired (what a refusal rests on), else the instrument."""
    transition = ctx.definition.transition(ctx.trigger)
    return transition.citation.ref if transition is not None else ctx.definition.instrument


def subject_noun(ctx: GuardContext) -> str:
    """What the case is about, in a message: commune, district or province."""
    level = ctx.definition.subject_level
    if ctx.definition.open.subject is not None:  # a case about an organisation inside the unit (TT24)
        return "unit"
    return level if level in ("commune", "district", "province") else "unit"


def is_blank(value: Any) -> bool:
    """Not a string, or only whitespace."""
    return not isinstance(value, str) or not value.strip()


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
    if secretary is not None and is_blank(secretary.get("sub")):
        return ["the secretary must be named by account (sub) to record the appraisal"]
    return []
