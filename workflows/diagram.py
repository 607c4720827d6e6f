"""The state diagram of a procedure, drawn from the same definition the engine runs.

This module owns the picture of a workflow, and nothing else: the states, triggers and system-fired transitions it
draws are read from a ``Definition`` (the very object ``workflows.registry`` hands to the state machine), so the
diagram cannot drift from the behaviour. Two renderings:

* ``mermaid`` writes a Mermaid ``stateDiagram-v2`` for documentation that renders Mermaid;
* ``svg`` lays the states out itself and writes a self-contained SVG document (no scripts, no external fonts).
  A state's layer is its shortest distance from the initial state (unreachable states come last); the states of a
  layer sit side by side in a row, rows run top to bottom. Edges between neighbouring rows are straight lines,
  edges between neighbours in a row are horizontal, every other edge runs round the side in its own lane, and a
  transition that stays in its state is a small loop on the box's right.

Both are pure functions: no I/O, and the same definition always gives the same text, so a diagram can be
committed, diffed and served next to the definition. ``indicator_process=True`` draws the per-indicator
sub-process instead of the case's own states. System-fired transitions (``bodies: [system]``, the service's
timers) are labelled ``trigger (system)`` in Mermaid and dashed in the SVG.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from workflows.schema import SYSTEM_BODY, Definition, State

__all__ = ["mermaid", "svg"]


# ---------------------------------------------------------------------------------------------------- the graph


@dataclass(frozen=True)
class _Edge:
    index: int
    source: str
    dest: str
    trigger: str
    system: bool

    @property
    def label(self) -> str:
        return f"{self.trigger} (system)" if self.system else self.trigger


@dataclass(frozen=True)
class _Graph:
    name: str  # "<key> <version>", or "<key> <version> indicator process"
    title: str
    initial: str
    states: dict[str, State]
    edges: tuple[_Edge, ...]


def _graph(definition: Definition, indicator_process: bool) -> _Graph:
    name = f"{definition.key} {definition.version}"
    title = definition.title.get("en") or next(iter(definition.title.values()), "")
    if indicator_process:
        process = definition.indicator_process
        if process is None:
            raise ValueError(f"{name}: the definition has no indicator_process")
        states, transitions, initial = process.states, process.transitions, process.initial
        name = f"{name} indicator process"
    else:
        states, transitions = definition.states, definition.transitions
        initials = [state for state, spec in states.items() if spec.initial]
        if len(initials) != 1:
            raise ValueError(f"{name}: exactly one initial state is required, found {initials or 'none'}")
        initial = initials[0]
    if initial not in states:
        raise ValueError(f"{name}: unknown initial state {initial!r}")
    edges: list[_Edge] = []
    for transition in transitions:
        system = transition.bodies == [SYSTEM_BODY]
        for source in transition.source:
            dest = source if transition.dest == "=" else transition.dest
            for end in (source, dest):
                if end not in states:
                    raise ValueError(f"{name}: transition {transition.trigger!r}: unknown state {end!r}")
            edges.append(_Edge(len(edges), source, dest, transition.trigger, system))
    return _Graph(name, title, initial, dict(states), tuple(edges))


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------------- Mermaid

# Characters that end a Mermaid statement, start a comment, or break a quoted label, written as Mermaid entity
# codes (decoded back when the diagram is rendered). `#` first, so that no code is escaped twice.
_MERMAID_ESCAPES = {
    "#": "#35;",
    '"': "#quot;",
    ":": "#58;",
    ";": "#59;",
    "%": "#37;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "{": "#123;",
    "}": "#125;",
    "|": "#124;",
}


def _mermaid_text(text: str) -> str:
    return "".join(_MERMAID_ESCAPES.get(char, char) for char in _one_line(text))


def _mermaid_ids(states: dict[str, State]) -> dict[str, str]:
    """A Mermaid id per state: the name itself when it is a plain identifier (always, for shipped definitions)."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for name in states:
        base = re.sub(r"\W", "_", name, flags=re.ASCII) or "state"
        if base[0].isdigit():
            base = f"s_{base}"
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}_{n}", n + 1
        ids[name] = candidate
        taken.add(candidate)
    return ids


def mermaid(definition: Definition, *, indicator_process: bool = False) -> str:
    """The definition's states and transitions as a Mermaid ``stateDiagram-v2``.

    One ``source --> dest : trigger`` line per source of each transition (a ``"="`` destination is a self-loop),
    ``[*] --> initial``, ``final --> [*]``, a ``state "vi<br/>(en)" as name`` line per state and a ``final`` class.
    System-fired transitions read ``trigger (system)``.
    """
    graph = _graph(definition, indicator_process)
    ids = _mermaid_ids(graph.states)
    lines = ["stateDiagram-v2", f"    %% {_mermaid_text(graph.name)} - {_mermaid_text(graph.title)}"]
    for name, state in graph.states.items():
        lines.append(f'    state "{_mermaid_text(state.vi)}<br/>({_mermaid_text(state.en)})" as {ids[name]}')
    lines.append(f"    [*] --> {ids[graph.initial]}")
    for edge in graph.edges:
        lines.append(f"    {ids[edge.source]} --> {ids[edge.dest]} : {_mermaid_text(edge.label)}")
    finals = [name for name, state in graph.states.items() if state.final]
    for name in finals:
        lines.append(f"    {ids[name]} --> [*]")
    if finals:
        lines.append("    classDef final fill:#eeeeee,stroke:#333333,stroke-width:3px")
        lines.append(f"    class {','.join(ids[name] for name in finals)} final")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------- SVG

FONT = "Times New Roman, serif"
BOX_W = 240.0
BOX_H = 62.0
H_GAP = 56.0  # least horizontal space between two boxes of a row
V_GAP = 84.0  # least vertical space between two rows
LANE = 8.0  # spacing of the side-routed edges' horizontal lanes
GUTTER = 28.0  # distance from the boxes to the first side lane
GUTTER_LANE = 12.0
LABEL_SIZE = 11.0
PAD = 20.0

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


def _text_width(text: str, size: float) -> float:
    """A rough width for a serif font: enough to size gaps and truncate labels, not to typeset."""
    units = 0.0
    for char in text:
        if char in "il.,:;'|!()[]/ ":
            units += 0.3
        elif char.isupper() or char in "mw@_…":
            units += 0.72
        else:
            units += 0.5
    return units * size


def _truncate(text: str, width: float, size: float) -> str:
    text = _one_line(text)
    if _text_width(text, size) <= width:
        return text
    while text and _text_width(text + "…", size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


@dataclass
class _Box:
    name: str
    row: int
    col: int
    x: float = 0.0
    y: float = 0.0
    loop_extent: float = 0.0

    @property
    def cx(self) -> float:
        return self.x + BOX_W / 2

    @property
    def cy(self) -> float:
        return self.y + BOX_H / 2


@dataclass
class _Route:
    edge: _Edge
    kind: str  # down | up | side | loop | gutter
    points: list[tuple[float, float]] = field(default_factory=list)
    side: str = ""  # gutter edges: left | right
    lane: int = 0
    label_at: tuple[float, float, str] = (0.0, 0.0, "middle")


Rect = tuple[float, float, float, float]  # x0, y0, x1, y1


def _rows(graph: _Graph) -> list[list[str]]:
    """States by shortest distance from the initial state; unreachable ones last; each row by barycentre."""
    successors: dict[str, list[str]] = {name: [] for name in graph.states}
    predecessors: dict[str, list[str]] = {name: [] for name in graph.states}
    for edge in graph.edges:
        if edge.source != edge.dest:
            successors[edge.source].append(edge.dest)
            predecessors[edge.dest].append(edge.source)
    distance = {graph.initial: 0}
    queue = deque([graph.initial])
    while queue:
        name = queue.popleft()
        for nxt in successors[name]:
            if nxt not in distance:
                distance[nxt] = distance[name] + 1
                queue.append(nxt)
    rows: list[list[str]] = [[] for _ in range(max(distance.values()) + 1)]
    for name in graph.states:
        if name in distance:
            rows[distance[name]].append(name)
    unreachable = [name for name in graph.states if name not in distance]
    if unreachable:
        rows.append(unreachable)
    position: dict[str, float] = {}
    for row in rows:

        def barycentre(name: str) -> float:
            placed = [position[p] for p in predecessors[name] if p in position]
            return sum(placed) / len(placed) if placed else 0.5

        row.sort(key=barycentre)  # stable: ties keep the definition's order
        for i, name in enumerate(row):
            position[name] = (i + 0.5) / len(row)
    return rows


def _overlap(a: Rect, b: Rect) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _along(points: list[tuple[float, float]], t: float) -> tuple[float, float]:
    lengths = [abs(x1 - x0) + abs(y1 - y0) for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False)]
    target = sum(lengths) * t
    for ((x0, y0), (x1, y1)), length in zip(zip(points, points[1:], strict=False), lengths, strict=True):
        if length and target <= length:
            f = target / length
            return x0 + (x1 - x0) * f, y0 + (y1 - y0) * f
        target -= length
    return points[-1]


def _label_rect(x: float, y: float, anchor: str, width: float) -> Rect:
    x0 = x - width / 2 if anchor == "middle" else x - width if anchor == "end" else x
    return (x0 - 2, y - LABEL_SIZE / 2 - 2, x0 + width + 2, y + LABEL_SIZE / 2 + 2)


_FRACTIONS = (0.5, 0.38, 0.62, 0.26, 0.74, 0.16, 0.84)


class _Layout:
    def __init__(self, graph: _Graph) -> None:
        self.graph = graph
        rows = _rows(graph)
        self.rows = rows
        self.boxes = {name: _Box(name, r, c) for r, row in enumerate(rows) for c, name in enumerate(row)}
        self.routes = [self._kind(edge) for edge in graph.edges]
        self.labels: list[tuple[_Route, Rect]] = []
        self._place_columns()
        self._place_rows()
        self._route()
        self._place_labels()

    def _kind(self, edge: _Edge) -> _Route:
        a, b = self.boxes[edge.source], self.boxes[edge.dest]
        if a is b:
            return _Route(edge, "loop")
        if b.row == a.row + 1:
            return _Route(edge, "down")
        if b.row == a.row - 1:
            return _Route(edge, "up")
        if b.row == a.row and abs(b.col - a.col) == 1:
            return _Route(edge, "side")
        return _Route(edge, "gutter")

    def _place_columns(self) -> None:
        for route in self.routes:
            if route.kind == "loop":
                box = self.boxes[route.edge.source]
                box.loop_extent = max(box.loop_extent, 34 + _text_width(route.edge.label, LABEL_SIZE) + 6)
        widths = []
        for row in self.rows:
            x = 0.0
            for i, name in enumerate(row):
                box = self.boxes[name]
                box.x = x
                x += BOX_W + box.loop_extent
                if i + 1 < len(row):
                    pair = {name, row[i + 1]}
                    side = [
                        _text_width(r.edge.label, LABEL_SIZE) + 24
                        for r in self.routes
                        if r.kind == "side" and {r.edge.source, r.edge.dest} == pair
                    ]
                    x += max([H_GAP, *side])
            widths.append(x)
        self.width = max(widths)
        for row, width in zip(self.rows, widths, strict=True):
            for name in row:
                self.boxes[name].x += (self.width - width) / 2
        centre = self.width / 2
        lanes = {"left": 0, "right": 0}
        for route in self.routes:
            if route.kind == "gutter":
                a, b = self.boxes[route.edge.source], self.boxes[route.edge.dest]
                route.side = "right" if (a.cx + b.cx) / 2 >= centre else "left"
                route.lane = lanes[route.side]
                lanes[route.side] += 1
        self.left = min(box.x for box in self.boxes.values())
        self.right = max(box.x + BOX_W + box.loop_extent for box in self.boxes.values())

    def _place_rows(self) -> None:
        exits = [0] * len(self.rows)
        entries = [0] * len(self.rows)
        for route in self.routes:
            if route.kind == "gutter":
                exits[self.boxes[route.edge.source].row] += 1
                entries[self.boxes[route.edge.dest].row] += 1
        y = 0.0
        self.row_y = []
        for r in range(len(self.rows)):
            self.row_y.append(y)
            lanes = exits[r] + (entries[r + 1] if r + 1 < len(self.rows) else 0)
            y += BOX_H + max(V_GAP, 2 * 12 + LANE * lanes + 40)
        for box in self.boxes.values():
            box.y = self.row_y[box.row]

    def _gutter_x(self, route: _Route) -> float:
        if route.side == "left":
            return self.left - GUTTER - GUTTER_LANE * route.lane
        return self.right + GUTTER + GUTTER_LANE * route.lane

    def _route(self) -> None:
        # Ports: where each edge meets a box's top or bottom, spread along the side in the order of the far ends.
        ports: dict[tuple[str, str], list[tuple[float, int, _Route]]] = {}

        def port(name: str, side: str, key: float, route: _Route) -> None:
            ports.setdefault((name, side), []).append((key, route.edge.index, route))

        for route in self.routes:
            a, b = self.boxes[route.edge.source], self.boxes[route.edge.dest]
            if route.kind == "down":
                port(a.name, "bottom", b.cx, route)
                port(b.name, "top", a.cx, route)
            elif route.kind == "up":
                port(a.name, "top", b.cx, route)
                port(b.name, "bottom", a.cx, route)
            elif route.kind == "gutter":
                gx = self._gutter_x(route)
                port(a.name, "bottom", gx, route)
                port(b.name, "top", gx, route)
        where: dict[tuple[int, str], float] = {}  # (edge index, box) -> port x
        for (name, side), items in ports.items():
            box = self.boxes[name]
            items.sort(key=lambda item: (item[0], item[1]))
            for k, (_, index, _route) in enumerate(items):
                where[(index, f"{name}:{side}")] = box.x + BOX_W * (k + 1) / (len(items) + 1)

        exit_lane: dict[int, int] = {}
        entry_lane: dict[int, int] = {}
        loops: dict[str, list[_Route]] = {}
        pairs: dict[frozenset[str], list[_Route]] = {}
        for route in self.routes:
            a, b = self.boxes[route.edge.source], self.boxes[route.edge.dest]
            i = route.edge.index
            if route.kind == "down":
                route.points = [(where[(i, f"{a.name}:bottom")], a.y + BOX_H), (where[(i, f"{b.name}:top")], b.y)]
            elif route.kind == "up":
                route.points = [(where[(i, f"{a.name}:top")], a.y), (where[(i, f"{b.name}:bottom")], b.y + BOX_H)]
            elif route.kind == "gutter":
                gx = self._gutter_x(route)
                ey = a.y + BOX_H + 12 + LANE * exit_lane.setdefault(a.row, 0)
                exit_lane[a.row] += 1
                ny = b.y - 12 - LANE * entry_lane.setdefault(b.row, 0)
                entry_lane[b.row] += 1
                px, qx = where[(i, f"{a.name}:bottom")], where[(i, f"{b.name}:top")]
                route.points = [(px, a.y + BOX_H), (px, ey), (gx, ey), (gx, ny), (qx, ny), (qx, b.y)]
            elif route.kind == "loop":
                loops.setdefault(a.name, []).append(route)
            else:
                pairs.setdefault(frozenset((a.name, b.name)), []).append(route)
        for group in pairs.values():
            for k, route in enumerate(group):
                a, b = self.boxes[route.edge.source], self.boxes[route.edge.dest]
                left = a if a.x < b.x else b
                if left.loop_extent:  # keep clear of the left box's loops: run along the boxes' lower edge
                    y = a.y + BOX_H - 6 - (len(group) - 1 - k) * 10
                else:
                    y = a.cy + (k - (len(group) - 1) / 2) * 12
                if a.x < b.x:
                    route.points = [(a.x + BOX_W, y), (b.x, y)]
                else:
                    route.points = [(a.x, y), (b.x + BOX_W, y)]
        for name, group in loops.items():
            box = self.boxes[name]
            slot = BOX_H / len(group)
            for k, route in enumerate(group):
                cy = box.y + slot * (k + 0.5)
                h = min(8.0, slot / 2 - 2)
                route.points = [(box.x + BOX_W, cy - h), (box.x + BOX_W, cy + h)]
                route.label_at = (box.x + BOX_W + 32, cy, "start")

    def _place_labels(self) -> None:
        boxes: list[Rect] = [(b.x - 2, b.y - 2, b.x + BOX_W + 2, b.y + BOX_H + 2) for b in self.boxes.values()]
        placed: list[Rect] = []
        for route in self.routes:
            if route.kind == "loop":
                x, y, anchor = route.label_at
                rect = _label_rect(x, y, anchor, _text_width(route.edge.label, LABEL_SIZE))
                placed.append(rect)
                self.labels.append((route, rect))
        for route in self.routes:
            if route.kind == "loop":
                continue
            width = _text_width(route.edge.label, LABEL_SIZE)
            candidates: list[tuple[float, float, str]] = []
            if route.kind == "gutter":
                (gx, y0), (_, y1) = route.points[2], route.points[3]
                anchor, dx = ("end", -5.0) if route.side == "left" else ("start", 5.0)
                candidates = [(gx + dx, y0 + (y1 - y0) * t, anchor) for t in _FRACTIONS]
            else:
                candidates = [(*_along(route.points, t), "middle") for t in _FRACTIONS]
            best, best_cost = candidates[0], None
            for x, y, anchor in candidates:
                rect = _label_rect(x, y, anchor, width)
                cost = sum(_overlap(rect, other) for other in boxes + placed)
                if best_cost is None or cost < best_cost:
                    best, best_cost = (x, y, anchor), cost
                if cost == 0:
                    break
            route.label_at = best
            rect = _label_rect(best[0], best[1], best[2], width)
            placed.append(rect)
            self.labels.append((route, rect))

    def bounds(self) -> Rect:
        xs: list[float] = []
        ys: list[float] = []
        for box in self.boxes.values():
            xs += [box.x - 40, box.x + BOX_W]  # 40: the initial marker on the left of the initial box
            ys += [box.y, box.y + BOX_H]
        for route in self.routes:
            xs += [p[0] for p in route.points]
            ys += [p[1] for p in route.points]
        for _, rect in self.labels:
            xs += [rect[0], rect[2]]
            ys += [rect[1], rect[3]]
        return min(xs), min(ys), max(xs), max(ys)


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
    graph = _graph(definition, indicator_process)
    layout = _Layout(graph)
    n = _num
    x0, y0, x1, y1 = layout.bounds()
    heading = f"{graph.name} — {_one_line(graph.title)}"
    heading_y = y0 - 22
    has_system = any(edge.system for edge in graph.edges)
    legend_y = y1 + 26
    x1 = max(x1, x0 + _text_width(heading, 15) + 10)
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
        out.append(f"<title>{_xml(name)}: {_xml(_one_line(state.vi))} ({_xml(_one_line(state.en))})</title>")
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
            f'font-weight="bold" fill="#111111">{_xml(_truncate(name, inner, 13 * 1.08))}</text>'
        )
        out.append(
            f'<text class="en" x="{cx}" y="{n(box.y + 36)}" text-anchor="middle" font-size="11" '
            f'fill="#222222">{_xml(_truncate(state.en, inner, 11))}</text>'
        )
        out.append(
            f'<text class="vi" x="{cx}" y="{n(box.y + 52)}" text-anchor="middle" font-size="10.5" '
            f'font-style="italic" fill="#555555">{_xml(_truncate(state.vi, inner, 10.5))}</text>'
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
