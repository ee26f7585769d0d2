"""The KakaoTalk skill: Open Builder POSTs each message here and shows the SkillResponse we answer.

Open Builder drops an answer after 5 seconds. The work runs as a task; if it is not done within the time
budget, a callback-enabled block gets `useCallback` at once and the result is POSTed to its callbackUrl
(valid one minute, once); any other block gets a "try again" text.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from adapters.kakao import fetch, protocol
from adapters.kakao.fetch import ImageFetcher
from adapters.kakao.protocol import BadPayload, Json, SkillRequest
from core.errors import FffusionError, InputError, ServiceError
from core.messages import pick_lang, render
from core.service.media import UPLOAD_PLATFORM, MediaStore
from core.service.service import MemeResult, MemeService, Person

log = logging.getLogger(__name__)

PLATFORM = "kakao"
CALLBACK_DEADLINE_S = 55.0  # a callbackUrl is valid for one minute
BUSY_KEYS = frozenset({"service.busy"})  # a full queue: worth retrying while a callback can still deliver
_URL_RE = re.compile(r"^https?://\S+$", re.IGNORECASE)
_HELP_WORDS = {"help", "/help", "/start", "도움말", "도움", "?"}
_SETFACE = "/setface"
# quick reply "다른 짤" carries this in extra (-> action.clientExtra) to name the request it continues
_EXTRA_KIND, _EXTRA_NEXT, _EXTRA_REQUEST = "fffusion", "next", "request_id"


@dataclass(frozen=True)
class KakaoConfig:
    secret: str
    public_url: str  # where Kakao's servers fetch /media/<id>.jpg, e.g. https://bot.example.com
    image_hosts: tuple[str, ...]  # photos are downloaded from these hosts only
    budget_s: float = 3.8  # answer (or switch to the callback) after this long; Kakao waits 5 s
    download_timeout_s: float = 10.0
    busy_retry_s: float = 1.0  # with a callback, a full queue is retried this often until the deadline
    callback_hosts: tuple[str, ...] = ("bot-api.kakao.com",)  # the only hosts a callbackUrl may name


class KakaoSkill:
    def __init__(self, service: MemeService, media: MediaStore, config: KakaoConfig) -> None:
        self.service = service
        self.media = media
        self.config = config
        self.public_url = config.public_url.rstrip("/")
        self.fetcher = ImageFetcher(config.image_hosts, service.limits.max_image_bytes,
                                    config.download_timeout_s)
        self._secret = config.secret.encode()
        self._last: OrderedDict[str, str] = OrderedDict()  # user id -> last request id, for a bare "다른 짤"
        self._callbacks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def add_routes(self, app: web.Application) -> None:
        # every method and path under /kakao/ lands here, so anything but POST /kakao/<secret> is a plain 404
        app.router.add_route("*", "/kakao/{tail:.*}", self.handle)

    async def close(self) -> None:
        for task in list(self._callbacks):
            task.cancel()
        await asyncio.gather(*self._callbacks, return_exceptions=True)
        await self.fetcher.close()
        if self._session is not None:
            await self._session.close()

    async def handle(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        tail = request.match_info["tail"].encode()
        if request.method != "POST" or not hmac.compare_digest(tail, self._secret):
            raise web.HTTPNotFound()
        try:
            skill = protocol.parse_payload(await request.read())
        except BadPayload as exc:
            return web.Response(status=400, text=f"bad skill payload: {exc}\n")
        person = Person(PLATFORM, skill.user_id, pick_lang(skill.lang))
        # with a callback, a full queue defers at once (and is retried) instead of failing
        busy = asyncio.Event() if skill.callback_url else None
        task = asyncio.create_task(self._answer(skill, person, busy, started + CALLBACK_DEADLINE_S))
        waiters: set[asyncio.Future[Any]] = {task}
        if busy is not None:
            waiters.add(asyncio.ensure_future(busy.wait()))
        left = self.config.budget_s - (time.monotonic() - started)
        await asyncio.wait(waiters, timeout=max(0.0, left), return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters - {task}:
            waiter.cancel()
        if task.done():
            return web.json_response(task.result())
        if skill.callback_url:
            self._track(asyncio.create_task(self._deliver(task, skill.callback_url)))
            return web.json_response(protocol.callback_ack(render("kakao.working", person.lang)))
        task.cancel()
        return web.json_response(_text(render("kakao.slow", person.lang)))

    async def _answer(
        self, skill: SkillRequest, person: Person, busy: asyncio.Event | None, deadline: float
    ) -> Json:
        """The SkillResponse for one message. Never raises: every failure becomes a text for the person."""
        while True:
            try:
                return await self._route(skill, person)
            except ServiceError as err:
                if busy is None or err.key not in BUSY_KEYS or time.monotonic() >= deadline:
                    return _text(render(err.key, person.lang, **err.params))
                busy.set()
            except FffusionError as err:
                return _text(render(err.key, person.lang, **err.params))
            except Exception:
                log.exception("kakao skill failed for a request")
                return _text(render("internal", person.lang))
            await asyncio.sleep(self.config.busy_retry_s)

    async def _route(self, skill: SkillRequest, person: Person) -> Json:
        text = skill.utterance.strip()
        extra = skill.client_extra
        if extra.get(_EXTRA_KIND) == _EXTRA_NEXT and isinstance(extra.get(_EXTRA_REQUEST), str):
            return await self._next(person, extra[_EXTRA_REQUEST])
        url = protocol.secure_image_url(skill.params)
        if url is None and _URL_RE.match(text):
            url = text
        if url is not None:
            name = text[len(_SETFACE):].strip() if text.lower().startswith(_SETFACE) else ""
            return await self._setface(person, url, name or None)
        if text.lower() in _HELP_WORDS or text == render("kakao.help_label", person.lang):
            return _text(render("kakao.help", person.lang), [self._help_reply(person)])
        if text in (render("kakao.next_label", "ko"), render("kakao.next_label", "en")):
            last = self._last.get(person.user_id)
            if last is None:
                raise InputError("kakao.no_previous")
            return await self._next(person, last)
        if text.lower().startswith(_SETFACE):
            raise InputError("kakao.setface_needs_photo")
        return await self._result(person, await self.service.make_meme(person, text))

    async def _setface(self, person: Person, url: str, name: str | None) -> Json:
        photo = await self.fetcher.fetch(url)
        reg = await self.service.register_face(person, photo, name)
        media_id = await self.media.put(reg.crop_jpeg)
        lines = [render("kakao.face_saved", person.lang, name=reg.name)]
        lines += [render(key, person.lang) for key in reg.notices]
        image = protocol.simple_image(self._media_url(media_id), reg.name)
        return protocol.response([image, protocol.simple_text("\n".join(lines))], [self._help_reply(person)])

    async def _next(self, person: Person, request_id: str) -> Json:
        # the person skipped the meme shown last (so this goes before next_meme shows another)
        await self.service.feedback(person, request_id, kept=False)
        return await self._result(person, await self.service.next_meme(person, request_id))

    async def _result(self, person: Person, result: MemeResult) -> Json:
        media_id = await self.service.uploaded(UPLOAD_PLATFORM, result.result_key)
        if media_id is None or self.media.path(media_id) is None:
            media_id = await self.media.put(result.image)
            await self.service.remember_upload(UPLOAD_PLATFORM, result.result_key, media_id)
        self._remember(person.user_id, result.request_id)
        text = result.caption
        if result.notice:
            text += "\n\n" + render(result.notice, person.lang)
        image = protocol.simple_image(self._media_url(media_id), result.caption)
        replies = [self._help_reply(person)]
        if result.has_next:
            extra = {_EXTRA_KIND: _EXTRA_NEXT, _EXTRA_REQUEST: result.request_id}
            label = render("kakao.next_label", person.lang)
            replies.insert(0, protocol.quick_reply(label, label, extra))
        return protocol.response([image, protocol.simple_text(text)], replies)

    async def _deliver(self, task: asyncio.Task[Json], callback_url: str) -> None:
        body = await task
        try:
            # only Kakao's callback hosts, through the public-address-only resolver: a payload cannot make the
            # server POST into its own network
            target = fetch.allowed_url(callback_url, fetch.host_set(self.config.callback_hosts))
        except InputError:
            log.warning("kakao callback to a host not in FFFUSION_KAKAO_CALLBACK_HOSTS refused")
            return
        if self._session is None:
            self._session = fetch.public_session(10.0)
        try:
            async with self._session.post(target, json=body, allow_redirects=False) as resp:
                if resp.status >= 300:
                    log.warning("kakao callback answered HTTP %d", resp.status)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("kakao callback failed: %s", exc)

    def _track(self, task: asyncio.Task[None]) -> None:
        self._callbacks.add(task)
        task.add_done_callback(self._callbacks.discard)

    def _remember(self, user_id: str, request_id: str) -> None:
        self._last[user_id] = request_id
        self._last.move_to_end(user_id)
        while len(self._last) > 10_000:
            self._last.popitem(last=False)

    def _media_url(self, media_id: str) -> str:
        return f"{self.public_url}/media/{media_id}.jpg"

    @staticmethod
    def _help_reply(person: Person) -> Json:
        label = render("kakao.help_label", person.lang)
        return protocol.quick_reply(label, label)


def _text(text: str, quick_replies: list[Json] | None = None) -> Json:
    return protocol.response([protocol.simple_text(text)], quick_replies or [])
