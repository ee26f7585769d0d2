"""Several machines, played on loopback: a real PostgreSQL and redis-server, two `fffusion worker` processes and two
`fffusion run` instances (the KakaoTalk skill, played by Open Builder) that share them. Any instance serves any
request; a worker or an instance killed with -9 loses no answer; a restart of everything keeps every face."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from PIL import Image
from redis.asyncio import Redis

from adapters.web.routes import STUDIO_COOKIE
from core.compute.contract import WorkerConfig
from core.compute.redis import results
from core.messages import render
from tests.conftest import postgres_database
from tests.faceutil import identity_distance
from tests.kakao.kakaoside import (
    SECRET,
    OpenBuilder,
    PhotoServer,
    free_port,
    image_url,
    outputs,
    quick_reply,
    secure_image,
    wait_ready,
)
from tests.kakao.kakaoside import text_of as kakao_text
from tests.servers import PostgresServer, RedisServer
from tests.web.conftest import STUDIO_TOKEN, alert_of, csrf_of

REPO = Path(__file__).resolve().parent.parent
PAYDAY = "월급 들어왔다 신난다"  # the ranking is sure of it: one meme, not a choice
JOB_TIMEOUT_S = 5  # a job lost with a killed worker runs again after this (+2 s)
# what deploy/compose.yaml runs, with the variables every process shares (tests/test_deploy.py holds them equal)
COMMANDS = {"migrate": ("db", "migrate"), "worker": ("worker",), "bot": ("run",)}
SHARED = ("FFFUSION_DATABASE_URL", "FFFUSION_REDIS_URL")
WORKER_PROCESSES = "1"


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # its own session: "kill -9" takes its worker processes too, as a container kill would
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "bot.cli", *args], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=out, start_new_session=True)


def _kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    return proc.wait(60)


@dataclass
class Cluster:
    env: dict[str, str]
    tmp: Path
    session: aiohttp.ClientSession
    photos: PhotoServer
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    instances: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    def base(self, n: int) -> str:
        return f"http://127.0.0.1:{self.ports[n]}"

    def bot(self, n: int) -> OpenBuilder:
        return OpenBuilder(self.base(n), self.session, self.photos)

    async def start_worker(self, n: int) -> None:
        """A `fffusion worker`, once its models are loaded and it takes jobs."""
        log = self.tmp / f"worker{n}.log"
        log.unlink(missing_ok=True)
        proc = _spawn(list(COMMANDS["worker"]), {**self.env, "FFFUSION_WORKERS": WORKER_PROCESSES}, log)
        if n < len(self.workers):
            self.workers[n] = proc
        else:
            self.workers.append(proc)
        for _ in range(900):
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            if "take jobs from the queue" in log.read_text(errors="replace"):
                return
            await asyncio.sleep(0.2)
        pytest.fail("fffusion worker did not take jobs in 180 s")

    async def start_instance(self, n: int) -> None:
        if n == len(self.ports):
            self.ports.append(free_port())
        env = {**self.env, "FFFUSION_DATA_DIR": str(self.tmp / f"instance{n}"),  # nothing on disk is shared
               "FFFUSION_HTTP_PORT": str(self.ports[n]), "FFFUSION_PUBLIC_URL": self.base(n)}
        proc = _spawn(list(COMMANDS["bot"]), env, self.tmp / f"instance{n}.log")
        if n < len(self.instances):
            self.instances[n] = proc
        else:
            self.instances.append(proc)
        await wait_ready(self.session, self.base(n), proc)

    def stop_all(self) -> None:
        for proc in (*self.instances, *self.workers):
            _kill(proc, signal.SIGTERM)


@pytest.fixture(scope="module")
async def cluster(
    redis_server: RedisServer, postgres_server: PostgresServer, worker_config: WorkerConfig,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Cluster]:
    redis = Redis.from_url(redis_server.url)
    await redis.flushall()
    await redis.aclose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFFUSION_")}
    env.update(
        FFFUSION_DATABASE_URL=await postgres_database(postgres_server, "scale"),
        FFFUSION_REDIS_URL=redis_server.url,
        FFFUSION_CACHE_DIR=str(worker_config.cache_dir),  # the catalog the session already prepared
        FFFUSION_WORKERS="1",  # the bot instances run no worker processes anyway
        FFFUSION_JOB_TIMEOUT_S=str(JOB_TIMEOUT_S),
        FFFUSION_HTTP_HOST="127.0.0.1",
        FFFUSION_KAKAO_SECRET=SECRET,
        FFFUSION_KAKAO_BUDGET_S="4.5",
        FFFUSION_RATE_PER_MINUTE="1000",
        FFFUSION_STUDIO_TOKEN=STUDIO_TOKEN,
        FFFUSION_WEB_PAGE="true",  # `fffusion run` serves the try page only when told (issue 30)
        FFFUSION_LOG_LEVEL="INFO",
        PYTHONIOENCODING="utf-8",
    )
    tmp = tmp_path_factory.mktemp("scale")
    migrated = subprocess.run([sys.executable, "-m", "bot.cli", *COMMANDS["migrate"]], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    photos = PhotoServer()
    await photos.start()
    env["FFFUSION_KAKAO_IMAGE_HOSTS"] = f"127.0.0.1:{photos.port}"  # not a default port: named
    # Open Builder's callbacks come back to the same loopback server: an answer over the skill's budget (a busy
    # machine) is POSTed there, not refused as a host not allowed (the request then never got its meme)
    env["FFFUSION_KAKAO_CALLBACK_HOSTS"] = f"127.0.0.1:{photos.port}"
    # a fresh connection per request: instances are killed and restarted, and a kept-alive connection the
    # server has just closed fails the next write ("Cannot write to closing transport")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        cluster = Cluster(env, tmp, session, photos)
        try:
            for n in range(2):
                await cluster.start_worker(n)
            for n in range(2):
                await cluster.start_instance(n)
            yield cluster
        finally:
            for proc in (*cluster.instances, *cluster.workers):
                _kill(proc)
            await photos.close()


async def _swapped_for(bot: OpenBuilder, user: str, text: str, photo: bytes, other: bytes) -> dict:
    """The answer carries the person's face: closer to their photo than to someone else's."""
    answer = await bot.final(user, text)
    assert render("face.not_registered", "ko") not in kakao_text(answer)
    image = await bot.image(answer)
    assert identity_distance(image, photo) < identity_distance(image, other)
    return answer


async def test_any_instance_serves_any_request(cluster: Cluster, photo_a: bytes, photo_b: bytes) -> None:
    cluster.photos.files["a.jpg"] = photo_a
    one, two = cluster.bot(0), cluster.bot(1)
    saved = await one.final("alice", "/setface", params=secure_image(cluster.photos.url("a.jpg")))
    assert render("kakao.face_saved", "ko", name="기본") in kakao_text(saved)

    # a face registered through instance 1 is used by instance 2
    first = await _swapped_for(two, "alice", PAYDAY, photo_a, photo_b)
    # "다른 짤" pressed on instance 1 continues the request made on instance 2
    reply = quick_reply(first, render("meme.next_label", "ko"))
    second = await one.final("alice", reply["messageText"], extra=reply["extra"])
    assert image_url(second) != image_url(first) and kakao_text(second) != kakao_text(first)
    assert render("face.not_registered", "ko") not in kakao_text(second)  # still with alice's face
    # a bare "다른 짤" typed to instance 2 continues from the meme instance 1 showed last
    third = await two.final("alice", reply["messageText"])
    assert image_url(third) not in (image_url(first), image_url(second))
    assert kakao_text(third) not in (kakao_text(first), kakao_text(second))
    # a bad photo fails in a worker, and the person hears why, not a traceback
    cluster.photos.files["bad.jpg"] = b"not an image at all"
    bad = await two.final("alice", "/setface", params=secure_image(cluster.photos.url("bad.jpg")))
    assert render("image.not_image", "ko") in kakao_text(bad)
    # a result image URL from one instance downloads from the other
    for url, other in ((image_url(first), cluster.base(0)), (image_url(second), cluster.base(1))):
        moved = other + "/media/" + url.rsplit("/", 1)[1]
        async with cluster.session.get(moved) as resp:
            assert resp.status == 200 and (await resp.read())[:3] == b"\xff\xd8\xff"


async def test_the_web_page_and_the_studio_through_both_instances(cluster: Cluster, photo_a: bytes) -> None:
    """A page from instance 0 posts to instance 1 ("페이지가 오래됐어요" once, when each instance kept its own CSRF
    key), "내 얼굴 지우기" included, and a studio sign-in holds on both (each once kept its own sessions)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(cluster.base(0) + "/") as resp:
            csrf = csrf_of(await resp.text())
        form = aiohttp.FormData()
        form.add_field("csrf", csrf)
        form.add_field("text", PAYDAY)
        form.add_field("face", photo_a, filename="me.jpg", content_type="image/jpeg")
        json = {"Accept": "application/json"}
        async with browser.post(cluster.base(1) + "/try", data=form, headers=json) as resp:
            shown = await resp.json()
            assert resp.status == 200 and shown["face_saved"], shown
        async with browser.post(cluster.base(0) + "/next", data={"csrf": csrf, "request_id": shown["request_id"]},
                                headers=json) as resp:
            assert resp.status == 200 and (await resp.json())["url"] != shown["url"]
        async with browser.post(cluster.base(1) + "/forget", data={"csrf": csrf}) as resp:
            assert resp.status == 200 and alert_of(await resp.text()) == render("delete.done", "ko")
        async with browser.get(cluster.base(0) + "/") as resp:
            assert render("web.face_saved_hint", "ko") not in await resp.text()  # the face is gone
        # the studio: signed in on one instance, signed in on both; signed out on one, out on both
        async with browser.get(cluster.base(1) + "/studio") as resp:
            login = {"csrf": csrf_of(await resp.text()), "token": STUDIO_TOKEN}
        async with browser.post(cluster.base(0) + "/studio/login", data=login) as resp:
            assert resp.status == 200 and "data-meme-id" in await resp.text()
        async with browser.get(cluster.base(1) + "/studio") as resp:
            page = await resp.text()
            assert "data-meme-id" in page and 'name="token"' not in page
        session = {c.key: c.value for c in browser.cookie_jar if c.key == STUDIO_COOKIE}
        async with browser.post(cluster.base(1) + "/studio/logout", data={"csrf": csrf_of(page)}) as resp:
            assert resp.status == 200
    # the old session cookie, kept anyway, opens nothing on the other instance
    async with aiohttp.ClientSession(cookies=session) as kept, kept.get(cluster.base(0) + "/studio") as resp:
        assert 'name="token"' in await resp.text()


async def test_a_worker_killed_in_a_burst_loses_no_answer(cluster: Cluster) -> None:
    people = [f"burst{n}" for n in range(12)]
    # a sentence no other test here votes on: their "다른 짤" presses teach the ranking, and a near call is a choice
    asks = [asyncio.create_task(cluster.bot(n % 2).final(user, "졸려서 눈이 감겨")) for n, user in enumerate(people)]
    await asyncio.sleep(1.0)  # the burst is being worked on
    assert _kill(cluster.workers[0]) == -signal.SIGKILL
    answers = await asyncio.wait_for(asyncio.gather(*asks), 120)
    for answer in answers:  # every request got its meme, none an error
        assert any("simpleImage" in o for o in outputs(answer)), kakao_text(answer)
        assert image_url(answer).startswith("http://127.0.0.1:")
        assert render("service.worker_died", "ko") not in kakao_text(answer)
    await cluster.start_worker(0)


async def test_an_instance_killed_leaves_the_other_serving(cluster: Cluster, photo_a: bytes, photo_b: bytes) -> None:
    assert _kill(cluster.instances[0]) == -signal.SIGKILL
    await _swapped_for(cluster.bot(1), "alice", "딱 한 판만 더 하자", photo_a, photo_b)
    await cluster.start_instance(0)


async def test_a_restart_of_everything_keeps_every_face(cluster: Cluster, photo_a: bytes, photo_b: bytes) -> None:
    cluster.photos.files["b.jpg"] = photo_b
    await cluster.bot(1).final("bob", "/setface", params=secure_image(cluster.photos.url("b.jpg")))
    cluster.stop_all()
    for n in range(2):
        await cluster.start_worker(n)
    for n in range(2):
        await cluster.start_instance(n)
    await _swapped_for(cluster.bot(0), "bob", "아 진짜 웃겨 ㅋㅋㅋ", photo_b, photo_a)
    await _swapped_for(cluster.bot(1), "alice", "역시 내가 최고지 잘난 척 좀 할게", photo_a, photo_b)


async def test_deleteface_through_one_instance_leaves_nothing_anywhere(
    cluster: Cluster, redis_server: RedisServer, photo_a: bytes
) -> None:
    # her own photo: results are keyed by the face record, and alice's (the same photo) are alice's
    with Image.open(io.BytesIO(photo_a)) as img:
        out = io.BytesIO()
        img.save(out, "JPEG", quality=80)
    cluster.photos.files["c.jpg"] = out.getvalue()
    one, two = cluster.bot(0), cluster.bot(1)
    saved = await one.final("carol", "/setface", params=secure_image(cluster.photos.url("c.jpg")))
    first = await two.final("carol", "월요일 출근하기 싫다")  # no other test here votes on it: one meme, not a choice
    reply = quick_reply(first, render("meme.next_label", "ko"))
    second = await one.final("carol", reply["messageText"], extra=reply["extra"])  # a vote, too
    urls = [image_url(answer) for answer in (saved, first, second)]
    db = await asyncpg.connect(cluster.env["FFFUSION_DATABASE_URL"])
    redis = Redis.from_url(redis_server.url)
    try:
        carol = await db.fetchval("SELECT id FROM people WHERE platform='kakao' AND user_id='carol'")
        keys = [r[0] for r in await db.fetch("SELECT key FROM results WHERE person=$1", carol)]
        # the skipped meme and the kept one
        assert await db.fetchval("SELECT count(*) FROM feedback WHERE person=$1", carol) == 2
        assert await redis.exists("fffusion:rate:kakao:carol")
        # her two memes, in the shared results cache where the worker that made each put it
        assert sum([await redis.exists(results.key_of(k)) for k in keys]) == 2

        yes = quick_reply(await two.final("carol", "/deleteface"), render("delete.yes", "ko"))
        done = await two.final("carol", yes["messageText"], extra=yes["extra"])
        assert kakao_text(done) == render("kakao.delete.done", "ko")

        # PostgreSQL: no row of hers in any table, and none of her images
        assert await db.fetchval("SELECT count(*) FROM people WHERE id=$1", carol) == 0
        for table in ("faces", "requests", "history", "feedback", "results"):
            assert await db.fetchval(f"SELECT count(*) FROM {table} WHERE person=$1", carol) == 0, table
        assert await db.fetchval("SELECT count(*) FROM uploads WHERE result_key = ANY($1::text[])", keys) == 0
        media_ids = [url.rsplit("/", 1)[1].removesuffix(".jpg") for url in urls]
        assert await db.fetchval("SELECT count(*) FROM media WHERE id = ANY($1::text[])", media_ids) == 0
        for url in urls:  # the face crop and both memes, from either instance
            for base in (cluster.base(0), cluster.base(1)):
                async with cluster.session.get(base + "/media/" + url.rsplit("/", 1)[1]) as resp:
                    assert resp.status == 404
        # Redis: neither her results, nor her rate-limit window, nor a job's result with her face in it
        names = [key.decode() async for key in redis.scan_iter()]
        assert not [n for n in names if "carol" in n or any(k in n for k in keys) or n.startswith("arq:result:")]
    finally:
        await db.close()
        await redis.aclose()
