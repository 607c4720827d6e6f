"""A page of a list costs the same number of SQL statements whatever its size (issue 12 item 6), and a listed
case is the case read by id.

Statements are counted with SQLAlchemy's ``before_cursor_execute`` event on the app's engine. The cases are spread
over communes under a district that ceased (so unit paths carry successions) and directly under the province;
the newest case waits in ``review_meeting_held``, whose ``submit_dossier`` reads the unit's recognitions, so
every page reads them too.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from tests.helpers import Api
from tests.support.statements import statements_sent

PAGES = (5, 40)


def counting(api: Api) -> AbstractContextManager[list[str]]:
    """The statements the app's engine sends while the block runs."""
    return statements_sent(api.app)


async def _cases(api: Api, count: int) -> None:
    units = [(f"M{i:02}", f"Xã {i}", "commune", "D1" if i % 2 else "P1") for i in range(count)]
    await api.add_units(*units)
    for minute, (code, *_) in enumerate(units[:-1]):
        # One minute apart, so the order of a page is fixed: any page of 5 or more mixes communes under the ceased
        # district and under the province (opened at one time, the order would follow random ids).
        api.clock.set(f"2025-01-20T02:{minute:02}:00")
        await api.ok(await api.open(api.who("commune_leader", code), code, 2025), 201)
    api.clock.set("2025-01-21T02:00:00")  # the newest case, on every page
    newest = api.who("commune_leader", units[-1][0])
    case = await api.ok(await api.open(newest, newest.unit, 2025), 201)
    await api.walk(case["id"], newest, cycle=2025, until="review_meeting_held")


async def test_a_page_costs_the_same_statements_whatever_its_size(api: Api) -> None:
    await _cases(api, max(PAGES) + 1)  # every page has a next one
    auditor = api.who("auditor", "P1")
    for path in ("/v1/cases", "/v1/deadlines", "/v1/audit/events"):
        statements = {}
        for size in PAGES:
            with counting(api) as sent:
                page = await api.ok(await api.get(auditor, path, limit=size))
            assert len(page["items"]) == size and page["next_cursor"], (path, size)
            statements[size] = len(sent)
        assert statements[PAGES[0]] == statements[PAGES[1]], (path, statements)


async def test_a_listed_case_is_the_case_read_by_id(api: Api) -> None:
    await _cases(api, 12)
    auditor = api.who("auditor", "P1")
    page = await api.ok(await api.get(auditor, "/v1/cases", limit=50))
    assert len(page["items"]) == 12
    assert page["items"][0]["state"] == "review_meeting_held"
    assert "submit_dossier" not in page["items"][0]["allowed_transitions"]  # an auditor submits nothing
    leader = api.who("commune_leader", page["items"][0]["unit"])
    own = await api.ok(await api.get(leader, "/v1/cases", unit=leader.unit))
    assert "submit_dossier" in own["items"][0]["allowed_transitions"]  # its guards read the unit's recognitions
    for who, listed in ((auditor, page), (leader, own)):
        for item in listed["items"]:
            assert item == await api.ok(await api.get(who, f"/v1/cases/{item['id']}"))
