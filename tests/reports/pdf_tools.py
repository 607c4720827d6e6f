"""LibreOffice for the PDF tests: installed by .ci/run (Debian libreoffice-writer-nogui, fonts-liberation2); where it
is missing the PDF tests fail in CI and are skipped elsewhere, saying what to install."""

from __future__ import annotations

import io

from pypdf import PdfReader

from service.reports.pdf_report import find_renderer
from tests.support.tools import require_tool


def renderer() -> str:
    return require_tool(find_renderer(), "libreoffice-writer-nogui fonts-liberation2")


def pdf_text_and_fonts(pdf: bytes) -> tuple[str, set[str]]:
    """The PDF's text (every page) and the base names of the fonts its pages use."""
    reader = PdfReader(io.BytesIO(pdf))
    fonts: set[str] = set()
    for page in reader.pages:
        for font in (page.get("/Resources") or {}).get("/Font", {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]).split("+", 1)[-1])
    return "\n".join(page.extract_text() or "" for page in reader.pages), fonts
