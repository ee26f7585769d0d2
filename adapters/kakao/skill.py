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
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from adapters import fetch
from adapters.fetch import GuardedFetcher, Refusals
from adapters.kakao import protocol
from adapters.kakao.protocol import BadPayload, Json, SkillRequest
from core.errors import Failure, InputError
from core.messages import pick_lang, render
from core.service import chat as talk
from core.service.chat import Media, Person

log = logging.getLogger(__name__)

PLATFORM = "kakao"
CALLBACK_DEADLINE_S = 55.0  # a callbackUrl is valid for one minute
# a full queue, or no worker alive yet: worth retrying while a callback can still deliver
_URL_RE = re.compile(r"^https?://\S+$", re.IGNORECASE)
_HELP_WORDS = {"help", "/help", "/start", "도움말", "도움", "?"}
_DELETE_WORDS = {"/deleteface", "얼굴 삭제", "얼굴삭제"}
_FACES_WORDS = {"/faces", "내 얼굴 목록", "얼굴 목록", "얼굴목록"}
_SETFACE = "/setface"
# "내 문장으로 자막" for every meme of the conversation (the person's own): on, off, or whether it is on
_SUBTITLE_WORDS: dict[str, bool | None] = {
    "자막 켜기": True, "자막 on": True, "subtitle on": True, "/subtitle on": True,
    "자막 끄기": False, "자막 off": False, "subtitle off": False, "/subtitle off": False,
    "자막": None, "subtitle": None, "/subtitle": None,
}
#: the utterances of the block that swaps the person's face onto a photo they send ("사진에 내 얼굴")
_SWAP_WORDS = ("사진에 내 얼굴", "/swap")
# Quick replies carry what they mean in extra (-> action.clientExtra): the button's action and, for "다른 짤",
# the request it continues; so a person typing the same words is never taken for a button press.
_EXTRA_KIND, _EXTRA_REQUEST, _EXTRA_INDEX = "fffusion", "request_id", "index"
REFUSALS = Refusals(not_allowed="kakao.url_not_allowed", failed="kakao.download_failed")
_HEADERS = {"User-Agent": "fffusion-kakao/1", "Accept": "image/*"}


@dataclass(frozen=True)
class KakaoConfig:
    secret: str
    public_url: str  # where Kakao's servers fetch /media/<id>.jpg, e.g. https://bot.example.com
    image_hosts: tuple[str, ...]  # photos are downloaded from these hosts only
    # answer (or switch to the callback) after this long; Kakao waits 5 s (FFFUSION_KAKAO_BUDGET_S's default)
    budget_s: float
    callback_hosts: tuple[str, ...]  # the only hosts a callbackUrl may name (FFFUSION_KAKAO_CALLBACK_HOSTS)
    download_timeout_s: float = 10.0
    busy_retry_s: float = 1.0  # with a callback, a full queue is retried this often until the deadline


class KakaoSkill:
    def __init__(self, conversation: talk.Conversation, media: Media, config: KakaoConfig) -> None:
        self.conversation = conversation
        self.media = media
        self.config = config
        self.public_url = config.public_url.rstrip("/")
        self.fetcher = GuardedFetcher(config.image_hosts, conversation.limits.max_image_bytes, REFUSALS,
                                      config.download_timeout_s, _HEADERS)
        self._secret = config.secret.encode()
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
        return web.json_response(protocol.response([protocol.simple_text(render("kakao.slow", person.lang))]))

    async def _answer(
        self, skill: SkillRequest, person: Person, busy: asyncio.Event | None, deadline: float
    ) -> Json:
        """The SkillResponse for one message. Never raises: every failure becomes a text for the person."""
        while True:
            try:
                reply = await self.conversation.handle(person, await self._intent(skill, person))
                if busy is None or reply.failure is not Failure.BUSY or time.monotonic() >= deadline:
                    return await self._response(person, reply)
            except Exception as err:
                return await self._response(person, self.conversation.failure(person, err))
            busy.set()
            await asyncio.sleep(self.config.busy_retry_s)

    async def _intent(self, skill: SkillRequest, person: Person) -> talk.Intent:
        text = skill.utterance.strip()
        kind, request_id = skill.client_extra.get(_EXTRA_KIND), skill.client_extra.get(_EXTRA_REQUEST)
        if kind == talk.Action.NEXT and isinstance(request_id, str):
            return talk.NextIntent(request_id)
        if kind == talk.Action.CHOICES and isinstance(request_id, str):
            return talk.ChoicesIntent(request_id)
        index = skill.client_extra.get(_EXTRA_INDEX)
        if kind == talk.Action.PICK and isinstance(request_id, str) and isinstance(index, int):
            return talk.PickIntent(request_id, index)
        if kind in (talk.Action.DELETE_CONFIRM, talk.Action.DELETE_CANCEL):
            return talk.DeleteIntent(kind == talk.Action.DELETE_CONFIRM)
        url = protocol.secure_image_url(skill.params)
        if url is None and _URL_RE.match(text):
            url = text
        if text.lower().startswith(_SWAP_WORDS):
            if url is None:
                raise InputError("kakao.swap_needs_photo")
            where = url

            def allowed() -> None:  # a photo anywhere but Kakao's hosts is refused before any download
                self.fetcher.check(where)

            return talk.SwapPictureIntent(lambda: self.fetcher.fetch(where), check=allowed)
        if url is not None:
            name = text[len(_SETFACE):].strip() if text.lower().startswith(_SETFACE) else ""
            return talk.PhotoIntent(lambda: self.fetcher.fetch(url), name or None)
        if text.lower() in _HELP_WORDS or text == render("kakao.help_label", person.lang):
            return talk.HelpIntent()
        if text.lower() in _DELETE_WORDS:
            return talk.DeleteIntent()
        if text.lower() in _FACES_WORDS:
            return talk.FacesIntent()
        words = " ".join(text.lower().split())
        if words in _SUBTITLE_WORDS or text == render("kakao.chat_subtitle_label", person.lang):
            return talk.SubtitleIntent(_SUBTITLE_WORDS.get(words, True))
        if text in (render("meme.next_label", "ko"), render("meme.next_label", "en")):
            last = await self.conversation.last_request(person)  # from the store: any instance knows it
            if last is None:
                raise InputError("kakao.no_previous")
            return talk.NextIntent(last)
        if text.lower().startswith(_SETFACE):
            raise InputError("kakao.setface_needs_photo")
        return talk.TextIntent(text)

    async def _response(self, person: Person, reply: talk.Reply) -> Json:
        """A reply as a SkillResponse: its image by URL from the media store, its text, its buttons as quick
        replies (and the help one)."""
        outputs = [protocol.simple_text(reply.text)]
        if reply.image is not None:
            outputs.insert(0, protocol.simple_image(await self._image_url(reply.result_key, reply.image), reply.title))
        if reply.choices:
            outputs.append(await self._carousel(reply))
        if reply.error is not None:
            return protocol.response(outputs)
        replies = [protocol.quick_reply(b.label, b.label, self._extra(b))
                   for b in reply.buttons if b.enabled and b.action is not talk.Action.PICK]
        if reply.request_id is not None and not await self.conversation.own_subtitle(person):
            label = render("kakao.chat_subtitle_label", person.lang)  # a meme: offer the sentence as every 자막
            replies.append(protocol.quick_reply(label, label))
        return protocol.response(outputs, [*replies, self._help_reply(person)])

    async def _image_url(self, result_key: str | None, image: bytes) -> str:
        media_id = await self.media.publish(self.conversation.uploads, result_key, image)
        return f"{self.public_url}/media/{media_id}.jpg"

    async def _carousel(self, reply: talk.Reply) -> Json:
        """A choice as a carousel of basicCards: each meme's thumbnail, its caption, and one button that picks it."""
        picks = [b for b in reply.buttons if b.action is talk.Action.PICK]
        urls = await asyncio.gather(*(self._image_url(c.result_key, c.image) for c in reply.choices))
        cards = [protocol.basic_card(pick.label, choice.caption, url,
                                     protocol.message_button(pick.label, pick.label, self._extra(pick)))
                 for choice, pick, url in zip(reply.choices, picks, urls, strict=True)]
        return protocol.carousel(cards)

    @staticmethod
    def _extra(button: talk.Button) -> Json:
        """What a button means, in its action.clientExtra: a person typing its label is never taken for a press."""
        extra: Json = {_EXTRA_KIND: button.action.value, _EXTRA_REQUEST: button.request_id}
        if button.action is talk.Action.PICK:
            extra[_EXTRA_INDEX] = button.index
        return extra

    async def _deliver(self, task: asyncio.Task[Json], callback_url: str) -> None:
        body = await task
        try:
            # only Kakao's callback hosts, through the public-address-only resolver: a payload cannot make the
            # server POST into its own network
            target = fetch.allowed_url(callback_url, fetch.host_set(self.config.callback_hosts), REFUSALS)
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

    @staticmethod
    def _help_reply(person: Person) -> Json:
        label = render("kakao.help_label", person.lang)
        return protocol.quick_reply(label, label)

