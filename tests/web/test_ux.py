"""The try page and the studio as people use them, in a real browser (Debian's Chromium through Playwright) on a
phone and a desktop: the page reads like a native one, forgives mistakes and says what happened. Screenshots land
in build/screenshots/ (looked at by whoever changes these pages)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

from PIL import Image

from core.catalog.catalog import load_catalog
from core.messages import render
from tests.web.conftest import PHONE, STUDIO_TOKEN, Site, shown_meme

DESKTOP = {"width": 1280, "height": 800}
ONE_MORE = "딱 한 판만 더 하자"  # the ranking is sure of it (chandler-onemore)


async def _context(browser: Any, locale: str, phone: bool) -> Any:
    if phone:
        return await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                         locale=locale)
    return await browser.new_context(viewport=DESKTOP, locale=locale)


def _png(color: tuple[int, int, int], size: tuple[int, int] = (320, 240)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


async def test_the_try_page_on_a_phone(site: Site, phone: Any, photo_a: bytes, screenshots: Path) -> None:
    await phone.goto(site.base + "/")
    # Korean wraps between words, never inside one
    assert await phone.evaluate("getComputedStyle(document.body).wordBreak") == "keep-all"
    # the photo is picked with buttons in the page's language, the camera offered on a touch screen
    assert await phone.text_content(".pick label[for=face]") == render("web.pick_photo", "ko")
    assert await phone.locator("label[for=camera]").is_visible()
    assert await phone.get_attribute("#camera", "capture") == "user"
    assert await phone.text_content("#face-name") == render("web.no_photo", "ko")
    # nothing to delete before a face exists
    assert await phone.locator("#forget-box").is_hidden()

    await phone.set_input_files("#face", files=[{"name": "me.jpg", "mimeType": "image/jpeg", "buffer": photo_a}])
    assert await phone.text_content("#face-name") == "me.jpg"
    assert await phone.locator("#face-preview").is_visible()
    await phone.screenshot(path=screenshots / "try-picked-phone.png", full_page=True)

    # a refusal, then a good request: the old refusal goes as soon as the new request starts
    await phone.click("#go")
    alert = phone.locator("#alert")
    await alert.wait_for(state="visible")
    release = asyncio.Event()

    async def slow(route: Any) -> None:
        await release.wait()
        await route.continue_()

    await phone.route("**/try", slow)
    await phone.fill("#text", ONE_MORE)
    await phone.click("#go")
    await phone.wait_for_function("() => document.getElementById('go').disabled")
    assert await alert.is_hidden()  # while the request runs
    release.set()
    await shown_meme(phone, None)
    await phone.unroute("**/try")
    assert await phone.locator("#forget-box").is_visible()  # now there is a face to delete
    assert await phone.locator("label[for=camera]").is_visible()  # another photo may come from the camera too
    assert await phone.locator("#same").is_hidden()

    # another sentence that picks the meme already shown: the page says so instead of seeming to do nothing
    before = await phone.text_content("#caption")
    await phone.fill("#text", "한 판만 더 하고 잘게")
    await phone.click("#go")
    await phone.locator("#same").wait_for(state="visible")  # the same picture, even the same URL (cached)
    assert await phone.text_content("#caption") == before
    assert await phone.text_content("#same") == render("web.same_meme", "ko")
    await phone.screenshot(path=screenshots / "try-same-phone.png", full_page=True)

    # deleting the face asks first
    await phone.click("#forget-box summary")
    await phone.locator("#forget").wait_for(state="visible")
    assert render("web.forget_confirm", "ko") in await phone.text_content("#forget-box")
    await phone.screenshot(path=screenshots / "try-forget-phone.png", full_page=True)
    await phone.click("#forget")
    await phone.wait_for_function(
        "(want) => document.getElementById('alert').textContent === want", arg=render("delete.done", "ko"))
    assert await phone.locator("#forget-box").is_hidden()


async def test_the_try_page_on_an_english_desktop(site: Site, browser: Any, photo_a: bytes, screenshots: Path
                                                  ) -> None:
    context = await _context(browser, "en-US", phone=False)
    page = await context.new_page()
    try:
        await page.goto(site.base + "/")
        assert await page.text_content(".pick label[for=face]") == render("web.pick_photo", "en")
        assert await page.locator("label[for=camera]").is_hidden()  # no camera button with a mouse
        assert await page.locator("#face").bounding_box() is not None
        assert (await page.locator("#face").bounding_box())["width"] <= 1  # the native "Choose File" is unseen
        await page.set_input_files("#face", files=[{"name": "me.jpg", "mimeType": "image/jpeg",
                                                    "buffer": photo_a}])
        await page.fill("#text", "I'm starving")
        await page.click("#go")
        await shown_meme(page, None)
        # the form stays in view beside the meme: another sentence is one click away
        for selector in ("#go", "#text", "#meme"):
            box = await page.locator(selector).bounding_box()
            assert box and box["y"] >= 0 and box["y"] + min(box["height"], 200) <= DESKTOP["height"], selector
        await page.screenshot(path=screenshots / "try-desktop-en.png")
    finally:
        await context.close()


async def _studio(browser: Any, site: Site, phone: bool = False) -> tuple[Any, Any]:
    context = await _context(browser, "ko-KR", phone)
    page = await context.new_page()
    await page.goto(site.base + "/studio")
    await page.fill("input[name=token]", STUDIO_TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_selector("[data-meme-id]")
    return context, page


async def test_the_studio_forgives_mistakes(site: Site, browser: Any, photo_b: bytes, tmp_path: Path,
                                           screenshots: Path) -> None:
    context, page = await _studio(browser, site)
    try:
        # the sentence test shows each meme with its picture
        await page.fill("[name=sentence]", ONE_MORE)
        await page.click("#test button[type=submit]")
        await page.wait_for_selector("[data-rank='5']")
        thumb = page.locator("[data-rank='1'] img")
        await page.wait_for_function("() => document.querySelector(\"[data-rank='1'] img\").naturalWidth > 0")
        assert await thumb.is_visible()

        # two pictures and one caption line: refused, and the typed caption is still there
        astronaut, blank = tmp_path / "astronaut-desk.jpg", tmp_path / "blank-wall.png"
        astronaut.write_bytes(photo_b)
        blank.write_bytes(_png((200, 200, 190)))
        await page.set_input_files("#image", [str(astronaut), str(blank)])
        await page.fill("#caption", "책상 앞에서 일하다가 멍하니 있다.")
        await page.click("#add button[type=submit]")
        await page.wait_for_selector("#alert:not([hidden])")
        said = await page.text_content("#alert")
        assert render("studio.captions_mismatch", "ko", images=2, captions=1) in said
        assert render("studio.pick_again", "ko") in said
        assert await page.input_value("#caption") == "책상 앞에서 일하다가 멍하니 있다."

        # both, a line each: the notes are on the cards the page jumps to; a faceless picture is warned about
        await page.set_input_files("#image", [str(astronaut), str(blank)])
        await page.fill("#caption", "책상 앞에서 일하다가 멍하니 있다.\n하얀 벽만 보고 있다.")
        await page.click("#add button[type=submit]")
        added = page.locator("[data-meme-id='astronaut-desk']")
        await added.wait_for()
        assert await page.locator("#alert").is_hidden()
        assert await added.locator(".note").text_content() == render("studio.added", "ko", count=1,
                                                                      names="astronaut-desk")
        faceless = page.locator("[data-meme-id='blank-wall']")
        assert await faceless.locator(".note").text_content() == render("studio.faceless_added", "ko",
                                                                         names="blank-wall")
        assert await faceless.locator(".badge").text_content() == render("studio.no_face", "ko")
        await added.scroll_into_view_if_needed()
        await page.screenshot(path=screenshots / "studio-added.png")

        # a face number the picture does not have is refused, saying which ones there are
        await added.locator("details.edit > summary").click()
        await added.locator("[name=faces]").fill("7")
        await added.locator("button.primary").click()
        await page.wait_for_selector("#alert:not([hidden])")
        assert await page.text_content("#alert") == render("studio.face_not_found", "ko", count=1, last=0, value="7")
        assert load_catalog(site.catalog_dir).by_id["astronaut-desk"].faces == ()

        # search: a phone-length catalog is found by a word
        await page.fill("#search [name=q]", "하얀 벽")
        await page.click("#search button")
        await page.wait_for_selector(".found:not([hidden])")
        assert await page.locator("[data-meme-id]").count() == 1
        await page.screenshot(path=screenshots / "studio-search.png")

        # deleting asks first, then takes the picture too
        image = site.catalog_dir / load_catalog(site.catalog_dir).by_id["blank-wall"].image
        assert image.is_file()
        card = page.locator("[data-meme-id='blank-wall']")
        await card.locator("details.edit > summary").click()
        confirm = card.locator("details.confirm")
        assert await confirm.locator("button.danger").is_hidden()
        await confirm.locator("summary").click()
        assert render("studio.delete_confirm", "ko") in await confirm.text_content()
        await confirm.scroll_into_view_if_needed()
        await page.screenshot(path=screenshots / "studio-delete-confirm.png")
        await confirm.locator("button.danger").click()
        await page.wait_for_selector("#alert:not([hidden])")
        assert await page.locator("[data-meme-id='blank-wall']").count() == 0
        assert not image.exists()
        await page.goto(site.base + "/studio")
        await page.locator("[data-meme-id='astronaut-desk'] details.edit > summary").click()
        await page.locator("[data-meme-id='astronaut-desk'] details.confirm > summary").click()
        await page.locator("[data-meme-id='astronaut-desk'] details.confirm button.danger").click()
        await page.wait_for_selector("#alert:not([hidden])")
        assert "astronaut-desk" not in load_catalog(site.catalog_dir).by_id
    finally:
        await context.close()


async def test_the_studio_on_a_phone(site: Site, browser: Any, screenshots: Path) -> None:
    context, page = await _studio(browser, site, phone=True)
    try:
        columns = await page.evaluate(
            "getComputedStyle(document.querySelector('.grid')).gridTemplateColumns.split(' ').length")
        assert columns == 2
        height = await page.evaluate("document.documentElement.scrollHeight")
        assert height < 6000, height  # a few screens for the demo catalog, with its search box on top
        assert await page.locator("#search [name=q]").is_visible()
        await page.screenshot(path=screenshots / "studio-phone.png", full_page=True)
    finally:
        await context.close()
