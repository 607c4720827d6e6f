"""The annual report's documents (issue 15 point 7): the issuing office and its superior in the DOCX header from the
pinned profile (Sở GDĐT under UBND tỉnh; Phòng GDĐT under UBND huyện) or from the approval; every commune of the
area in the table, those without a case saying so; the XLSX's totals row and print setup; the PDF rendered from
the DOCX by LibreOffice, in a font that covers Vietnamese, and a 503 problem where no renderer is installed."""

from __future__ import annotations

import io

import docx
import openpyxl

from service import walkthrough as w
from tests.helpers import Api, Who
from tests.reports.pdf_tools import pdf_text_and_fonts, renderer
from tests.support.payloads import REPORT_APPROVAL as APPROVAL

NO_CASE = "Không có hồ sơ đề nghị trong năm"


async def approved_report(api: Api, office: Who, head: Who, unit: str, cycle: int, approval: dict) -> str:
    api.clock.set(f"{cycle + 1}-05-10T02:00:00")
    opened = await api.ok(
        await api.client.post("/v1/reports", headers=office.headers, json={"unit": unit, "cycle": cycle}), 201
    )
    await api.ok(await api.fire(office, opened["id"], "compile"))
    api.clock.set(f"{cycle + 1}-05-15T03:00:00")
    await api.ok(await api.fire(head, opened["id"], "approve", approval))
    return opened["id"]


async def export(api: Api, who: Who, report_id: str, fmt: str) -> bytes:
    response = await api.get(who, f"/v1/reports/{report_id}/export", format=fmt)
    assert response.status_code == 200, response.text
    return response.content


def header_lines(document: docx.document.Document) -> list[tuple[str, bool]]:
    """The paragraphs of the header table's left cell (issuing office side), with whether each is bold."""
    left = document.tables[0].rows[0].cells[0]
    return [(p.text, any(r.bold for r in p.runs)) for p in left.paragraphs if p.text.strip()]


async def test_department_report_names_its_office_lists_every_commune_and_prints_well(api: Api) -> None:
    await api.add_units(("C4", "Xã Bốn", "commune", "P1"))
    case_id, leader = await api.new_case("C3", 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    officer, director = api.who("province_officer", "P1"), api.who("province_director", "P1")
    report_id = await approved_report(api, officer, director, "P1", 2025, APPROVAL)

    document = docx.Document(io.BytesIO(await export(api, officer, report_id, "docx")))
    # Tên cơ quan chủ quản (upright) over tên cơ quan ban hành (bold), not the territory's name.
    assert header_lines(document)[:2] == [("UBND TỈNH MỘT", False), ("SỞ GIÁO DỤC VÀ ĐÀO TẠO", True)]
    body = "\n".join(p.text for p in document.paragraphs)
    assert "Sở Giáo dục và Đào tạo tỉnh Một báo cáo kết quả" in body
    assert "Số xã không có hồ sơ đề nghị công nhận trong năm: 3 xã." in body
    table = document.tables[1]  # the communes: every commune of P1, one row each
    rows = [[cell.text for cell in row.cells] for row in table.rows[1:]]
    assert [r[1] for r in rows] == ["Xã Một", "Xã Hai", "Xã Ba", "Xã Bốn"]
    assert [r[2] == NO_CASE for r in rows] == [True, True, False, True]  # Xã Ba has its case (plan issued)

    book = openpyxl.load_workbook(io.BytesIO(await export(api, officer, report_id, "xlsx")))
    communes = book["Danh sách xã"]
    *listed, totals = communes.iter_rows(min_row=2, values_only=True)
    assert [r[0] for r in listed] == ["C1", "C2", "C3", "C4"]
    assert [r[2] for r in listed].count(NO_CASE) == 3
    assert totals[:3] == ("Tổng cộng", "4 xã", "1 hồ sơ")
    assert communes.auto_filter.ref == "A1:I5"  # the totals row stays out of the filter
    for sheet in book.worksheets:
        setup = sheet.page_setup
        assert (setup.orientation, setup.fitToWidth, setup.fitToHeight) == ("landscape", 1, 0), sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
        assert int(setup.paperSize) == 9  # A4
        assert sheet.print_title_rows == "$1:$1"  # the header row repeats on every printed page


async def test_the_approval_may_name_the_office_and_a_district_report_names_its_own(api: Api) -> None:
    officer, director = api.who("province_officer", "P1"), api.who("province_director", "P1")
    named = dict(APPROVAL, issuing_body="Sở Giáo dục và Đào tạo tỉnh Một", superior_body="Ủy ban nhân dân tỉnh Một")
    report_id = await approved_report(api, officer, director, "P1", 2025, named)
    document = docx.Document(io.BytesIO(await export(api, officer, report_id, "docx")))
    assert header_lines(document)[:2] == [
        ("ỦY BAN NHÂN DÂN TỈNH MỘT", False),
        ("SỞ GIÁO DỤC VÀ ĐÀO TẠO TỈNH MỘT", True),
    ]

    office, head = api.who("district_officer", "D1"), api.who("district_head", "D1")
    district = dict(APPROVAL, document={"number": "12/BC-PGDĐT", "date": "2025-05-15"}, signer_title="TRƯỞNG PHÒNG")
    report_id = await approved_report(api, office, head, "D1", 2024, district)
    document = docx.Document(io.BytesIO(await export(api, office, report_id, "docx")))
    assert header_lines(document)[:2] == [("UBND HUYỆN MỘT", False), ("PHÒNG GIÁO DỤC VÀ ĐÀO TẠO", True)]
    assert "Phòng Giáo dục và Đào tạo huyện Một báo cáo" in "\n".join(p.text for p in document.paragraphs)


async def test_pdf_is_the_docx_rendered_in_a_font_with_vietnamese(api: Api) -> None:
    renderer()
    officer, director = api.who("province_officer", "P1"), api.who("province_director", "P1")
    report_id = await approved_report(api, officer, director, "P1", 2025, APPROVAL)
    response = await api.get(officer, f"/v1/reports/{report_id}/export", format="pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf" and response.content.startswith(b"%PDF")
    text, fonts = pdf_text_and_fonts(response.content)
    for expected in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "SỞ GIÁO DỤC VÀ ĐÀO TẠO", "Nguyễn Văn Ánh", "Xã Hai"):
        assert expected in text, text[:2000]
    # Every glyph from the one serif family that stands in for Times New Roman: no fallback font was needed.
    assert fonts and all(f.startswith(("LiberationSerif", "TimesNewRoman")) for f in fonts), fonts


async def test_pdf_without_a_renderer_is_a_503_problem(api: Api) -> None:
    officer, director = api.who("province_officer", "P1"), api.who("province_director", "P1")
    report_id = await approved_report(api, officer, director, "P1", 2025, APPROVAL)
    api.settings.pdf_renderer = "/nonexistent/soffice"
    response = await api.get(officer, f"/v1/reports/{report_id}/export", format="pdf")
    assert response.status_code == 503 and response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["reasons"][0]["code"] == "pdf_renderer_missing"
    assert "libreoffice-writer-nogui" in body["detail"]
