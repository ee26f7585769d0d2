"""Kakao's side of the protocol on loopback: the image CDN with people's photos, the callback receiver, and
Open Builder posting SkillPayloads to the bot."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.loopback import start_loopback

SECRET = "test-secret-0123456789abcdef"


class PhotoServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: list[str] = []
        self.callbacks: dict[str, list[Any]] = {}  # callback id -> bodies POSTed to it
        self._arrived: dict[str, asyncio.Event] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{path.lstrip('/')}"

    def callback_url(self) -> str:
        key = uuid.uuid4().hex
        self.callbacks[key] = []
        self._arrived[key] = asyncio.Event()
        return self.url(f"callback/{key}")

    async def callback(self, url: str, timeout: float = 60) -> Any:
        key = url.rsplit("/", 1)[1]
        await asyncio.wait_for(self._arrived[key].wait(), timeout)
        return self.callbacks[key][0]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/callback/{key}", self._callback)
        app.router.add_get("/{tail:.*}", self._serve)
        self._runner, self.port = await start_loopback(app)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _callback(self, request: web.Request) -> web.Response:
        # like Kakao's: a callback URL is valid once
        key = request.match_info["key"]
        bodies = self.callbacks.get(key)
        if bodies is None:
            raise web.HTTPNotFound()
        bodies.append(json.loads(await request.read()))
        self._arrived[key].set()
        if len(bodies) > 1:
            raise web.HTTPBadRequest(text="callback already used")
        return web.json_response({"taskId": key, "status": "SUCCESS", "message": "OK", "timestamp": 0})

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path_qs)
        name = request.match_info["tail"]
        if name == "redirect":
            raise web.HTTPFound(request.query["to"])
        if name == "huge-length":  # announces more than any limit, sends little
            return web.Response(body=b"x" * 10, headers={"Content-Length": str(1 << 40)})
        if name == "stream":  # no Content-Length: the limit must hold while reading
            resp = web.StreamResponse()
            await resp.prepare(request)
            for _ in range(int(request.query.get("chunks", "64"))):
                await resp.write(b"\0" * 65536)
            return resp
        if name == "slow":
            await asyncio.sleep(float(request.query.get("s", "5")))
        if name not in self.files:
            raise web.HTTPNotFound()
        return web.Response(body=self.files[name], content_type="image/jpeg")


async def wait_ready(session: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes]) -> None:
    """Until a `fffusion run` subprocess answers its health check; fails with its stderr when it exits."""
    for _ in range(600):
        if proc.poll() is not None:
            err = proc.stderr.read().decode()[-3000:] if proc.stderr else "(stderr went to a file)"
            pytest.fail(f"fffusion run exited {proc.returncode}: {err}")
        try:
            async with session.get(base + "/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    pytest.fail("fffusion run did not start listening in 120 s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def payload(user: str, utterance: str, *, params: dict[str, str] | None = None, detail: bool = False,
            extra: dict[str, Any] | None = None, callback: str | None = None) -> dict[str, Any]:
    """A SkillPayload shaped like Open Builder's (fields the bot ignores included)."""
    params = params or {}
    action: dict[str, Any] = {"id": "a1", "name": "skill", "clientExtra": extra, "params": {},
                              "detailParams": {}}
    if detail:  # the value only in detailParams, as some blocks send it
        action["detailParams"] = {k: {"origin": v, "value": v, "groupName": ""} for k, v in params.items()}
    else:
        action["params"] = dict(params)
    request: dict[str, Any] = {
        "timezone": "Asia/Seoul", "params": {"ignoreMe": "true"}, "block": {"id": "b1", "name": "block"},
        "utterance": utterance, "lang": None,
        "user": {"id": user, "type": "botUserKey", "properties": {"botUserKey": user, "isFriend": True}},
    }
    if callback:
        request["callbackUrl"] = callback
    return {"intent": {"id": "i1", "name": "block"}, "userRequest": request,
            "bot": {"id": "bot1", "name": "무한짤봇"}, "action": action}


def secure_image(*urls: str) -> dict[str, str]:
    value = {"privacyAgreement": "Y", "imageQuantity": str(len(urls)),
             "secureUrls": f"List({','.join(urls)})", "expire": "2030-01-01T00:00:00"}
    return {"secureimage": json.dumps(value)}


class OpenBuilder:
    """Plays Kakao i Open Builder: POSTs SkillPayloads to the skill URL and fetches images like Kakao does."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, kakao: PhotoServer,
                 secret: str = SECRET) -> None:
        self.base = base_url.rstrip("/")
        self.skill_url = f"{self.base}/kakao/{secret}"
        self.session = session
        self.kakao = kakao

    async def say(self, user: str, utterance: str, **kwargs: Any) -> dict[str, Any]:
        """The skill's direct answer (a block without callback, unless `callback=` is given)."""
        async with self.session.post(self.skill_url, json=payload(user, utterance, **kwargs)) as resp:
            assert resp.status == 200, f"HTTP {resp.status}: {await resp.text()}"
            return await resp.json()

    async def ask(self, user: str, utterance: str, **kwargs: Any) -> tuple[dict[str, Any], bool]:
        """From a callback-enabled block: the final answer, and whether it came through the callback."""
        callback = self.kakao.callback_url()
        answer = await self.say(user, utterance, callback=callback, **kwargs)
        if answer.get("useCallback"):
            return await self.kakao.callback(callback), True
        return answer, False

    async def final(self, user: str, utterance: str, **kwargs: Any) -> dict[str, Any]:
        return (await self.ask(user, utterance, **kwargs))[0]

    async def image(self, answer: dict[str, Any]) -> bytes:
        async with self.session.get(image_url(answer)) as resp:
            assert resp.status == 200 and resp.content_type == "image/jpeg", f"HTTP {resp.status}"
            return await resp.read()


def outputs(answer: dict[str, Any]) -> list[dict[str, Any]]:
    assert answer["version"] == "2.0"
    out = answer["template"]["outputs"]
    assert 1 <= len(out) <= 3 and len(answer["template"].get("quickReplies", [])) <= 10
    return out


def text_of(answer: dict[str, Any]) -> str:
    return "\n".join(o["simpleText"]["text"] for o in outputs(answer) if "simpleText" in o)


def image_url(answer: dict[str, Any]) -> str:
    (url,) = [o["simpleImage"]["imageUrl"] for o in outputs(answer) if "simpleImage" in o]
    return url


def quick_reply(answer: dict[str, Any], label: str) -> dict[str, Any]:
    (reply,) = [r for r in answer["template"].get("quickReplies", []) if r["label"] == label]
    return reply
