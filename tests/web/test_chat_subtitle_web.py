"""The web page's "내 문장으로 자막" checkbox (issue 28): ticked, the visitor's sentence is the meme's 자막, and the
page remembers the choice for their next visits until they untick it or forget themselves; over HTTP."""

from __future__ import annotations

import aiohttp

from adapters.web.routes import VISITOR_COOKIE
from core.messages import render
from core.service.service import Person
from tests.subtitles import another_subtitle
from tests.web.conftest import Site, alert_of, csrf_of

SLEEPY = "너무 졸려 죽겠다"
TICKED = 'name="subtitle" value="1" checked'


async def _make(client: aiohttp.ClientSession, site: Site, csrf: str, subtitle: bool) -> bytes:
    form = {"csrf": csrf, "text": SLEEPY, **({"subtitle": "1"} if subtitle else {})}
    async with client.post(site.base + "/try", data=form, headers={"Accept": "application/json"}) as resp:
        shown = await resp.json()
        assert resp.status == 200, shown
    async with client.get(site.base + shown["url"]) as resp:
        return await resp.read()


async def _page(client: aiohttp.ClientSession, site: Site) -> str:
    async with client.get(site.base + "/") as resp:
        return await resp.text()


async def test_the_checkbox_is_remembered_for_the_visitor(site: Site, client: aiohttp.ClientSession) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        plain = await _make(other, site, csrf_of(await _page(other, site)), subtitle=False)  # faceless: same meme

    html = await _page(client, site)
    assert TICKED not in html  # off unless asked for
    own = await _make(client, site, csrf_of(html), subtitle=True)
    assert another_subtitle(plain, own)
    html = await _page(client, site)
    assert TICKED in html  # remembered on the next visit
    visitor = Person("web", next(c.value for c in client.cookie_jar if c.key == VISITOR_COOKIE).partition(".")[0])
    assert await site.service.chat_subtitle(visitor, None)

    await _make(client, site, csrf_of(html), subtitle=False)  # unticked: off again, remembered too
    assert TICKED not in await _page(client, site)
    await _make(client, site, csrf_of(html), subtitle=True)
    async with client.post(site.base + "/forget", data={"csrf": csrf_of(html)}) as resp:
        assert alert_of(await resp.text()) == render("delete.done", "ko")
    assert not await site.service.chat_subtitle(visitor, None)  # forgotten with everything else of theirs
    assert TICKED not in await _page(client, site)
