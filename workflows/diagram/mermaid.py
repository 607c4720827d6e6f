"""A definition's state diagram as Mermaid ``stateDiagram-v2`` text, for documentation that renders Mermaid."""

from __future__ import annotations

import re

from workflows.diagram.graph import build_graph, one_line
from workflows.schema import Definition, State

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
    return "".join(_MERMAID_ESCAPES.get(char, char) for char in one_line(text))


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
    graph = build_graph(definition, indicator_process)
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
