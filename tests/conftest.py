"""Fixtures shared across the suite. Heavier platform fixtures live beside their tests."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from importlib import resources
from pathlib import Path

import asyncpg
import pytest
from PIL import Image

import adapters.discord
import adapters.kakao
import adapters.telegram
import adapters.web  # noqa: F401 (the four register their texts)
from bot.config import DEMO_CATALOG
from core import messages
from core.compute.contract import WorkerConfig
from core.compute.local import WorkerPool
from core.limits import Limits
from core.recommend.confidence import Calibration
from core.recommend.embedders import E5Embedder
from core.service.pgstore import PostgresStore
from core.service.service import MemeService
from core.service.store import PeopleStore
from tests.jobs import WithSleep
from tests.servers import PostgresServer, RedisServer, start_postgres, start_redis

REPO = Path(__file__).resolve().parent.parent
messages.STRICT = True  # a message key without a text fails the test that renders it
#: tests not about choices see one meme: a score near a threshold may decide otherwise on another CPU
#: (tests/test_choices.py and each platform's choice test set their own)
ONE_MEME = Calibration(one_at=0.0, fits_at=0.0)


@pytest.fixture(scope="session")
def e5() -> E5Embedder:
    return E5Embedder()


@pytest.fixture(scope="session")
def demo_catalog_dir() -> Path:
    return DEMO_CATALOG


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFFUSION_")}
    env.update(
        FFFUSION_CACHE_DIR=str(tmp_path / "cache"),
        FFFUSION_DATA_DIR=str(tmp_path / "data"),
        PYTHONIOENCODING="utf-8",
    )
    return env


@pytest.fixture
def run_cli(cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=cli_env,
            cwd=REPO,
            timeout=timeout,
        )

    return run


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=95)
    return out.getvalue()


@pytest.fixture(scope="session")
def photo_a() -> bytes:
    """Person A: the woman on the right of insightface's sample group photo (t1.jpg), cropped and enlarged."""
    data = resources.files("insightface").joinpath("data/images/t1.jpg").read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        return _jpeg(img.crop((1040, 190, 1280, 470)).resize((360, 420), Image.Resampling.LANCZOS))


@pytest.fixture(scope="session")
def photo_b() -> bytes:
    """Person B: the astronaut (Eileen Collins, NASA, public domain) from scikit-image, cropped to her head."""
    from skimage import data

    return _jpeg(Image.fromarray(data.astronaut()).crop((60, 0, 360, 320)))


@pytest.fixture(scope="session")
def worker_config(tmp_path_factory: pytest.TempPathFactory) -> WorkerConfig:
    # Generous rate limits: the tests that exercise limits build their own service.
    limits = dataclasses.replace(Limits(), rate_per_minute=10_000)
    return WorkerConfig(catalog_dir=DEMO_CATALOG, cache_dir=tmp_path_factory.mktemp("cache"), limits=limits)


@pytest.fixture(scope="session")
async def shared_pool(worker_config: WorkerConfig) -> AsyncIterator[WorkerPool]:
    """One pool of real workers (real models) for the whole session; services borrow it."""
    pool = WorkerPool(2, worker_config.limits.queue_length, WithSleep(worker_config))
    await pool.start()
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a loopback port for the whole session."""
    try:
        server = start_redis()
    except FileNotFoundError as err:
        pytest.skip(f"needs a real Redis: {err}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL on a loopback port for the whole session (initdb in a temporary folder)."""
    try:
        server = start_postgres()
    except FileNotFoundError as err:
        pytest.skip(f"needs a real PostgreSQL: {err}")
    yield server
    server.stop()


async def postgres_database(server: PostgresServer, name: str) -> str:
    """The URL of database `name` on the server, created empty the first time it is asked for."""
    conn = await asyncpg.connect(server.url())
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname=$1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server.url(name)


@pytest.fixture
def store_backend() -> str:
    """The store the service fixtures use; tests/test_service.py and tests/test_store.py run on both."""
    return "sqlite"


@pytest.fixture
def make_store(store_backend: str, request: pytest.FixtureRequest) -> Callable[[Path], Awaitable[PeopleStore | None]]:
    """A store for a data folder, unopened: None (the service's own SQLite file) or PostgreSQL, one database per
    folder, so that reopening the same folder finds the same people."""

    async def make(data_dir: Path) -> PeopleStore | None:
        if store_backend == "sqlite":
            return None
        server: PostgresServer = request.getfixturevalue("postgres_server")
        name = "t_" + hashlib.sha256(str(data_dir).encode()).hexdigest()[:20]
        return PostgresStore(await postgres_database(server, name))

    return make


@pytest.fixture
def service_factory(
    worker_config: WorkerConfig, shared_pool: WorkerPool, make_store: Callable[[Path], Awaitable[PeopleStore | None]]
) -> Callable[..., Awaitable[MemeService]]:
    """A started service on the shared pool; `config` may change what the service itself reads (limits)."""

    async def make(data_dir: Path, config: WorkerConfig | None = None) -> MemeService:
        service = MemeService(config or worker_config, data_dir, pool=shared_pool, store=await make_store(data_dir))
        service.calibration = ONE_MEME
        await service.start()
        return service

    return make


@pytest.fixture
async def service(
    service_factory: Callable[[Path], Awaitable[MemeService]], tmp_path: Path
) -> AsyncIterator[MemeService]:
    svc = await service_factory(tmp_path / "data")
    yield svc
    await svc.close()
