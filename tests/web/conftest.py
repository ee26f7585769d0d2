"""The web page served for real: a pool worker on a copy of the demo catalog (the studio edits it), the real
service, the project's HTTP server with the studio and the KakaoTalk skill on, and, for the browser tests,
Debian's Chromium driven by Playwright."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import DEMO_CATALOG, Settings
from bot.web import WebServer, start_web
from core.catalog.catalog import CATALOG_FILE
from core.compute.contract import WorkerConfig
from core.compute.local import Runtime, WorkerPool
from core.service.service import MemeService
from tests.conftest import ONE_MEME
from tests.kakao.kakaoside import SECRET, free_port

REPO = Path(__file__).resolve().parents[2]
STUDIO_TOKEN = "studio-token-for-tests-0123"
CHROMIUM = Path(os.environ.get("FFFUSION_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: where the browser tests save their screenshots (the README's two are copied from here by hand)
SCREENSHOTS = Path(os.environ.get("FFFUSION_SCREENSHOTS", REPO / "build" / "screenshots"))
PHONE = {"width": 390, "height": 844}


@dataclass
class Site:
    base: str
    server: WebServer
    service: MemeService
    catalog_dir: Path

    @property
    def pages(self) -> Any:
        return self.server.pages


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def alert_of(html: str) -> str:
    found = re.search(r'role="alert"[^>]*>([^<]*)<', html)
    assert found, "no alert element in the page"
    return found.group(1)


@pytest.fixture(scope="session")
def web_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog folder the studio may change: the demo catalog's file (its images ship in packages)."""
    folder = tmp_path_factory.mktemp("web-catalog")
    shutil.copyfile(DEMO_CATALOG / CATALOG_FILE, folder / CATALOG_FILE)
    return folder


@pytest.fixture(scope="session")
async def web_service(
    worker_config: WorkerConfig, web_catalog: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[MemeService]:
    # the session's cache already holds the demo catalog's embeddings and faces: the worker starts quickly
    config = dataclasses.replace(worker_config, catalog_dir=web_catalog)
    pool = WorkerPool(1, config.limits.queue_length, Runtime(config))
    await pool.start()
    service = MemeService(config, tmp_path_factory.mktemp("web-data"), pool=pool)
    service.calibration = ONE_MEME
    await service.start()
    yield service
    await service.close()
    await pool.close()


@pytest.fixture(scope="session")
async def site(web_service: MemeService, web_catalog: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> AsyncIterator[Site]:
    port = free_port()
    settings = Settings().replace(data_dir=tmp_path_factory.mktemp("web-media"), http_host="127.0.0.1", http_port=port,
        public_url=f"http://127.0.0.1:{port}", studio_token=STUDIO_TOKEN, kakao_secret=SECRET,
        kakao_image_hosts=("127.0.0.1",), web_page=True,
        # every test of the session comes from 127.0.0.1; tests/web/test_abuse.py checks these limits on its own
        web_rate_per_address=10_000, studio_logins_per_minute=10_000,
    )
    server = await start_web(web_service, settings)
    yield Site(f"http://127.0.0.1:{port}", server, web_service, web_catalog)
    await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps cookies like a browser (127.0.0.1 included)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """Headless Chromium from Debian's packages; the tests that need it skip, saying why, when it is missing."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("browser tests need Playwright: pip install -e '.[dev]'")
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}: apt-get install -y chromium fonts-nanum")
    async with async_playwright() as playwright:
        try:
            chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Exception as exc:
            pytest.skip(f"Chromium at {CHROMIUM} did not start: {exc}")
        yield chromium
        await chromium.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
async def phone(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                        locale="ko-KR")
    page = await context.new_page()
    errors: list[str] = []
    # script errors and CSP violations; the refusals the tests provoke (HTTP 400) are expected
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    yield page
    await context.close()
    assert not errors, errors  # no CSP violation, no script error


async def shown_meme(page: Any, after: str | None) -> str:
    """Waits until img#meme shows a new, loaded meme; returns its URL."""
    await page.wait_for_function(
        "(old) => { const m = document.querySelector('img#meme');"
        " return m && !document.getElementById('result').hidden && m.complete && m.naturalWidth > 0"
        " && m.getAttribute('src') !== old; }", arg=after or "")
    return await page.get_attribute("img#meme", "src")
