"""The digest of a case each of its events records (``state_digest``): the case as that event left it.

SHA-256 over the canonical JSON of the case row, its indicators, deadlines and evidence. Verification recomputes it
from the tables, so a change made outside the engine is caught; a replay recomputes it from the events, so a replay
that differs from what was written is caught too.

**Versions.** The digest's coverage grew once, so a recorded digest says which version it is, and is checked as
that version; every new event records the newest.

* Version 1 (events written before it grew) covers, of each evidence row, only ``id``, ``indicator_code``,
  ``sha256`` and ``size``; it is written as the 64 hex digits of the SHA-256.
* Version 2 covers every evidence column the API serves (``media_type``, ``filename``, ``title``, ``uploaded_by``,
  ``uploaded_at`` besides those four), so an evidence row's type or name changed in the database is caught like
  any other change. It is written ``2:`` followed by the first 62 hex digits of the SHA-256 (248 bits: the column
  holds 64 characters, and nothing but the version marker may tell the versions apart).

The recorded digest is part of the hashed event, so its version cannot be changed without breaking the chain; an
event of version 1 stays verifiable as it was written. A case whose newest event is of version 1 has its evidence
types and names covered again from its next event on (and, whatever its version, by its ``evidence_uploaded``
events: see ``verify``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from service.domain.audit.canonical import canonical_json, sha256_hex
from service.persistence.loaded import LoadedValues
from service.persistence.tables import Case, CaseIndicator, Deadline, Evidence

DIGEST_VERSION = 2

CASE_FIELDS = (
    "id",
    "procedure",
    "version",
    "profile",
    "unit_code",
    "cycle",
    "kind",
    "state",
    "target_level",
    "assessed_level",
    "requested_level",
    "level",
    "decided_on",
    "dossier",
    "row_version",
)
INDICATOR_FIELDS = ("code", "assignee_org", "state", "rating", "figures", "note")
DEADLINE_FIELDS = (
    "key",
    "due_at",
    "status",
    "rule",
    "explanation",
    "inputs",
    "calendar_version",
    "on_breach",
    "breached_at",
    "closed_at",
)
# Every evidence column the API serves, in this order; version 1 covered the first four.
EVIDENCE_FIELDS = (
    "id",
    "indicator_code",
    "sha256",
    "size",
    "media_type",
    "filename",
    "title",
    "uploaded_by",
    "uploaded_at",
)
_EVIDENCE_FIELDS_V1 = 4


def digest_version(recorded: str) -> int:
    """The version a recorded digest was computed in (``2:…``; 64 bare hex digits are version 1)."""
    marker, separator, _ = recorded.partition(":")
    return int(marker) if separator and marker.isdigit() else 1


def digest_of_text(text: str, version: int = DIGEST_VERSION) -> str:
    """The digest as recorded, of the canonical text of a case's document in that version."""
    value = sha256_hex(text)
    return value if version == 1 else f"{version}:{value[:62]}"


def digest_text(
    case: Mapping[str, Any],
    indicators: Iterable[Sequence[Any]],
    deadlines: Iterable[Sequence[Any]],
    evidence: Iterable[Sequence[Any]],
    version: int = DIGEST_VERSION,
) -> str:
    """The canonical text a digest hashes, from the values themselves (lists or tuples, both JSON arrays; evidence
    rows of all ``EVIDENCE_FIELDS``, cut to what the version covers)."""
    if version == 1:
        evidence_rows = sorted(list(row[:_EVIDENCE_FIELDS_V1]) for row in evidence)
    elif version == 2:
        evidence_rows = sorted(map(list, evidence), key=_FIRST)
    else:
        raise ValueError(f"unknown state digest version {version}")
    document = {
        "case": dict(case),
        "indicators": sorted(indicators, key=_FIRST),
        "deadlines": sorted(deadlines, key=_FIRST),
        "evidence": evidence_rows,
    }
    return canonical_json(document)


_FIRST = itemgetter(0)
# The values of each kind of record as tuples, of ORM objects or plain rows (``persistence.loaded``); a tuple is
# written as the same JSON array as a list.
_CASE, _INDICATOR, _DEADLINE, _EVIDENCE = (
    LoadedValues(*names) for names in (CASE_FIELDS, INDICATOR_FIELDS, DEADLINE_FIELDS, EVIDENCE_FIELDS)
)


def _values(case: Any, indicators: Iterable[Any], deadlines: Iterable[Any], evidence: Iterable[Any]) -> tuple:
    """The values a digest covers, read from ORM objects or rows with those attributes."""
    return (
        dict(zip(CASE_FIELDS, _CASE(case), strict=True)),
        list(map(_INDICATOR, indicators)),
        list(map(_DEADLINE, deadlines)),
        list(map(_EVIDENCE, evidence)),
    )


def case_state_digest(
    case: Case,
    indicators: Iterable[CaseIndicator],
    deadlines: Iterable[Deadline],
    evidence: Iterable[Evidence],
    version: int = DIGEST_VERSION,
) -> str:
    """The digest of everything a case is: the row, its indicators, deadlines and evidence (the newest version
    unless another is asked for)."""
    return digest_of_text(digest_text(*_values(case, indicators, deadlines, evidence), version), version)


def recorded_digest_holds(
    recorded: str | None, case: Any, indicators: Iterable[Any], deadlines: Iterable[Any], evidence: Iterable[Any]
) -> bool:
    """Whether the case (ORM objects, or rows with the same attributes) is what a recorded digest says, in the
    version it was recorded in."""
    if recorded is None:
        return False
    return rows_hold(recorded, *_values(case, indicators, deadlines, evidence))


def rows_hold(
    recorded: str,
    case: Mapping[str, Any],
    indicators: Iterable[Sequence[Any]],
    deadlines: Iterable[Sequence[Any]],
    evidence: Iterable[Sequence[Any]],
) -> bool:
    """``recorded_digest_holds`` of the values themselves, as verify reads them."""
    try:
        version = digest_version(recorded)
        return digest_of_text(digest_text(case, indicators, deadlines, evidence, version), version) == recorded
    except ValueError:  # a version this service does not know
        return False


def terms_digest(pinned: dict[str, Any], subject: str) -> str:
    """What a case was opened under (pinned settings and unit facts, subject), as its events recorded it."""
    return sha256_hex(canonical_json({"pinned": pinned, "subject": subject}))
