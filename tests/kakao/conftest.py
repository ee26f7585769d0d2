"""Fixtures for the KakaoTalk tests; the simulated Kakao side lives in tests/kakao/kakaoside.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.kakao.kakaoside import PhotoServer


@pytest.fixture
async def photo_server() -> AsyncIterator[PhotoServer]:
    server = PhotoServer()
    await server.start()
    yield server
    await server.close()
