"""The web page over HTTP, against the real service: headers, cookies, CSRF, limits, the studio's lock and its
edits reaching the running bot, the face expiry sweep, and the page's weight."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from adapters.web import pages
from adapters.web.routes import CSP, VISITOR_COOKIE
from bot.config import Settings
from bot.web import start_web
from core.catalog.catalog import Meme, load_catalog
from core.catalog.edit import write_catalog
from core.compute.contract import MemeFaces, WorkerConfig
from core.messages import render
from core.recommend.confidence import Calibration
from core.service.service import MemeService, Person
from tests.conftest import ONE_MEME
from tests.faceutil import identity_distance
from tests.kakao.kakaoside import SECRET, free_port
from tests.web.conftest import REPO, STUDIO_TOKEN, Site, alert_of, csrf_of

HUNGRY = "배고파 죽겠다"
SLEEPY = "너무 졸려 죽겠다"
PAYDAY = "월급 들어왔다 신난다"  # chandler-winning: open eyes, a face large enough to judge identity on
PAGE_BUDGET = 50 * 1024  # the try page over the wire, before the meme


async def _page(client: aiohttp.ClientSession, url: str, **headers: str) -> tuple[aiohttp.ClientResponse, str]:
    async with client.get(url, headers=headers) as resp:
        return resp, await resp.text()


def _face_form(csrf: str, text: str, face: bytes | None, filename: str = "me.jpg") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf", csrf)
    form.add_field("text", text)
    if face is not None:
        form.add_field("face", face, filename=filename, content_type="image/jpeg")
    return form


async def test_headers_cookie_and_language(site: Site, client: aiohttp.ClientSession) -> None:
    resp, html = await _page(client, site.base + "/")
    assert resp.status == 200 and resp.headers["Content-Security-Policy"] == CSP
    assert 'lang="ko"' in html and render("web.submit", "ko") in html
    cookie = resp.headers["Set-Cookie"]
    assert f"{VISITOR_COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    for hook in ('type="file" name="face"', 'name="text"', 'type="submit"', 'id="meme"', 'id="next"',
                 'role="alert"'):
        assert hook in html, hook
    async with aiohttp.ClientSession() as fresh:  # behind a TLS proxy the cookie is Secure
        resp, html = await _page(fresh, site.base + "/", **{"X-Forwarded-Proto": "https",
                                                           "Accept-Language": "en-US,en;q=0.9,ko;q=0.5"})
        assert "Secure" in resp.headers["Set-Cookie"]
        assert 'lang="en"' in html and render("web.submit", "en") in html
    async with client.get(site.base + "/healthz") as resp:
        assert resp.status == 200


async def test_a_face_and_a_sentence_make_a_swapped_meme_without_javascript(
    site: Site, client: aiohttp.ClientSession, photo_a: bytes
) -> None:
    _, html = await _page(client, site.base + "/")
    async with client.post(site.base + "/try", data=_face_form(csrf_of(html), PAYDAY, photo_a)) as resp:
        assert resp.status == 200
        html = await resp.text()
    src = re.search(r'<img id="meme" src="([^"]+)"', html).group(1)
    async with client.get(site.base + src) as resp:
        meme = await resp.read()
    assert identity_distance(meme, photo_a) < 0.6  # the person's face is in the meme
    assert render("web.face_saved_hint", "ko") in html  # the page now says the face is saved
    request_id = re.search(r'name="request_id" value="([^"]+)"', html).group(1)
    form = {"csrf": csrf_of(html), "request_id": request_id}
    async with client.post(site.base + "/next", data=form, headers={"Accept": "application/json"}) as resp:
        another = await resp.json()
    assert resp.status == 200 and another["url"] != src and another["request_id"] == request_id


async def test_refusals_show_a_message(site: Site, client: aiohttp.ClientSession, photo_a: bytes) -> None:
    _, html = await _page(client, site.base + "/")
    csrf = csrf_of(html)
    cases = [
        (_face_form(csrf, "", photo_a), 400, render("text.empty", "ko")),
        (_face_form(csrf, HUNGRY, b"this is not a picture", "notes.txt"), 400, render("image.not_image", "ko")),
        (_face_form("forged", HUNGRY, None), 400, render("web.expired", "ko")),
        (_face_form(csrf, "가" * (site.service.limits.max_text_chars + 1), None), 400,
         render("text.too_long", "ko", length=site.service.limits.max_text_chars + 1,
                limit=site.service.limits.max_text_chars)),
    ]
    for form, status, message in cases:
        async with client.post(site.base + "/try", data=form) as resp:
            assert resp.status == status
            assert alert_of(await resp.text()) == message
    # over the size limit: refused while reading, with the limit in the message
    huge = b"\xff\xd8" + b"\0" * site.service.limits.max_image_bytes
    async with client.post(site.base + "/try", data=_face_form(csrf, HUNGRY, huge),
                           headers={"Accept": "application/json"}) as resp:
        assert resp.status == 400
        limit_mb = f"{site.service.limits.max_image_bytes / 1024 / 1024:.0f}"
        assert (await resp.json())["error"] == render("web.too_big", "ko", limit_mb=limit_mb)
    # a POST without the visitor cookie (another site's form) is refused
    async with aiohttp.ClientSession() as stranger, stranger.post(
        site.base + "/try", data=_face_form(csrf, HUNGRY, None)
    ) as resp:
        assert resp.status == 400 and alert_of(await resp.text()) == render("web.expired", "ko")


async def test_forget_and_expiry_delete_everything(site: Site, client: aiohttp.ClientSession,
                                                   photo_b: bytes) -> None:
    _, html = await _page(client, site.base + "/")
    form = _face_form(csrf_of(html), HUNGRY, photo_b)
    async with client.post(site.base + "/try", data=form, headers={"Accept": "application/json"}) as resp:
        shown = await resp.json()
    visitor = next(c.value for c in client.cookie_jar if c.key == VISITOR_COOKIE).partition(".")[0]  # id.signature
    person = Person("web", visitor)
    assert await site.service.list_faces(person)
    assert await site.pages.port.sweep(3600) == 0  # fresh faces stay
    assert await site.pages.port.sweep(0) >= 1  # expired: the person and their result images go
    assert not await site.service.list_faces(person)
    async with client.get(site.base + shown["url"]) as resp:
        assert resp.status == 404
    # the button: everything goes at once
    form = _face_form(csrf_of(html), HUNGRY, photo_b)
    async with client.post(site.base + "/try", data=form) as resp:
        assert resp.status == 200
    async with client.post(site.base + "/forget", data={"csrf": csrf_of(html)}) as resp:
        assert alert_of(await resp.text()) == render("delete.done", "ko")
    assert not await site.service.list_faces(person)


async def test_the_try_page_weighs_under_50_kb(site: Site, client: aiohttp.ClientSession) -> None:
    total = 0
    _, html = await _page(client, site.base + "/", **{"Accept-Encoding": "identity"})
    total += len(html.encode())
    for asset in re.findall(r'(?:href|src)="(/static/[^"]+)"', html):
        async with client.get(site.base + asset) as resp:
            assert resp.status == 200
            total += len(await resp.read())
    assert total <= PAGE_BUDGET, total


async def _login(client: aiohttp.ClientSession, base: str, token: str) -> tuple[int, str]:
    _, html = await _page(client, base + "/studio")
    async with client.post(base + "/studio/login", data={"csrf": csrf_of(html), "token": token}) as resp:
        return resp.status, await resp.text()


async def test_a_wrong_studio_token_gets_nothing_but_the_login_form(site: Site, client: aiohttp.ClientSession
                                                                     ) -> None:
    status, html = await _login(client, site.base, STUDIO_TOKEN[:-1] + "x")
    assert status == 403 and 'name="token"' in html
    assert "data-meme-id" not in html and "poker-table" not in html
    for method, path in [("GET", "/studio/image/poker-table"), ("POST", "/studio/meme/poker-table/delete"),
                         ("POST", "/studio/add")]:
        async with client.request(method, site.base + path) as resp:
            body = await resp.read()
            assert resp.status == 403 and b'name="token"' in body and b"data-meme-id" not in body
    assert "poker-table" in load_catalog(site.catalog_dir).by_id


async def test_no_studio_without_its_token(web_service: MemeService, tmp_path: Path) -> None:
    port = free_port()
    settings = Settings().replace(data_dir=tmp_path, http_host="127.0.0.1", http_port=port)
    server = await start_web(web_service, settings, chat=False)
    try:
        async with aiohttp.ClientSession() as session:
            for path in ("/studio", "/studio/image/poker-table", "/kakao/x"):
                async with session.get(f"http://127.0.0.1:{port}{path}") as resp:
                    assert resp.status == 404, path
            # not a bare "404: Not Found": what the studio needs, in the visitor's language
            for lang, header in (("ko", "ko-KR,ko"), ("en", "en-US,en")):
                async with session.get(f"http://127.0.0.1:{port}/studio", headers={"Accept-Language": header}) as resp:
                    assert render("studio.off", lang) in await resp.text()
            async with session.get(f"http://127.0.0.1:{port}/") as resp:
                assert resp.status == 200
    finally:
        await server.stop()


def _png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "PNG")
    return out.getvalue()


async def test_studio_edits_reach_the_running_bot(site: Site, client: aiohttp.ClientSession) -> None:
    status, html = await _login(client, site.base, STUDIO_TOKEN)
    assert status == 200 and html.count("data-meme-id") == len(site.service.catalog.memes)
    csrf = csrf_of(html)
    # add two faceless pictures with a caption each; a line count that does not match is refused
    form = aiohttp.FormData()
    form.add_field("csrf", csrf)
    for name, color in (("blue-sky.png", (40, 90, 200)), ("green.png", (30, 160, 60))):
        form.add_field("image", _png(color), filename=name, content_type="image/png")
    form.add_field("caption", "파란 하늘을 보며 멍하니 쉬고 있다.\n초록 들판에서 소풍을 즐기고 있다.")
    async with client.post(site.base + "/studio/add", data=form) as resp:
        assert resp.status == 200 and "data-meme-id=\"blue-sky\"" in await resp.text()
    catalog = load_catalog(site.catalog_dir)
    assert catalog.by_id["green"].caption == "초록 들판에서 소풍을 즐기고 있다."
    assert (site.catalog_dir / "catalog.toml.bak").is_file()
    ranked = await site.service.rank("하늘 보면서 멍때리는 중", 1)
    assert ranked[0][0] == "blue-sky"  # the running service ranks the new meme, no restart
    # edit: the new caption is what a sentence now finds
    edit = {"csrf": csrf, "caption": "비 오는 날 창밖을 보며 우울해하고 있다.", "examples": "비 와서 우울해\n",
            "tags": "비, 우울", "faces": "", "subtitle": "비가 오네...\n#FF3030 내 마음에도"}
    async with client.post(site.base + "/studio/meme/green", data=edit) as resp:
        assert resp.status == 200
        assert "#FF3030 내 마음에도</textarea>" in await resp.text()  # the card shows the 자막 as saved
    green = load_catalog(site.catalog_dir).by_id["green"]
    assert green.tags == ("비", "우울")
    assert [(line.text, line.color) for line in green.subtitle] == [("비가 오네...", (255, 255, 255)),
                                                                    ("내 마음에도", (255, 48, 48))]
    assert (await site.service.rank("비 와서 너무 우울해", 1))[0][0] == "green"
    # bad input is refused with a message and the catalog stays as it was
    bad = {**edit, "faces": "zero"}
    async with client.post(site.base + "/studio/meme/green", data=bad) as resp:
        assert resp.status == 400 and render("studio.bad_faces", "ko", value="zero") in await resp.text()
    for meme_id in ("green", "blue-sky"):
        async with client.post(site.base + f"/studio/meme/{meme_id}/delete", data={"csrf": csrf}) as resp:
            assert resp.status == 200 and f'data-meme-id="{meme_id}"' not in await resp.text()
    assert "green" not in load_catalog(site.catalog_dir).by_id
    assert all(m != "green" for m, _, _ in await site.service.rank("비 와서 너무 우울해", 5))


async def test_a_catalog_edited_by_hand_is_served_without_a_restart(site: Site) -> None:
    catalog = load_catalog(site.catalog_dir)
    original = catalog.by_id["rachel-sleepy"]
    changed = dataclasses.replace(original, caption="치킨 배달이 한 시간째 안 와서 멍하니 기다리고 있다.")
    write_catalog(site.catalog_dir, [changed if m.id == original.id else m for m in catalog.memes])
    try:
        top = await site.service.rank("치킨 배달 언제 와 진짜", 1)
        assert top[0][:2] == ("rachel-sleepy", changed.caption)  # no reload call: the service noticed
    finally:
        write_catalog(site.catalog_dir, catalog.memes)
    assert all(caption != changed.caption for _, caption, _ in await site.service.rank("치킨 배달 언제 와", 20))


async def test_fffusion_web_serves_the_page_alone_and_says_where(worker_config: WorkerConfig, tmp_path: Path
                                                                ) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFFUSION_")}
    env.update(FFFUSION_DATA_DIR=str(tmp_path), FFFUSION_CACHE_DIR=str(worker_config.cache_dir),
               FFFUSION_WORKERS="1", FFFUSION_HTTP_HOST="127.0.0.1", FFFUSION_HTTP_PORT=str(port),
               FFFUSION_KAKAO_SECRET=SECRET, PYTHONIOENCODING="utf-8")  # a chat secret set changes nothing here
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "web"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, encoding="utf-8")
    try:
        line = await asyncio.to_thread(proc.stdout.readline)  # printed once it serves
        assert line.strip() == render("web.serving", "ko", url=f"http://127.0.0.1:{port}/"), line
        async with aiohttp.ClientSession() as session:
            for method, path, status in [("GET", "/", 200), ("GET", "/healthz", 200),
                                         ("POST", f"/kakao/{SECRET}", 404), ("GET", "/studio", 404)]:
                async with session.request(method, f"http://127.0.0.1:{port}{path}") as resp:
                    assert resp.status == status, path
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_a_catalog_the_workers_cannot_prepare_leaves_the_previous_one_serving(site: Site) -> None:
    catalog = load_catalog(site.catalog_dir)
    big = site.catalog_dir / "images" / "huge.png"
    big.parent.mkdir(exist_ok=True)
    side = int((site.service.limits.max_image_pixels + 1) ** 0.5) + 1
    Image.new("L", (side, side)).save(big)  # loads as a catalog, but is over the workers' pixel limit
    huge = dataclasses.replace(catalog.memes[0], id="huge", image="images/huge.png", crop=None, faces=())
    write_catalog(site.catalog_dir, [*catalog.memes, huge])
    try:
        ranked = await site.service.rank(SLEEPY, 3)
        assert ranked and ranked[0][0] == "rachel-sleepy"  # still served, from the catalog prepared before
        same_caption = await site.service.rank(huge.caption, 20)
        assert "poker-table" in [m for m, _, _ in same_caption] and "huge" not in [m for m, _, _ in same_caption]
    finally:
        write_catalog(site.catalog_dir, catalog.memes)
        big.unlink()
    assert (await site.service.rank(SLEEPY, 1))[0][0] == "rachel-sleepy"


@pytest.mark.parametrize("store_backend", ["postgres"])
async def test_the_face_sweep_deletes_stale_visitors_on_postgresql(
    service_factory, tmp_path: Path, photo_b: bytes, store_backend: str
) -> None:
    """The sweep the web server runs by itself (every quarter of the face's lifetime, at least every second)
    deletes a visitor whose face expired, on PostgreSQL as on SQLite."""
    service = await service_factory(tmp_path / "pg")
    port = free_port()
    settings = Settings().replace(data_dir=tmp_path / "media", http_host="127.0.0.1", http_port=port,
                                   public_url=f"http://127.0.0.1:{port}", web_face_ttl_s=2)
    server = await start_web(service, settings, chat=False)
    visitor = Person("web", "expiring-visitor")
    try:
        await service.register_face(visitor, photo_b)
        assert await service.list_faces(visitor)
        for _ in range(100):
            if await service.store.find_person(visitor.platform, visitor.user_id) is None:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the visitor whose face expired is still in the database after 10 s")
    finally:
        await server.stop()
        await service.close()


def test_a_card_says_why_the_sample_face_does_not_swap() -> None:
    meme = Meme("m", "설명", faces=(7,))
    two = MemeFaces("m", 100, 100, ((0, 0, 40, 40), (50, 50, 80, 80)), (0,), False, ("swap.pose_mismatch",))
    assert render("studio.why.faces", "ko", faces="7", count=2) in pages.card("ko", meme, two, "v", "c")
    turned = dataclasses.replace(meme, faces=())
    assert render("studio.why.pose", "en") in pages.card("en", turned, two, "v", "c")
    assert render("studio.no_face", "ko") in pages.card("ko", turned, None, "v", "c")


async def test_the_studio_shows_what_catalog_check_finds(site: Site, client: aiohttp.ClientSession) -> None:
    catalog = load_catalog(site.catalog_dir)
    first = catalog.memes[0]
    twin = dataclasses.replace(first, id="twin")  # the same texts: confusable with the first, and never ranked first
    write_catalog(site.catalog_dir, [*catalog.memes, twin])
    try:
        status, html = await _login(client, site.base, STUDIO_TOKEN)
        assert status == 200
        report = await site.service.check_catalog()
    finally:
        write_catalog(site.catalog_dir, catalog.memes)
    assert [{p.first.id, p.second.id} for p in report.confusable] == [{first.id, "twin"}]
    assert "twin" in [u.meme.id for u in report.unreached]
    summary = render("catalog.check.summary", "ko", memes=len(catalog.memes) + 1, pairs=len(report.confusable),
                     unreached=len(report.unreached))
    section = html[html.index('<details id="check"'):html.index("</details>", html.index('<details id="check"'))]
    assert summary in section
    for pair in report.confusable:
        assert f'href="#m-{pair.first.id}"' in section and f'href="#m-{pair.second.id}"' in section
    for miss in report.unreached:
        assert f'href="#m-{miss.meme.id}"' in section



async def test_a_choice_is_three_pictures_and_a_pick_is_swapped(
    site: Site, client: aiohttp.ClientSession, photo_a: bytes
) -> None:
    site.service.calibration = Calibration(one_at=2.0, fits_at=0.0)  # unsure of every sentence
    try:
        _, html = await _page(client, site.base + "/")
        async with client.post(site.base + "/try", data=_face_form(csrf_of(html), HUNGRY, photo_a)) as resp:
            assert resp.status == 200
            html = await resp.text()
        assert render("meme.choose", "ko") in html and re.search(r'<section id="result"[^>]* hidden>', html)
        forms = re.findall(r'<form class="choice" method="post" action="/pick">(.*?)</form>', html)
        assert len(forms) == 3
        pictures = [re.search(r'<img src="([^"]+)"', f).group(1) for f in forms]
        for src in pictures:
            async with client.get(site.base + src) as resp:
                assert resp.status == 200 and resp.content_type == "image/jpeg"
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', forms[0]))
        async with client.post(site.base + "/pick", data=fields, headers={"Accept": "application/json"}) as resp:
            picked = await resp.json()
        assert resp.status == 200 and picked["choices"] == [] and picked["url"] not in pictures
        assert picked["caption"] in forms[0]
        async with client.get(site.base + picked["url"]) as resp:
            assert identity_distance(await resp.read(), photo_a) < 0.6
        # with the script: the same choice as JSON, and its "다른 짤" brings the next three
        form = {"csrf": fields["csrf"], "request_id": fields["request_id"]}
        async with client.post(site.base + "/choices", data=form, headers={"Accept": "application/json"}) as resp:
            more = await resp.json()
        assert len(more["choices"]) == 3 and not {c["caption"] for c in more["choices"]} & {picked["caption"]}
    finally:
        site.service.calibration = ONE_MEME
