"""The Redis client every shared count uses (limits/shared.py, llm/quota.py): each call bounded by
`timeout`, connecting included, and one retry, so a pooled connection that died with a restarted Redis
fails once, then reconnects. redis is imported only when a Redis is configured."""

from __future__ import annotations

from typing import Any


def redis_client(url: str, timeout: float) -> Any:
    import redis.asyncio as redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1)
    )
