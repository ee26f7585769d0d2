"""The shared results cache in Redis: finished images by result key, one hash each, kept for a while. The worker
that composes a result puts it here itself and answers with where (contract.Kept), so the image crosses the queue
once (worker -> Redis) and every bot instance reads it from here; core.service.shared.RedisResultCache is the bot
instances' side of the same hashes."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from redis.asyncio import Redis

from core.compute.contract import Composed, ComposeJob, Job, Kept, Made, MakeJob, meme_result_key

PREFIX = "fffusion:result:"


def key_of(result_key: str) -> str:
    return PREFIX + result_key


async def get(redis: Redis, result_key: str) -> Composed | None:
    async with redis.pipeline(transaction=False) as pipe:  # redis-py types a bare call as maybe not async
        pipe.hgetall(key_of(result_key))
        (found,) = await pipe.execute()
    if not found:
        return None
    return Composed(found[b"image"], found[b"swapped"] == b"1", tuple(json.loads(found[b"notices"])))


async def put(redis: Redis, result_key: str, item: Composed, ttl_s: int) -> None:
    """The result under its key for `ttl_s` (its face record, when re-analysed, is not kept: the service stores
    that in the person's row)."""
    mapping = {"image": item.image, "swapped": int(item.swapped), "notices": json.dumps(item.notices)}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key_of(result_key), mapping=mapping)
        pipe.expire(key_of(result_key), ttl_s)
        await pipe.execute()


async def kept(redis: Redis, job: Job[Any], answer: object) -> object:
    """A worker's answer to send back: a job that asked for it (`keep_s`) has its result image put in the shared
    cache, under the key the bot names it by, and answered with a Kept in place of the bytes."""

    async def keep(composed: Composed, result_key: str, ttl_s: int) -> Composed:
        await put(redis, result_key, composed, ttl_s)
        return dataclasses.replace(composed, image=b"", kept=Kept(result_key, len(composed.image)))

    if isinstance(job, MakeJob) and isinstance(answer, Made) and answer.composed is not None and job.keep_s > 0:
        result_key = meme_result_key(job.record, answer.meme_id, "default", job.rank.catalog, job.subtitle)
        return dataclasses.replace(answer, composed=await keep(answer.composed, result_key, job.keep_s))
    if isinstance(job, ComposeJob) and isinstance(answer, Composed) and job.keep_s > 0:
        return await keep(answer, meme_result_key(job.record, job.meme_id, job.target, job.catalog, job.subtitle),
                          job.keep_s)
    return answer
