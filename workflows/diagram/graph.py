"""The graph a diagram draws: a definition's states and one edge per source of each transition (a ``"="``
destination is a self-loop), checked against the states; or the same for the per-indicator sub-process."""

from __future__ import annotations

from dataclasses import dataclass

from workflows.schema import SYSTEM_BODY, Definition, State


@dataclass(frozen=True)
class Edge:
    index: int
    source: str
    dest: str
    trigger: str
    system: bool

    @property
    def label(self) -> str:
        return f"{self.trigger} (system)" if self.system else self.trigger


@dataclass(frozen=True)
class Graph:
    name: str  # "<key> <version>", or "<key> <version> indicator process"
    title: str
    initial: str
    states: dict[str, State]
    edges: tuple[Edge, ...]


def build_graph(definition: Definition, indicator_process: bool) -> Graph:
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
    edges: list[Edge] = []
    for transition in transitions:
        system = transition.bodies == [SYSTEM_BODY]
        for source in transition.source:
            dest = source if transition.dest == "=" else transition.dest
            for end in (source, dest):
                if end not in states:
                    raise ValueError(f"{name}: transition {transition.trigger!r}: unknown state {end!r}")
            edges.append(Edge(len(edges), source, dest, transition.trigger, system))
    return Graph(name, title, initial, dict(states), tuple(edges))


def one_line(text: str) -> str:
    return " ".join(text.split())
