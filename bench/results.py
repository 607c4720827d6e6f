"""What a benchmark reports: percentiles and latency summaries, ``Report`` (figures, goals met or missed, notes,
profiles; printed as text and saved as the JSON that ``run_all`` turns into RESULTS.md), the command line every
benchmark shares (``base_parser``) with its work directory, and how numbers are printed.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of the values; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "max": max(ms) if ms else math.nan,
    }


@dataclass
class Goal:
    label: str
    target: str
    value: str
    met: bool


@dataclass
class Report:
    """One benchmark's figures: printed as text, saved as JSON for run_all, which writes RESULTS.md."""

    name: str
    title: str
    size: str = ""
    figures: list[list[str]] = field(default_factory=list)  # rows of a table; the first row is the header
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiles: dict[str, list[str]] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    def goal(self, label: str, target: str, value: str, met: bool) -> None:
        self.goals.append(Goal(label, target, value, met))

    def text(self) -> str:
        out = [f"== {self.title} ({self.size})" if self.size else f"== {self.title}"]
        if self.figures:
            widths = [max(len(str(row[i])) for row in self.figures) for i in range(len(self.figures[0]))]
            for row in self.figures:
                out.append("  " + "  ".join(str(cell).rjust(widths[i]) for i, cell in enumerate(row)))
        for g in self.goals:
            out.append(f"  goal {g.label}: {g.target} -> {g.value}: {'MET' if g.met else 'MISSED'}")
        for note in self.notes:
            out.append(f"  note: {note}")
        for title, lines in self.profiles.items():
            out.append(f"  profile: {title}")
            out.extend("    " + line for line in lines)
        if self.load:
            out.append(f"  machine load: {self.load}")
        if self.error:
            out.append(f"  ERROR: {self.error}")
        return "\n".join(out)

    def save(self, path: Path | None) -> None:
        print(self.text(), flush=True)
        self.dump(path)

    def dump(self, path: Path | None) -> None:
        """Write the figures so far (a long benchmark dumps after each step, so an interrupted run keeps them)."""
        if path is not None:
            path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=1, default=str))


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a quick look while developing")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON (for run_all)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark's database afterwards")
    parser.add_argument("--no-profile", action="store_true", help="do not profile a missed goal")
    parser.add_argument("--work-dir", type=Path, help="logs, profiles and data files (default: a temp dir)")
    return parser


def work_dir(args: argparse.Namespace, name: str) -> Path:
    if args.work_dir:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        return args.work_dir
    return Path(tempfile.mkdtemp(prefix=f"cdht-bench-{name}-"))


def fmt(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"
