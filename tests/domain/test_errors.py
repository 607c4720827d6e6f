"""The named errors: each is its HTTP status class to the API (same status, title and type), carries one reason
code of the registry, and is caught by its name."""

from __future__ import annotations

import pytest

from service.domain import errors
from service.domain.errors import (
    CaseExists,
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Reason,
    StaleVersion,
)
from workflows.reasons import REASONS

STATUS_CLASSES = (
    errors.Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    PreconditionFailed,
    errors.PayloadTooLarge,
    errors.UnsupportedMediaType,
    errors.InvalidPayload,
)


def named_errors() -> list[type[DomainError]]:
    found = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, DomainError) and value.reason_code is not None
    ]
    assert len(found) >= 14, found  # the ones the hierarchy's docstring draws
    return sorted(found, key=lambda cls: cls.__name__)


@pytest.mark.parametrize("named", named_errors(), ids=lambda cls: cls.__name__)
def test_a_named_error_renders_as_its_status_class_and_names_a_registered_code(named: type[DomainError]) -> None:
    (status_class,) = [cls for cls in STATUS_CLASSES if issubclass(named, cls)]
    assert (named.status, named.title, named.type_slug) == (
        status_class.status,
        status_class.title,
        status_class.type_slug,
    )
    assert named.reason_code in REASONS
    assert named.__name__ in (errors.__doc__ or ""), "draw it in the hierarchy of service/domain/errors.py"
    refusal = named("refused", why=["one", "two"])
    assert [reason.as_dict() for reason in refusal.reasons] == [
        {"code": named.reason_code, "message": "one"},
        {"code": named.reason_code, "message": "two"},
    ]


def test_why_takes_one_message_and_keeps_further_reasons_after_it() -> None:
    refusal = StaleVersion("stale", why="read it again", reasons=[Reason("etag_malformed", "and this")])
    assert [(r.code, r.message) for r in refusal.reasons] == [
        ("stale_etag", "read it again"),
        ("etag_malformed", "and this"),
    ]
    assert (refusal.status, refusal.detail) == (412, "stale")


def test_an_http_class_has_no_code_of_its_own_so_why_is_refused() -> None:
    with pytest.raises(TypeError, match="Conflict has no reason code of its own"):
        Conflict("refused", why="which code?")


def test_a_named_error_is_caught_by_its_name_and_by_its_status_class() -> None:
    with pytest.raises(CaseExists):
        raise CaseExists("exists", why="one case per unit, cycle and kind")
    with pytest.raises(Conflict) as caught:
        raise CaseExists("exists", why="one case per unit, cycle and kind")
    assert not isinstance(caught.value, errors.GuardFailed)
