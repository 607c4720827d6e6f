"""The console's "verify everything" over HTTP, in process (both databases): a national auditor gets the page with a
line per range of chains and the result, as the API's full verify reports it; a provincial director is refused
before anything is verified, with the API's reason (``VERIFY_EVERY_CHAIN``) in the language chosen, as the API words
it."""

from __future__ import annotations

import html
import re

from service.demo import seed
from tests.helpers import Api


async def signed_in_as(api: Api, sub: str) -> None:
    token = re.search(r'name="csrf" value="([^"]+)"', (await api.client.get("/console/sign-in")).text)
    assert token and (await api.client.post("/console/sign-in", data={"sub": sub, "csrf": token[1]})).status_code == 303


async def test_verify_everything_shows_each_range_then_the_result(api: Api) -> None:
    await seed(api.settings, migrate_first=False)
    await signed_in_as(api, "auditor")
    page = await api.client.get("/console/audit/verify")
    assert page.status_code == 200 and "content-security-policy" in page.headers
    steps = re.findall(r'<li class="verify-step done" data-range="(\d+)">', page.text)
    assert len(steps) > 1 and page.text.index("verify-step") < page.text.index('id="verify-result"')
    reported = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/audit/verify"))
    assert 'data-ok="true"' in page.text and f": {reported['events_checked']} ·" in page.text

    await signed_in_as(api, "province-director")
    refused = await api.client.get("/console/audit/verify")
    assert refused.status_code == 403 and "not_authorised" in refused.text and "verify-step" not in refused.text
    # The reason in the language chosen, as the API words it for that language (``language.bilingual``).
    director = api.who("province_director", "DEMO-LS")
    for lang in ("vi", "en"):
        await api.client.get(f"/console/language/{lang}")
        shown = html.unescape((await api.client.get("/console/audit/verify")).text)
        answer = await api.client.get("/v1/audit/verify", headers={**director.headers, "accept-language": lang})
        (reason,) = answer.json()["reasons"]
        assert reason["message"] == reason[f"message_{lang}"] and reason["message"] in shown
        assert answer.json()["detail"] in shown
