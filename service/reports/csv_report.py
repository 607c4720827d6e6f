"""The annual results report's communes table as CSV for spreadsheets (UTF-8 with a BOM, CRLF, Vietnamese
headers), safe against formula injection."""

from __future__ import annotations

import csv
import io

from service.reports.snapshot import commune_rows, wording

# Spreadsheet programs run a cell that starts with one of these as a formula (CSV/formula injection); commune names
# and refusal reasons are typed by people, so such a text cell gets a leading apostrophe in the CSV, and is forced to
# a string cell in the XLSX.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def report_csv(snapshot: dict) -> bytes:
    """The communes table as CSV: UTF-8 with a BOM, CRLF line ends, Vietnamese headers, rows sorted by unit code.

    The BOM is what makes Excel read the file as UTF-8 (without it Vietnamese comes out as mojibake); CRLF is
    RFC 4180's line end. Text cells that a spreadsheet would run as a formula get a leading apostrophe.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(wording(snapshot).row_columns)
    for row in commune_rows(snapshot):
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
