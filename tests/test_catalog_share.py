"""A studio edit on a bot instance reaches a `fffusion worker` on another machine: played by a worker process with
its own catalog folder (the catalog before the edit) and its own cache folder, on a real redis-server. The edited
catalog (its file and its new picture) goes through Redis by version, is prepared once on the worker, and its new
meme is served; a version Redis lost is shared again when a worker asks for it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import shutil
from pathlib import Path

import pytest
from redis.asyncio import Redis

from core.catalog.edit import NewMeme, add_memes, catalog_version, update_meme
from core.compute.contract import WorkerConfig
from core.compute.redis.client import QueuePool
from core.compute.redis.supervisor import run_worker
from core.service.catalogs import FOLDER
from core.service.service import MemeService, Person
from tests.servers import RedisServer

ASKED = "드디어 화성에 도착했다 감격스러워"


async def test_a_studio_edit_reaches_a_worker_with_its_own_catalog_and_cache(
    redis_server: RedisServer, worker_config: WorkerConfig, photo_a: bytes, tmp_path: Path,
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO, logger="core.compute.redis.supervisor")  # the worker process logs at this level
    instance_dir, worker_dir = tmp_path / "instance-catalog", tmp_path / "worker-catalog"
    for folder in (instance_dir, worker_dir):
        shutil.copytree(worker_config.catalog_dir, folder)
    before = (worker_dir / "catalog.toml").read_bytes()
    own = dataclasses.replace(worker_config, catalog_dir=worker_dir, cache_dir=tmp_path / "worker-cache")
    redis = Redis.from_url(redis_server.url)
    await redis.flushall()
    stop, pids = asyncio.Event(), []
    running = asyncio.create_task(run_worker(own, redis_server.url, 1, 20, 0.05, stop, pids.extend))
    pool = QueuePool(redis_server.url, queue_length=8, job_timeout_s=20)
    config = dataclasses.replace(worker_config, catalog_dir=instance_dir, cache_dir=tmp_path / "instance-cache")
    await pool.start()
    service = MemeService(config, tmp_path / "data", pool=pool)
    await service.start()
    try:
        while not (pids and pool.healthy):
            assert not running.done(), running
            await asyncio.sleep(0.2)
        assert (await service.rank(ASKED, 3))[0][0] != "mars"  # the same catalog on both sides: nothing fetched
        assert not (own.cache_dir / FOLDER).exists()

        # the studio adds a meme with a picture of its own on the instance
        add_memes(instance_dir, [NewMeme("mars.jpg", photo_a, "화성에 도착해서 감격하고 있다.", (ASKED,))])
        edited = catalog_version(instance_dir)
        made = await service.make_meme(Person("test", "mars"), ASKED)
        assert made.meme_id == "mars" and made.image[:3] == b"\xff\xd8\xff"
        for _ in range(5):
            assert (await service.rank(ASKED, 3))[0][0] == "mars"
        fetched = own.cache_dir / FOLDER / edited
        assert (fetched / "catalog.toml").read_bytes() == (instance_dir / "catalog.toml").read_bytes()
        assert (fetched / "images" / "mars.jpg").read_bytes() == photo_a
        assert (worker_dir / "catalog.toml").read_bytes() == before  # the worker's own folder is left alone

        # Redis loses the next version (expired, restarted): the worker says so, the instance shares it again
        update_meme(instance_dir, "mars", "화성에 도착해서 너무 감격스럽다.", (ASKED,))
        await service.reload_catalog()
        again = catalog_version(instance_dir)
        assert await redis.delete(f"fffusion:catalog:version:{again}") == 1
        assert (await service.rank(ASKED, 3))[0][0] == "mars"
        assert await redis.exists(f"fffusion:catalog:version:{again}")

        # two instances serving the two versions for a while: each job on the version it names, none prepared again
        for version in (edited, again, edited, again):
            service.jobs.catalog = version  # what the other instance sends
            assert (await service.jobs.rank(ASKED, 3)).memes[0][0] == "mars"
        prepared = re.findall(r"prepared catalog version (\w+)", capfd.readouterr().err)
        assert sorted(prepared) == sorted([edited, again]), prepared
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)
        await service.close()
        await pool.close()
        await redis.aclose()
