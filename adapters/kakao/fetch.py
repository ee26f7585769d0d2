"""Downloading a person's photo from a URL without letting that URL reach anything else.

A URL is fetched only when its host is on the allow-list (Kakao's CDN by default). Names are resolved by
a resolver that drops private, loopback and link-local addresses, and the connection goes to exactly the
addresses it returned, so DNS cannot point an allowed name inside the network. An IP address is allowed
only when it is itself on the list. Redirects are followed by hand, only to the same host.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from core.errors import InputError
from core.images import too_big

MAX_REDIRECTS = 3
_REDIRECTS = {301, 302, 303, 307, 308}
_CHUNK = 64 * 1024
_HEADERS = {"User-Agent": "fffusion-kakao/1", "Accept": "image/*"}


def public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PublicOnlyResolver(AbstractResolver):
    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = [r for r in await self._inner.resolve(host, port, family) if public_address(r["host"])]
        if not found:
            raise OSError(f"{host} has no public address")
        return found

    async def close(self) -> None:
        await self._inner.close()


def _host(url: URL) -> str:
    return (url.host or "").lower().rstrip(".")


def host_set(hosts: Iterable[str]) -> frozenset[str]:
    return frozenset(h.strip().lower().rstrip(".") for h in hosts if h.strip())


def allowed_url(url: str | URL, allowed: frozenset[str]) -> URL:
    """The parsed URL when its host is on the list (http or https, no credentials); InputError otherwise."""
    try:
        parsed = URL(url) if isinstance(url, str) else url
        host = _host(parsed)
    except (ValueError, TypeError):
        raise InputError("kakao.url_not_allowed") from None
    credentials = parsed.user or parsed.password
    if parsed.scheme not in ("http", "https") or credentials or host not in allowed:
        raise InputError("kakao.url_not_allowed")
    return parsed


def public_session(timeout_s: float, headers: dict[str, str] | None = None) -> aiohttp.ClientSession:
    """A client session that connects only to the public addresses a name resolves to (never redirected:
    every request here passes allow_redirects=False)."""
    connector = aiohttp.TCPConnector(resolver=PublicOnlyResolver(), limit=32)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s),
                                 trust_env=False, headers=headers)


class ImageFetcher:
    def __init__(self, allowed_hosts: Iterable[str], max_bytes: int, timeout_s: float = 10.0) -> None:
        self.allowed = host_set(allowed_hosts)
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    def check(self, url: str | URL) -> URL:
        """The parsed URL when it may be fetched; InputError (nothing fetched) otherwise."""
        return allowed_url(url, self.allowed)

    async def fetch(self, url: str) -> bytes:
        target = self.check(url)
        origin = _host(target)
        session = self._get_session()
        try:
            for _ in range(MAX_REDIRECTS + 1):
                async with session.get(target, allow_redirects=False) as resp:
                    if resp.status in _REDIRECTS and "Location" in resp.headers:
                        target = self._redirect(target, resp.headers["Location"], origin)
                        continue
                    if resp.status != 200:
                        raise InputError("kakao.download_failed")
                    return await self._read(resp)
        except (aiohttp.ClientError, TimeoutError, OSError):
            raise InputError("kakao.download_failed") from None
        raise InputError("kakao.download_failed")

    def _redirect(self, current: URL, location: str, origin: str) -> URL:
        try:
            nxt = current.join(URL(location))
        except ValueError:
            raise InputError("kakao.url_not_allowed") from None
        if _host(nxt) != origin:
            raise InputError("kakao.url_not_allowed")
        return self.check(nxt)

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        if resp.content_length is not None and resp.content_length > self.max_bytes:
            raise too_big(resp.content_length, self.max_bytes)
        body = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > self.max_bytes:
                raise too_big(len(body), self.max_bytes)
        return bytes(body)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = public_session(self.timeout_s, _HEADERS)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

