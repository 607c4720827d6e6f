"""The registry of reason codes as the README shows it, written from ``workflows/reasons.py``.

``registry_markdown()`` is the section between the README's ``<!-- reasons:begin -->`` and ``<!-- reasons:end -->``
markers; ``python -m workflows.reasons_readme README.md`` (``make readme``) writes it there, and
``tests/workflows/test_reasons.py`` fails when the README is not in step with the registry.
"""

from __future__ import annotations

import sys
from pathlib import Path

from workflows.reasons import REASONS

BEGIN, END = "<!-- reasons:begin -->", "<!-- reasons:end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def registry_markdown() -> str:
    """One table per group, in the registry's order: code, Vietnamese, English."""
    lines: list[str] = [f"<details><summary>The {len(REASONS)} reason codes (generated from workflows/reasons.py)"]
    lines[0] += "</summary>\n"
    group = None
    for entry in REASONS.values():
        if entry.group != group:
            group = entry.group
            lines += ["", f"**{group[:1].upper()}{group[1:]}**", "", "| Code | Tiếng Việt | English |", "|---|---|---|"]
        lines.append(f"| `{entry.code}` | {_cell(entry.vi)} | {_cell(entry.en)} |")
    lines += ["", "</details>"]
    return "\n".join(lines)


def in_step(readme: str) -> str:
    """``readme`` with the registry section rewritten (the markers must be there)."""
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    if not rest or END not in rest:
        raise ValueError(f"the README lacks the markers {BEGIN} and {END}")
    return f"{head}{BEGIN}\n{registry_markdown()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "README.md")
    path.write_text(in_step(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
