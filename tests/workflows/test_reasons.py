"""Every reason code a refusal can carry is declared once, in ``workflows/reasons.py``, with its meaning in
Vietnamese and English; nothing declared there is dead."""

from __future__ import annotations

import ast
from pathlib import Path

from workflows.reasons import REASONS
from workflows.reasons_readme import in_step

ROOT = Path(__file__).resolve().parents[2]
REFUSAL_CALLS = {"Reason": 0, "fail": 0, "Verdict": 1, "_refused": 0, "_refuse": 0}  # name -> position of the code
NAMED_ERROR_CODE = "reason_code"  # a named error's code (service/domain/errors.py): ``reason_code = "..."``


def _codes_in(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None  # not e.g. a reader's self.fail
            position = REFUSAL_CALLS.get(name or "")
            if position is not None:
                argument = node.args[position] if len(node.args) > position else None
                argument = argument or next((k.value for k in node.keywords if k.arg == "code"), None)
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str) and argument.value:
                    found.add(argument.value)
        elif isinstance(node, ast.ClassDef):
            for statement in node.body:
                if (
                    isinstance(statement, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == NAMED_ERROR_CODE for t in statement.targets)
                    and isinstance(statement.value, ast.Constant)
                    and isinstance(statement.value.value, str)
                ):
                    found.add(statement.value.value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and key.value == "code"
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                ):
                    found.add(value.value)
    return found


def used_codes() -> dict[str, list[str]]:
    where: dict[str, list[str]] = {}
    for folder in ("service", "workflows"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "reasons.py":
                continue
            for code in _codes_in(ast.parse(path.read_text(encoding="utf-8"))):
                where.setdefault(code, []).append(str(path.relative_to(ROOT)))
    return where


def test_every_code_used_is_registered() -> None:
    unknown = {code: files for code, files in used_codes().items() if code not in REASONS}
    assert not unknown, f"declare these reason codes in workflows/reasons.py (vi + en): {unknown}"


def test_every_registered_code_is_used() -> None:
    dead = sorted(set(REASONS) - set(used_codes()))
    assert not dead, f"these codes are declared in workflows/reasons.py but nothing uses them: {dead}"


def test_every_code_has_both_languages() -> None:
    for entry in REASONS.values():
        assert entry.vi.strip() and entry.en.strip(), entry.code
        assert entry.vi != entry.en, f"{entry.code}: the Vietnamese text is a copy of the English"


def test_the_readme_lists_the_registry() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == in_step(readme), "the README's reason codes are stale: run `make readme` and commit it"
    for entry in REASONS.values():
        assert f"| `{entry.code}` |" in readme, entry.code
