"""The annual results reports: TT25/2023 Điều 23 k2 (the communes' recognitions) and TT24/2023 Điều 20 k3 (the
district tier's learning units, one row per organisation: setting ``report_rows: organisations``). Their snapshot
of cycle N is taken at an audit position.

``compile`` records, in its own audit event, the results of every commune case of the cycle in the office's area:
counts by level and outcome, the commune list with decision numbers and dates, refusals with their reasons,
lapsed and overdue cases, and the indicators the councils failed most often. It records its position too: the
communes it counted (with their names) and, per case, the sequence number of the newest committed event. Each
case is rebuilt from its audit events up to that number, so ``rebuild`` at the same position gives the same
snapshot, byte for byte, whatever changed later (names, the unit tree, new events).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.audit.canonical import format_time
from service.domain.cases import deadlines, replay
from service.domain.cases.casefile import CaseFile
from service.domain.cases.collectors import collector
from service.domain.errors import Conflict, Reason
from service.persistence.queries import subtree_codes, unit_subtree
from service.persistence.tables import AdminUnit, Case
from workflows.registry import Registry

OUTCOMES = ("refused", "not_submitted", "lapsed", "withdrawn")
NO_CASE, NO_CASE_LABEL = "no_case", "Không có hồ sơ đề nghị trong năm"  # a commune of the area without a case
TT25_TITLE = "Kết quả đánh giá, công nhận “Cộng đồng học tập” cấp xã"


async def position_now(session: AsyncSession, report: CaseFile) -> dict[str, Any]:
    """What a compile reads: the communes of the office's area (with their names) and, for each case of the cycle
    among them, the sequence number of its newest committed event. Recorded with the snapshot, so a rebuild reads
    exactly the same histories, whatever happens to the units or the cases afterwards."""
    procedure_key = report.settings.get("report_procedure", "cdht_xa")
    if report.settings.get("report_rows") == "organisations":
        return await _organisations_position(session, report, procedure_key)
    communes = (
        await session.execute(
            select(AdminUnit.code, AdminUnit.name)
            .where(AdminUnit.code.in_(unit_subtree(report.unit.code, name="office")), AdminUnit.level == "commune")
            .order_by(AdminUnit.code)
        )
    ).all()
    cases = (
        await session.execute(
            select(Case.id, Case.event_seq)
            .where(
                Case.procedure == procedure_key,
                Case.cycle == report.case.cycle,
                Case.unit_code.in_([code for code, _ in communes]),
            )
            .order_by(Case.id)
        )
    ).all()
    return {"communes": [[code, name] for code, name in communes], "cases": {cid: seq for cid, seq in cases}}


async def _organisations_position(session: AsyncSession, report: CaseFile, procedure_key: str) -> dict[str, Any]:
    """The cases of the cycle about organisations in the office's area (on its unit or below), and those units."""
    area = await subtree_codes(session, report.unit.code)
    cases = (
        await session.execute(
            select(Case.id, Case.event_seq, Case.unit_code)
            .where(Case.procedure == procedure_key, Case.cycle == report.case.cycle, Case.unit_code.in_(area))
            .order_by(Case.id)
        )
    ).all()
    codes = sorted({row.unit_code for row in cases})
    units = (await session.execute(select(AdminUnit.code, AdminUnit.name).where(AdminUnit.code.in_(codes)))).all()
    return {"units": sorted([code, name] for code, name in units), "cases": {row.id: row.event_seq for row in cases}}


async def snapshot(
    session: AsyncSession, registry: Registry, report: CaseFile, position: dict[str, Any], at: datetime
) -> dict[str, Any]:
    """The results of the report's cycle in its office's area, from each case's history up to the recorded
    sequence number."""
    office, cycle = report.unit, report.case.cycle
    procedure_key = report.settings.get("report_procedure", "cdht_xa")
    organisations = "units" in position
    names = dict(tuple(pair) for pair in position["units" if organisations else "communes"])
    rows, failed, appraised, labels = [], Counter(), Counter(), {}
    # A case whose newest event is still the recorded position is read from the tables, proven by that event's
    # digest (the same state a replay would rebuild); the others are replayed up to their position.
    proven = await replay.proven_current(session, registry, position["cases"])
    for case_id, seq in sorted(position["cases"].items()):
        read = proven.get(case_id)
        if read is None:
            cf, _ = await replay.case_as_of(session, registry, case_id, position=seq)
            read = replay.ProvenState(cf.case, cf.procedure.definition, cf.deadlines)
        row = _commune_row(read, names[read.case.unit_code], at)
        if organisations:
            row.update(subject=read.case.subject, subject_kind=(read.case.pinned or {}).get("subject_kind"))
        rows.append(row)
        labels.update({i.code: i.vi for i in read.definition.indicators})
        for result in (read.case.dossier.get("record_appraisal") or {}).get("results", []):
            appraised[result["indicator"]] += 1
            failed[result["indicator"]] += result["result"] != "pass"
    if not organisations:  # every commune of the area, those without a case too
        with_case = {row["unit"] for row in rows}
        rows += [_no_case_row(code, name) for code, name in names.items() if code not in with_case]
    rows.sort(key=lambda row: (row["unit"], row.get("subject") or "", row["case_id"] or ""))
    totals: Counter[str] = Counter()
    for row in rows:
        state = row["state"]
        if state == NO_CASE:
            totals[NO_CASE] += 1
        elif state in ("recognized", "expired") and row["level"]:
            totals[f"recognized_level_{row['level']}"] += 1
        elif state in OUTCOMES:
            totals[state] += 1
        else:
            totals["in_progress"] += 1
        totals["overdue"] += row["overdue"]
    return {
        "report": {
            "office": {"code": office.code, "name": office.name, "level": office.level},
            "cycle": cycle,
            "procedure": procedure_key,
            "compiled_at": format_time(at),
            "audit_position": {"cases": len(position["cases"]), "at": format_time(at)},
            **({"rows": "organisations"} if organisations else {}),
        },
        "totals": {
            **({"organisations": len({row["subject"] for row in rows})} if organisations else {"communes": len(names)}),
            "cases": len(rows) - totals[NO_CASE],
            **{
                key: totals[key]
                for key in (
                    "recognized_level_1",
                    "recognized_level_2",
                    *OUTCOMES,
                    "in_progress",
                    "overdue",
                    *(() if organisations else (NO_CASE,)),
                )
            },
        },
        "communes": rows,
        "indicators": [
            {"code": code, "label": labels.get(code, code), "failed": failed[code], "appraised": appraised[code]}
            for code in sorted(failed, key=lambda c: (-failed[c], c))
            if failed[code]
        ],
    }


def _no_case_row(code: str, name: str) -> dict[str, Any]:
    """A commune of the area with no case of the cycle: listed all the same, saying so."""
    return {
        "unit": code,
        "name": name,
        "case_id": None,
        "kind": None,
        "state": NO_CASE,
        "state_label": NO_CASE_LABEL,
        "requested_level": None,
        "level": None,
        "decision": None,
        "refusal_reasons": [],
        "overdue": False,
    }


def _commune_row(state: replay.ProvenState, name: str, at: datetime) -> dict[str, Any]:
    case, dossier = state.case, state.case.dossier or {}
    decision = (dossier.get("recognize") or {}).get("decision")
    return {
        "unit": case.unit_code,
        "name": name,
        "case_id": case.id,
        "kind": case.kind,
        "state": case.state,
        "state_label": state.definition.states[case.state].vi,
        "requested_level": case.requested_level,
        "level": case.level,
        "decision": {"number": decision["number"], "date": decision["date"]} if decision else None,
        "refusal_reasons": list((dossier.get("refuse") or {}).get("reasons", [])),
        "overdue": any(deadlines.is_overdue(row, at) for row in state.deadlines.values()),
    }


@collector("report_snapshot")
async def compile_snapshot(session: AsyncSession, registry: Registry, cf: CaseFile, now: datetime) -> dict[str, Any]:
    position = {**await position_now(session, cf), "at": format_time(now)}
    return {"snapshot": await snapshot(session, registry, cf, position, now), "audit_position": position}


def compiled(cf: CaseFile) -> dict[str, Any]:
    """The snapshot of the report's latest compile."""
    compiled_payload = (cf.case.dossier or {}).get("compile")
    if not compiled_payload:
        raise Conflict("the report has not been compiled", reasons=[Reason("not_compiled", "fire compile first")])
    return compiled_payload["snapshot"]


async def rebuild(session: AsyncSession, registry: Registry, cf: CaseFile) -> dict[str, Any]:
    """The snapshot computed again from the audit log at the position the compile recorded."""
    payload = (cf.case.dossier or {}).get("compile")
    if not payload:
        raise Conflict("the report has not been compiled", reasons=[Reason("not_compiled", "fire compile first")])
    position = payload["audit_position"]
    return await snapshot(session, registry, cf, position, datetime.fromisoformat(position["at"]))


def document_meta(cf: CaseFile, parent_name: str | None) -> dict[str, Any]:
    """What the signed document shows (NĐ 30/2020 Điều 8, Phụ lục I): from the approval, the issuing office and its
    superior (tên cơ quan ban hành, tên cơ quan chủ quản) from the report's pinned profile
    (``report_issuing_body``, ``report_superior_body``; ``{unit}`` is the office's unit, ``{parent}`` the unit
    above it), unless the approval names them."""
    approval = (cf.case.dossier or {}).get("approve")
    if not approval:
        raise Conflict("the report has not been approved", reasons=[Reason("not_approved", "fire approve first")])
    cycle = cf.case.cycle
    names = {"unit": cf.unit.name, "parent": parent_name or ""}
    issuing = approval.get("issuing_body") or _filled(cf.settings.get("report_issuing_body"), names)
    superior = approval.get("superior_body") or _filled(cf.settings.get("report_superior_body"), names)
    # Running text names the office in full: "Sở Giáo dục và Đào tạo tỉnh Lạng Sơn" (the header's caps cannot be
    # turned back by rule, so it is built here); an approval that names the office is taken as it is.
    in_text = approval.get("issuing_body") or (f"{issuing} {_lower_first(cf.unit.name)}" if issuing else cf.unit.name)
    return {
        "issuing_body": issuing.upper(),
        "parent_body": superior.upper(),
        "issuer": in_text,
        "number": approval["document"]["number"],
        "place": approval["place"],
        "date": approval["document"]["date"],
        "title": f"{cf.settings.get('report_title', TT25_TITLE)} năm {cycle}",
        "signer_title": approval["signer_title"],
        "signer_name": approval["signer_name"],
        "recipients": list(approval["recipients"]),
    }


def _filled(template: Any, names: dict[str, str]) -> str:
    return str(template or "").format(**names).strip()


def _lower_first(name: str) -> str:
    """ "Tỉnh Lạng Sơn" -> "tỉnh Lạng Sơn", as the unit is named inside a sentence."""
    return name[:1].lower() + name[1:]
