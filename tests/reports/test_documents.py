"""The annual results report rendered as JSON, CSV, XLSX and DOCX (service.reports)."""

from __future__ import annotations

import copy
import csv
import io
import json
import zipfile

import pytest
from docx import Document
from docx.shared import Mm
from openpyxl import load_workbook

from service.reports.csv_report import report_csv
from service.reports.docx_report import report_docx
from service.reports.json_report import report_json
from service.reports.snapshot import COMMUNE_COLUMNS, INDICATOR_COLUMNS, TOTAL_LABELS
from service.reports.xlsx_report import report_xlsx

COMMUNES = [
    {
        "unit": "DEMO-X03",
        "name": "Xã Hữu Lũng",
        "case_id": "c-0003",
        "kind": "first",
        "state": "refused",
        "state_label": "Không công nhận (có văn bản trả lời nêu rõ lý do)",
        "requested_level": 1,
        "level": None,
        "decision": None,
        "refusal_reasons": ["Chỉ tiêu TC3.2 chưa đạt: thư viện chưa hoạt động thường xuyên", "Thiếu biên bản họp"],
        "overdue": False,
    },
    {
        "unit": "DEMO-X01",
        "name": "Xã Thái Sơn",
        "case_id": "c-0001",
        "kind": "first",
        "state": "recognized",
        "state_label": 'Được công nhận đạt "Cộng đồng học tập" cấp xã',
        "requested_level": 1,
        "level": 1,
        "decision": {"number": "35/QĐ-SGDĐT", "date": "2026-03-20"},
        "refusal_reasons": [],
        "overdue": False,
    },
    {
        "unit": "DEMO-X05",
        "name": "Xã Bắc Quỳnh",
        "case_id": "c-0005",
        "kind": "first",
        "state": "lapsed",
        "state_label": "Quá hạn gửi hồ sơ",
        "requested_level": 1,
        "level": None,
        "decision": None,
        "refusal_reasons": [],
        "overdue": True,
    },
    {
        "unit": "DEMO-X02",
        "name": "Xã Đồng Mỏ",
        "case_id": "c-0002",
        "kind": "upgrade",
        "state": "recognized",
        "state_label": 'Được công nhận đạt "Cộng đồng học tập" cấp xã',
        "requested_level": 2,
        "level": 2,
        "decision": {"number": "36/QĐ-SGDĐT", "date": "2026-03-20"},
        "refusal_reasons": [],
        "overdue": False,
    },
    {
        "unit": "DEMO-X04",
        "name": "Xã Tân Tiến Độc Lập",
        "case_id": "c-0004",
        "kind": "re_recognition",
        "state": "recognized",
        "state_label": 'Được công nhận đạt "Cộng đồng học tập" cấp xã',
        "requested_level": 1,
        "level": 1,
        "decision": {"number": "37/QĐ-SGDĐT", "date": "2026-04-02"},
        "refusal_reasons": [],
        "overdue": False,
    },
]

SNAPSHOT = {
    "report": {
        "office": {"code": "DEMO-LS", "name": "Sở Giáo dục và Đào tạo tỉnh Lạng Sơn", "level": "province"},
        "cycle": 2025,
        "procedure": "cdht_xa",
        "compiled_at": "2026-05-10T02:00:00.000000Z",
        "audit_position": {"event_id": 1234, "at": "2026-05-10T02:00:00.000000Z"},
    },
    "totals": {
        "communes": 5,
        "cases": 5,
        "recognized_level_1": 2,
        "recognized_level_2": 1,
        "refused": 1,
        "not_submitted": 0,
        "lapsed": 1,
        "withdrawn": 0,
        "in_progress": 0,
        "overdue": 1,
    },
    "communes": COMMUNES,
    "indicators": [
        {
            "code": "TC1.2",
            "label": "Xây dựng chương trình, kế hoạch thực hiện công tác xây dựng xã hội học tập hằng "
            "năm và tổ chức triển khai, thực hiện đầy đủ các chương trình, kế hoạch",
            "failed": 1,
            "appraised": 4,
        },
        {
            "code": "TC3.2",
            "label": "Thư viện công cộng cấp xã hoạt động thường xuyên, phục vụ nhu cầu đọc của người dân",
            "failed": 2,
            "appraised": 4,
        },
        {"code": "TC2.1", "label": "Bố trí đủ kinh phí từ ngân sách nhà nước hằng năm", "failed": 0, "appraised": 4},
    ],
}

META = {
    "issuing_body": "SỞ GIÁO DỤC VÀ ĐÀO TẠO TỈNH LẠNG SƠN",
    "parent_body": "UBND TỈNH LẠNG SƠN",
    "number": "125/BC-SGDĐT",
    "place": "Lạng Sơn",
    "date": "2026-05-15",
    "title": "Kết quả đánh giá, công nhận “Cộng đồng học tập” cấp xã năm 2025",
    "signer_title": "GIÁM ĐỐC",
    "signer_name": "Nguyễn Văn A",
    "recipients": ["Bộ GDĐT (để b/c)", "UBND tỉnh (để b/c)", "Lưu: VT, GDTX"],
}


def _reordered(value):
    """The same data with every mapping's keys in reverse order (and communes in another order)."""
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


@pytest.fixture
def snapshot():
    return copy.deepcopy(SNAPSHOT)


# --- JSON -------------------------------------------------------------------------------------------------------


def test_same_snapshot_twice_gives_identical_json(snapshot):
    assert report_json(snapshot) == report_json(copy.deepcopy(snapshot))


def test_reordered_keys_give_identical_json(snapshot):
    assert report_json(_reordered(snapshot)) == report_json(snapshot)


def test_json_is_canonical_utf8_with_final_newline(snapshot):
    data = report_json(snapshot)
    assert data.endswith(b"}\n") and data.count(b"\n") == 1
    text = data.decode("utf-8")
    assert "Xã Đồng Mỏ" in text and "\\u" not in text  # diacritics as UTF-8, not escapes
    # keys sorted at every level, no spaces after separators
    assert text.startswith('{"communes":[{"case_id":"c-0003","decision":null,"kind":"first","level":null,')
    assert text.index('"communes"') < text.index('"indicators"') < text.index('"report"') < text.index('"totals"')
    assert json.loads(text) == snapshot


def test_nan_in_snapshot_is_refused(snapshot):
    snapshot["totals"]["cases"] = float("nan")
    with pytest.raises(ValueError):
        report_json(snapshot)


# --- CSV --------------------------------------------------------------------------------------------------------


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def test_same_snapshot_twice_gives_identical_csv(snapshot):
    assert report_csv(snapshot) == report_csv(copy.deepcopy(snapshot))


def test_reordered_snapshot_gives_identical_csv(snapshot):
    other = _reordered(snapshot)
    other["communes"].reverse()
    assert report_csv(other) == report_csv(snapshot)


def test_csv_has_bom_crlf_and_vietnamese_headers(snapshot):
    data = report_csv(snapshot)
    assert data.startswith("\ufeffMã đơn vị,Tên xã,Trạng thái,".encode())
    body = data.decode("utf-8")
    assert body.count("\r\n") == len(COMMUNES) + 1
    assert "\n" not in body.replace("\r\n", "")


def test_csv_parses_back_with_every_commune_sorted_by_unit(snapshot):
    rows = _csv_rows(report_csv(snapshot))
    assert rows[0] == list(COMMUNE_COLUMNS)
    assert [r[0] for r in rows[1:]] == ["DEMO-X01", "DEMO-X02", "DEMO-X03", "DEMO-X04", "DEMO-X05"]
    by_unit = {r[0]: dict(zip(COMMUNE_COLUMNS, r, strict=True)) for r in rows[1:]}
    assert {r["Tên xã"] for r in by_unit.values()} == {c["name"] for c in COMMUNES}
    assert by_unit["DEMO-X01"]["Số quyết định"] == "35/QĐ-SGDĐT"
    assert by_unit["DEMO-X01"]["Ngày quyết định"] == "2026-03-20"
    assert by_unit["DEMO-X02"]["Mức độ công nhận"] == "2"
    assert by_unit["DEMO-X03"]["Mức độ công nhận"] == ""
    assert by_unit["DEMO-X03"]["Lý do không công nhận"].startswith("Chỉ tiêu TC3.2 chưa đạt")
    assert by_unit["DEMO-X05"]["Quá hạn"] == "Có" and by_unit["DEMO-X01"]["Quá hạn"] == "Không"


def test_formula_like_commune_name_is_neutralised_in_csv(snapshot):
    snapshot["communes"][0]["name"] = '=HYPERLINK("http://x")'
    rows = _csv_rows(report_csv(snapshot))
    assert '\'=HYPERLINK("http://x")' in [r[1] for r in rows]


def test_empty_snapshot_gives_header_only_csv(snapshot):
    snapshot["communes"] = []
    assert _csv_rows(report_csv(snapshot)) == [list(COMMUNE_COLUMNS)]


# --- XLSX -------------------------------------------------------------------------------------------------------


@pytest.fixture
def workbook(snapshot):
    return load_workbook(io.BytesIO(report_xlsx(snapshot, META)))


def test_xlsx_has_the_three_sheets_with_headers(workbook):
    assert workbook.sheetnames == ["Tổng hợp", "Danh sách xã", "Chỉ tiêu"]
    assert [c.value for c in workbook["Danh sách xã"][1]] == list(COMMUNE_COLUMNS)
    assert [c.value for c in workbook["Chỉ tiêu"][1]] == list(INDICATOR_COLUMNS)
    assert [c.value for c in workbook["Tổng hợp"][1]] == ["Nội dung", "Số lượng"]
    for sheet in workbook.worksheets:
        assert all(cell.font.bold for cell in sheet[1])


def test_xlsx_sheets_freeze_the_header_row(workbook):
    assert [sheet.freeze_panes for sheet in workbook.worksheets] == ["A2", "A2", "A2"]


def test_xlsx_totals_equal_the_snapshot(workbook, snapshot):
    rows = list(workbook["Tổng hợp"].iter_rows(min_row=2, values_only=True))
    labels = {label: key for key, label in TOTAL_LABELS.items()}
    assert {labels[label]: number for label, number in rows} == snapshot["totals"]


def test_xlsx_lists_every_commune_with_diacritics_intact(workbook):
    *rows, totals = workbook["Danh sách xã"].iter_rows(min_row=2, values_only=True)
    assert totals[0] == "Tổng cộng"
    assert [r[0] for r in rows] == sorted(c["unit"] for c in COMMUNES)
    assert {r[1] for r in rows} == {"Xã Thái Sơn", "Xã Đồng Mỏ", "Xã Hữu Lũng", "Xã Tân Tiến Độc Lập", "Xã Bắc Quỳnh"}
    x01 = rows[0]
    assert x01[4] == 1 and x01[5] == "35/QĐ-SGDĐT" and x01[6].date().isoformat() == "2026-03-20"


def test_xlsx_indicators_are_most_failed_first(workbook):
    rows = list(workbook["Chỉ tiêu"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[2], r[3]) for r in rows] == [("TC3.2", 2, 4), ("TC1.2", 1, 4), ("TC2.1", 0, 4)]
    assert rows[0][1].startswith("Thư viện công cộng cấp xã")


def test_xlsx_columns_are_wider_than_their_headers(workbook):
    for sheet in workbook.worksheets:
        for cell in sheet[1]:
            width = sheet.column_dimensions[cell.column_letter].width
            assert len(cell.value) < width <= 80, (sheet.title, cell.value, width)


def test_xlsx_properties_name_the_office_and_cycle(workbook):
    props = workbook.properties
    assert props.creator == "cdht"
    assert "Sở Giáo dục và Đào tạo tỉnh Lạng Sơn" in props.subject and "2025" in props.subject
    assert props.created.isoformat() == "2026-05-10T02:00:00"
    assert props.modified.isoformat() == "2026-05-10T02:00:00"


def test_same_snapshot_twice_gives_identical_xlsx(snapshot):
    first = report_xlsx(snapshot, META)
    assert report_xlsx(copy.deepcopy(snapshot), META) == first
    assert report_xlsx(_reordered(snapshot), META) == first


def test_formula_like_text_stays_text_in_xlsx(snapshot):
    snapshot["communes"][0]["name"] = "=1+1"
    sheet = load_workbook(io.BytesIO(report_xlsx(snapshot, META)))["Danh sách xã"]
    cell = next(row[1] for row in sheet.iter_rows(min_row=2) if row[1].value == "=1+1")
    assert cell.data_type == "s"


# --- DOCX -------------------------------------------------------------------------------------------------------


def _all_paragraphs(document):
    yield from document.paragraphs
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                yield from cell.paragraphs


def _text(document) -> str:
    return "\n".join(p.text for p in _all_paragraphs(document))


@pytest.fixture
def document(snapshot):
    return Document(io.BytesIO(report_docx(snapshot, META)))


def test_docx_has_the_national_title_number_and_date(document):
    text = _text(document)
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Số: 125/BC-SGDĐT",
        "Lạng Sơn, ngày 15 tháng 5 năm 2026",
        "UBND TỈNH LẠNG SƠN",
        "SỞ GIÁO DỤC VÀ ĐÀO TẠO TỈNH LẠNG SƠN",
        "BÁO CÁO",
        META["title"],
    ):
        assert expected in text, expected


def test_docx_header_table_is_borderless_two_columns(document):
    header = document.tables[0]
    assert len(header.columns) == 2
    left, right = header.rows[0].cells
    assert "Số: 125/BC-SGDĐT" in left.text and "CỘNG HÒA" in right.text
    borders = header._tbl.tblPr.find("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}tblBorders")
    assert borders is not None
    assert {b.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}val") for b in borders} == {"nil"}


def test_docx_title_is_bold_and_centred(document):
    title = next(p for p in document.paragraphs if p.text == "BÁO CÁO")
    assert title.alignment == 1 and all(r.bold for r in title.runs)
    motto = next(p for p in _all_paragraphs(document) if p.text == "Độc lập - Tự do - Hạnh phúc")
    assert all(r.bold for r in motto.runs)
    date_line = next(p for p in _all_paragraphs(document) if p.text.startswith("Lạng Sơn, ngày"))
    assert all(r.italic for r in date_line.runs)


def test_docx_states_every_total(document, snapshot):
    text = _text(document)
    totals = snapshot["totals"]
    assert f"Tổng số xã trong phạm vi báo cáo: {totals['communes']} xã." in text
    assert f"cấp xã Mức độ 1: {totals['recognized_level_1']} xã." in text
    assert f"cấp xã Mức độ 2: {totals['recognized_level_2']} xã." in text
    assert f"Số xã không được công nhận (đã có văn bản trả lời nêu rõ lý do): {totals['refused']} xã." in text
    assert f"Số xã quá hạn gửi hồ sơ đề nghị công nhận: {totals['lapsed']} xã." in text
    assert f"Số hồ sơ quá hạn xử lý: {totals['overdue']} hồ sơ." in text
    assert text.count("- ") >= len(totals)


def test_docx_communes_table_lists_every_commune(document):
    table = document.tables[1]
    header = table.rows[0]
    assert [c.text for c in header.cells] == [
        "STT",
        "Tên xã",
        "Mức độ công nhận / Kết quả",
        "Số, ngày quyết định",
        "Ghi chú",
    ]
    assert all(r.bold for c in header.cells for p in c.paragraphs for r in p.runs)
    rows = [[c.text for c in row.cells] for row in table.rows[1:]]
    assert [r[0] for r in rows] == ["1", "2", "3", "4", "5"]
    assert {r[1] for r in rows} == {c["name"] for c in COMMUNES}
    assert rows[0][2:4] == ["Công nhận đạt Mức độ 1", "35/QĐ-SGDĐT ngày 20/03/2026"]
    assert rows[2][2] == "Không công nhận" and "Thiếu biên bản họp" in rows[2][4]


def test_docx_names_the_most_failed_indicators(document):
    text = _text(document)
    assert "chỉ tiêu TC3.2 (Thư viện công cộng cấp xã" in text and "2/4 xã được thẩm định không đạt" in text
    assert text.index("TC3.2 (") < text.index("TC1.2 (")
    assert "TC2.1 (" not in text  # failed by none, so not among the most failed


def test_docx_footer_has_recipients_and_signer(document):
    footer = document.tables[-1]
    left, right = footer.rows[0].cells
    lines = [p.text for p in left.paragraphs]
    assert lines == ["Nơi nhận:", "- Bộ GDĐT (để b/c);", "- UBND tỉnh (để b/c);", "- Lưu: VT, GDTX."]
    assert all(r.bold and r.italic for r in left.paragraphs[0].runs)
    signer = [p for p in right.paragraphs if p.text]
    assert [p.text for p in signer] == ["GIÁM ĐỐC", "Nguyễn Văn A"]
    assert all(r.bold for p in signer for r in p.runs)
    assert len(right.paragraphs) - len(signer) >= 3  # room for the signature


def test_docx_runs_are_times_new_roman_in_every_script(document):
    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    runs = [r for p in _all_paragraphs(document) for r in p.runs if r.text]
    assert runs
    for run in runs:
        assert run.font.name == "Times New Roman"
        fonts = run._element.rPr.find(f"{w}rFonts")
        assert fonts.get(f"{w}eastAsia") == "Times New Roman" and fonts.get(f"{w}hAnsi") == "Times New Roman"
    body_sizes = {r.font.size.pt for p in document.paragraphs if p.text.startswith("- ") for r in p.runs}
    assert body_sizes == {13}
    assert document.styles["Normal"].font.name == "Times New Roman"


def test_docx_page_is_a4_with_nd30_margins(document):
    section = document.sections[0]
    assert abs(section.page_width - Mm(210)) < Mm(0.5) and abs(section.page_height - Mm(297)) < Mm(0.5)
    assert Mm(20) - Mm(0.1) <= section.top_margin <= Mm(25) + Mm(0.1)
    assert Mm(20) - Mm(0.1) <= section.bottom_margin <= Mm(25) + Mm(0.1)
    assert Mm(30) - Mm(0.1) <= section.left_margin <= Mm(35) + Mm(0.1)
    assert Mm(15) - Mm(0.1) <= section.right_margin <= Mm(20) + Mm(0.1)


def test_same_snapshot_twice_gives_identical_docx(snapshot):
    first = report_docx(snapshot, META)
    assert report_docx(copy.deepcopy(snapshot), dict(META)) == first
    assert report_docx(_reordered(snapshot), META) == first


def test_docx_archive_timestamps_come_from_compiled_at(snapshot):
    with zipfile.ZipFile(io.BytesIO(report_docx(snapshot, META))) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2026, 5, 10, 2, 0, 0)}
    document = Document(io.BytesIO(report_docx(snapshot, META)))
    assert document.core_properties.author == "cdht"
    assert document.core_properties.created.year == 2026


def test_january_date_is_zero_padded_in_docx(snapshot):
    meta = dict(META, date="2026-02-05")
    text = _text(Document(io.BytesIO(report_docx(snapshot, meta))))
    assert "Lạng Sơn, ngày 05 tháng 02 năm 2026" in text


def test_empty_snapshot_still_renders_docx_and_xlsx(snapshot):
    snapshot["communes"] = []
    snapshot["indicators"] = []
    text = _text(Document(io.BytesIO(report_docx(snapshot, META))))
    assert "Không có xã nào trong phạm vi báo cáo." in text
    assert "không có chỉ tiêu nào bị đánh giá không đạt" in text
    sheet = load_workbook(io.BytesIO(report_xlsx(snapshot, META)))["Danh sách xã"]
    assert sheet.max_row == 1


def test_docx_commune_rows_never_split_and_header_repeats(document):
    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    table = document.tables[1]
    assert table.rows[0]._tr.trPr.find(f"{w}tblHeader") is not None
    assert all(row._tr.trPr.find(f"{w}cantSplit") is not None for row in table.rows)
