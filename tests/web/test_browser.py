"""Both pages in a real browser (Debian's headless Chromium driven by Playwright): a visitor makes a meme and
another on a phone-sized screen, bad input shows a message, the studio stays shut to a wrong token, and a meme
added in the studio is what a KakaoTalk chat sentence gets, without a restart. Screenshots are saved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.messages import render
from tests.faceutil import identity_distance
from tests.kakao.kakaoside import OpenBuilder, PhotoServer, image_url, text_of
from tests.web.conftest import PHONE, STUDIO_TOKEN, Site, shown_meme

HUNGRY = "배고파 죽겠다"


@pytest.fixture
async def desktop(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    yield await context.new_page()
    await context.close()


async def _image(site: Site, page: Any) -> bytes:
    src = await page.get_attribute("img#meme", "src")
    async with aiohttp.ClientSession() as session, session.get(site.base + src) as resp:
        return await resp.read()


async def test_a_visitor_makes_a_meme_and_another(site: Site, phone: Any, photo_a: bytes, screenshots: Path
                                                  ) -> None:
    await phone.goto(site.base + "/")
    await phone.screenshot(path=screenshots / "try-empty-phone.png", full_page=True)
    await phone.set_input_files("#face",
                                files=[{"name": "me.jpg", "mimeType": "image/jpeg", "buffer": photo_a}])
    await phone.fill("[name=text]", HUNGRY)
    await phone.click("#make button[type=submit]")
    first = await shown_meme(phone, None)
    assert identity_distance(await _image(site, phone), photo_a) < 0.6  # the visitor's face is in the meme
    assert phone.url == site.base + "/"  # the script kept the page in place
    await phone.screenshot(path=screenshots / "try-phone.png", full_page=True)
    await phone.click("#next")
    second = await shown_meme(phone, first)
    assert second != first
    caption = await phone.text_content("#caption")
    assert caption and caption in [m.caption for m in site.service.catalog.memes]


async def test_bad_files_and_empty_sentences_show_a_message(site: Site, phone: Any, screenshots: Path) -> None:
    await phone.goto(site.base + "/")
    alert = phone.locator("[role=alert]")
    await phone.click("#make button[type=submit]")
    await alert.wait_for(state="visible")
    assert await alert.text_content() == render("text.empty", "ko")
    await phone.set_input_files("#face",
                                files=[{"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"not a photo"}])
    await phone.fill("[name=text]", HUNGRY)
    await phone.click("#make button[type=submit]")
    await phone.wait_for_function(
        "(want) => document.querySelector('[role=alert]').textContent === want", arg=render("image.not_image", "ko"))
    assert await phone.locator("#result").is_hidden()
    await phone.screenshot(path=screenshots / "try-error-phone.png", full_page=True)


async def test_the_studio_adds_a_meme_a_chat_sentence_then_finds(
    site: Site, desktop: Any, photo_b: bytes, screenshots: Path, tmp_path: Path
) -> None:
    await desktop.goto(site.base + "/studio")
    await desktop.fill("input[name=token]", STUDIO_TOKEN[:-1] + "x")
    await desktop.click("button[type=submit]")
    await desktop.wait_for_selector("input[name=token]")
    assert await desktop.locator("[data-meme-id]").count() == 0  # a wrong token: the login form, nothing else
    await desktop.fill("input[name=token]", STUDIO_TOKEN)
    await desktop.click("button[type=submit]")
    await desktop.wait_for_selector("[data-meme-id]")
    assert await desktop.locator("[data-meme-id]").count() == len(site.service.catalog.memes)
    assert await desktop.locator("[data-meme-id='poker-table'] rect.face").count() == 6  # its faces, outlined
    await desktop.fill("[name=sentence]", "너무 졸려 죽겠다")
    await desktop.click("#test button[type=submit]")
    await desktop.wait_for_selector("[data-rank='5']")
    assert "rachel-sleepy" in await desktop.text_content("[data-rank='1']")
    await desktop.screenshot(path=screenshots / "studio.png")
    # add a meme: the astronaut, in a situation no other meme is about
    upload = tmp_path / "moving-day.jpg"
    upload.write_bytes(photo_b)
    await desktop.set_input_files("input[type=file][name=image]", str(upload))
    await desktop.fill("#add [name=caption]", "이사 가는 날 짐을 싸느라 정신이 하나도 없다.")
    await desktop.click("#add button[type=submit]")
    card = desktop.locator("[data-meme-id='moving-day']")
    await card.wait_for()
    assert await card.locator("rect.face.default").count() == 1  # her face found, and swapped by default
    await card.scroll_into_view_if_needed()
    await desktop.screenshot(path=screenshots / "studio-added.png")
    await desktop.set_viewport_size(PHONE)
    await desktop.evaluate("window.scrollTo(0, 0)")
    await desktop.screenshot(path=screenshots / "studio-phone.png")
    # a KakaoTalk chat sentence, through the skill on the same running server, gets it with the face swapped
    kakao = PhotoServer()
    await kakao.start()
    try:
        async with aiohttp.ClientSession() as session:
            bot = OpenBuilder(site.base, session, kakao)
            answer = await bot.final("kakao-user", "내일 이사라서 짐 싸느라 죽겠어")
            assert "이사 가는 날 짐을 싸느라" in text_of(answer)
            assert image_url(answer).startswith(site.base + "/media/")
    finally:
        await kakao.close()
