"""Word building blocks for the DOCX report under Nghị định 30/2020/NĐ-CP Phụ lục I: the base style (Times New
Roman 13 pt, Vietnamese), runs and paragraphs in that font, the short rules under headings, fixed-layout tables whose
rows never split, and page numbers in the top margin from page 2 on. Each writes the OOXML elements in the order the
schema requires, so strict readers accept the file."""

from __future__ import annotations

from collections.abc import Iterable

FONT = "Times New Roman"


def set_base_style(document) -> None:
    """Times New Roman 13 pt in Vietnamese for the Normal style (every other style inherits it)."""
    from docx.oxml.ns import qn
    from docx.shared import Pt

    normal = document.styles["Normal"]
    normal.font.name = FONT
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
        rfonts.set(qn(slot), FONT)


def _run(paragraph, text: str, *, size: float = 13, bold: bool = False, italic: bool = False):
    from docx.shared import Pt

    run = paragraph.add_run(text)
    run.font.name = FONT
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.italic = italic
    _set_rfonts(run._element.get_or_add_rPr())
    return run


def add_paragraph(
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


def add_rule(container, length_mm: float, width_mm: float) -> None:
    """A short centred horizontal line under a heading (NĐ 30 draws one under the issuing body, the motto and the
    trích yếu): an empty paragraph, exactly 3 pt high, whose bottom border is narrowed to ``length_mm`` by equal side
    indents. A bottom border on a low paragraph leaves a small, fixed gap under the text above; a top border on a
    1-pt paragraph was drawn up into the line above (LibreOffice struck through the title with it)."""
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    paragraph = add_paragraph(container, size=1)
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


def layout_table(document, widths_mm: Iterable[float], *, borders: bool):
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
    keep_row_whole(table.rows[0])
    return table


def keep_row_whole(row) -> None:
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


def set_cell_width(cell, width_mm: float) -> None:
    from docx.shared import Mm

    cell.width = Mm(width_mm)


def cell_paragraph(cell, text: str = "", **kwargs):
    """The cell's first paragraph if still empty (a new cell has one), else a new one."""
    first = cell.paragraphs[0]
    if len(cell.paragraphs) == 1 and not first.runs and first._p.pPr is None:
        cell._tc.remove(first._p)
    return add_paragraph(cell, text, **kwargs)


def page_numbers(section) -> None:
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
