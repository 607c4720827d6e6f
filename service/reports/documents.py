"""The annual results report of commune learning-community recognitions, rendered as files.

TT25/2023 Điều 23 k2: the reviewing office reports the results of cycle N to the provincial Department and
People's Committee. The report is compiled elsewhere into a JSON snapshot (``report``, ``totals``, ``communes``,
``indicators``); this module only renders that snapshot, in memory, with no database:

* :func:`report_json` — the canonical snapshot (sorted keys, no spaces, UTF-8), the form that is hashed and archived;
* :func:`report_csv` — the communes table for spreadsheets;
* :func:`report_xlsx` — a workbook with the totals, the communes and the indicators most often failed;
* :func:`report_docx` — the signed-paper form, laid out as a Vietnamese administrative report under
  Nghị định 30/2020/NĐ-CP on công tác văn thư, Phụ lục I (thể thức và kỹ thuật trình bày văn bản hành chính):
  the header table (tên cơ quan chủ quản / tên cơ quan ban hành / số, ký hiệu on the left; Quốc hiệu và Tiêu ngữ,
  địa danh và thời gian on the right), tên loại and trích yếu centred, the body in Times New Roman 13 pt, the
  footer table (nơi nhận on the left; chức vụ, họ tên người ký on the right), A4 with the margins of Phụ lục I
  mục II.

Every renderer is deterministic: the same snapshot (and metadata) gives the same bytes, whatever the order of its
keys and whenever it is called. For the two ZIP-based formats (XLSX, DOCX) that takes two measures the libraries do
not take themselves: the document properties' created/modified stamps come from the snapshot's ``compiled_at``
(openpyxl's ``save_workbook`` and python-docx's defaults would stamp the wall clock), and the archive is rewritten
with every member's ZIP timestamp fixed to ``compiled_at`` (``zipfile.writestr`` stamps the wall clock too).
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
import zipfile
from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import Any

__all__ = [
    "COMMUNE_COLUMNS",
    "INDICATOR_COLUMNS",
    "TOTAL_LABELS",
    "report_csv",
    "report_docx",
    "report_json",
    "report_xlsx",
]

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
}

# One sentence per total for the body of the DOCX report ({n} is the number).
_TOTAL_SENTENCES: dict[str, str] = {
    "communes": "Tổng số xã trong phạm vi báo cáo: {n} xã.",
    "cases": "Tổng số hồ sơ được theo dõi trong năm: {n} hồ sơ.",
    "recognized_level_1": "Số xã được công nhận đạt “Cộng đồng học tập” cấp xã Mức độ 1: {n} xã.",
    "recognized_level_2": "Số xã được công nhận đạt “Cộng đồng học tập” cấp xã Mức độ 2: {n} xã.",
    "refused": "Số xã không được công nhận (đã có văn bản trả lời nêu rõ lý do): {n} xã.",
    "not_submitted": "Số xã không đề nghị công nhận: {n} xã.",
    "lapsed": "Số xã quá hạn gửi hồ sơ đề nghị công nhận: {n} xã.",
    "withdrawn": "Số xã rút hồ sơ: {n} xã.",
    "in_progress": "Số hồ sơ đang trong quá trình xử lý: {n} hồ sơ.",
    "overdue": "Số hồ sơ quá hạn xử lý: {n} hồ sơ.",
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

_KIND_NOTES = {"re_recognition": "Công nhận lại", "upgrade": "Đề nghị nâng mức độ"}

# Spreadsheet programs run a cell that starts with one of these as a formula (CSV/formula injection); commune names
# and refusal reasons are typed by people, so such a text cell gets a leading apostrophe in the CSV, and is forced to
# a string cell in the XLSX.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_XLSX_WIDTH_CAP = 80


# ---------------------------------------------------------------------------------------------------------------
# JSON and CSV
# ---------------------------------------------------------------------------------------------------------------


def report_json(snapshot: dict) -> bytes:
    """The canonical snapshot: sorted keys, no insignificant whitespace, UTF-8 (not \\u escapes), one final newline.

    NaN and infinities are refused (``allow_nan=False``): they are not JSON, and a canonical form must parse anywhere.
    """
    text = json.dumps(snapshot, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text + "\n").encode("utf-8")


def report_csv(snapshot: dict) -> bytes:
    """The communes table as CSV: UTF-8 with a BOM, CRLF line ends, Vietnamese headers, rows sorted by unit code.

    The BOM is what makes Excel read the file as UTF-8 (without it Vietnamese comes out as mojibake); CRLF is
    RFC 4180's line end. Text cells that a spreadsheet would run as a formula get a leading apostrophe.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COMMUNE_COLUMNS)
    for row in _commune_rows(snapshot):
        writer.writerow(
            [
                _csv_text(row["unit"]),
                _csv_text(row["name"]),
                _csv_text(row["state_label"]),
                _level_text(row["requested_level"]),
                _level_text(row["level"]),
                _csv_text(row["decision_number"]),
                row["decision_date"] or "",
                _csv_text(row["reasons"]),
                "Có" if row["overdue"] else "Không",
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _csv_text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def _level_text(level: int | None) -> str:
    return "" if level is None else str(level)


def _commune_rows(snapshot: dict) -> list[dict[str, Any]]:
    """The communes flattened to the table's fields, sorted by unit code (then case id, for two cases of one unit)."""
    rows = []
    for commune in snapshot.get("communes") or []:
        decision = commune.get("decision") or {}
        rows.append(
            {
                "unit": str(commune.get("unit") or ""),
                "name": str(commune.get("name") or ""),
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
    rows.sort(key=lambda r: (r["unit"], r["case_id"]))
    return rows


def _total_items(snapshot: dict) -> list[tuple[str, str, int]]:
    """(key, label, number) for each total: the known ones in reading order, then any others by key."""
    totals = snapshot.get("totals") or {}
    known = [k for k in TOTAL_LABELS if k in totals]
    extra = sorted(k for k in totals if k not in TOTAL_LABELS)
    return [(k, TOTAL_LABELS.get(k, k), totals[k]) for k in known + extra]


def _indicator_rows(snapshot: dict) -> list[dict[str, Any]]:
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


# ---------------------------------------------------------------------------------------------------------------
# Dates and the deterministic ZIP
# ---------------------------------------------------------------------------------------------------------------


def _compiled_at(snapshot: dict) -> datetime:
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


def _parse_date(raw: Any) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        return None


def _normalised_zip(data: bytes, moment: datetime) -> bytes:
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


def _office_name(snapshot: dict) -> str:
    return str(((snapshot.get("report") or {}).get("office") or {}).get("name") or "")


def _cycle(snapshot: dict) -> Any:
    return (snapshot.get("report") or {}).get("cycle")


# ---------------------------------------------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------------------------------------------


def report_xlsx(snapshot: dict, meta: dict) -> bytes:
    """A workbook with three sheets: "Tổng hợp" (totals), "Danh sách xã" (communes), "Chỉ tiêu" (indicators).

    Each sheet has a bold header row frozen at A2, an autofilter, and columns as wide as their longest cell (capped
    at 80 characters, longer text wraps). The office, cycle and report number are in the document properties and the
    printed page header. Two builds of the same snapshot give identical bytes: the workbook is written with
    openpyxl's ``ExcelWriter`` directly, because ``save_workbook`` stamps ``modified`` with the wall clock, and the
    archive's member timestamps are fixed afterwards (see the module docstring).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.writer.excel import ExcelWriter

    compiled_at = _compiled_at(snapshot)
    office = _office_name(snapshot)
    cycle = _cycle(snapshot)
    title = str(meta.get("title") or f"Kết quả đánh giá, công nhận “Cộng đồng học tập” cấp xã năm {cycle}")

    workbook = Workbook()
    props = workbook.properties
    props.creator = "cdht"
    props.lastModifiedBy = "cdht"
    props.created = compiled_at
    props.modified = compiled_at
    props.title = title
    props.subject = f"{office} — năm {cycle}"
    props.description = f"Báo cáo số {meta.get('number') or ''} của {office}, năm đánh giá {cycle}".strip()
    props.keywords = "Cộng đồng học tập; TT25/2023/TT-BGDĐT"
    props.language = "vi-VN"

    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")

    def fill(sheet, header: Iterable[str], rows: Iterable[list[Any]], formats: dict[int, str] | None = None) -> None:
        sheet.append(list(header))
        for cell in sheet[1]:
            cell.font = bold
        for values in rows:
            sheet.append(values)
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str):
                    # openpyxl would store "=…" as a formula; people's text is never one.
                    cell.data_type = "s"
                cell.alignment = wrap
                if formats and cell.column in formats and cell.value is not None:
                    cell.number_format = formats[cell.column]
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = sheet.dimensions
        _fit_columns(sheet, formats or {})
        # Printed copies name the office and cycle, since the sheets themselves start with their header row.
        sheet.oddHeader.center.text = f"{office} — năm {cycle}".replace("&", "&&")  # "&" starts a header code
        sheet.oddFooter.center.text = "Trang &P / &N"
        sheet.print_title_rows = "1:1"

    totals_sheet = workbook.active
    totals_sheet.title = "Tổng hợp"
    fill(totals_sheet, ("Nội dung", "Số lượng"), ([label, number] for _, label, number in _total_items(snapshot)))

    communes_sheet = workbook.create_sheet("Danh sách xã")
    fill(
        communes_sheet,
        COMMUNE_COLUMNS,
        (
            [
                r["unit"],
                r["name"],
                r["state_label"],
                r["requested_level"],
                r["level"],
                r["decision_number"] or None,
                # A real date cell (sortable, filterable), shown the Vietnamese way; text if it is not a date.
                _parse_date(r["decision_date"]) or (r["decision_date"] or None),
                r["reasons"] or None,
                "Có" if r["overdue"] else "Không",
            ]
            for r in _commune_rows(snapshot)
        ),
        formats={7: "DD/MM/YYYY"},
    )

    indicators_sheet = workbook.create_sheet("Chỉ tiêu")
    fill(
        indicators_sheet,
        INDICATOR_COLUMNS,
        ([r["code"], r["label"], r["failed"], r["appraised"]] for r in _indicator_rows(snapshot)),
    )

    buffer = io.BytesIO()
    ExcelWriter(workbook, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True)).save()
    return _normalised_zip(buffer.getvalue(), compiled_at)


def _fit_columns(sheet, formats: dict[int, str]) -> None:
    """Each column as wide as its longest cell plus a margin, at most ``_XLSX_WIDTH_CAP`` characters."""
    from openpyxl.utils import get_column_letter

    widths: dict[int, int] = {}
    for row in sheet.iter_rows():
        for cell in row:
            if cell.value is None:
                continue
            if isinstance(cell.value, (date, datetime)):
                length = len(formats.get(cell.column, "DD/MM/YYYY"))
            else:
                # NFC so that a decomposed "ữ" (u + two combining marks) counts as the one character it shows as.
                length = max(len(line) for line in unicodedata.normalize("NFC", str(cell.value)).splitlines() or [""])
            widths[cell.column] = max(widths.get(cell.column, 0), length)
    for column, length in widths.items():
        # +4: the padding Excel draws, and room for the autofilter's drop-down button on the header cell.
        sheet.column_dimensions[get_column_letter(column)].width = min(length + 4, _XLSX_WIDTH_CAP)


# ---------------------------------------------------------------------------------------------------------------
# DOCX
# ---------------------------------------------------------------------------------------------------------------

_FONT = "Times New Roman"
# NĐ 30/2020 Phụ lục I mục II: A4; lề trên 20–25 mm, lề dưới 20–25 mm, lề trái 30–35 mm, lề phải 15–20 mm.
_MARGINS_MM = {"top": 20, "bottom": 20, "left": 30, "right": 20}
_TEXT_WIDTH_MM = 210 - _MARGINS_MM["left"] - _MARGINS_MM["right"]  # 160 mm
# The header and footer tables: the left column for the issuing body / recipients, the right for the national
# title / signature, in the proportions of the model layout in Phụ lục I.
_HEADER_LEFT_MM = 62
_HEADER_RIGHT_MM = _TEXT_WIDTH_MM - _HEADER_LEFT_MM
# Communes table: STT, Tên xã, Mức độ công nhận / Kết quả, Số, ngày quyết định, Ghi chú.
_COMMUNE_TABLE_MM = (12, 38, 35, 37, 38)
_COMMUNE_TABLE_HEADER = ("STT", "Tên xã", "Mức độ công nhận / Kết quả", "Số, ngày quyết định", "Ghi chú")


def report_docx(snapshot: dict, meta: dict) -> bytes:
    """The report as a Word document laid out per NĐ 30/2020/NĐ-CP Phụ lục I (see the module docstring).

    ``meta`` comes from the office's approval: issuing_body, parent_body, number, place, date (ISO), title,
    signer_title, signer_name, recipients. Two builds of the same snapshot and metadata give identical bytes.
    """
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.shared import Mm

    compiled_at = _compiled_at(snapshot)
    office = _office_name(snapshot)
    cycle = _cycle(snapshot)
    title = str(meta.get("title") or f"Kết quả đánh giá, công nhận “Cộng đồng học tập” cấp xã năm {cycle}")

    document = Document()
    _set_base_style(document)

    core = document.core_properties
    core.author = "cdht"
    core.last_modified_by = "cdht"
    core.created = compiled_at
    core.modified = compiled_at
    core.revision = 1
    core.title = title
    core.subject = f"{office} — năm {cycle}"
    core.identifier = str(meta.get("number") or "")
    core.language = "vi-VN"

    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = Mm(_MARGINS_MM["top"])
    section.bottom_margin = Mm(_MARGINS_MM["bottom"])
    section.left_margin = Mm(_MARGINS_MM["left"])
    section.right_margin = Mm(_MARGINS_MM["right"])
    section.header_distance = Mm(10)
    section.footer_distance = Mm(10)
    _page_numbers(section)

    # The template's body holds one empty paragraph; drop it so the header table starts the page.
    body = document.element.body
    for paragraph in list(body.iterchildren("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}p")):
        body.remove(paragraph)

    _header_block(document, meta)
    _title_block(document, title)
    _body(document, snapshot, meta, office, cycle)
    _footer_block(document, meta)

    buffer = io.BytesIO()
    document.save(buffer)
    return _normalised_zip(buffer.getvalue(), compiled_at)


def _set_base_style(document) -> None:
    """Times New Roman 13 pt in Vietnamese for the Normal style (every other style inherits it)."""
    from docx.oxml.ns import qn
    from docx.shared import Pt

    normal = document.styles["Normal"]
    normal.font.name = _FONT
    normal.font.size = Pt(13)
    rpr = normal.element.get_or_add_rPr()
    _set_rfonts(rpr)
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = rpr.makeelement(qn("w:lang"), {})
        rpr.append(lang)
    # Proofing and hyphenation in Vietnamese, and the east-asian slot named so Word never picks a CJK font.
    lang.set(qn("w:val"), "vi-VN")
    lang.set(qn("w:eastAsia"), "vi-VN")
    normal.paragraph_format.space_before = Pt(0)
    normal.paragraph_format.space_after = Pt(0)
    normal.paragraph_format.line_spacing = 1.0


def _set_rfonts(rpr) -> None:
    """Name Times New Roman in all four rFonts slots. ``font.name`` sets only ascii/hAnsi; Word picks the font for
    some Vietnamese characters through the east-asian and complex-script slots, and falls back to another font
    (mixed typefaces within a word) when those are unset."""
    from docx.oxml.ns import qn

    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.insert(0, rfonts)
    for slot in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        rfonts.set(qn(slot), _FONT)


def _run(paragraph, text: str, *, size: float = 13, bold: bool = False, italic: bool = False):
    from docx.shared import Pt

    run = paragraph.add_run(text)
    run.font.name = _FONT
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.italic = italic
    _set_rfonts(run._element.get_or_add_rPr())
    return run


def _paragraph(
    container,
    text: str = "",
    *,
    align: str = "center",
    size: float = 13,
    bold: bool = False,
    italic: bool = False,
    before: float = 0,
    after: float = 0,
    first_line_mm: float | None = None,
    line_spacing: float = 1.0,
):
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt

    paragraph = container.add_paragraph()
    paragraph.alignment = {
        "center": WD_ALIGN_PARAGRAPH.CENTER,
        "left": WD_ALIGN_PARAGRAPH.LEFT,
        "right": WD_ALIGN_PARAGRAPH.RIGHT,
        "justify": WD_ALIGN_PARAGRAPH.JUSTIFY,
    }[align]
    fmt = paragraph.paragraph_format
    fmt.space_before = Pt(before)
    fmt.space_after = Pt(after)
    fmt.line_spacing = line_spacing
    if first_line_mm is not None:
        fmt.first_line_indent = Mm(first_line_mm)
    if text:
        _run(paragraph, text, size=size, bold=bold, italic=italic)
    return paragraph


def _rule(container, length_mm: float, width_mm: float) -> None:
    """A short centred horizontal line under a heading (NĐ 30 draws one under the issuing body, the motto and the
    trích yếu): an empty paragraph, exactly 3 pt high, whose bottom border is narrowed to ``length_mm`` by equal side
    indents. A bottom border on a low paragraph leaves a small, fixed gap under the text above; a top border on a
    1-pt paragraph was drawn up into the line above (LibreOffice struck through the title with it)."""
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    paragraph = _paragraph(container, size=1)
    side = max((width_mm - length_mm) / 2, 0)
    paragraph.paragraph_format.left_indent = Mm(side)
    paragraph.paragraph_format.right_indent = Mm(side)
    paragraph.paragraph_format.line_spacing = Pt(3)
    ppr = paragraph._p.get_or_add_pPr()
    borders = ppr.makeelement(qn("w:pBdr"), {})
    bottom = borders.makeelement(
        qn("w:bottom"), {qn("w:val"): "single", qn("w:sz"): "6", qn("w:space"): "0", qn("w:color"): "000000"}
    )
    borders.append(bottom)
    # pBdr must come before spacing/ind/jc in pPr (CT_PPr sequence), or Word reports the file as damaged.
    anchor = ppr.find(qn("w:spacing"))
    if anchor is None:
        anchor = ppr.find(qn("w:ind"))
    if anchor is None:
        ppr.append(borders)
    else:
        anchor.addprevious(borders)
    size_run = paragraph.add_run("")
    size_run.font.size = Pt(1)


def _layout_table(document, widths_mm: Iterable[float], *, borders: bool):
    """A fixed-layout table of one row with the given column widths; borderless for the header and footer blocks
    (Phụ lục I lays them out in columns without rules)."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.oxml.ns import qn
    from docx.shared import Mm

    widths = list(widths_mm)
    table = document.add_table(rows=1, cols=len(widths))
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False  # writes <w:tblLayout w:type="fixed"/>: the widths below hold whatever the content
    if borders:
        table.style = document.styles["Table Grid"]
    tbl_pr = table._tbl.tblPr
    if not borders:
        edges = tbl_pr.makeelement(qn("w:tblBorders"), {})
        for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
            edges.append(edges.makeelement(qn(f"w:{edge}"), {qn("w:val"): "nil"}))
        tbl_pr.append(edges)
    _sort_tbl_pr(tbl_pr)
    for column, width in zip(table.columns, widths, strict=True):
        column.width = Mm(width)
    for cell, width in zip(table.rows[0].cells, widths, strict=True):
        cell.width = Mm(width)
    _keep_row_whole(table.rows[0])
    return table


def _keep_row_whole(row) -> None:
    """A row is never split across pages (a commune's line, the signature block)."""
    from docx.oxml.ns import qn

    tr_pr = row._tr.get_or_add_trPr()
    tr_pr.insert(0, tr_pr.makeelement(qn("w:cantSplit"), {}))


def _sort_tbl_pr(tbl_pr) -> None:
    """Put tblPr's children in the schema's order (CT_TblPr is a sequence); strict readers reject any other."""
    from docx.oxml.ns import qn

    order = [
        "tblStyle",
        "tblpPr",
        "tblOverlap",
        "bidiVisual",
        "tblStyleRowBandSize",
        "tblStyleColBandSize",
        "tblW",
        "jc",
        "tblCellSpacing",
        "tblInd",
        "tblBorders",
        "shd",
        "tblLayout",
        "tblCellMar",
        "tblLook",
    ]
    rank = {qn(f"w:{name}"): i for i, name in enumerate(order)}
    children = list(tbl_pr)
    for child in children:
        tbl_pr.remove(child)
    for child in sorted(children, key=lambda c: rank.get(c.tag, len(order))):
        tbl_pr.append(child)


def _set_cell_width(cell, width_mm: float) -> None:
    from docx.shared import Mm

    cell.width = Mm(width_mm)


def _cell_paragraph(cell, text: str = "", **kwargs):
    """The cell's first paragraph if still empty (a new cell has one), else a new one."""
    first = cell.paragraphs[0]
    if len(cell.paragraphs) == 1 and not first.runs and first._p.pPr is None:
        cell._tc.remove(first._p)
    return _paragraph(cell, text, **kwargs)


def _header_block(document, meta: dict) -> None:
    """Phụ lục I ô 1–4: cơ quan chủ quản (upright caps) and ban hành (bold caps) over a short rule, then the number;
    beside them Quốc hiệu (bold caps), Tiêu ngữ (bold, a rule as long as it below), then địa danh, ngày tháng năm
    (italic)."""
    table = _layout_table(document, (_HEADER_LEFT_MM, _HEADER_RIGHT_MM), borders=False)
    left, right = table.rows[0].cells

    parent = str(meta.get("parent_body") or "").upper()
    if parent:
        _cell_paragraph(left, parent, size=12)
    _cell_paragraph(left, str(meta.get("issuing_body") or "").upper(), size=12, bold=True)
    _rule(left, 22, _HEADER_LEFT_MM)
    _cell_paragraph(left, f"Số: {meta.get('number') or ''}", size=13, before=6)

    _cell_paragraph(right, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", size=12, bold=True)
    _cell_paragraph(right, "Độc lập - Tự do - Hạnh phúc", size=13, bold=True)
    # The rule under the motto is as long as the motto (≈ 63 mm in Times New Roman 13 pt bold).
    _rule(right, 63, _HEADER_RIGHT_MM)
    _cell_paragraph(right, _place_and_date(meta), size=13, italic=True, before=6)


def _place_and_date(meta: dict) -> str:
    """ "Lạng Sơn, ngày 05 tháng 02 năm 2026": NĐ 30 pads days below 10 and months 1 and 2 with a zero (so that
    nobody can add a digit in front); other months are written as they are."""
    place = str(meta.get("place") or "")
    when = _parse_date(meta.get("date"))
    if when is None:
        return f"{place}, ngày     tháng     năm     " if place else ""
    day = f"{when.day:02d}"
    month = f"{when.month:02d}" if when.month <= 2 else str(when.month)
    return f"{place}, ngày {day} tháng {month} năm {when.year}"


def _title_block(document, title: str) -> None:
    """Tên loại văn bản (BÁO CÁO, bold caps) and the trích yếu (bold) below it, centred, with a short rule."""
    _paragraph(document, "BÁO CÁO", size=14, bold=True, before=18)
    _paragraph(document, title, size=14, bold=True)
    _rule(document, 45, _TEXT_WIDTH_MM)
    _paragraph(document, "", after=6)


def _body(document, snapshot: dict, meta: dict, office: str, cycle: Any) -> None:
    """Nội dung: the basis, the totals one sentence each, the communes table, the indicators most often failed."""
    # Running text names the office as the snapshot spells it ("Sở Giáo dục và Đào tạo tỉnh Lạng Sơn"); the header's
    # all-caps issuing body cannot be turned back into that case by rule.
    issuer = office or str(meta.get("issuing_body") or "")
    # Body paragraphs: justified, first line indented 10 mm, at least 6 pt between paragraphs, 1.15 line spacing
    # (Phụ lục I: lùi đầu dòng 1–1,27 cm; cách nhau tối thiểu 6 pt; dãn dòng từ đơn đến 1,5 lines).
    text = {"align": "justify", "first_line_mm": 10, "after": 6, "line_spacing": 1.15}
    heading = {"align": "left", "bold": True, "first_line_mm": 10, "before": 6, "after": 6, "line_spacing": 1.15}

    _paragraph(
        document,
        "Thực hiện Thông tư số 25/2023/TT-BGDĐT của Bộ trưởng Bộ Giáo dục và Đào tạo quy định về đánh giá, "
        f"công nhận “Cộng đồng học tập” cấp xã, {issuer} báo cáo kết quả đánh giá, công nhận "
        f"“Cộng đồng học tập” cấp xã năm {cycle} như sau:",
        **text,
    )

    _paragraph(document, "I. KẾT QUẢ CHUNG", **heading)
    for key, _, number in _total_items(snapshot):
        sentence = _TOTAL_SENTENCES.get(key, f"{TOTAL_LABELS.get(key, key)}: {{n}}.")
        _paragraph(document, "- " + sentence.format(n=number), **text)

    _paragraph(document, "II. KẾT QUẢ CỤ THỂ CỦA CÁC XÃ", **heading)
    rows = _commune_rows(snapshot)
    if rows:
        _communes_table(document, rows)
    else:
        _paragraph(document, "Không có xã nào trong phạm vi báo cáo.", **text)

    _paragraph(document, "III. CÁC CHỈ TIÊU CHƯA ĐẠT NHIỀU NHẤT", **heading)
    failing = [r for r in _indicator_rows(snapshot) if r["failed"] > 0]
    if failing:
        parts = [
            f"chỉ tiêu {r['code']} ({_strip_period(r['label'])}): {r['failed']}/{r['appraised']} xã được thẩm định "
            "không đạt"
            for r in failing
        ]
        _paragraph(
            document,
            "Qua thẩm định, các chỉ tiêu có nhiều xã không đạt nhất là: " + "; ".join(parts) + ".",
            **text,
        )
    else:
        _paragraph(document, "Qua thẩm định, không có chỉ tiêu nào bị đánh giá không đạt.", **text)

    # NĐ 30 ends the body of a document with "./.".
    _paragraph(
        document,
        f"Trên đây là báo cáo kết quả đánh giá, công nhận “Cộng đồng học tập” cấp xã năm {cycle} của {issuer}./.",
        **text,
    )


def _strip_period(text: str) -> str:
    return text.rstrip(" .;")


def _communes_table(document, rows: list[dict[str, Any]]) -> None:
    from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT
    from docx.oxml.ns import qn

    table = _layout_table(document, _COMMUNE_TABLE_MM, borders=True)
    header = table.rows[0]
    # Repeat the header row at the top of every page the table runs onto.
    tr_pr = header._tr.get_or_add_trPr()
    tr_pr.append(tr_pr.makeelement(qn("w:tblHeader"), {}))
    for cell, label in zip(header.cells, _COMMUNE_TABLE_HEADER, strict=True):
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        _cell_paragraph(cell, label, size=12, bold=True, before=3, after=3)
    for index, row in enumerate(rows, start=1):
        new_row = table.add_row()
        _keep_row_whole(new_row)
        cells = new_row.cells
        for cell, width in zip(cells, _COMMUNE_TABLE_MM, strict=True):
            _set_cell_width(cell, width)
        values = (str(index), row["name"], _result_text(row), _decision_text(row), _note_text(row))
        aligns = ("center", "left", "left", "left", "left")
        for cell, value, align in zip(cells, values, aligns, strict=True):
            _cell_paragraph(cell, value, size=12, align=align, before=3, after=3)
    # A line of space between the table and the next heading.
    _paragraph(document, "", after=0)


def _result_text(row: dict[str, Any]) -> str:
    if row["state"] == "recognized" and row["level"] is not None:
        return f"Công nhận đạt Mức độ {row['level']}"
    if row["state"] == "refused":
        return "Không công nhận"
    return row["state_label"]


def _decision_text(row: dict[str, Any]) -> str:
    number = row["decision_number"]
    when = _parse_date(row["decision_date"])
    if number and when:
        return f"{number} ngày {when:%d/%m/%Y}"
    return number or (f"{when:%d/%m/%Y}" if when else "")


def _note_text(row: dict[str, Any]) -> str:
    notes = []
    if row["kind"] in _KIND_NOTES:
        notes.append(_KIND_NOTES[row["kind"]])
    if row["requested_level"] is not None and row["state"] != "recognized":
        notes.append(f"Đề nghị Mức độ {row['requested_level']}")
    if row["reasons"]:
        notes.append(row["reasons"])
    if row["overdue"]:
        notes.append("Quá hạn xử lý")
    return "; ".join(notes)


def _footer_block(document, meta: dict) -> None:
    """Phụ lục I ô 8–9: Nơi nhận (bold italic 12 pt; recipients 11 pt, "- …;" and the last "- Lưu: …." ) on the
    left; chức vụ (bold caps) and họ tên (bold) of the signer on the right, with room for the signature and seal."""
    _paragraph(document, "", after=6)
    table = _layout_table(document, (_HEADER_LEFT_MM + 18, _HEADER_RIGHT_MM - 18), borders=False)
    left, right = table.rows[0].cells

    _cell_paragraph(left, "Nơi nhận:", align="left", size=12, bold=True, italic=True)
    recipients = [str(r).strip().rstrip(";.") for r in meta.get("recipients") or []]
    for index, recipient in enumerate(recipients):
        end = "." if index == len(recipients) - 1 else ";"
        _cell_paragraph(left, f"- {recipient}{end}", align="left", size=11)

    for line in str(meta.get("signer_title") or "").splitlines() or [""]:
        _cell_paragraph(right, line.upper(), size=13, bold=True)
    # Room for the signature (and the seal over it): NĐ 30 leaves this space blank.
    for _ in range(5):
        _cell_paragraph(right, "", size=13)
    _cell_paragraph(right, str(meta.get("signer_name") or ""), size=13, bold=True)


def _page_numbers(section) -> None:
    """Page numbers centred in the top margin from page 2 on (Phụ lục I mục II: số trang ở giữa lề trên, không
    đánh số trang thứ nhất)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn

    section.different_first_page_header_footer = True
    paragraph = section.header.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    # A complex field, one part per run: begin, the PAGE instruction, separate, a placeholder result, end.
    for part in ("begin", "instr", "separate", "result", "end"):
        run = _run(paragraph, "1" if part == "result" else "", size=13)
        if part == "instr":
            element = run._r.makeelement(qn("w:instrText"), {qn("xml:space"): "preserve"})
            element.text = " PAGE "
            run._r.append(element)
        elif part != "result":
            run._r.append(run._r.makeelement(qn("w:fldChar"), {qn("w:fldCharType"): part}))
