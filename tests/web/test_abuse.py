"""The web page against hostile clients: forms checked before their body is read and capped while it streams,
malformed bodies answered 400 with a message, made-up cookies and dropped cookies, a rate per client address
(and who may name it: FFFUSION_HTTP_TRUSTED_PROXIES), studio token guesses, face numbers like "²", and words
from a link put on the studio page."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.web.routes import VISITOR_COOKIE
from bot.config import Settings
from bot.web import start_web
from core.messages import render
from core.service.service import MemeService
from tests.kakao.kakaoside import free_port
from tests.web.conftest import STUDIO_TOKEN, Site, alert_of, csrf_of

HUNGRY = "배고파 죽겠다"
BOUNDARY = "xXbOuNdArYXx"

MakeSite = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
def own_site(web_service: MemeService, tmp_path: Path) -> MakeSite:
    """A web server of its own (its limits start at zero) with the given settings."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[str]:
        port = free_port()
        settings = Settings().replace(http_host="127.0.0.1", http_port=port, studio_token=STUDIO_TOKEN,
                                       **{"data_dir": tmp_path / f"web{port}", **overrides})
        server = await start_web(web_service, settings, chat=False)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await server.stop()

    return make


async def _visit(client: aiohttp.ClientSession, url: str) -> str:
    """A page's CSRF token (and the visitor cookie, kept by the client)."""
    async with client.get(url) as resp:
        assert resp.status == 200
        return csrf_of(await resp.text())


def _cookie(client: aiohttp.ClientSession) -> str:
    return next(f"{c.key}={c.value}" for c in client.cookie_jar if c.key == VISITOR_COOKIE)


def _part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def _multipart(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


async def _status_line_before_the_body(port: int, path: str, cookie: str, first: bytes, declared: int) -> bytes:
    """Sends the headers of a `declared`-byte body and only `first` of it, then waits for the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nContent-Type: {MULTIPART}\r\n"
                     f"Content-Length: {declared}\r\n\r\n".encode() + first)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 5)  # the body deadline (15 s) is far off
    finally:
        writer.close()


async def test_a_form_is_refused_before_its_body_is_read(site: Site, client: aiohttp.ClientSession) -> None:
    port = int(site.base.rsplit(":", 1)[1])
    # a field ends where the next one begins: the start of a huge photo follows
    forged = _part("csrf", b"forged") + _part("face", b"\xff\xd8" + b"\0" * 64 * 1024, "me.jpg")[:-2]
    # no visitor cookie: nothing of the body is read
    assert (await _status_line_before_the_body(port, "/try", "x=y", forged, 200 << 20)).startswith(b"HTTP/1.1 400")
    # a visitor whose token is wrong, or missing from the front: refused after the first field
    csrf = await _visit(client, site.base + "/")
    for first in (forged, _part("text", HUNGRY.encode()) + _part("csrf", csrf.encode())):
        status = await _status_line_before_the_body(port, "/try", _cookie(client), first, 200 << 20)
        assert status.startswith(b"HTTP/1.1 400"), status


async def test_three_thousand_fields_are_refused_with_a_clear_answer(site: Site, client: aiohttp.ClientSession
                                                                      ) -> None:
    csrf = await _visit(client, site.base + "/")
    limit = Settings().web.max_form_fields
    body = _multipart(_part("csrf", csrf.encode()), _part("text", HUNGRY.encode()),
                      *(_part(f"f{n}", b"x" * 100) for n in range(3000)))
    async with client.post(site.base + "/try", data=body, headers={"Content-Type": MULTIPART}) as resp:
        assert resp.status == 400
        assert alert_of(await resp.text()) == render("web.too_many_fields", "ko", limit=limit)
    urlencoded = "&".join([f"csrf={csrf}", *(f"f{n}=x" for n in range(3000))])
    async with client.post(site.base + "/next", data=urlencoded,
                           headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
        assert resp.status == 400
        assert alert_of(await resp.text()) == render("web.too_many_fields", "ko", limit=limit)


async def test_a_form_over_its_total_is_refused(own_site: MakeSite, client: aiohttp.ClientSession) -> None:
    async with own_site(web_max_form_bytes=100_000) as base:
        csrf = await _visit(client, base + "/")
        body = _multipart(_part("csrf", csrf.encode()), *(_part(f"f{n}", b"x" * 30_000) for n in range(5)))
        async with client.post(base + "/try", data=body, headers={"Content-Type": MULTIPART}) as resp:
            assert resp.status == 400
            assert alert_of(await resp.text()) == render("web.form_too_big", "ko", limit_mb="0")


MALFORMED = [
    (MULTIPART, b"--" + BOUNDARY.encode() + b"\r\nnot a header line\r\n\r\nx\r\n--" + BOUNDARY.encode() + b"--\r\n"),
    (MULTIPART, b"no boundary anywhere"),
    ("multipart/form-data", b"--x\r\n\r\n"),
    ("application/x-www-form-urlencoded; charset=no-such-charset", b"csrf=x&text=y"),
]


@pytest.mark.parametrize("path", ["/try", "/next", "/forget", "/studio/login", "/studio/logout"])
async def test_malformed_bodies_get_400_and_a_message(site: Site, client: aiohttp.ClientSession, path: str
                                                       ) -> None:
    await _visit(client, site.base + "/")
    for content_type, body in MALFORMED:
        async with client.post(site.base + path, data=body, headers={"Content-Type": content_type}) as resp:
            text = await resp.text()
            assert resp.status == 400, (content_type, body, text[:300])
            assert alert_of(text) == render("web.bad_form", "ko"), (content_type, body)


async def test_a_made_up_visitor_cookie_is_not_taken(site: Site, client: aiohttp.ClientSession) -> None:
    made_up = "A" * 32
    async with aiohttp.ClientSession(cookies={VISITOR_COOKIE: made_up}) as stranger:
        async with stranger.get(site.base + "/") as resp:
            assert resp.status == 200
            given = resp.cookies[VISITOR_COOKIE].value  # a new, signed id instead
            assert given.partition(".")[0] != made_up and "." in given
        # the same id with a signature of its own making
        stranger.cookie_jar.update_cookies({VISITOR_COOKIE: made_up + "." + "B" * 22})
        async with stranger.get(site.base + "/") as resp:
            assert resp.cookies[VISITOR_COOKIE].value.partition(".")[0] != made_up
    # a real visitor keeps theirs
    await _visit(client, site.base + "/")
    async with client.get(site.base + "/") as resp:
        assert VISITOR_COOKIE not in resp.cookies


async def test_a_visitor_keeps_their_cookie_across_restarts_and_instances(own_site: MakeSite, tmp_path: Path
                                                                           ) -> None:
    """Without Redis the key is kept in the data folder; FFFUSION_WEB_SECRET makes it the same everywhere."""
    async def kept(client: aiohttp.ClientSession, base: str) -> bool:
        async with client.get(base + "/") as resp:
            return VISITOR_COOKIE not in resp.cookies  # no new id given: the cookie was taken

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        async with own_site(data_dir=tmp_path / "kept") as base:
            await _visit(client, base + "/")
        async with own_site(data_dir=tmp_path / "kept") as base:  # the same data folder after a restart
            assert await kept(client, base)
        async with own_site() as base:  # another data folder, no shared secret: another key
            assert not await kept(client, base)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        async with own_site(web_secret="shared-secret-for-tests") as base:
            await _visit(client, base + "/")
        async with own_site(web_secret="shared-secret-for-tests") as base:
            assert await kept(client, base)


async def _try(base: str, headers: dict[str, str] | None = None) -> int:
    """One meme asked for by a client that drops its cookie every time (a fresh page, then the form)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers=headers) as fresh:
        csrf = await _visit(fresh, base + "/")
        form = aiohttp.FormData()
        form.add_field("csrf", csrf)
        form.add_field("text", "")  # refused by the service at once: the rate counts before it
        async with fresh.post(base + "/try", data=form) as resp:
            return resp.status


async def test_the_rate_is_limited_per_client_address(own_site: MakeSite) -> None:
    async with own_site(web_rate_per_address=3) as base:
        assert [await _try(base) for _ in range(4)] == [400, 400, 400, 429]  # 400: the empty sentence
        # X-Forwarded-For from a client that is not a trusted proxy changes nothing
        assert await _try(base, {"X-Forwarded-For": "203.0.113.9"}) == 429
    async with own_site(web_rate_per_address=2, http_trusted_proxies=("127.0.0.0/8",)) as base:
        # behind a trusted proxy each client counts for itself: the hop the proxy appended (the rightmost) is
        # the client; what the client wrote before it is not believed
        alice = {"X-Forwarded-For": "198.51.100.7, 203.0.113.1"}
        bob = {"X-Forwarded-For": "203.0.113.2"}
        assert [await _try(base, alice) for _ in range(3)] == [400, 400, 429]
        assert await _try(base, bob) == 400
        # IPv6 clients count by their /64: the next address of the same subscriber is no new client
        assert [await _try(base, {"X-Forwarded-For": f"2001:db8:1:2::{n}"}) for n in (1, 2, 3)] == [400, 400, 429]
        assert await _try(base, {"X-Forwarded-For": "2001:db8:1:3::1"}) == 400


async def test_studio_token_guesses_are_throttled(own_site: MakeSite, client: aiohttp.ClientSession) -> None:
    async with own_site(studio_logins_per_minute=3) as base:
        answers = []
        for _ in range(5):
            csrf = await _visit(client, base + "/studio")
            async with client.post(base + "/studio/login", data={"csrf": csrf, "token": "guess" * 4}) as resp:
                answers.append(resp.status)
        assert answers == [403, 403, 403, 429, 429]
        csrf = await _visit(client, base + "/studio")
        async with client.post(base + "/studio/login", data={"csrf": csrf, "token": STUDIO_TOKEN}) as resp:
            assert resp.status == 429  # the right token waits its turn too
            said = alert_of(await resp.text())
            assert said in {render("service.rate_limited", "ko", seconds=n) for n in range(1, 62)}, said


def _notes(html: str) -> dict[str, str]:
    """The studio cards' notes that show ("what was just done to this meme"), by meme id."""
    cards = (re.search(r'id="m-([^"]+)".*<p class="note" role="status">([^<]*)</p>', card, re.S)
             for card in html.split("<article")[1:])
    return {found[1]: found[2] for found in cards if found}


async def test_the_studio_shows_no_words_from_a_link_and_takes_no_superscript_faces(
    site: Site, client: aiohttp.ClientSession
) -> None:
    csrf = await _visit(client, site.base + "/studio")
    async with client.post(site.base + "/studio/login", data={"csrf": csrf, "token": STUDIO_TOKEN}) as resp:
        assert resp.status == 200
        csrf = csrf_of(await resp.text())
    lure = "토큰이 만료됐어요. evil.example 에서 다시 로그인하세요"
    for query in ({"done": "saved", "name": lure}, {"done": "added", "name": f"poker-table,{lure}"},
                  {"done": "deleted", "name": lure}, {"done": "nothing", "name": "poker-table"}):
        async with client.get(site.base + "/studio", params=query) as resp:
            html = await resp.text()
            assert resp.status == 200 and alert_of(html) == "" and lure not in html, query
            assert _notes(html) == {}, query
    async with client.get(site.base + "/studio", params={"done": "saved", "name": "poker-table"}) as resp:
        assert _notes(await resp.text()) == {"poker-table": render("studio.saved", "ko", name="poker-table")}
    async with client.get(site.base + "/studio", params={"done": "deleted", "name": "gone-meme"}) as resp:
        assert alert_of(await resp.text()) == render("studio.deleted", "ko", name="gone-meme")
    edit = {"csrf": csrf, "caption": "포커 테이블", "examples": "", "tags": "", "faces": "²"}
    async with client.post(site.base + "/studio/meme/poker-table", data=edit) as resp:
        assert resp.status == 400
        assert render("studio.bad_faces", "ko", value="²") in await resp.text()
