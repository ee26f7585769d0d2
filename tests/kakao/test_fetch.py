"""The photo download guard: allowed hosts only, no redirect elsewhere, no private address, byte limits."""

from __future__ import annotations

import pytest

from adapters.kakao.fetch import ImageFetcher, public_address
from core.errors import InputError
from tests.kakao.kakaoside import PhotoServer


async def _fails(fetcher: ImageFetcher, url: str, key: str) -> None:
    with pytest.raises(InputError) as err:
        await fetcher.fetch(url)
    assert err.value.key == key


async def test_allowed_host_is_fetched(photo_server: PhotoServer) -> None:
    photo_server.files["me.jpg"] = b"\xff\xd8photo"
    fetcher = ImageFetcher(["127.0.0.1"], max_bytes=1 << 20)
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
    fetcher = ImageFetcher(["127.0.0.1"], max_bytes=1 << 20)
    try:
        await _fails(fetcher, url.format(port=photo_server.port), "kakao.url_not_allowed")
    finally:
        await fetcher.close()
    assert photo_server.hits == []


async def test_redirect_to_another_host_is_not_followed(photo_server: PhotoServer) -> None:
    photo_server.files["me.jpg"] = b"photo"
    fetcher = ImageFetcher(["127.0.0.1", "localhost"], max_bytes=1 << 20)
    try:
        elsewhere = photo_server.url("me.jpg", host="localhost")
        await _fails(fetcher, photo_server.url(f"redirect?to={elsewhere}"), "kakao.url_not_allowed")
    finally:
        await fetcher.close()
    assert photo_server.hits == [f"/redirect?to={elsewhere}"]


async def test_an_allowed_name_resolving_to_a_private_address_is_refused(photo_server: PhotoServer) -> None:
    # "localhost" is allowed by name, but it resolves to loopback: the connection is never made
    photo_server.files["me.jpg"] = b"photo"
    fetcher = ImageFetcher(["localhost"], max_bytes=1 << 20)
    try:
        await _fails(fetcher, photo_server.url("me.jpg", host="localhost"), "kakao.download_failed")
    finally:
        await fetcher.close()
    assert photo_server.hits == []


async def test_byte_limit_from_header_and_while_reading(photo_server: PhotoServer) -> None:
    fetcher = ImageFetcher(["127.0.0.1"], max_bytes=1 << 20)
    try:
        await _fails(fetcher, photo_server.url("huge-length"), "image.too_big_bytes")
        await _fails(fetcher, photo_server.url("stream?chunks=64"), "image.too_big_bytes")
        assert len(await fetcher.fetch(photo_server.url("stream?chunks=4"))) == 4 * 65536
    finally:
        await fetcher.close()


async def test_timeout(photo_server: PhotoServer) -> None:
    fetcher = ImageFetcher(["127.0.0.1"], max_bytes=1 << 20, timeout_s=0.2)
    try:
        await _fails(fetcher, photo_server.url("slow?s=1"), "kakao.download_failed")
    finally:
        await fetcher.close()


def test_public_address() -> None:
    for private in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                    "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1"]:
        assert not public_address(private), private
    assert public_address("8.8.8.8") and public_address("2001:4860:4860::8888")
