"""The annual results report as the signed-paper form: a Word document laid out as a Vietnamese administrative
report under Nghị định 30/2020/NĐ-CP on công tác văn thư, Phụ lục I (thể thức và kỹ thuật trình bày văn bản hành
chính): the header table (tên cơ quan chủ quản / tên cơ quan ban hành / số, ký hiệu on the left; Quốc hiệu và Tiêu
ngữ, địa danh và thời gian on the right), tên loại and trích yếu centred, the body in Times New Roman 13 pt, the
footer table (nơi nhận on the left; chức vụ, họ tên người ký on the right), A4 with the margins of Phụ lục I mục II.
"""

from __future__ import annotations

import io
from typing import Any

from service.reports.docx_layout import (
    add_paragraph,
    add_rule,
    cell_paragraph,
    keep_row_whole,
    layout_table,
    page_numbers,
    set_base_style,
    set_cell_width,
)
from service.reports.snapshot import (
    COMMUNES,
    Wording,
    commune_rows,
    compile_time,
    indicator_rows,
    normalised_zip,
    office_name,
    parse_date,
    report_cycle,
    total_items,
    wording,
)

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
    "no_case": "Số xã không có hồ sơ đề nghị công nhận trong năm: {n} xã.",
}

_KIND_NOTES = {"re_recognition": "Công nhận lại", "upgrade": "Đề nghị nâng mức độ"}

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

    ``meta`` comes from the office's approval: issuing_body, parent_body (the header's caps), issuer (the office
    in running text), number, place, date (ISO), title, signer_title, signer_name, recipients. Two builds of the
    same snapshot and metadata give identical bytes.
    """
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.shared import Mm

    compiled_at = compile_time(snapshot)
    office = office_name(snapshot)
    cycle = report_cycle(snapshot)
    title = str(meta.get("title") or f"Kết quả đánh giá, công nhận “Cộng đồng học tập” cấp xã năm {cycle}")

    document = Document()
    set_base_style(document)

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
    page_numbers(section)

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
    return normalised_zip(buffer.getvalue(), compiled_at)


def _header_block(document, meta: dict) -> None:
    """Phụ lục I ô 1–4: cơ quan chủ quản (upright caps) and ban hành (bold caps) over a short rule, then the number;
    beside them Quốc hiệu (bold caps), Tiêu ngữ (bold, a rule as long as it below), then địa danh, ngày tháng năm
    (italic)."""
    table = layout_table(document, (_HEADER_LEFT_MM, _HEADER_RIGHT_MM), borders=False)
    left, right = table.rows[0].cells

    parent = str(meta.get("parent_body") or "").upper()
    if parent:
        cell_paragraph(left, parent, size=12)
    cell_paragraph(left, str(meta.get("issuing_body") or "").upper(), size=12, bold=True)
    add_rule(left, 22, _HEADER_LEFT_MM)
    cell_paragraph(left, f"Số: {meta.get('number') or ''}", size=13, before=6)

    cell_paragraph(right, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", size=12, bold=True)
    cell_paragraph(right, "Độc lập - Tự do - Hạnh phúc", size=13, bold=True)
    # The rule under the motto is as long as the motto (≈ 63 mm in Times New Roman 13 pt bold).
    add_rule(right, 63, _HEADER_RIGHT_MM)
    cell_paragraph(right, _place_and_date(meta), size=13, italic=True, before=6)


def _place_and_date(meta: dict) -> str:
    """ "Lạng Sơn, ngày 05 tháng 02 năm 2026": NĐ 30 pads days below 10 and months 1 and 2 with a zero (so that
    nobody can add a digit in front); other months are written as they are."""
    place = str(meta.get("place") or "")
    when = parse_date(meta.get("date"))
    if when is None:
        return f"{place}, ngày     tháng     năm     " if place else ""
    day = f"{when.day:02d}"
    month = f"{when.month:02d}" if when.month <= 2 else str(when.month)
    return f"{place}, ngày {day} tháng {month} năm {when.year}"


def _title_block(document, title: str) -> None:
    """Tên loại văn bản (BÁO CÁO, bold caps) and the trích yếu (bold) below it, centred, with a short rule."""
    add_paragraph(document, "BÁO CÁO", size=14, bold=True, before=18)
    add_paragraph(document, title, size=14, bold=True)
    add_rule(document, 45, _TEXT_WIDTH_MM)
    add_paragraph(document, "", after=6)


def _body(document, snapshot: dict, meta: dict, office: str, cycle: Any) -> None:
    """Nội dung: the basis, the totals one sentence each, the communes table, the indicators most often failed."""
    # Running text names the office as the approval's metadata spells it ("Sở Giáo dục và Đào tạo tỉnh Lạng Sơn");
    # the header's all-caps issuing body cannot be turned back into that case by rule.
    issuer = str(meta.get("issuer") or office or meta.get("issuing_body") or "")
    # Body paragraphs: justified, first line indented 10 mm, at least 6 pt between paragraphs, 1.15 line spacing
    # (Phụ lục I: lùi đầu dòng 1–1,27 cm; cách nhau tối thiểu 6 pt; dãn dòng từ đơn đến 1,5 lines).
    text = {"align": "justify", "first_line_mm": 10, "after": 6, "line_spacing": 1.15}
    heading = {"align": "left", "bold": True, "first_line_mm": 10, "before": 6, "after": 6, "line_spacing": 1.15}

    words = wording(snapshot)
    add_paragraph(
        document,
        f"Thực hiện {words.instrument} của Bộ trưởng Bộ Giáo dục và Đào tạo quy định về đánh giá, "
        f"công nhận {words.recognition}, {issuer} báo cáo kết quả đánh giá, công nhận "
        f"{words.recognition} năm {cycle} như sau:",
        **text,
    )

    add_paragraph(document, "I. KẾT QUẢ CHUNG", **heading)
    sentences = _TOTAL_SENTENCES if words is COMMUNES else {}
    for key, label, number in total_items(snapshot):
        sentence = sentences.get(key, f"{label}: {{n}}.")
        add_paragraph(document, "- " + sentence.format(n=number), **text)

    add_paragraph(document, f"II. KẾT QUẢ CỤ THỂ CỦA CÁC {words.noun.upper()}", **heading)
    rows = commune_rows(snapshot)
    if rows:
        _communes_table(document, rows, words)
    else:
        add_paragraph(document, f"Không có {words.noun} nào trong phạm vi báo cáo.", **text)

    add_paragraph(document, "III. CÁC CHỈ TIÊU CHƯA ĐẠT NHIỀU NHẤT", **heading)
    failing = [r for r in indicator_rows(snapshot) if r["failed"] > 0]
    if failing:
        parts = [
            f"chỉ tiêu {r['code']} ({_strip_period(r['label'])}): {r['failed']}/{r['appraised']} {words.noun} được "
            "thẩm định "
            "không đạt"
            for r in failing
        ]
        add_paragraph(
            document,
            f"Qua thẩm định, các chỉ tiêu có nhiều {words.noun} không đạt nhất là: " + "; ".join(parts) + ".",
            **text,
        )
    else:
        add_paragraph(document, "Qua thẩm định, không có chỉ tiêu nào bị đánh giá không đạt.", **text)

    # NĐ 30 ends the body of a document with "./.".
    add_paragraph(
        document,
        f"Trên đây là báo cáo kết quả đánh giá, công nhận {words.recognition} năm {cycle} của {issuer}./.",
        **text,
    )


def _strip_period(text: str) -> str:
    return text.rstrip(" .;")


def _communes_table(document, rows: list[dict[str, Any]], words: Wording) -> None:
    from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT
    from docx.oxml.ns import qn

    table = layout_table(document, _COMMUNE_TABLE_MM, borders=True)
    header = table.rows[0]
    # Repeat the header row at the top of every page the table runs onto.
    tr_pr = header._tr.get_or_add_trPr()
    tr_pr.append(tr_pr.makeelement(qn("w:tblHeader"), {}))
    labels = _COMMUNE_TABLE_HEADER if words is COMMUNES else ("STT", "Đơn vị", *_COMMUNE_TABLE_HEADER[2:])
    for cell, label in zip(header.cells, labels, strict=True):
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        cell_paragraph(cell, label, size=12, bold=True, before=3, after=3)
    for index, row in enumerate(rows, start=1):
        new_row = table.add_row()
        keep_row_whole(new_row)
        cells = new_row.cells
        for cell, width in zip(cells, _COMMUNE_TABLE_MM, strict=True):
            set_cell_width(cell, width)
        values = (str(index), row["name"], _result_text(row), _decision_text(row), _note_text(row))
        aligns = ("center", "left", "left", "left", "left")
        for cell, value, align in zip(cells, values, aligns, strict=True):
            cell_paragraph(cell, value, size=12, align=align, before=3, after=3)
    # A line of space between the table and the next heading.
    add_paragraph(document, "", after=0)


def _result_text(row: dict[str, Any]) -> str:
    if row["state"] == "recognized" and row["level"] is not None:
        return f"Công nhận đạt Mức độ {row['level']}"
    if row["state"] == "refused":
        return "Không công nhận"
    return row["state_label"]


def _decision_text(row: dict[str, Any]) -> str:
    number = row["decision_number"]
    when = parse_date(row["decision_date"])
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
    add_paragraph(document, "", after=6)
    table = layout_table(document, (_HEADER_LEFT_MM + 18, _HEADER_RIGHT_MM - 18), borders=False)
    left, right = table.rows[0].cells

    cell_paragraph(left, "Nơi nhận:", align="left", size=12, bold=True, italic=True)
    recipients = [str(r).strip().rstrip(";.") for r in meta.get("recipients") or []]
    for index, recipient in enumerate(recipients):
        end = "." if index == len(recipients) - 1 else ";"
        cell_paragraph(left, f"- {recipient}{end}", align="left", size=11)

    for line in str(meta.get("signer_title") or "").splitlines() or [""]:
        cell_paragraph(right, line.upper(), size=13, bold=True)
    # Room for the signature (and the seal over it): NĐ 30 leaves this space blank.
    for _ in range(5):
        cell_paragraph(right, "", size=13)
    cell_paragraph(right, str(meta.get("signer_name") or ""), size=13, bold=True)
