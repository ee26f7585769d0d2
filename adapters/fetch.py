"""The one guarded way the adapters reach a URL a chat payload named (a posted picture on Discord, a Kakao photo or
callback), so that such a URL cannot reach anything else. Shared by the adapters (tests/test_architecture.py lets
modules directly in adapters/ be imported by every adapter; they import none).

- Only hosts on the allow-list, by exact name, over http or https, without credentials.
- Only the scheme's default port (443, 80), unless the list names the port: "host:8443".
- Names are resolved by a resolver that drops private, loopback and link-local addresses, and the connection goes to
  exactly the addresses it returned, so DNS cannot point an allowed name inside the network. An IP address is
  allowed only when it is itself on the list.
- Redirects are followed by hand, only to the same host, and each one passes every check again.
- The body is read up to a byte limit: a size announced over it is refused before reading.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from core.errors import InputError
from core.images import too_big

MAX_REDIRECTS = 3
_REDIRECTS = {301, 302, 303, 307, 308}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK = 64 * 1024

#: (host, port) pairs; port None = the scheme's default port only
Allowed = frozenset[tuple[str, int | None]]


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


def host_set(entries: Iterable[str]) -> Allowed:
    """An allow-list setting ("cdn.example.com", "127.0.0.1:8443", "[::1]:9000") as (host, port) pairs."""
    allowed = set()
    for entry in (e.strip() for e in entries):
        if entry:
            if any(c in entry for c in "/@?#"):
                raise ValueError(f"a host name, with a port or not, not a URL: {entry}")
            url = URL(f"//{entry}")
            allowed.add((_host(url), url.explicit_port))
    return frozenset(allowed)


@dataclass(frozen=True)
class Refusals:
    """The message keys a platform answers with: a URL not allowed, a download that failed."""

    not_allowed: str
    failed: str


def allowed_url(url: str | URL, allowed: Allowed, refusals: Refusals) -> URL:
    """The parsed URL when it may be fetched (http or https, no credentials, an allowed host on an allowed port);
    InputError(refusals.not_allowed), nothing fetched, otherwise."""
    try:
        parsed = URL(url) if isinstance(url, str) else url
        host, port = _host(parsed), parsed.port
    except (ValueError, TypeError):
        raise InputError(refusals.not_allowed) from None
    default = _DEFAULT_PORTS.get(parsed.scheme)
    if default is None or parsed.user or parsed.password or not (
        ((host, None) in allowed and port == default) or (host, port) in allowed
    ):
        raise InputError(refusals.not_allowed)
    return parsed


def public_session(timeout_s: float, headers: dict[str, str] | None = None) -> aiohttp.ClientSession:
    """A client session that connects only to the public addresses a name resolves to (never redirected:
    every request here passes allow_redirects=False)."""
    connector = aiohttp.TCPConnector(resolver=PublicOnlyResolver(), limit=32)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s),
                                 trust_env=False, headers=headers)


class GuardedFetcher:
    """Downloads from the allowed hosts only (see the module's docstring), each body up to `max_bytes`."""

    def __init__(self, allowed_hosts: Iterable[str], max_bytes: int, refusals: Refusals, timeout_s: float = 10.0,
                 headers: dict[str, str] | None = None) -> None:
        self.allowed = host_set(allowed_hosts)
        self.max_bytes = max_bytes
        self.refusals = refusals
        self.timeout_s = timeout_s
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None

    def check(self, url: str | URL) -> URL:
        """The parsed URL when it may be fetched; InputError (nothing fetched) otherwise."""
        return allowed_url(url, self.allowed, self.refusals)

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
                        raise InputError(self.refusals.failed)
                    return await self._read(resp)
        except (aiohttp.ClientError, TimeoutError, OSError):
            raise InputError(self.refusals.failed) from None
        raise InputError(self.refusals.failed)

    def _redirect(self, current: URL, location: str, origin: str) -> URL:
        try:
            nxt = current.join(URL(location))
        except ValueError:
            raise InputError(self.refusals.not_allowed) from None
        if _host(nxt) != origin:
            raise InputError(self.refusals.not_allowed)
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
            self._session = public_session(self.timeout_s, self._headers)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
