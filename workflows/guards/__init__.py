"""Named pure guards: ``(GuardContext) -> Verdict``, each refusal with a readable reason; every rule cites the
clause it comes from.

The package registers every guard when it is imported, whichever of its modules is asked for: the guard modules
below import ``registry`` and register themselves with its ``guard`` decorator, and this file imports each of them
here, at the top. Import the registry and the types from ``workflows.guards.registry``.

* ``registry`` — ``GuardContext``, ``Verdict``, the ``GUARDS`` registry, ``run_guards``;
* ``common`` — the wording shared by refusals (clauses of the case's own procedure) and the council officer checks;
* ``generic`` — reasons, evidence and figures (any procedure);
* ``dossier`` and ``decision`` — the commune procedure (TT25/2023 Điều 9), reused by the district and province;
* ``tiers`` — the rules of the district and province procedures that differ (Điều 10–19);
* ``learning_units`` — TT24/2023's assessment team and appraisal council (both tiers);
* ``other`` — TT44/2014 and the follow-up (khắc phục) procedures.
"""

from workflows.guards import decision, dossier, generic, learning_units, other, registry, tiers

__all__ = ["decision", "dossier", "generic", "learning_units", "other", "registry", "tiers"]
