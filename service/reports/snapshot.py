"""What every rendering of the annual results report shares: the snapshot read as rows, and deterministic ZIPs.

TT25/2023 Điều 23 k2: the reviewing office reports the results of cycle N to the provincial Department and
People's Committee. The report is compiled elsewhere into a JSON snapshot (``report``, ``totals``, ``communes``,
``indicators``); the renderers of this package only render that snapshot, in memory, with no database, one module
per format:

* ``json_report.report_json`` — the canonical snapshot (sorted keys, no spaces, UTF-8), the form that is hashed and
  archived;
* ``csv_report.report_csv`` — the communes table for spreadsheets;
* ``xlsx_report.report_xlsx`` — a workbook with the totals, the communes and the indicators most often failed;
* ``docx_report.report_docx`` — the signed-paper form, laid out as a Vietnamese administrative report under
  Nghị định 30/2020/NĐ-CP Phụ lục I (its Word building blocks in ``docx_layout``).

Every renderer is deterministic: the same snapshot (and metadata) gives the same bytes, whatever the order of its
keys and whenever it is called. For the two ZIP-based formats (XLSX, DOCX) that takes two measures the libraries do
not take themselves: the document properties' created/modified stamps come from the snapshot's ``compiled_at``
(openpyxl's ``save_workbook`` and python-docx's defaults would stamp the wall clock), and the archive is rewritten
with every member's ZIP timestamp fixed to ``compiled_at`` (``zipfile.writestr`` stamps the wall clock too):
``compile_time`` and ``normalised_zip`` here.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

# Labels of the totals, in the order a reader expects them: scope, outcomes, then work still open.
TOTAL_LABELS: dict[str, str] = {
    "communes": "Tổng số xã",
    "cases": "Tổng số hồ sơ",
    "recognized_level_1": "Số xã được công nhận đạt Mức độ 1",
    "recognized_level_2": "Số xã được công nhận đạt Mức độ 2",
    "refused": "Số xã không được công nhận",
    "not_submitted": "Số xã không đề nghị công nhận",
    "lapsed": "Số xã quá hạn gửi hồ sơ",
    "withdrawn": "Số xã rút hồ sơ",
    "in_progress": "Số hồ sơ đang xử lý",
    "overdue": "Số hồ sơ quá hạn xử lý",
    "no_case": "Số xã không có hồ sơ đề nghị",
}


COMMUNE_COLUMNS: tuple[str, ...] = (
    "Mã đơn vị",
    "Tên xã",
    "Trạng thái",
    "Mức độ đề nghị",
    "Mức độ công nhận",
    "Số quyết định",
    "Ngày quyết định",
    "Lý do không công nhận",
    "Quá hạn",
)

INDICATOR_COLUMNS: tuple[str, ...] = ("Mã chỉ tiêu", "Nội dung", "Số xã không đạt", "Số xã được thẩm định")

# TT24/2023 Điều 20 k3: the district tier's learning units, one row per organisation (the snapshot's report.rows).
ORGANISATION_TOTAL_LABELS: dict[str, str] = {
    "organisations": "Tổng số đơn vị có hồ sơ",
    "cases": "Tổng số hồ sơ",
    "recognized_level_1": "Số đơn vị được công nhận đạt Mức độ 1",
    "recognized_level_2": "Số đơn vị được công nhận đạt Mức độ 2",
    "refused": "Số đơn vị không đạt (có văn bản trả lời nêu rõ lý do)",
    "lapsed": "Số đơn vị quá hạn gửi hồ sơ",
    "in_progress": "Số hồ sơ đang xử lý",
    "overdue": "Số hồ sơ quá hạn xử lý",
}
ORGANISATION_COLUMNS: tuple[str, ...] = ("Mã đơn vị hành chính", "Đơn vị (mã, loại, địa bàn)", *COMMUNE_COLUMNS[2:])
ORGANISATION_INDICATOR_COLUMNS: tuple[str, ...] = (
    "Mã chỉ tiêu",
    "Nội dung",
    "Số đơn vị không đạt",
    "Số đơn vị được thẩm định",
)


@dataclass(frozen=True)
class Wording:
    """What a report's rows are called: communes (TT25/2023 Điều 23 k2) or organisations (TT24/2023 Điều 20 k3)."""

    total_labels: dict[str, str]
    row_columns: tuple[str, ...]
    indicator_columns: tuple[str, ...]
    rows_sheet: str
    noun: str  # "xã", "đơn vị"
    recognition: str  # what is recognised, as the circular names it
    instrument: str


COMMUNES = Wording(
    TOTAL_LABELS,
    COMMUNE_COLUMNS,
    INDICATOR_COLUMNS,
    "Danh sách xã",
    "xã",
    "“Cộng đồng học tập” cấp xã",
    "Thông tư số 25/2023/TT-BGDĐT",
)
ORGANISATIONS = Wording(
    ORGANISATION_TOTAL_LABELS,
    ORGANISATION_COLUMNS,
    ORGANISATION_INDICATOR_COLUMNS,
    "Danh sách đơn vị",
    "đơn vị",
    "“Đơn vị học tập” cấp huyện",
    "Thông tư số 24/2023/TT-BGDĐT",
)


def wording(snapshot: dict) -> Wording:
    return ORGANISATIONS if (snapshot.get("report") or {}).get("rows") == "organisations" else COMMUNES


def commune_rows(snapshot: dict) -> list[dict[str, Any]]:
    """The communes flattened to the table's fields, sorted by unit code (then case id, for two cases of one unit)."""
    rows = []
    for commune in snapshot.get("communes") or []:
        decision = commune.get("decision") or {}
        name = str(commune.get("name") or "")
        if commune.get("subject"):  # an organisation: its code, its kind, and the unit it is in
            name = f"{commune['subject']} ({commune.get('subject_kind') or '?'}, {name})"
        rows.append(
            {
                "unit": str(commune.get("unit") or ""),
                "name": name,
                "case_id": str(commune.get("case_id") or ""),
                "kind": commune.get("kind") or "",
                "state": commune.get("state") or "",
                "state_label": str(commune.get("state_label") or commune.get("state") or ""),
                "requested_level": commune.get("requested_level"),
                "level": commune.get("level"),
                "decision_number": str(decision.get("number") or ""),
                "decision_date": str(decision.get("date") or ""),
                "reasons": "; ".join(str(r) for r in commune.get("refusal_reasons") or []),
                "overdue": bool(commune.get("overdue")),
            }
        )
    rows.sort(key=lambda r: (r["unit"], r["name"], r["case_id"]))
    return rows


def communes_total_row(rows: list[dict[str, Any]]) -> dict[str, int]:
    """The communes table's totals: communes listed, those with a case, recognised (by level), refused, overdue."""
    with_case = [r for r in rows if r["case_id"]]
    return {
        "communes": len({r["unit"] for r in rows}),
        "cases": len(with_case),
        "recognized": sum(1 for r in with_case if r["state"] in ("recognized", "expired") and r["level"]),
        "refused": sum(1 for r in with_case if r["state"] == "refused"),
        "decisions": sum(1 for r in with_case if r["decision_number"]),
        "overdue": sum(1 for r in with_case if r["overdue"]),
    }


def total_items(snapshot: dict) -> list[tuple[str, str, int]]:
    """(key, label, number) for each total: the known ones in reading order, then any others by key."""
    totals, labels = snapshot.get("totals") or {}, wording(snapshot).total_labels
    known = [k for k in labels if k in totals]
    extra = sorted(k for k in totals if k not in labels)
    return [(k, labels.get(k, k), totals[k]) for k in known + extra]


def indicator_rows(snapshot: dict) -> list[dict[str, Any]]:
    """Indicators, most often failed first (ties by code), so the order does not depend on the snapshot's."""
    rows = [
        {
            "code": str(i.get("code") or ""),
            "label": str(i.get("label") or ""),
            "failed": int(i.get("failed") or 0),
            "appraised": int(i.get("appraised") or 0),
        }
        for i in snapshot.get("indicators") or []
    ]
    rows.sort(key=lambda r: (-r["failed"], r["code"]))
    return rows


def compile_time(snapshot: dict) -> datetime:
    """``report.compiled_at`` as a naive UTC datetime (both libraries write naive datetimes as UTC)."""
    raw = (snapshot.get("report") or {}).get("compiled_at")
    if not raw:
        # A snapshot always carries compiled_at; a fixed fallback keeps the output deterministic rather than
        # stamping the wall clock.
        return datetime(2000, 1, 1)
    moment = datetime.fromisoformat(str(raw))
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def parse_date(raw: Any) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        return None


def normalised_zip(data: bytes, moment: datetime) -> bytes:
    """The same archive, members in the same order, with every timestamp set to ``moment`` (not the wall clock).

    ZIP stores DOS local times from 1980 on, to the even second; earlier moments are clamped to 1980-01-01.
    """
    stamp = max(moment, datetime(1980, 1, 1)).timetuple()[:6]
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=stamp)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o600 << 16  # fixed permissions: the builder's umask must not leak in
            target.writestr(member, source.read(info.filename))
    return out.getvalue()


def office_name(snapshot: dict) -> str:
    return str(((snapshot.get("report") or {}).get("office") or {}).get("name") or "")


def report_cycle(snapshot: dict) -> Any:
    return (snapshot.get("report") or {}).get("cycle")
