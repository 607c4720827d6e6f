"""Rendering the console's pages: the Jinja2 environment (autoescaped), its filters, the context every page shares,
and the refusal of a domain error as a page or a part of one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from service.api.errors import vietnamese_detail
from service.console import i18n
from service.console.session import load
from service.domain.errors import DomainError
from service.domain.language import Language, bilingual

HERE = Path(__file__).resolve().parent
ENV = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["ddmmyyyy"] = i18n.local_date
ENV.filters["local_time"] = i18n.local_datetime
ENV.filters["tojson_pretty"] = lambda value: json.dumps(value, ensure_ascii=False, indent=1)


def refusal(error: DomainError, lang: str) -> dict[str, Any]:
    """A domain refusal as the template shows it, in the chosen language by the API's own texts
    (``language.bilingual``, ``errors.vietnamese_detail``): the status, what it means, and each reason with its
    code, its message (where the law is the reason, the message carries the citation) and the registered meaning
    of its code."""
    chosen: Language = "en" if lang == "en" else "vi"
    reasons = [
        {
            "code": r.code,
            "message": bilingual(r.code, r.message, r.message_vi)[chosen],
            "meaning": i18n.reason_meaning(lang, r.code),
        }
        for r in error.reasons
    ]
    for reason in reasons:  # the Vietnamese message already leads with the code's meaning
        if reason["meaning"] and reason["message"].startswith(reason["meaning"]):
            reason["meaning"] = None
    detail = error.detail
    if chosen == "vi":
        detail = error.detail_vi or vietnamese_detail(error.status, [r.as_dict() for r in error.reasons])
    return {
        "status": error.status,
        "title": error.title,
        "detail": detail,
        "reasons": reasons,
        "allowed": error.allowed_transitions,
        "extra": error.extra,
    }


def label_of(pair: Any, lang: str) -> str:
    """The chosen language's side of a {vi, en} label (a dict or an object with those fields)."""
    if isinstance(pair, dict):
        return str(pair.get("en") if lang == "en" else pair.get("vi"))
    if hasattr(pair, "vi"):
        return str(pair.en if lang == "en" else pair.vi)
    return "" if pair is None else str(pair)


def context(request: Request, **values: Any) -> dict[str, Any]:
    session = load(request)
    lang = session.lang
    return {
        "request": request,
        "lang": lang,
        "t": lambda key: i18n.t(lang, key),
        "label": lambda pair: label_of(pair, lang),
        "session": session,
        "user": session.claims,
        "csrf": session.csrf,
        "settings": request.app.state.services.settings,
        **values,
    }


def page(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    html = ENV.get_template(template).render(context(request, **values))
    return HTMLResponse(html, status_code=status_code)


def error_page(request: Request, error: DomainError) -> HTMLResponse:
    lang = load(request).lang
    return page(request, "error.html", status_code=error.status, problem=refusal(error, lang))
