"""A definition's state diagram as a self-contained SVG document (no scripts, no external fonts), deterministic."""

from __future__ import annotations

import re

from workflows.diagram.graph import build_graph, one_line
from workflows.diagram.svg_layout import BOX_H, BOX_W, FONT, LABEL_SIZE, PAD, Layout, Rect, text_width, truncate
from workflows.schema import Definition

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    text = _XML_INVALID.sub("\ufffd", text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _num(value: float) -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _rounded(x: float, y: float, w: float, h: float, r: float) -> str:
    n = _num
    return (
        f"M{n(x + r)},{n(y)} H{n(x + w - r)} A{n(r)},{n(r)} 0 0 1 {n(x + w)},{n(y + r)} V{n(y + h - r)} "
        f"A{n(r)},{n(r)} 0 0 1 {n(x + w - r)},{n(y + h)} H{n(x + r)} A{n(r)},{n(r)} 0 0 1 {n(x)},{n(y + h - r)} "
        f"V{n(y + r)} A{n(r)},{n(r)} 0 0 1 {n(x + r)},{n(y)} Z"
    )


def _plain_rect_path(rect: Rect) -> str:
    x0, y0, x1, y1 = (_num(v) for v in rect)
    return f"M{x0},{y0} H{x1} V{y1} H{x0} Z"


def svg(definition: Definition, *, indicator_process: bool = False) -> str:
    """The definition's state diagram as a self-contained SVG document (UTF-8 text, deterministic).

    Exactly one ``<rect>`` per state (final states get an inner border drawn as a path); every transition's
    trigger is a ``<text class="trigger">``; the document's ``<title>`` names the definition's key and version.
    """
    graph = build_graph(definition, indicator_process)
    layout = Layout(graph)
    n = _num
    x0, y0, x1, y1 = layout.bounds()
    heading = f"{graph.name} — {one_line(graph.title)}"
    heading_y = y0 - 22
    has_system = any(edge.system for edge in graph.edges)
    legend_y = y1 + 26
    x1 = max(x1, x0 + text_width(heading, 15) + 10)
    bottom = legend_y + 8 if has_system else y1
    vx, vy = x0 - PAD, heading_y - 15 - PAD
    width, height = x1 + PAD - vx, bottom + PAD - vy

    out: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{n(width)}" height="{n(height)}" '
        f'viewBox="{n(vx)} {n(vy)} {n(width)} {n(height)}" font-family="{FONT}" role="img">',
        f"<title>{_xml(heading)}</title>",
        "<defs>",
        '<marker id="cdht-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 Z" fill="#222222"/></marker>',
        '<marker id="cdht-arrow-system" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 Z" fill="#777777"/></marker>',
        "</defs>",
        f'<path class="background" d="{_plain_rect_path((vx, vy, vx + width, vy + height))}" fill="#ffffff"/>',
        f'<text class="heading" x="{n(x0)}" y="{n(heading_y)}" font-size="15" font-weight="bold" '
        f'fill="#111111">{_xml(heading)}</text>',
    ]

    # Edges first, so that boxes and labels sit on top of them.
    out.append('<g class="edges" fill="none" stroke-width="1.2">')
    for route in layout.routes:
        edge = route.edge
        colour, marker = ("#777777", "cdht-arrow-system") if edge.system else ("#222222", "cdht-arrow")
        dash = ' stroke-dasharray="5 3"' if edge.system else ""
        if route.kind == "loop":
            (ax, ay), (_, by) = route.points
            reach, bulge = 30.0, (by - ay) * 0.9 + 4
            d = f"M{n(ax)},{n(ay)} C{n(ax + reach)},{n(ay - bulge)} {n(ax + reach)},{n(by + bulge)} {n(ax)},{n(by)}"
        else:
            d = "M" + " L".join(f"{n(x)},{n(y)}" for x, y in route.points)
        out.append(
            f'<path class="transition" data-trigger="{_xml(edge.trigger)}" d="{d}" stroke="{colour}"{dash} '
            f'marker-end="url(#{marker})"/>'
        )
    out.append("</g>")

    initial = layout.boxes[graph.initial]
    out.append(
        f'<g class="initial-marker"><circle cx="{n(initial.x - 32)}" cy="{n(initial.cy)}" r="6" fill="#222222"/>'
        f'<path d="M{n(initial.x - 26)},{n(initial.cy)} L{n(initial.x)},{n(initial.cy)}" stroke="#222222" '
        'stroke-width="1.2" fill="none" marker-end="url(#cdht-arrow)"/></g>'
    )

    out.append('<g class="states">')
    inner = BOX_W - 16
    for name, state in graph.states.items():
        box = layout.boxes[name]
        classes = "state" + (" initial" if name == graph.initial else "") + (" final" if state.final else "")
        fill = "#f1f1f1" if state.final else "#ffffff"
        cx = n(box.cx)
        out.append(f'<g class="{classes}" data-state="{_xml(name)}">')
        out.append(f"<title>{_xml(name)}: {_xml(one_line(state.vi))} ({_xml(one_line(state.en))})</title>")
        out.append(
            f'<rect x="{n(box.x)}" y="{n(box.y)}" width="{n(BOX_W)}" height="{n(BOX_H)}" rx="6" fill="{fill}" '
            'stroke="#222222" stroke-width="1.4"/>'
        )
        if state.final:
            out.append(
                f'<path class="inner-border" d="{_rounded(box.x + 4, box.y + 4, BOX_W - 8, BOX_H - 8, 4)}" '
                'fill="none" stroke="#222222" stroke-width="1"/>'
            )
        out.append(
            f'<text class="name" x="{cx}" y="{n(box.y + 19)}" text-anchor="middle" font-size="13" '
            f'font-weight="bold" fill="#111111">{_xml(truncate(name, inner, 13 * 1.08))}</text>'
        )
        out.append(
            f'<text class="en" x="{cx}" y="{n(box.y + 36)}" text-anchor="middle" font-size="11" '
            f'fill="#222222">{_xml(truncate(state.en, inner, 11))}</text>'
        )
        out.append(
            f'<text class="vi" x="{cx}" y="{n(box.y + 52)}" text-anchor="middle" font-size="10.5" '
            f'font-style="italic" fill="#555555">{_xml(truncate(state.vi, inner, 10.5))}</text>'
        )
        out.append("</g>")
    out.append("</g>")

    out.append(f'<g class="labels" font-size="{n(LABEL_SIZE)}">')
    for route, rect in layout.labels:
        edge = route.edge
        x, y, anchor = route.label_at
        colour = "#555555" if edge.system else "#111111"
        out.append(f'<path class="label-background" d="{_plain_rect_path(rect)}" fill="#ffffff" fill-opacity="0.88"/>')
        system = '<tspan dx="3" font-style="italic">(system)</tspan>' if edge.system else ""
        out.append(
            f'<text class="trigger" x="{n(x)}" y="{n(y + LABEL_SIZE * 0.35)}" text-anchor="{anchor}" '
            f'fill="{colour}">{_xml(edge.trigger)}{system}</text>'
        )
    out.append("</g>")

    if has_system:
        out.append(
            f'<g class="legend"><path d="M{n(x0)},{n(legend_y - 4)} H{n(x0 + 36)}" stroke="#777777" '
            f'stroke-width="1.2" stroke-dasharray="5 3" fill="none"/><text x="{n(x0 + 44)}" y="{n(legend_y)}" '
            'font-size="11" fill="#555555">fired by the service itself (timers, bodies: [system])</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
