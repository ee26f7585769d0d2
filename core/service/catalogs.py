"""The catalog a bot instance serves, for `fffusion worker`s on other machines: its files (catalog.toml and the
pictures it names) go to Redis by version, each file once by its content hash; a worker that is asked for a
version it has not got copies that version's files into its own cache folder once, and prepares it once.

A worker whose own catalog folder is the same version (the usual deploy) fetches nothing. Pictures from
installed packages (`package:...`) are on every machine already. The files expire after KEEP_S unless an
instance shares the version again; a worker that finds a version gone says so (`catalog.not_shared`), and the
instance shares it again and retries (also after a Redis restart)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path, PurePosixPath
from typing import cast

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from core.catalog.catalog import CATALOG_FILE, PACKAGE_PREFIX, load_catalog
from core.catalog.edit import version_of
from core.errors import ServiceError

PREFIX = "fffusion:catalog:"
KEEP_S = 7 * 24 * 3600
FOLDER = "catalogs"  # inside a worker's cache folder: one folder per version


def _version_key(version: str) -> str:
    return f"{PREFIX}version:{version}"


def _file_key(digest: str) -> str:
    return f"{PREFIX}file:{digest}"


def collect(folder: Path) -> tuple[str, dict[str, str], dict[str, bytes]]:
    """The version of the catalog in `folder`, its files (path inside the folder -> content hash) and their
    contents by hash. The version comes from the catalog.toml bytes read here, so the two always agree."""
    toml = (Path(folder) / CATALOG_FILE).read_bytes()
    catalog = load_catalog(folder, check_images=False)
    files = {CATALOG_FILE: toml}
    for meme in catalog.memes:
        if not meme.image.startswith(PACKAGE_PREFIX):
            files[meme.image] = (Path(folder) / meme.image).read_bytes()
    blobs = {hashlib.sha256(data).hexdigest(): data for data in files.values()}
    manifest = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    return version_of(toml), manifest, blobs


async def share(redis: AsyncRedis, folder: Path) -> str:
    """Put the catalog in `folder` into Redis (only files it has not got) and return its version."""
    version, manifest, blobs = await asyncio.to_thread(collect, folder)
    digests = list(blobs)
    async with redis.pipeline(transaction=False) as pipe:
        for digest in digests:
            pipe.expire(_file_key(digest), KEEP_S)  # refreshed when there, 0 when not
        there = await pipe.execute()
    async with redis.pipeline(transaction=False) as pipe:
        for digest, found in zip(digests, there, strict=True):
            if not found:
                pipe.set(_file_key(digest), blobs[digest], ex=KEEP_S)
        pipe.set(_version_key(version), json.dumps(manifest), ex=KEEP_S)  # last: its files are there first
        await pipe.execute()
    return version


def _inside(root: Path, name: str) -> Path:
    """`name` from a manifest as a path inside `root`; anything that would leave it is refused."""
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
        raise ServiceError("catalog.not_shared")
    return root.joinpath(*parts)


class SharedCatalogs:
    """A worker process's side: the folder of a catalog version, fetched from Redis into the cache folder the
    first time (by any process of this machine) and read from there afterwards."""

    def __init__(self, url: str, cache_dir: Path) -> None:
        self._redis = Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self.root = Path(cache_dir) / FOLDER

    def __call__(self, version: str) -> Path:
        folder = self.root / version
        if (folder / CATALOG_FILE).is_file():  # complete: a folder appears whole (renamed into place)
            return folder
        # the synchronous client's methods are typed as maybe-awaitable; they return at once
        raw = cast("bytes | None", self._redis.get(_version_key(version)))
        if raw is None:
            raise ServiceError("catalog.not_shared")
        manifest: dict[str, str] = json.loads(raw)
        digests = sorted(set(manifest.values()))
        found = cast("list[bytes | None]", self._redis.mget([_file_key(d) for d in digests]))
        blobs = {d: blob for d, blob in zip(digests, found, strict=True) if blob is not None}
        if len(blobs) < len(digests) or any(hashlib.sha256(blob).hexdigest() != d for d, blob in blobs.items()):
            raise ServiceError("catalog.not_shared")
        if version_of(blobs[manifest[CATALOG_FILE]]) != version:
            raise ServiceError("catalog.not_shared")
        partial = self.root / f".{version}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            for name, digest in manifest.items():
                path = _inside(partial, name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(blobs[digest])
            try:
                partial.rename(folder)
            except OSError:  # another process of this machine put it there first
                if not (folder / CATALOG_FILE).is_file():
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return folder
