"""The annual results report as its canonical JSON snapshot: the form that is hashed and archived."""

from __future__ import annotations

import json


def report_json(snapshot: dict) -> bytes:
    """The canonical snapshot: sorted keys, no insignificant whitespace, UTF-8 (not \\u escapes), one final newline.

    NaN and infinities are refused (``allow_nan=False``): they are not JSON, and a canonical form must parse anywhere.
    """
    text = json.dumps(snapshot, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text + "\n").encode("utf-8")
