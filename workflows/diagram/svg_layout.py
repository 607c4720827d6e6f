"""Where the SVG diagram puts things: boxes in rows by distance from the initial state, edges routed between them
(straight between neighbouring rows, horizontal between neighbours in a row, round the side in lanes otherwise,
a small loop for a transition that stays in its state), and labels placed where they overlap least.

Pure geometry on a ``Graph``: no text is written here (``workflows.diagram.svg`` writes the document).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from workflows.diagram.graph import Edge, Graph, one_line

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


def text_width(text: str, size: float) -> float:
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


def truncate(text: str, width: float, size: float) -> str:
    text = one_line(text)
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


@dataclass
class Box:
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
class Route:
    edge: Edge
    kind: str  # down | up | side | loop | gutter
    points: list[tuple[float, float]] = field(default_factory=list)
    side: str = ""  # gutter edges: left | right
    lane: int = 0
    label_at: tuple[float, float, str] = (0.0, 0.0, "middle")


Rect = tuple[float, float, float, float]  # x0, y0, x1, y1


def layer_rows(graph: Graph) -> list[list[str]]:
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


class Layout:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        rows = layer_rows(graph)
        self.rows = rows
        self.boxes = {name: Box(name, r, c) for r, row in enumerate(rows) for c, name in enumerate(row)}
        self.routes = [self._kind(edge) for edge in graph.edges]
        self.labels: list[tuple[Route, Rect]] = []
        self._place_columns()
        self._placelayer_rows()
        self._route()
        self._place_labels()

    def _kind(self, edge: Edge) -> Route:
        a, b = self.boxes[edge.source], self.boxes[edge.dest]
        if a is b:
            return Route(edge, "loop")
        if b.row == a.row + 1:
            return Route(edge, "down")
        if b.row == a.row - 1:
            return Route(edge, "up")
        if b.row == a.row and abs(b.col - a.col) == 1:
            return Route(edge, "side")
        return Route(edge, "gutter")

    def _place_columns(self) -> None:
        for route in self.routes:
            if route.kind == "loop":
                box = self.boxes[route.edge.source]
                box.loop_extent = max(box.loop_extent, 34 + text_width(route.edge.label, LABEL_SIZE) + 6)
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
                        text_width(r.edge.label, LABEL_SIZE) + 24
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

    def _placelayer_rows(self) -> None:
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

    def _gutter_x(self, route: Route) -> float:
        if route.side == "left":
            return self.left - GUTTER - GUTTER_LANE * route.lane
        return self.right + GUTTER + GUTTER_LANE * route.lane

    def _route(self) -> None:
        # Ports: where each edge meets a box's top or bottom, spread along the side in the order of the far ends.
        ports: dict[tuple[str, str], list[tuple[float, int, Route]]] = {}

        def port(name: str, side: str, key: float, route: Route) -> None:
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
        loops: dict[str, list[Route]] = {}
        pairs: dict[frozenset[str], list[Route]] = {}
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
                rect = _label_rect(x, y, anchor, text_width(route.edge.label, LABEL_SIZE))
                placed.append(rect)
                self.labels.append((route, rect))
        for route in self.routes:
            if route.kind == "loop":
                continue
            width = text_width(route.edge.label, LABEL_SIZE)
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
