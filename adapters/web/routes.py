"""The web page as a platform: the try page (`/`, anyone: a face photo and a sentence make a meme) and the
studio (`/studio`, whoever runs the bot: the catalog as a grid, edits, uploads, a sentence test).

Plain HTML forms that work without JavaScript; static/app.js keeps the try page in place when it runs. A visitor
is a random id in an HttpOnly cookie and becomes Person("web", id); their face expires after a while. Every
POST carries a CSRF token derived from that id; every page sends a strict Content-Security-Policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Protocol

from aiohttp import BodyPartReader, web
from PIL import Image, ImageOps

from adapters.web import pages
from adapters.web.pages import Markup, hidden
from adapters.web.port import Shown, WebPort
from core.bounded import Bounded
from core.catalog.edit import NewMeme
from core.errors import FffusionError, InputError
from core.messages import render
from core.service.media import Media
from core.service.service import MemeService
from core.service.worker import MemeFaces

log = logging.getLogger(__name__)

MIN_STUDIO_TOKEN = 16
CSP = ("default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
VISITOR_COOKIE = "fffusion_id"
STUDIO_COOKIE = "fffusion_studio"
STUDIO_SESSION_S = 12 * 3600
MAX_STUDIO_FILES = 20  # images per upload in the studio
MAX_FIELD_BYTES = 64 * 1024  # a text field of a form (captions and examples included)
THUMB_SIDE = 480
_VISITOR_RE = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
_STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
_DONE = {"saved": "studio.saved", "deleted": "studio.deleted", "added": "studio.added"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


#: the time (event loop clock) by which an upload's body must have arrived; set by the HTTP server (bot/web.py)
BODY_DEADLINE = web.RequestKey("body_deadline", float)


class WebSettings(Protocol):
    """The settings the web page reads (bot.config.Settings has them)."""

    public_url: str
    studio_token: str
    web_face_ttl_s: int


def lang_of(request: web.Request) -> str:
    """Korean first; English when Accept-Language prefers it to Korean."""
    best, best_q = "ko", 0.0
    for item in request.headers.get("Accept-Language", "").split(","):
        tag, _, params = item.strip().partition(";")
        code = tag.strip().lower()[:2]
        if code not in ("ko", "en"):
            continue
        try:
            q = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            q = 0.0
        if q > best_q:
            best, best_q = code, q
    return best


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, str, bytes]] = field(default_factory=list)  # (field name, file name, data)

    def text(self, name: str) -> str:
        return self.fields.get(name, "")


async def _read_part(part: BodyPartReader, limit: int, too_big: FffusionError) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(256 * 1024):
        data += chunk
        if len(data) > limit:
            raise too_big
    return bytes(data)


async def read_form(request: web.Request, max_file_bytes: int, max_files: int) -> Form:
    """A POSTed form, multipart read as a stream: a file over the limit is refused after limit bytes."""
    form = Form()
    if request.content_type != "multipart/form-data":
        try:
            posted = await request.post()
        except (web.HTTPException, ValueError):
            raise InputError("web.bad_form") from None
        form.fields = {k: v for k, v in posted.items() if isinstance(v, str)}
        return form
    deadline = request.get(BODY_DEADLINE)
    try:
        async with asyncio.timeout_at(deadline):
            await _read_parts(request, form, max_file_bytes, max_files)
    except TimeoutError:
        raise web.HTTPRequestTimeout() from None
    return form


async def _read_parts(request: web.Request, form: Form, max_file_bytes: int, max_files: int) -> None:
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.name:
                continue
            if part.filename is None:
                raw = await _read_part(part, MAX_FIELD_BYTES, InputError("web.bad_form"))
                form.fields[part.name] = raw.decode("utf-8", errors="replace")
                continue
            data = await _read_part(part, max_file_bytes, _upload_too_big(max_file_bytes))
            if data or part.filename:  # an empty file input sends a part with no name and no bytes
                if len(form.files) >= max_files:
                    raise InputError("studio.too_many_files", limit=max_files)
                form.files.append((part.name, part.filename, data))
    except (ValueError, AssertionError, KeyError):
        raise InputError("web.bad_form") from None


def _upload_too_big(limit: int) -> InputError:
    return InputError("web.too_big", limit_mb=f"{limit / 1024 / 1024:.0f}")


class WebPages:
    def __init__(self, service: MemeService, media: Media, settings: WebSettings) -> None:
        self.port = WebPort(service, media)
        self.settings = settings
        self.limits = service.limits
        self._key = secrets.token_bytes(32)  # CSRF tokens and studio sessions last as long as the process
        self._studio_sessions: dict[str, float] = {}
        self._thumbs: Bounded[tuple[str, str], bytes] = Bounded(512)  # studio thumbnails
        self._sweeper: asyncio.Task[None] | None = None
        self._static = {name: resources.files(__package__).joinpath("static", name).read_bytes()
                        for name in _STATIC}
        self.assets = hashlib.sha256(b"".join(self._static.values())).hexdigest()[:10]
        self.studio_enabled = bool(settings.studio_token)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.try_page)
        app.router.add_post("/try", self.try_post)
        app.router.add_post("/next", self.next_post)
        app.router.add_post("/choices", self.choices_post)
        app.router.add_post("/pick", self.pick_post)
        app.router.add_post("/forget", self.forget_post)
        app.router.add_get("/static/{name}", self.static)
        if self.studio_enabled:
            app.router.add_get("/studio", self.studio)
            app.router.add_post("/studio/login", self.login)
            app.router.add_post("/studio/logout", self.logout)
            app.router.add_post("/studio/add", self._studio_only(self.studio_add))
            app.router.add_post("/studio/meme/{id}", self._studio_only(self.studio_update))
            app.router.add_post("/studio/meme/{id}/delete", self._studio_only(self.studio_delete))
            app.router.add_get("/studio/image/{id}", self._studio_only(self.studio_image))

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="web-face-sweep")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def sweep(self) -> int:
        """Deletes the visitors whose face is older than FFFUSION_WEB_FACE_TTL_S (everything of theirs goes)."""
        gone = await self.port.sweep(self.settings.web_face_ttl_s)
        if gone:
            log.info("web: deleted %d visitor(s) whose face expired", gone)
        return gone

    async def _sweep_forever(self) -> None:
        every = max(1.0, min(600.0, self.settings.web_face_ttl_s / 4))
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("web: the face sweep failed")
            await asyncio.sleep(every)

    # visitors, cookies, CSRF, headers
    def _visitor(self, request: web.Request) -> tuple[str, bool]:
        sid = request.cookies.get(VISITOR_COOKIE, "")
        return (sid, False) if _VISITOR_RE.match(sid) else (secrets.token_urlsafe(24), True)

    def _csrf(self, sid: str) -> str:
        return hmac.new(self._key, b"csrf\0" + sid.encode(), hashlib.sha256).hexdigest()[:32]

    def _csrf_ok(self, sid: str, new: bool, form: Form) -> bool:
        return not new and hmac.compare_digest(form.text("csrf").encode(), self._csrf(sid).encode())

    def _secure(self, request: web.Request) -> bool:
        return (request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
                or self.settings.public_url.startswith("https://"))

    def _respond(self, request: web.Request, resp: web.StreamResponse, sid: str, new: bool) -> web.StreamResponse:
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["Cache-Control"] = "no-store"
        if new:
            resp.set_cookie(VISITOR_COOKIE, sid, httponly=True, samesite="Lax", secure=self._secure(request),
                            path="/", max_age=max(self.settings.web_face_ttl_s, 3600))
        return resp

    def _html(self, request: web.Request, body: str, sid: str, new: bool, status: int = 200) -> web.StreamResponse:
        return self._respond(request, web.Response(text=body, status=status, content_type="text/html",
                                                   charset="utf-8"), sid, new)

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        headers = {"Content-Type": _STATIC[name], "Cache-Control": "public, max-age=86400",
                   "X-Content-Type-Options": "nosniff"}
        return web.Response(body=self._static[name], headers=headers)

    # the try page
    def _try_html(self, request: web.Request, sid: str, *, has_face: bool, shown: Shown | None = None,
                  alert: str = "", text: str = "", done: bool = False) -> str:
        """The try page; `alert` is a refusal, or with `done` news of something done (shown calmer)."""
        lang = lang_of(request)
        t = pages.texts(lang, "web.title", "web.lede", "web.face_label", "web.text_label", "web.text_placeholder",
                        "web.submit", "web.working", "web.next", "web.download", "web.forget", "web.footer")
        choosing = bool(shown and (shown.choices or not shown.url))
        hours = max(1, round(self.settings.web_face_ttl_s / 3600))
        face_hint = render("web.face_saved_hint", lang) if has_face else render("web.face_hint", lang, hours=hours)
        title = t.pop("title")
        return pages.page(
            "try.html", lang, title, self.assets, **t, csrf=self._csrf(sid), face_hint=face_hint,
            max_text=self.limits.max_text_chars, text=text,
            alert=alert, alert_hidden=hidden(not alert), alert_kind=" ok" if done else "",
            result_hidden=hidden(shown is None or choosing), meme_url=shown.url if shown else "",
            caption=shown.caption if shown else "", notice=shown.notice if shown else "",
            notice_hidden=hidden(not (shown and shown.notice)), request_id=shown.request_id if shown else "",
            next_hidden=hidden(not (shown and shown.has_next)), choose=render("meme.choices_label", lang),
            choices_hidden=hidden(not choosing), choices_intro=shown.caption if choosing and shown else "",
            choice_list=pages.choices(shown.choices if shown else (), self._csrf(sid), shown.request_id if shown
                                      else ""),
        )

    async def try_page(self, request: web.Request) -> web.StreamResponse:
        sid, new = self._visitor(request)
        person = self.port.person(sid, lang_of(request))
        has_face = not new and await self.port.has_face(person)
        return self._html(request, self._try_html(request, sid, has_face=has_face), sid, new)

    async def _try_action(
        self, request: web.Request, max_files: int, act: Callable[[Form, str], Awaitable[Shown]]
    ) -> web.StreamResponse:
        """Reads the form, checks CSRF, runs `act`; answers JSON to the page's script, a whole page otherwise."""
        sid, new = self._visitor(request)
        lang = lang_of(request)
        wants_json = "application/json" in request.headers.get("Accept", "")
        form = Form()
        try:
            form = await read_form(request, self.limits.max_image_bytes, max_files)
            if not self._csrf_ok(sid, new, form):
                raise InputError("web.expired")
            shown = await act(form, lang)
        except FffusionError as err:  # the form itself: unreadable, too big, or not from this page
            shown = Shown(notice=render(err.key, lang, **err.params), error=err.key)
        if wants_json:
            body: dict[str, object] = {"error": shown.notice} if shown.error else {
                "url": shown.url, "caption": shown.caption, "notice": shown.notice,
                "request_id": shown.request_id, "has_next": shown.has_next, "face_saved": shown.face_saved,
                "face_hint": render("web.face_saved_hint", lang),
                "choices": [{"url": u, "caption": c, "index": i} for u, c, i in shown.choices]}
            return self._respond(request, web.json_response(body, status=shown.status), sid, new)
        has_face = not new and await self.port.has_face(self.port.person(sid, lang))
        page = self._try_html(request, sid, has_face=has_face, shown=None if shown.error else shown,
                              alert=shown.notice if shown.error else "", text=form.text("text"))
        return self._html(request, page, sid, new, shown.status)

    async def try_post(self, request: web.Request) -> web.StreamResponse:
        sid, _ = self._visitor(request)

        async def make(form: Form, lang: str) -> Shown:
            face = next((data for name, _, data in form.files if name == "face"), None)
            return await self.port.make(self.port.person(sid, lang), form.text("text"), face)

        return await self._try_action(request, 1, make)

    async def next_post(self, request: web.Request) -> web.StreamResponse:
        sid, _ = self._visitor(request)

        async def another(form: Form, lang: str) -> Shown:
            return await self.port.next(self.port.person(sid, lang), form.text("request_id"))

        return await self._try_action(request, 0, another)

    async def choices_post(self, request: web.Request) -> web.StreamResponse:
        """The request's next memes to choose from: "골라보기" on a meme, "다른 짤" on a choice."""
        sid, _ = self._visitor(request)

        async def choose(form: Form, lang: str) -> Shown:
            return await self.port.choices(self.port.person(sid, lang), form.text("request_id"))

        return await self._try_action(request, 0, choose)

    async def pick_post(self, request: web.Request) -> web.StreamResponse:
        sid, _ = self._visitor(request)

        async def pick(form: Form, lang: str) -> Shown:
            return await self.port.pick(self.port.person(sid, lang), form.text("request_id"), form.text("index"))

        return await self._try_action(request, 0, pick)

    async def forget_post(self, request: web.Request) -> web.StreamResponse:
        sid, new = self._visitor(request)
        lang = lang_of(request)
        try:
            form = await read_form(request, 0, 0)
            if not self._csrf_ok(sid, new, form):
                raise InputError("web.expired")
        except FffusionError as err:
            page = self._try_html(request, sid, has_face=False, alert=render(err.key, lang, **err.params))
            return self._html(request, page, sid, new, 400)
        said = await self.port.forget(self.port.person(sid, lang))
        return self._html(request, self._try_html(request, sid, has_face=False, alert=said, done=True), sid, new)

    # the studio
    def _studio_session(self, request: web.Request) -> bool:
        token = request.cookies.get(STUDIO_COOKIE, "")
        now = time.time()
        for old in [t for t, until in self._studio_sessions.items() if until < now]:
            del self._studio_sessions[old]
        return bool(token) and token in self._studio_sessions

    def _login_html(self, request: web.Request, sid: str, alert: str = "") -> str:
        lang = lang_of(request)
        return pages.page("login.html", lang, render("studio.title", lang), self.assets, csrf=self._csrf(sid),
                          token_label=render("studio.token_label", lang), login=render("studio.login", lang),
                          alert=alert, alert_hidden=hidden(not alert))

    def _studio_only(self, handler: Handler) -> Handler:
        """Without a studio session, nothing but the login form (403), before the request body is read."""
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not self._studio_session(request):
                sid, new = self._visitor(request)
                return self._html(request, self._login_html(request, sid), sid, new, 403)
            return await handler(request)

        return guarded

    async def login(self, request: web.Request) -> web.StreamResponse:
        sid, new = self._visitor(request)
        form = await read_form(request, 0, 0)
        given = hashlib.sha256(form.text("token").encode()).digest()
        wanted = hashlib.sha256(self.settings.studio_token.encode()).digest()
        if not (self._csrf_ok(sid, new, form) and hmac.compare_digest(given, wanted)):
            alert = render("studio.wrong_token", lang_of(request))
            return self._html(request, self._login_html(request, sid, alert), sid, new, 403)
        token = secrets.token_urlsafe(32)
        self._studio_sessions[token] = time.time() + STUDIO_SESSION_S
        resp = self._respond(request, _see_other("/studio"), sid, new)
        resp.set_cookie(STUDIO_COOKIE, token, httponly=True, samesite="Strict", secure=self._secure(request),
                        path="/studio", max_age=STUDIO_SESSION_S)
        return resp

    async def logout(self, request: web.Request) -> web.StreamResponse:
        sid, new = self._visitor(request)
        form = await read_form(request, 0, 0)
        if self._csrf_ok(sid, new, form):
            self._studio_sessions.pop(request.cookies.get(STUDIO_COOKIE, ""), None)
        resp = self._respond(request, _see_other("/studio"), sid, new)
        resp.del_cookie(STUDIO_COOKIE, path="/studio")
        return resp

    async def studio(self, request: web.Request, alert: str = "", error: bool = False,
                     status: int = 200) -> web.StreamResponse:
        sid, new = self._visitor(request)
        if not self._studio_session(request):
            return self._html(request, self._login_html(request, sid), sid, new)
        lang = lang_of(request)
        done = _DONE.get(request.query.get("done", ""))
        if done and not alert:
            alert = render(done, lang, name=request.query.get("name", ""), names=request.query.get("name", ""),
                           count=request.query.get("count", "1"))
        sentence = request.query.get("sentence", "")
        rows: list[tuple[str, str, float]] = []
        if sentence:
            try:
                rows = await self.port.rank(sentence, 5)
            except FffusionError as err:
                alert, error = render(err.key, lang, **err.params), True
        version, inspected = await self.port.inspect()
        by_id: dict[str, MemeFaces] = {f.meme_id: f for f in inspected}
        csrf = self._csrf(sid)
        cards = "".join(pages.card(lang, m, by_id.get(m.id), version, csrf) for m in self.port.catalog.memes)
        summary = render("studio.summary", lang, memes=len(self.port.catalog.memes),
                         faces=sum(len(f.boxes) for f in inspected),
                         swaps=sum(1 for f in inspected if f.sample_swaps))
        t = pages.texts(lang, "studio.title", "studio.logout", "studio.test_title", "studio.test",
                        "studio.add_title", "studio.add_images", "studio.add_captions", "studio.add",
                        "studio.legend")
        title = t.pop("title")
        page = pages.page(
            "studio.html", lang, title, self.assets, csrf=csrf, sentence=sentence,
            placeholder=render("web.text_placeholder", lang), ranking=pages.ranking(lang, rows),
            cards=Markup(cards), summary=summary, alert=alert, alert_hidden=hidden(not alert),
            alert_kind=" error" if error else " ok", **t,
        )
        return self._html(request, page, sid, new, status)

    async def _studio_change(self, request: web.Request, change: Callable[[Form], Awaitable[str]],
                             max_files: int = 0) -> web.StreamResponse:
        sid, new = self._visitor(request)
        try:
            form = await read_form(request, self.limits.max_image_bytes, max_files)
            if not self._csrf_ok(sid, new, form):
                raise InputError("web.expired")
            where = await change(form)
        except FffusionError as err:
            message = render(err.key, lang_of(request), **err.params)
            return await self.studio(request, alert=message, error=True, status=400)
        return self._respond(request, _see_other(where), sid, new)

    async def studio_update(self, request: web.Request) -> web.StreamResponse:
        meme_id = request.match_info["id"]

        async def update(form: Form) -> str:
            raw_faces = [v.strip() for v in form.text("faces").split(",") if v.strip()]
            if not all(v.isdigit() for v in raw_faces):
                raise InputError("studio.bad_faces", value=form.text("faces"))
            await self.port.update(meme_id, form.text("caption"), form.text("examples").splitlines(),
                                   form.text("tags").split(","), [int(v) for v in raw_faces])
            return f"/studio?done=saved&name={meme_id}#m-{meme_id}"

        return await self._studio_change(request, update)

    async def studio_delete(self, request: web.Request) -> web.StreamResponse:
        meme_id = request.match_info["id"]

        async def delete(form: Form) -> str:
            await self.port.delete(meme_id)
            return f"/studio?done=deleted&name={meme_id}"

        return await self._studio_change(request, delete)

    async def studio_add(self, request: web.Request) -> web.StreamResponse:
        async def add(form: Form) -> str:
            images = [(name, data) for field_name, name, data in form.files if field_name == "image"]
            captions = [line for line in form.text("caption").splitlines() if line.strip()]
            if images and len(captions) != len(images):
                raise InputError("studio.captions_mismatch", images=len(images), captions=len(captions))
            added = await self.port.add([NewMeme(name or "meme.jpg", data, caption)
                                         for (name, data), caption in zip(images, captions, strict=True)])
            return f"/studio?done=added&count={len(added)}&name={','.join(added)}#m-{added[0]}"

        return await self._studio_change(request, add, MAX_STUDIO_FILES)

    async def studio_image(self, request: web.Request) -> web.StreamResponse:
        meme = self.port.catalog.by_id.get(request.match_info["id"])
        if meme is None:
            raise web.HTTPNotFound()
        key = (self.port.service.catalog_version, meme.id)
        thumb = self._thumbs.get(key)
        if thumb is None:
            thumb = await asyncio.to_thread(_thumbnail, self.port.catalog.image_bytes(meme))
            self._thumbs.put(key, thumb)
        headers = {"Content-Type": "image/jpeg", "Cache-Control": "private, max-age=3600",
                   "X-Content-Type-Options": "nosniff"}
        return web.Response(body=thumb, headers=headers)


def _thumbnail(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        upright = ImageOps.exif_transpose(img).convert("RGB")
        upright.thumbnail((THUMB_SIDE, THUMB_SIDE))
        out = io.BytesIO()
        upright.save(out, "JPEG", quality=82)
        return out.getvalue()


def _see_other(location: str) -> web.Response:
    """303 to a page (returned, not raised, so that cookies and headers can be set on it)."""
    return web.Response(status=303, headers={"Location": location})
