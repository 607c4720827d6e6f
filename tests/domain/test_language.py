"""Which language a request asked for (``service.domain.language.negotiate``) and a refusal in both languages."""

from __future__ import annotations

import pytest

from service.domain.language import bilingual, negotiate


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "vi"),
        ("", "vi"),
        ("fr-FR, de;q=0.8", "vi"),  # neither offered: the default
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("vi-VN,vi;q=0.9,en;q=0.8", "vi"),
        ("en;q=0.5, vi;q=0.6", "vi"),
        ("fr, en;q=0.1", "en"),
        ("vi;q=0", "en"),  # Vietnamese refused, English offered
        ("vi;q=0, en;q=0", "vi"),  # both refused: still an answer, in the default
        ("*", "vi"),
        ("*;q=0.5, vi;q=0", "en"),
        ("en;q=abc", "vi"),  # a malformed quality counts as 0: refused
        ("EN-gb", "en"),
        ("en;q=0.8, vi;q=0.8", "en"),  # a tie: the earlier range
    ],
)
def test_negotiate(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


def test_bilingual_texts() -> None:
    # the raiser's own Vietnamese
    assert bilingual("expired", "the token has expired", "mã truy cập đã hết hạn") == {
        "vi": "mã truy cập đã hết hạn",
        "en": "the token has expired",
    }
    # else the code's registered meaning, then the English particulars
    texts = bilingual("evidence_missing", "TC1.1: upload at least one evidence file (Điều 9 k1 b)")
    assert texts["vi"] == "Chỉ tiêu chưa có minh chứng — TC1.1: upload at least one evidence file (Điều 9 k1 b)"
    assert bilingual("evidence_missing", "")["vi"] == "Chỉ tiêu chưa có minh chứng"
