"""The kinds of organisation a case about an organisation names (TT24/2023 Điều 2 k1–4: ``subject_kind``) and what
a definition may say of them: which traits its indicators read (``applies``, a measure's ``extra``). Checked when a
definition is loaded, so that a trait no kind has, or a level the procedure lacks, names the file and the key."""

from __future__ import annotations

from collections.abc import Iterator, Set

from workflows.schema import Definition


def organisation_kind_problems(d: Definition, bodies: Set[str]) -> Iterator[tuple[str, str]]:
    """(key, message) for each thing wrong with the definition's kinds of organisation and what reads them."""
    if d.subject_level_body is not None and d.subject_level_body not in bodies:
        yield "subject_level_body", f"unknown body {d.subject_level_body!r}"
    if d.organisation_kinds and d.open.subject != "organisation":
        yield "organisation_kinds", "only a procedure about an organisation (open.subject) has kinds"
    traits = {trait for kind in d.organisation_kinds.values() for trait in kind.traits}
    for ind in d.indicators:
        named = [ind.applies.only, ind.applies.exclude] if ind.applies else []
        named += [more.trait for more in ind.measure.extra or []]
        for trait in filter(None, named):
            if trait not in traits:
                yield f"criteria.{ind.code}", f"trait {trait!r} belongs to no organisation kind"
        levels = (ind.applies.levels if ind.applies else None) or []
        if any(level not in d.levels for level in [*levels, *(ind.levels_vi or {})]):
            yield f"criteria.{ind.code}", f"a level outside {d.levels}"
