"""A fuzz pass with what no schema allows (issue 13 "Done when"): out-of-range numbers, extreme dates and forged
cursors, sent to every operation that takes them, on the seeded service of ``fuzzing.py``. No answer may be a 5xx,
and every refusal must be problem+json.

Each example is a request Schemathesis generates to fit the operation's schema (so that it reaches the route),
as one of the callers, pointed at the seeded data, then made hostile by Hypothesis in one of the places the
operation takes:

* a time parameter (``since``, ``until``, ``due_before``, ``as_of``) gets a time near or past the ends of the
  calendar, at any UTC offset (or none);
* ``cursor`` gets a forged cursor: base64 JSON of huge or negative integers, such times, texts, floats, or bytes
  that do not decode at all;
* ``If-Match`` gets a version of thousands of digits, a huge one, or any text;
* in a JSON body one value is replaced: a date by an extreme date, anything else by a number written as JSON text
  (``1e309``, ``NaN``, ``-Infinity``, integers past 64 bits or of 5,000 digits, and the largest that fit).

Derandomised and bounded like the Schemathesis test (``CDHT_FUZZ_MAX_EXAMPLES`` per operation).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.reliability import fuzzing
from tests.reliability.fuzzing import BASE_URL, FUZZ_SETTINGS, ROLES, SCHEMA, SPEC, Fuzzed, aim

fuzzed = fuzzing.fuzzed  # the seeded service, a fixture

TIME_PARAMETERS = ("since", "until", "due_before", "as_of")
SENTINEL = "__hostile_value__"
DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _takes(operation: dict[str, Any]) -> set[str]:
    names = {p["name"] for p in operation.get("parameters", [])}
    taken = {name for name in (*TIME_PARAMETERS, "cursor", "If-Match") if name in names}
    if "application/json" in operation.get("requestBody", {}).get("content", {}):
        taken.add("json")
    return taken


HOSTILE_OPERATIONS = sorted(
    f"{method.upper()} {path}"
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if method != "parameters" and _takes(operation)
)

# --- what is sent -------------------------------------------------------------------------------------------------

OFFSETS = st.one_of(st.none(), st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))))
EDGE_DAYS = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 3)),
    st.datetimes(min_value=datetime(9999, 12, 29), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)),
    st.datetimes(),
)
TIMES = st.one_of(
    st.sampled_from(["0001-01-01T00:00:00+07:00", "9999-12-31T23:59:59-12:00", "0001-01-01", "9999-12-31"]),
    st.builds(lambda moment, tz: moment.replace(tzinfo=tz).isoformat(), EDGE_DAYS, OFFSETS),
)
NUMBERS = st.one_of(
    st.sampled_from(["1e309", "-1e309", "NaN", "Infinity", "-Infinity", "1e400", "9" * 5000, "-0.0", "1e-400"]),
    st.integers(min_value=2**63, max_value=10**60).map(str),
    st.integers(min_value=-(10**60), max_value=-(2**63) - 1).map(str),
    st.sampled_from([str(2**63 - 1), str(-(2**63)), "1.7976931348623157e308"]),  # the largest that fit: accepted
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
CURSOR_VALUES = st.one_of(
    st.integers(-(10**40), 10**40), TIMES, st.text(max_size=40), st.floats(), st.none(), st.booleans()
)
CURSORS = st.one_of(
    st.lists(CURSOR_VALUES, max_size=3).map(
        lambda values: base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    ),
    st.binary(max_size=60).map(lambda raw: base64.urlsafe_b64encode(raw).decode()),
    st.text(max_size=60),
)
ETAGS = st.one_of(
    st.just('"v' + "9" * 5000 + '"'),
    st.integers(0, 10**40).map(lambda n: f'"v{n}"'),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40),  # what a header value may be
)


@dataclass(frozen=True)
class Hostile:
    times: dict[str, str]
    cursor: str
    etag: str
    number: str
    date: str
    leaf: int  # which value of the JSON body is replaced


HOSTILE = st.builds(
    Hostile,
    times=st.fixed_dictionaries({name: TIMES for name in TIME_PARAMETERS}),
    cursor=CURSORS,
    etag=ETAGS,
    number=NUMBERS,
    date=TIMES,
    leaf=st.integers(0, 10**6),
)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in _leaves(item, (*path, index))]
    return [path]


def spoil_body(body: Any, hostile: Hostile) -> tuple[Any, bool]:
    """The body with one value replaced: a date-like text by an extreme date, anything else by ``SENTINEL`` (which
    the sender turns into the hostile number's JSON text). Returns the body and whether the sentinel is in it."""
    if not isinstance(body, (dict, list)):
        return body, False
    leaves = [path for path in _leaves(body) if path]
    if not leaves:
        if isinstance(body, dict):
            return {**body, "value": SENTINEL}, True
        return [SENTINEL], True
    path = leaves[hostile.leaf % len(leaves)]
    holder = body
    for key in path[:-1]:
        holder = holder[key]
    if isinstance(holder[path[-1]], str) and DATE_LIKE.match(holder[path[-1]]):
        holder[path[-1]] = hostile.date
        return body, False
    holder[path[-1]] = SENTINEL
    return body, True


def make_hostile(case: Any, taken: set[str], place: str, hostile: Hostile) -> bool:
    """Spoil the generated request in ``place``, one of those the operation takes (the others stay fit to pass, so
    that the spoiled one is what is judged); whether the body holds the sentinel."""
    if "If-Match" in taken and place != "If-Match":
        case.headers = {**(case.headers or {}), "If-Match": "*"}  # so that the spoiled place is what is judged
    if place in TIME_PARAMETERS or place == "cursor":
        value = hostile.cursor if place == "cursor" else hostile.times[place]
        case.query = {**(case.query or {}), place: value}
    elif place == "If-Match":
        case.headers = {**(case.headers or {}), "If-Match": hostile.etag}
    else:
        case.body, spoiled = spoil_body(case.body, hostile)
        return spoiled
    return False


@pytest.mark.parametrize("label", HOSTILE_OPERATIONS)
def test_hostile_values_find_no_server_error(fuzzed: Fuzzed, label: str) -> None:
    method, path = label.split(" ", 1)
    operation = SCHEMA[path][method]
    taken = _takes(SPEC["paths"][path][method.lower()])
    problems: dict[str, str] = {}
    statuses: dict[str, int] = {}

    @given(
        role=st.sampled_from(sorted(ROLES)),
        case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        place=st.sampled_from(sorted(taken)),
        hostile=HOSTILE,
    )
    @FUZZ_SETTINGS
    def run(role: str, case: Any, place: str, hostile: Hostile) -> None:
        headers = fuzzed.headers(role)
        aim(case, fuzzed.ids)
        spoiled = make_hostile(case, taken, place, hostile)
        number = hostile.number.encode()

        def rewrite(body: bytes) -> bytes:
            return body.replace(json.dumps(SENTINEL).encode(), number) if spoiled else body

        curl = case.as_curl_command(headers=headers, base_url=BASE_URL)
        where = f"{place} spoiled, as {role}@{ROLES[role]}, number {hostile.number[:40]}:\n  {curl[:2000]}"
        try:
            response = fuzzed.send(case.as_transport_kwargs(base_url=BASE_URL, headers=headers), rewrite)
        except Exception as exc:  # noqa: BLE001 - the app raised: a 500 behind a server; report it with the rest
            problems.setdefault(f"{type(exc).__name__}: {exc}"[:200], where)
            return
        seen = f"{place} {response.status_code}"
        statuses[seen] = statuses.get(seen, 0) + 1
        if response.status_code >= 500:
            problems.setdefault(f"{response.status_code} {response.text[:200]}", where)
        elif response.status_code >= 400 and response.headers.get("content-type") != "application/problem+json":
            problems.setdefault(f"{response.status_code} as {response.headers.get('content-type')}", where)

    run()
    print(f"{label}: {statuses}")
    assert statuses or problems, f"{label}: nothing was sent"
    assert not problems, f"{label} (statuses: {statuses})\n" + "\n".join(f"{k}\n  {v}" for k, v in problems.items())
