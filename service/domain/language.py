"""The languages the service answers in, and which one a request asked for.

Vietnamese (``vi``) is the service's language and the default; English (``en``) is offered beside it.
``negotiate(accept_language)`` reads an ``Accept-Language`` header (RFC 9110 §12.5.4: language ranges with
quality values; ``vi-VN`` matches ``vi``, ``*`` matches the default) and names the language to answer in. The
error renderer (``service.api.errors``) uses it for problem details, and any other surface that shows the
registered texts (``workflows/reasons.py``) in one language — a console page, say — should call it too, so that
every surface picks the same language for the same header.

``bilingual(code, message, message_vi)`` gives one refusal's text in both languages: the raiser's own texts
when it gave them, else its English particulars with the Vietnamese meaning of its code in front.
"""

from __future__ import annotations

from typing import Literal

from workflows.reasons import describe

Language = Literal["vi", "en"]
LANGUAGES: tuple[Language, ...] = ("vi", "en")
DEFAULT_LANGUAGE: Language = "vi"
MAX_RANGES = 32  # an Accept-Language of more ranges is read only this far


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def negotiate(accept_language: str | None) -> Language:
    """The language to answer in: the offered language the header ranks highest (the earlier on a tie), else
    Vietnamese. ``q=0`` refuses a language; a header naming neither language (or none at all) gets Vietnamese."""
    best: tuple[float, int, Language] | None = None
    refused: set[str] = set()
    wildcard: float | None = None
    for position, item in enumerate((accept_language or "").split(",")[:MAX_RANGES]):
        tag, *parameters = item.strip().split(";")
        primary = tag.strip().lower().split("-")[0]
        quality = _quality(parameters)
        if primary == "*":
            wildcard = quality if wildcard is None else wildcard
            continue
        if primary not in LANGUAGES:
            continue
        if quality <= 0.0:
            refused.add(primary)
            continue
        if best is None or quality > best[0]:
            best = (quality, position, primary)  # type: ignore[assignment]
    if best is not None:
        return best[2]
    if wildcard is not None and wildcard > 0.0:
        return next((language for language in LANGUAGES if language not in refused), DEFAULT_LANGUAGE)
    if DEFAULT_LANGUAGE in refused and "en" not in refused:
        return "en"
    return DEFAULT_LANGUAGE


def bilingual(code: str, message: str, message_vi: str | None = None) -> dict[Language, str]:
    """One refusal's text in both languages. ``message`` is the raiser's English (the particulars of this
    refusal); ``message_vi`` its Vietnamese when it wrote one. Without it the Vietnamese is the registered meaning
    of ``code`` followed by the English particulars (the codes, dates and citations in them read the same)."""
    if message_vi:
        return {"vi": message_vi, "en": message}
    entry = describe(code)
    if entry is None:
        return {"vi": message, "en": message}
    if not message or message == entry.en:
        return {"vi": entry.vi, "en": message or entry.en}
    return {"vi": f"{entry.vi} — {message}", "en": message}
