"""The inbox reads only the cases whose state opens a step one of the person's roles can take
(``authority.acting_states``), page by page, and runs the engine's checks on those alone: for every demo identity,
over the demo data (cases in every state of the commune and district procedures, indicators, evidence), the inbox's
pages list exactly the cases where the engine lets the person act now — a case step (the explain read), an
indicator's step or its evidence — that is, what checking every readable case would list. Both databases."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, true

from service.console import pages
from service.console.caseview import evidence_codes, indicator_steps
from service.demo import USERS, seed
from service.domain import authority
from service.domain.actor import Actor
from service.domain.case_pages import load_case_files
from service.domain.cases.explain import allowed_transitions
from service.persistence.tables import Case
from tests.helpers import Api, Who
from tests.support.apps import build_api
from tests.support.definitions import registry_with_settings


async def every_acting_case(svc: Any, actor: Any, at: Any) -> set[str]:
    """Every readable case where the engine lets ``actor`` act now, each case checked."""
    async with svc.sessions() as session:
        scope = await authority.jurisdiction(session, actor)
        rows = (await session.execute(select(Case).where(authority.readable_cases(scope)))).scalars().all()
        files = await load_case_files(session, svc.registry, list(rows))
    return {
        cf.case.id
        for cf in files
        if allowed_transitions(cf, actor, at) or indicator_steps(cf, actor, at) or evidence_codes(cf, actor, at)
    }


async def test_inbox_lists_exactly_where_the_engine_lets_the_person_act(api: Api, monkeypatch: Any) -> None:
    await seed(api.settings, migrate_first=False)
    svc = api.app.state.services
    at = svc.settings.clock()
    monkeypatch.setattr(pages, "INBOX_PAGE", 2)  # several pages from the demo's cases
    acting_somewhere = 0
    for user in USERS:
        listed: list[str] = []
        cursor, seen_pages = None, 0
        while True:
            todo, on_indicators, cursor = await pages.inbox_page(svc, user.actor, at, cursor)
            listed += [c.id for c in todo] + [c.id for c, _ in on_indicators]
            seen_pages += 1
            if cursor is None:
                break
        expected = await every_acting_case(svc, user.actor, at)
        assert sorted(listed) == sorted(expected), user.sub
        acting_somewhere += bool(expected)
    assert acting_somewhere >= 3  # the comparison is not between empty lists


async def test_the_inbox_pages_through_http(api: Api, monkeypatch: Any) -> None:
    """The page as the browser gets it: the next page's link walks the candidates; a page whose candidates give the
    person nothing to do says so and points on; together the pages list what the engine lets the person do."""
    await seed(api.settings, migrate_first=False)
    svc = api.app.state.services
    monkeypatch.setattr(pages, "INBOX_PAGE", 1)
    # The demo's candidates are exact now (``acting_states`` applies the guards' setting preconditions), so every
    # readable case is made a candidate here: pages whose checks find nothing to do are then walked too.
    monkeypatch.setattr(authority, "acting_states", lambda actor, registry: true())
    client = api.client
    client.headers["accept-language"] = "vi"
    token = re.search(r'name="csrf" value="([^"]+)"', (await client.get("/console/sign-in")).text)[1]
    user = next(u for u in USERS if u.sub == "province-director")
    assert (await client.post("/console/sign-in", data={"sub": user.sub, "csrf": token})).status_code == 303
    listed, texts, path = set(), [], "/console/"
    while path:
        html = (await client.get(path)).text
        texts.append(html)
        listed |= set(re.findall(r'href="/console/cases/([0-9a-f-]{36})"', html.split("<h2>", 1)[0]))
        listed |= set(re.findall(r'class="indicator-todo">.*?href="/console/cases/([0-9a-f-]{36})"', html, re.S))
        found = re.search(r'href="\?cursor=([^"]+)">', html)
        path = f"/console/?cursor={found[1]}" if found else ""
    expected = await every_acting_case(svc, user.actor, svc.settings.clock())
    assert expected and listed == expected and len(texts) > len(expected)  # pages with nothing to do walked too
    assert any("Không có việc nào trong các hồ sơ của trang này" in text for text in texts)


def actor_of(who: Who) -> Actor:
    return Actor(who.sub, who.sub, (who.role,), who.unit, who.org)


async def candidates(api: Api, actor: Any) -> set[str]:
    svc = api.app.state.services
    async with svc.sessions() as session:
        scope = await authority.jurisdiction(session, actor)
        query = select(Case.id).where(authority.acting_states(actor, svc.registry), authority.readable_cases(scope))
        return set((await session.execute(query)).scalars())


async def test_a_step_whose_guard_needs_a_setting_off_in_the_case_brings_no_candidate(api: Api) -> None:
    """``grant_extension`` is the reviewer head's step in ``planning``; its guard ``is_extension_allowed`` needs
    the setting ``extensions_allowed`` (off by default), so a case opened under it off is no candidate."""
    case_id, _ = await api.new_case("C3", 2025)
    head = actor_of(api.reviewers(2025).head)
    assert case_id not in await candidates(api, head)
    assert case_id not in await every_acting_case(api.app.state.services, head, api.settings.clock())


async def test_a_case_opened_with_the_setting_on_is_a_candidate_and_the_engine_agrees(
    database_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    registry = registry_with_settings(tmp_path, extensions_allowed=True)
    async for api in build_api(database_url, tmp_path / "data", registry=registry):
        case_id, _ = await api.new_case("C3", 2025)
        head = actor_of(api.reviewers(2025).head)
        svc = api.app.state.services
        assert case_id in await candidates(api, head)
        assert case_id in await every_acting_case(svc, head, api.settings.clock())
        async with svc.sessions() as session:  # pinned off in the case: no candidate, whatever the defaults say
            case = await session.get(Case, case_id)
            assert case is not None and case.pinned["settings"]["extensions_allowed"] is True
            case.pinned = {**case.pinned, "settings": {**case.pinned["settings"], "extensions_allowed": False}}
            await session.commit()
        assert case_id not in await candidates(api, head)
        assert case_id not in await every_acting_case(svc, head, api.settings.clock())
