"""The one guarded fetcher (adapters/fetch.py) every platform downloads through: allowed hosts on their default
port only, no redirect elsewhere (not even another port), no private address, byte limits. Here beside Kakao's
tests for their loopback photo server; Discord's downloads go through the same fetcher."""

from __future__ import annotations

import pytest

from adapters.discord.commands import REFUSALS as DISCORD
from adapters.fetch import GuardedFetcher, allowed_url, host_set, public_address
from adapters.kakao.skill import REFUSALS as KAKAO
from core.errors import InputError
from tests.kakao.kakaoside import PhotoServer


def _fetcher(hosts: list[str], max_bytes: int = 1 << 20, timeout_s: float = 10.0) -> GuardedFetcher:
    return GuardedFetcher(hosts, max_bytes, KAKAO, timeout_s)


async def _fails(fetcher: GuardedFetcher, url: str, key: str) -> None:
    with pytest.raises(InputError) as err:
        await fetcher.fetch(url)
    assert err.value.key == key


async def test_allowed_host_is_fetched(photo_server: PhotoServer) -> None:
    photo_server.files["me.jpg"] = b"\xff\xd8photo"
    fetcher = _fetcher([f"127.0.0.1:{photo_server.port}"])
    try:
        assert await fetcher.fetch(photo_server.url("me.jpg")) == b"\xff\xd8photo"
        # a redirect on the same host is fine
        target = photo_server.url("me.jpg")
        assert await fetcher.fetch(photo_server.url(f"redirect?to={target}")) == b"\xff\xd8photo"
        await _fails(fetcher, photo_server.url("missing.jpg"), "kakao.download_failed")
    finally:
        await fetcher.close()


@pytest.mark.parametrize("url", [
    "http://localhost:{port}/me.jpg",        # another name for the same machine: not on the list
    "http://127.0.0.2:{port}/me.jpg",
    "http://[::1]:{port}/me.jpg",
    "file:///etc/passwd",
    "ftp://127.0.0.1:{port}/me.jpg",
    "http://user:pw@127.0.0.1:{port}/me.jpg",
    "http://127.0.0.1.evil.example:{port}/me.jpg",
    "not a url",
])
async def test_other_urls_are_never_requested(photo_server: PhotoServer, url: str) -> None:
    photo_server.files["me.jpg"] = b"photo"
    fetcher = _fetcher([f"127.0.0.1:{photo_server.port}"])
    try:
        await _fails(fetcher, url.format(port=photo_server.port), "kakao.url_not_allowed")
    finally:
        await fetcher.close()
    assert photo_server.hits == []


async def test_redirect_to_another_host_is_not_followed(photo_server: PhotoServer) -> None:
    photo_server.files["me.jpg"] = b"photo"
    fetcher = _fetcher([f"127.0.0.1:{photo_server.port}", f"localhost:{photo_server.port}"])
    try:
        elsewhere = photo_server.url("me.jpg", host="localhost")
        await _fails(fetcher, photo_server.url(f"redirect?to={elsewhere}"), "kakao.url_not_allowed")
    finally:
        await fetcher.close()
    assert photo_server.hits == [f"/redirect?to={elsewhere}"]


async def test_an_allowed_name_resolving_to_a_private_address_is_refused(photo_server: PhotoServer) -> None:
    # "localhost" is allowed by name, but it resolves to loopback: the connection is never made
    photo_server.files["me.jpg"] = b"photo"
    fetcher = _fetcher([f"localhost:{photo_server.port}"])
    try:
        await _fails(fetcher, photo_server.url("me.jpg", host="localhost"), "kakao.download_failed")
    finally:
        await fetcher.close()
    assert photo_server.hits == []


async def test_byte_limit_from_header_and_while_reading(photo_server: PhotoServer) -> None:
    fetcher = _fetcher([f"127.0.0.1:{photo_server.port}"])
    try:
        await _fails(fetcher, photo_server.url("huge-length"), "image.too_big_bytes")
        await _fails(fetcher, photo_server.url("stream?chunks=64"), "image.too_big_bytes")
        assert len(await fetcher.fetch(photo_server.url("stream?chunks=4"))) == 4 * 65536
    finally:
        await fetcher.close()


async def test_timeout(photo_server: PhotoServer) -> None:
    fetcher = _fetcher([f"127.0.0.1:{photo_server.port}"], timeout_s=0.2)
    try:
        await _fails(fetcher, photo_server.url("slow?s=1"), "kakao.download_failed")
    finally:
        await fetcher.close()


async def test_only_the_default_port_unless_the_list_names_one(photo_server: PhotoServer) -> None:
    """cdn.discordapp.com:6379 and secure.kakaocdn.net:6379 were once accepted."""
    photo_server.files["me.jpg"] = b"photo"
    for refusals in (KAKAO, DISCORD):
        for url in ("https://cdn.discordapp.com:6379/a.jpg", "http://cdn.discordapp.com:443/a.jpg",
                    "https://cdn.discordapp.com:80/a.jpg"):
            with pytest.raises(InputError) as err:
                allowed_url(url, host_set(["cdn.discordapp.com"]), refusals)
            assert err.value.key == refusals.not_allowed
        for url in ("https://cdn.discordapp.com/a.jpg", "https://cdn.discordapp.com:443/a.jpg",
                    "http://cdn.discordapp.com/a.jpg"):
            assert allowed_url(url, host_set(["cdn.discordapp.com"]), refusals).host == "cdn.discordapp.com"
    # the loopback server's own port is not a default one: only a list that names it reaches it
    fetcher = _fetcher(["127.0.0.1"])
    try:
        await _fails(fetcher, photo_server.url("me.jpg"), "kakao.url_not_allowed")
    finally:
        await fetcher.close()
    assert photo_server.hits == []
    assert host_set(["Example.COM.", "127.0.0.1:8443", "[::1]:9000", " "]) == {
        ("example.com", None), ("127.0.0.1", 8443), ("::1", 9000)}


async def test_a_redirect_to_another_port_of_the_same_host_is_not_followed(photo_server: PhotoServer) -> None:
    other = PhotoServer()
    await other.start()
    other.files["me.jpg"] = b"photo"
    fetcher = _fetcher([f"127.0.0.1:{photo_server.port}"])
    try:
        elsewhere = other.url("me.jpg")
        await _fails(fetcher, photo_server.url(f"redirect?to={elsewhere}"), "kakao.url_not_allowed")
    finally:
        await fetcher.close()
        await other.close()
    assert other.hits == []


async def test_discord_downloads_go_through_the_same_guard(photo_server: PhotoServer) -> None:
    """With "localhost" allowed, Discord's downloader once fetched from 127.0.0.1, which Kakao's refused."""
    photo_server.files["me.jpg"] = b"photo"
    fetcher = GuardedFetcher([f"localhost:{photo_server.port}"], 1 << 20, DISCORD)
    try:
        with pytest.raises(InputError) as err:
            await fetcher.fetch(photo_server.url("me.jpg", host="localhost"))
        assert err.value.key == DISCORD.failed
    finally:
        await fetcher.close()
    assert photo_server.hits == []


def test_public_address() -> None:
    for private in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                    "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1"]:
        assert not public_address(private), private
    assert public_address("8.8.8.8") and public_address("2001:4860:4860::8888")
