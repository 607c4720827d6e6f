"""The annual results report as an XLSX workbook: totals, communes and the indicators most often failed."""

from __future__ import annotations

import io
import unicodedata
import zipfile
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from service.reports.snapshot import (
    commune_rows,
    communes_total_row,
    compile_time,
    indicator_rows,
    normalised_zip,
    office_name,
    parse_date,
    report_cycle,
    total_items,
    wording,
)

_XLSX_WIDTH_CAP = 80


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

    compiled_at = compile_time(snapshot)
    office = office_name(snapshot)
    cycle = report_cycle(snapshot)
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

    def fill(
        sheet,
        header: Iterable[str],
        rows: Iterable[list[Any]],
        formats: dict[int, str] | None = None,
        totals: list[Any] | None = None,
    ) -> None:
        sheet.append(list(header))
        for cell in sheet[1]:
            cell.font = bold
        for values in rows:
            sheet.append(values)
        filtered = sheet.dimensions  # the header and the rows; a totals row below stays out of the filter
        if totals is not None:
            sheet.append(totals)
            for cell in sheet[sheet.max_row]:
                cell.font = bold
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str):
                    # openpyxl would store "=…" as a formula; people's text is never one.
                    cell.data_type = "s"
                cell.alignment = wrap
                if formats and cell.column in formats and cell.value is not None:
                    cell.number_format = formats[cell.column]
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = filtered
        _fit_columns(sheet, formats or {})
        _print_setup(sheet)
        # Printed copies name the office and cycle, since the sheets themselves start with their header row.
        sheet.oddHeader.center.text = f"{office} — năm {cycle}".replace("&", "&&")  # "&" starts a header code
        sheet.oddFooter.center.text = "Trang &P / &N"

    totals_sheet = workbook.active
    totals_sheet.title = "Tổng hợp"
    fill(totals_sheet, ("Nội dung", "Số lượng"), ([label, number] for _, label, number in total_items(snapshot)))

    communes = commune_rows(snapshot)
    words = wording(snapshot)
    communes_sheet = workbook.create_sheet(words.rows_sheet)
    fill(
        communes_sheet,
        words.row_columns,
        (
            [
                r["unit"],
                r["name"],
                r["state_label"],
                r["requested_level"],
                r["level"],
                r["decision_number"] or None,
                # A real date cell (sortable, filterable), shown the Vietnamese way; text if it is not a date.
                parse_date(r["decision_date"]) or (r["decision_date"] or None),
                r["reasons"] or None,
                "Có" if r["overdue"] else "Không",
            ]
            for r in communes
        ),
        formats={7: "DD/MM/YYYY"},
        totals=_communes_totals(communes, words.noun) if communes else None,
    )

    indicators_sheet = workbook.create_sheet("Chỉ tiêu")
    fill(
        indicators_sheet,
        words.indicator_columns,
        ([r["code"], r["label"], r["failed"], r["appraised"]] for r in indicator_rows(snapshot)),
    )

    buffer = io.BytesIO()
    ExcelWriter(workbook, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True)).save()
    return normalised_zip(buffer.getvalue(), compiled_at)


def _communes_totals(rows: list[dict[str, Any]], noun: str) -> list[Any]:
    """The last row of the communes (or organisations') sheet, under its columns: how many communes
    (organisations), how many with a case, recognised, with a decision, refused (in the reasons' column) and
    overdue."""
    totals = communes_total_row(rows)
    listed = totals["communes"] if noun == "xã" else len({r["name"] for r in rows})
    return [
        "Tổng cộng",
        f"{listed} {noun}",
        f"{totals['cases']} hồ sơ",
        None,
        f"{totals['recognized']} {noun} được công nhận",
        f"{totals['decisions']} quyết định",
        None,
        f"{totals['refused']} {noun} không được công nhận",
        f"{totals['overdue']} quá hạn",
    ]


def _print_setup(sheet) -> None:
    """Printed on A4 landscape, every column on one page wide (as many pages tall as it takes), the header row
    repeated on every page, the page numbered in the footer."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.page_margins.top = sheet.page_margins.bottom = 0.75
    sheet.print_title_rows = "1:1"


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
