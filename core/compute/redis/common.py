"""What the two sides of the Redis queue share: its keys and channels, and how to connect."""

from __future__ import annotations

import contextlib
import pickle
from typing import TYPE_CHECKING

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from redis.exceptions import RedisError

from core.errors import ConfigError
from core.messages import localized

if TYPE_CHECKING:
    from core.recommend.feedback import Votes

QUEUE = "fffusion:jobs"
NEW_JOBS = "fffusion:new-jobs"  # the nudge channel
OWNED = "fffusion:owned:"  # + owner (core.compute.client.OWNER): the ids of the jobs their requests added
VOTES = "fffusion:votes:"  # + generation: the votes a worker learns when its own are older (a pickled Votes)
#: how long a generation's votes stay shared; an instance shares them again halfway while it still asks for them
VOTES_KEEP_S = 300
RESULT_KEEP_S = 15  # the asking instance reads (and deletes) a result within milliseconds; the rest expire
HUNG_EXIT_S = 0.5  # after a job past its deadline, time for arq to store its failure before the process exits
HEARTBEAT_S = 2.0  # how often a worker process records that it is alive (arq's health record)
WATCH_WORKERS_S = 1.0  # how often a bot instance reads that record for its health check
SUPERVISE_S = 0.5  # how often `run_worker` looks for worker processes that ended
RECONNECT_S = 1.0  # how often a worker process that lost Redis tries to connect again


def done_channel(job_id: str) -> str:
    """Job ids are `<instance>.<random>`: the instance that waits for the job listens on its own channel."""
    return f"fffusion:done:{job_id.split('.', 1)[0]}"


def redis_settings(url: str) -> RedisSettings:
    try:
        settings = RedisSettings.from_dsn(url)
    except (RuntimeError, ValueError):
        raise ConfigError("config.bad_value", name="FFFUSION_REDIS_URL", value=url.split("@")[-1],
                          expected=localized("config.expect.redis_url")) from None
    settings.conn_timeout = 5
    return settings


async def connect(url: str) -> ArqRedis:
    try:
        return await create_pool(redis_settings(url), default_queue_name=QUEUE, retry=2)
    except (OSError, RedisError) as err:
        raise ConfigError("redis.unreachable", url=url.split("@")[-1], reason=str(err) or type(err).__name__) from None


async def share_votes(redis: ArqRedis, votes: Votes) -> None:
    if votes.generation is not None:
        await redis.set(VOTES + votes.generation, pickle.dumps(votes, pickle.HIGHEST_PROTOCOL), ex=VOTES_KEEP_S)


async def shared_votes(redis: ArqRedis, generation: str) -> Votes | None:
    """The votes of a generation some instance shared; None when they are gone (or Redis failed: the job is then
    answered `stale`, and its caller sends them with it)."""
    with contextlib.suppress(OSError, RedisError):
        raw = await redis.get(VOTES + generation)
        if raw is not None:
            votes: Votes = pickle.loads(raw)
            return votes
    return None
