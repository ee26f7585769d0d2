"""The web page as a platform: the try page (`/`, anyone: a face photo and a sentence make a meme) and the
studio (`/studio`, whoever runs the bot: the catalog as a grid, edits, uploads, a sentence test).

Plain HTML forms that work without JavaScript; static/app.js keeps the try page in place when it runs. A visitor
is a random id in an HttpOnly cookie, signed, and becomes Person("web", id); their face expires after a while.
Every POST carries a CSRF token derived from that id as its first field, checked before the rest of the body is
read; every page sends a strict Content-Security-Policy. Keys and studio sessions are shared by every instance
(WebShared), so any instance behind a load balancer serves any request.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import io
import ipaddress
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Protocol

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from PIL import Image, ImageOps

from adapters.web import pages
from adapters.web.pages import Markup, hidden
from adapters.web.port import Shown, WebPort
from core.bounded import Bounded
from core.errors import FffusionError, InputError, failure_of
from core.messages import render
from core.service import chat as talk
from core.service.chat import ID_RE, Ephemeral, Limiter, Media, Meme, MemeFaces, NewMeme, Person
from core.text import face_number

log = logging.getLogger(__name__)

CSP = ("default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
VISITOR_COOKIE = "fffusion_id"
STUDIO_COOKIE = "fffusion_studio"
STUDIO_SESSION_S = 12 * 3600
MAX_STUDIO_FILES = 20  # images per upload in the studio
MAX_FIELD_BYTES = 64 * 1024  # a text field of a form (captions and examples included)
MAX_CSRF_BYTES = 128  # the first field of every form; more is not a token
THUMB_SIDE = 480
_VISITOR_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")  # secrets.token_urlsafe(24)
_SIGNATURE_CHARS = 22  # 16 bytes of HMAC, base64url without padding
#: the rate limits' "people" that are not people: a client address (all its visitors), a studio sign-in
ADDRESS, STUDIO_LOGIN = "web-address", "studio-login"
_STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
_DONE = {"saved": "studio.saved", "deleted": "studio.deleted", "added": "studio.added"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


#: the time (event loop clock) by which an upload's body must have arrived; set by the HTTP server (bot/web.py)
BODY_DEADLINE = web.RequestKey("body_deadline", float)


class PageSettings(Protocol):
    """The web page's own settings (bot.config.Settings.web, from FFFUSION_WEB_* and FFFUSION_STUDIO_*)."""

    @property
    def studio_token(self) -> str: ...
    @property
    def face_ttl_s(self) -> int: ...
    @property
    def max_form_fields(self) -> int: ...
    @property
    def max_form_bytes(self) -> int: ...


class HttpSettings(Protocol):
    """What the web page reads of the HTTP server's settings (bot.config.Settings.http)."""

    @property
    def public_url(self) -> str: ...
    @property
    def trusted_proxies(self) -> tuple[str, ...]: ...


class WebSettings(Protocol):
    """The settings the web page reads (bot.config.Settings has them)."""

    @property
    def web(self) -> PageSettings: ...
    @property
    def http(self) -> HttpSettings: ...


@dataclass(frozen=True)
class WebShared:
    """What every instance behind one load balancer must agree on; bot/web.py builds it (Redis when there is
    one)."""

    secret: bytes  # visitor cookies, CSRF tokens and studio sessions are signed with keys derived from it
    state: Ephemeral  # studio sessions
    per_address: Limiter  # memes asked for per client address
    logins: Limiter  # studio sign-in attempts per client address


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return hmac.new(secret, b"fffusion web\0" + purpose, hashlib.sha256).digest()


def trusted_networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """FFFUSION_HTTP_TRUSTED_PROXIES as networks; ValueError names a bad entry."""
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


def client_address(request: web.Request,
                   trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> str:
    """The client's address: the peer's, or, while the peer is a trusted proxy, the hop it names in
    X-Forwarded-For (read from the right: only what trusted proxies appended is believed)."""
    address = request.remote or ""
    hops = [h.strip() for line in request.headers.getall("X-Forwarded-For", []) for h in line.split(",")]
    while hops and _is_trusted(address, trusted):
        address = hops.pop()
    return address


def rate_key(address: str) -> str:
    """What a client address is counted as: IPv6 by its /64 (one subscriber gets a whole /64 to pick from)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _is_trusted(address: str, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


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


@dataclass(frozen=True)
class FormLimits:
    """What one posted form may hold: fields (files included) and bytes in all, files and each file's bytes."""

    max_fields: int
    max_bytes: int
    max_files: int = 0
    max_file_bytes: int = 0


#: what a malformed body raises while it is parsed (aiohttp's multipart reader, an unknown charset)
_MALFORMED = (ValueError, LookupError, AssertionError, HttpProcessingError)


async def read_form(request: web.Request, limits: FormLimits, csrf: str) -> Form:
    """A POSTed form whose first field is the CSRF token `csrf`. Multipart is read as a stream and refused at the
    first field that is not the token, or as soon as it passes a limit: nothing beyond is read."""
    form = Form()
    try:
        if request.content_type != "multipart/form-data":
            await _read_urlencoded(request, form, limits)
        else:
            async with asyncio.timeout_at(request.get(BODY_DEADLINE)):
                await _read_parts(request, form, limits, csrf)
    except TimeoutError:
        raise web.HTTPRequestTimeout() from None
    except (web.HTTPException, *_MALFORMED):
        raise InputError("web.bad_form") from None
    if not hmac.compare_digest(form.text("csrf").encode(), csrf.encode()):
        raise InputError("web.expired")
    return form


async def _read_urlencoded(request: web.Request, form: Form, limits: FormLimits) -> None:
    # the body is already in memory, under the server's client_max_size (bot/web.py's body_deadline read it)
    if (await request.read()).count(b"&") >= limits.max_fields:
        raise InputError("web.too_many_fields", limit=limits.max_fields)
    posted = await request.post()
    form.fields = {k: v for k, v in posted.items() if isinstance(v, str)}


async def _read_parts(request: web.Request, form: Form, limits: FormLimits, csrf: str) -> None:
    reader = await request.multipart()
    fields = total = 0
    while (part := await reader.next()) is not None:
        fields += 1
        if fields > limits.max_fields:
            raise InputError("web.too_many_fields", limit=limits.max_fields)
        if fields == 1:  # the token first: a client without one gets nothing else read
            if not isinstance(part, BodyPartReader) or part.name != "csrf" or part.filename is not None:
                raise InputError("web.expired")
            token = await _read_part(part, MAX_CSRF_BYTES, InputError("web.expired"))
            if not hmac.compare_digest(token, csrf.encode()):
                raise InputError("web.expired")
            form.fields["csrf"] = csrf
            continue
        if not isinstance(part, BodyPartReader) or not part.name:
            continue
        left = limits.max_bytes - total
        if part.filename is None:
            raw = await _read_part(part, *_cap(left, MAX_FIELD_BYTES, InputError("web.bad_form"), limits))
            form.fields[part.name] = raw.decode("utf-8", errors="replace")
            total += len(raw)
            continue
        too_big = _too_big("web.too_big", limits.max_file_bytes)
        data = await _read_part(part, *_cap(left, limits.max_file_bytes, too_big, limits))
        total += len(data)
        if data or part.filename:  # an empty file input sends a part with no name and no bytes
            if len(form.files) >= limits.max_files:
                raise InputError("studio.too_many_files", limit=limits.max_files)
            form.files.append((part.name, part.filename, data))


async def _read_part(part: BodyPartReader, limit: int, too_big: FffusionError) -> bytes:
    data = bytearray()
    # small reads for small limits: the CSRF token is checked with little more than itself read
    while chunk := await part.read_chunk(max(1024, min(limit + 1, 64 * 1024))):
        data += chunk
        if len(data) > limit:
            raise too_big
    return bytes(data)


def _cap(left: int, own: int, own_error: InputError, limits: FormLimits) -> tuple[int, InputError]:
    """A part's byte limit and what passing it says: its own, or what is left of the form's total when less."""
    return (own, own_error) if left > own else (left, _too_big("web.form_too_big", limits.max_bytes))


def _too_big(key: str, limit: int) -> InputError:
    return InputError(key, limit_mb=f"{limit / 1024 / 1024:.0f}")


class WebPages:
    def __init__(self, conversation: talk.Conversation, studio: talk.Studio, media: Media, settings: WebSettings,
                 shared: WebShared) -> None:
        self.port = WebPort(conversation, studio, media)
        self.settings = settings
        self.limits = conversation.limits
        self.shared = shared
        self._csrf_key = _derive(shared.secret, b"csrf")
        self._visitor_key = _derive(shared.secret, b"visitor")
        # a session is valid only under the studio token it signed in with: a new token ends every session
        self._studio_mark = _derive(shared.secret, b"studio\0" + settings.web.studio_token.encode()).hex()
        self._trusted = trusted_networks(settings.http.trusted_proxies)
        self._forms = FormLimits(settings.web.max_form_fields, settings.web.max_form_bytes)
        self._thumbs: Bounded[tuple[str, str], bytes] = Bounded(512)  # studio thumbnails
        self._sweeper: asyncio.Task[None] | None = None
        self._static = {name: resources.files(__package__).joinpath("static", name).read_bytes()
                        for name in _STATIC}
        self.assets = hashlib.sha256(b"".join(self._static.values())).hexdigest()[:10]
        self.studio_enabled = bool(settings.web.studio_token)

    def add_routes(self, app: web.Application, try_page: bool = True) -> None:
        if try_page:
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
        else:
            app.router.add_get("/studio", self.studio_off)

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="web-face-sweep")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def sweep(self) -> int:
        """Deletes the visitors whose face is older than FFFUSION_WEB_FACE_TTL_S (everything of theirs goes)."""
        gone = await self.port.sweep(self.settings.web.face_ttl_s)
        if gone:
            log.info("web: deleted %d visitor(s) whose face expired", gone)
        return gone

    async def _sweep_forever(self) -> None:
        every = max(1.0, min(600.0, self.settings.web.face_ttl_s / 4))
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("web: the face sweep failed")
            await asyncio.sleep(every)

    # visitors, cookies, CSRF, forms, headers
    def _visitor(self, request: web.Request) -> tuple[str, bool]:
        """(visitor id, whether it is new): a cookie counts only with this site's signature on it."""
        sid, _, signature = request.cookies.get(VISITOR_COOKIE, "").partition(".")
        if _VISITOR_RE.match(sid) and hmac.compare_digest(signature.encode(), self._sign(sid).encode()):
            return sid, False
        return secrets.token_urlsafe(24), True

    def _sign(self, sid: str) -> str:
        digest = hmac.new(self._visitor_key, sid.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:_SIGNATURE_CHARS]

    def _csrf(self, sid: str) -> str:
        return hmac.new(self._csrf_key, sid.encode(), hashlib.sha256).hexdigest()[:32]

    async def _form(self, request: web.Request, sid: str, new: bool, max_files: int = 0) -> Form:
        """The posted form of a visitor this site gave a cookie and a page to; InputError otherwise (a visitor
        without a cookie gets nothing of the body read)."""
        if new:
            raise InputError("web.expired")
        limits = dataclasses.replace(self._forms, max_files=max_files, max_file_bytes=self.limits.max_image_bytes)
        return await read_form(request, limits, self._csrf(sid))

    def _address(self, request: web.Request) -> Person:
        """The client's address as a rate limit's "person": every visitor behind it counts together."""
        return Person(ADDRESS, rate_key(client_address(request, self._trusted)))

    def _secure(self, request: web.Request) -> bool:
        return (request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
                or self.settings.http.public_url.startswith("https://"))

    def _respond(self, request: web.Request, resp: web.StreamResponse, sid: str, new: bool) -> web.StreamResponse:
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["Cache-Control"] = "no-store"
        if new:
            resp.set_cookie(VISITOR_COOKIE, f"{sid}.{self._sign(sid)}", httponly=True, samesite="Lax",
                            secure=self._secure(request), path="/", max_age=max(self.settings.web.face_ttl_s, 3600))
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
                  alert: str = "", text: str = "", done: bool = False, subtitle: bool = False) -> str:
        """The try page; `alert` is a refusal, or with `done` news of something done (shown calmer)."""
        lang = lang_of(request)
        t = pages.texts(lang, "web.title", "web.lede", "web.face_label", "web.text_label", "web.text_placeholder",
                        "web.submit", "web.working", "web.next", "web.download", "web.forget", "web.footer",
                        "web.own_subtitle", "web.pick_photo", "web.take_photo", "web.no_photo",
                        "web.forget_confirm", "web.forget_yes", "web.same_meme")
        choosing = bool(shown and (shown.choices or not shown.url))
        hours = max(1, round(self.settings.web.face_ttl_s / 3600))
        face_hint = render("web.face_saved_hint", lang) if has_face else render("web.face_hint", lang, hours=hours)
        title = t.pop("title")
        return pages.page(
            "try.html", lang, title, self.assets, **t, csrf=self._csrf(sid), face_hint=face_hint,
            max_text=self.limits.max_text_chars, text=text, subtitle_checked=" checked" if subtitle else "",
            alert=alert, alert_hidden=hidden(not alert), alert_kind=" ok" if done else "",
            result_hidden=hidden(shown is None or choosing), meme_url=shown.url if shown else "",
            caption=shown.caption if shown else "", notice=shown.notice if shown else "",
            notice_hidden=hidden(not (shown and shown.notice)), request_id=shown.request_id if shown else "",
            next_hidden=hidden(not (shown and shown.has_next)), forget_hidden=hidden(not has_face),
            choose=render("meme.choices_label", lang),
            choices_hidden=hidden(not choosing), choices_intro=shown.caption if choosing and shown else "",
            choice_list=pages.choices(shown.choices if shown else (), self._csrf(sid), shown.request_id if shown
                                      else ""),
        )

    async def try_page(self, request: web.Request) -> web.StreamResponse:
        sid, new = self._visitor(request)
        person = self.port.person(sid, lang_of(request))
        has_face = not new and await self.port.has_face(person)
        subtitle = not new and await self.port.own_subtitle(person)
        return self._html(request, self._try_html(request, sid, has_face=has_face, subtitle=subtitle), sid, new)

    async def _try_action(
        self, request: web.Request, max_files: int, act: Callable[[Form, str], Awaitable[Shown]]
    ) -> web.StreamResponse:
        """Checks the client address's rate, reads the form (CSRF first), runs `act`; answers JSON to the page's
        script, a whole page otherwise."""
        sid, new = self._visitor(request)
        lang = lang_of(request)
        wants_json = "application/json" in request.headers.get("Accept", "")
        form = Form()
        try:
            await self.shared.per_address.check(self._address(request))
            form = await self._form(request, sid, new, max_files)
            shown = await act(form, lang)
        except FffusionError as err:  # the form itself: unreadable, too big, or not from this page
            shown = Shown(notice=render(err.key, lang, **err.params), error=err.key, failure=failure_of(err))
        if wants_json:
            body: dict[str, object] = {"error": shown.notice} if shown.error else {
                "url": shown.url, "caption": shown.caption, "notice": shown.notice,
                "request_id": shown.request_id, "has_next": shown.has_next, "face_saved": shown.face_saved,
                "face_hint": render("web.face_saved_hint", lang),
                "choices": [{"url": u, "caption": c, "index": i} for u, c, i in shown.choices]}
            return self._respond(request, web.json_response(body, status=shown.status), sid, new)
        has_face = not new and await self.port.has_face(self.port.person(sid, lang))
        page = self._try_html(request, sid, has_face=has_face, shown=None if shown.error else shown,
                              alert=shown.notice if shown.error else "", text=form.text("text"),
                              subtitle=bool(form.text("subtitle")))
        return self._html(request, page, sid, new, shown.status)

    async def try_post(self, request: web.Request) -> web.StreamResponse:
        sid, _ = self._visitor(request)

        async def make(form: Form, lang: str) -> Shown:
            face = next((data for name, _, data in form.files if name == "face"), None)
            return await self.port.make(self.port.person(sid, lang), form.text("text"), face,
                                        bool(form.text("subtitle")))

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
            await self._form(request, sid, new)
        except FffusionError as err:
            page = self._try_html(request, sid, has_face=False, alert=render(err.key, lang, **err.params))
            return self._html(request, page, sid, new, 400)
        said = await self.port.forget(self.port.person(sid, lang))
        return self._html(request, self._try_html(request, sid, has_face=False, alert=said, done=True), sid, new)

    # the studio
    @staticmethod
    def _session_key(token: str) -> str:
        return "studio-session:" + hashlib.sha256(token.encode()).hexdigest()  # the store never sees the token

    async def _studio_session(self, request: web.Request) -> bool:
        token = request.cookies.get(STUDIO_COOKIE, "")
        return bool(token) and await self.shared.state.get(self._session_key(token)) == self._studio_mark

    def _login_html(self, request: web.Request, sid: str, alert: str = "") -> str:
        lang = lang_of(request)
        return pages.page("login.html", lang, render("studio.title", lang), self.assets, csrf=self._csrf(sid),
                          token_label=render("studio.token_label", lang), login=render("studio.login", lang),
                          alert=alert, alert_hidden=hidden(not alert))

    def _studio_only(self, handler: Handler) -> Handler:
        """Without a studio session, nothing but the login form (403), before the request body is read."""
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not await self._studio_session(request):
                sid, new = self._visitor(request)
                return self._html(request, self._login_html(request, sid), sid, new, 403)
            return await handler(request)

        return guarded

    async def login(self, request: web.Request) -> web.StreamResponse:
        """Sign-in attempts are counted per client address before anything is read: tokens cannot be guessed
        fast."""
        sid, new = self._visitor(request)
        lang = lang_of(request)
        try:
            await self.shared.logins.check(Person(STUDIO_LOGIN, self._address(request).user_id))
            form = await self._form(request, sid, new)
        except FffusionError as err:
            status = Shown(error=err.key, failure=failure_of(err)).status
            alert = render(err.key, lang, **err.params)
            return self._html(request, self._login_html(request, sid, alert), sid, new, status)
        given = hashlib.sha256(form.text("token").encode()).digest()
        wanted = hashlib.sha256(self.settings.web.studio_token.encode()).digest()
        if not hmac.compare_digest(given, wanted):
            alert = render("studio.wrong_token", lang)
            return self._html(request, self._login_html(request, sid, alert), sid, new, 403)
        token = secrets.token_urlsafe(32)
        await self.shared.state.put(self._session_key(token), self._studio_mark, STUDIO_SESSION_S)
        resp = self._respond(request, _see_other("/studio"), sid, new)
        resp.set_cookie(STUDIO_COOKIE, token, httponly=True, samesite="Strict", secure=self._secure(request),
                        path="/studio", max_age=STUDIO_SESSION_S)
        return resp

    async def logout(self, request: web.Request) -> web.StreamResponse:
        sid, new = self._visitor(request)
        try:
            await self._form(request, sid, new)
        except FffusionError as err:
            alert = render(err.key, lang_of(request), **err.params)
            return self._html(request, self._login_html(request, sid, alert), sid, new, 400)
        await self.shared.state.delete(self._session_key(request.cookies.get(STUDIO_COOKIE, "")))
        resp = self._respond(request, _see_other("/studio"), sid, new)
        resp.del_cookie(STUDIO_COOKIE, path="/studio")
        return resp

    async def studio_off(self, request: web.Request) -> web.StreamResponse:
        """/studio without a studio token: say so, and how the operator turns it on (404: there is no studio)."""
        sid, new = self._visitor(request)
        lang = lang_of(request)
        page = pages.page("off.html", lang, render("studio.title", lang), self.assets,
                          message=render("studio.off", lang))
        return self._html(request, page, sid, new, 404)

    async def studio(self, request: web.Request, alert: str = "", error: bool = False,
                     status: int = 200, kept: Form | None = None) -> web.StreamResponse:
        """The studio; `kept`: a refused form, whose typed text is shown again."""
        sid, new = self._visitor(request)
        if not await self._studio_session(request):
            return self._html(request, self._login_html(request, sid), sid, new)
        lang = lang_of(request)
        done, names = _done(request)
        touched = set(names) if done in ("studio.saved", "studio.added") else set()
        if done and not alert and not touched:  # saved and added are said on their cards, where the page jumps
            alert = render(done, lang, name=names[0], names=", ".join(names), count=len(names))
        sentence = request.query.get("sentence", "")
        query = request.query.get("q", "").strip()
        rows: list[tuple[str, str, float]] = []
        if sentence:
            try:
                rows = await self.port.studio.rank(sentence, 5)
            except FffusionError as err:
                alert, error = render(err.key, lang, **err.params), True
        version, inspected = await self.port.studio.inspect()
        by_id: dict[str, MemeFaces] = {f.meme_id: f for f in inspected}
        csrf = self._csrf(sid)
        memes = [m for m in self.port.studio.catalog.memes if _matches(m, query)]

        def note(meme_id: str) -> str:
            """What was just done to this card; a picture added without a face is warned about."""
            if meme_id not in touched:
                return ""
            if done == "studio.added" and meme_id in by_id and not by_id[meme_id].boxes:
                return render("studio.faceless_added", lang, names=meme_id)
            return render(done, lang, name=meme_id, names=meme_id, count=1)

        cards = "".join(pages.card(lang, m, by_id.get(m.id), version, csrf, note(m.id)) for m in memes)
        summary = render("studio.summary", lang, memes=len(self.port.studio.catalog.memes),
                         faces=sum(len(f.boxes) for f in inspected),
                         swaps=sum(1 for f in inspected if f.sample_swaps))
        t = pages.texts(lang, "studio.title", "studio.logout", "studio.test_title", "studio.test",
                        "studio.add_title", "studio.add_images", "studio.add_captions", "studio.add",
                        "studio.legend", "studio.search", "studio.search_button", "studio.search_clear")
        title = t.pop("title")
        found = render("studio.search_count", lang, query=query, count=len(memes)) if query else ""
        check = pages.check_report(lang, await self.port.studio.check(), len(self.port.studio.catalog.memes))
        page = pages.page(
            "studio.html", lang, title, self.assets, csrf=csrf, sentence=sentence,
            placeholder=render("web.text_placeholder", lang), ranking=pages.ranking(lang, rows, version),
            cards=Markup(cards), summary=summary, alert=alert, alert_hidden=hidden(not alert),
            alert_kind=" error" if error else " ok", query=query, found=found, found_hidden=hidden(not query),
            check=check, check_title=render("studio.check_title", lang),
            add_caption=kept.text("caption") if kept is not None and request.path == "/studio/add" else "", **t,
        )
        return self._html(request, page, sid, new, status)

    async def _studio_change(self, request: web.Request, change: Callable[[Form], Awaitable[str]],
                             max_files: int = 0) -> web.StreamResponse:
        sid, new = self._visitor(request)
        form = Form()
        try:
            form = await self._form(request, sid, new, max_files)
            where = await change(form)
        except FffusionError as err:
            message = render(err.key, lang_of(request), **err.params)
            if form.files:  # a browser cannot be handed files back: say so, and keep what was typed
                message += "\n" + render("studio.pick_again", lang_of(request))
            return await self.studio(request, alert=message, error=True, status=400, kept=form)
        return self._respond(request, _see_other(where), sid, new)

    async def studio_update(self, request: web.Request) -> web.StreamResponse:
        meme_id = request.match_info["id"]

        async def update(form: Form) -> str:
            faces = [face_number(v) for v in form.text("faces").split(",") if v.strip()]
            if None in faces:
                raise InputError("studio.bad_faces", value=form.text("faces"))
            await self.port.update(meme_id, form.text("caption"), form.text("examples").splitlines(),
                                   form.text("tags").split(","), [n for n in faces if n is not None],
                                   form.text("subtitle").splitlines())
            return f"/studio?done=saved&name={meme_id}#m-{meme_id}"

        return await self._studio_change(request, update)

    async def studio_delete(self, request: web.Request) -> web.StreamResponse:
        meme_id = request.match_info["id"]

        async def delete(form: Form) -> str:
            await self.port.studio.delete(meme_id)
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
            return f"/studio?done=added&name={','.join(added)}#m-{added[0]}"

        return await self._studio_change(request, add, MAX_STUDIO_FILES)

    async def studio_image(self, request: web.Request) -> web.StreamResponse:
        meme = self.port.studio.catalog.by_id.get(request.match_info["id"])
        if meme is None:
            raise web.HTTPNotFound()
        key = (self.port.studio.version, meme.id)
        thumb = self._thumbs.get(key)
        if thumb is None:
            thumb = await asyncio.to_thread(_thumbnail, self.port.studio.catalog.image_bytes(meme))
            self._thumbs.put(key, thumb)
        headers = {"Content-Type": "image/jpeg", "Cache-Control": "private, max-age=3600",
                   "X-Content-Type-Options": "nosniff"}
        return web.Response(body=thumb, headers=headers)


def _done(request: web.Request) -> tuple[str, list[str]]:
    """The change the studio just made (its message key, the memes it touched; "" when none), from its redirect's
    query: a fixed key whose values must be meme ids, so that a link cannot put words of its own on the page."""
    key = _DONE.get(request.query.get("done", ""))
    names = request.query.get("name", "").split(",")
    if key is None or not all(ID_RE.match(n) for n in names):
        return "", []
    return key, names


def _matches(meme: Meme, query: str) -> bool:
    """The studio's search: the words of `query`, each somewhere in the meme's id, caption, examples or tags."""
    text = " ".join((meme.id, *meme.texts, *meme.tags)).lower()
    return all(word in text for word in query.lower().split())


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
