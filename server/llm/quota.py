"""The provider's quota for the configured model (`model_rpm`, `model_tpm`): each request to it is counted
before it is sent, and one over the quota is not sent at all (QuotaReached, a `busy` reply).

The window slides over the last 60 s. A request costs one request and, with `model_tpm`, its prompt's
tokens plus `max_tokens` (what OpenAI's limiter counts up front; a reply that ends early is not refunded).
With `redis_url` the window is in Redis, shared by every process and machine: one Lua script checks and
counts atomically, timed by the Redis server's clock (the machines' clocks don't matter). Without it, each
process counts its own (with several workers, each allows the whole quota).

Redis unreachable: the request is counted in this process instead (a reply never waits more than about
2 s on Redis), logged once; Redis is tried again at most every `RETRY` s, and its window is used again
from then on (what was counted here meanwhile stays here).

Why not litellm's Router (usage-based-routing-v2, `rpm`/`tpm` on a deployment, `redis_url`): in litellm
1.110 its counts live in each process's memory and reach Redis in batches every 0.1 s
(router_strategy/base_routing_strategy.py), so processes admit requests the others already counted (two
processes, rpm 5, a burst of 10 each: 10 reached the provider); its pick refuses when `used + 1 >= rpm`
(lowest_tpm_rpm_v2.py: one process allows rpm - 1 a minute), and its windows are clock minutes ("%H-%M"),
so a burst across a minute's turn gets twice the quota.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections import deque
from typing import Any

from server.llm.slots import Busy
from server.redis_client import redis_client

log = logging.getLogger("mien.llm")

WINDOW = 60.0  # s
RETRY = 5.0  # s between attempts to reach Redis while it is away


class QuotaReached(Busy):
    """The model's requests or tokens per minute are used up: nothing was sent (try again later)."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        super().__init__(f"the model's rate limit is reached; try again in {max(1, round(wait))} s")


class LocalQuota:
    """The last minute's requests to the model in this process: (when, tokens), oldest first."""

    def __init__(self, rpm: int, tpm: int, clock: Any = time.monotonic) -> None:
        self.rpm, self.tpm, self.clock = rpm, tpm, clock
        self._sent: deque[tuple[float, int]] = deque()
        self._tokens = 0

    async def take(self, tokens: int) -> float | None:
        """Count a request costing `tokens` if it fits, and return None; else the seconds until it would
        fit (nothing counted). A request costing more than the whole `tpm` waits for an empty window."""
        tokens = min(tokens, self.tpm) if self.tpm else 0
        now = self.clock()
        while self._sent and self._sent[0][0] <= now - WINDOW:
            self._tokens -= self._sent.popleft()[1]
        wait = 0.0
        if self.rpm and len(self._sent) >= self.rpm:
            wait = self._sent[len(self._sent) - self.rpm][0] + WINDOW - now
        if self.tpm and self._tokens + tokens > self.tpm:
            need = self._tokens + tokens - self.tpm
            for sent, cost in self._sent:
                need -= cost
                if need <= 0:
                    wait = max(wait, sent + WINDOW - now)
                    break
        if wait > 0:
            return wait
        self._sent.append((now, tokens))
        self._tokens += tokens
        return None

    async def aclose(self) -> None:
        pass


# KEYS[1]: the window, a sorted set of "event:tokens" scored by when (ms); KEYS[2]: its tokens' total.
# ARGV: event id, rpm (0: none), tpm (0: none), tokens, window (ms). Returns -1 (counted) or ms to wait.
# An event already counted (its reply lost to a timeout, then sent again) is not counted twice.
_TAKE = """
local member = ARGV[1] .. ':' .. ARGV[4]
if redis.call('ZSCORE', KEYS[1], member) then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[5])
local function cost(m) return tonumber(string.match(m, ':(%d+)$')) end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
for _, m in ipairs(old) do used = used - cost(m) end
if #old > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window) end
local n = redis.call('ZCARD', KEYS[1])
if n == 0 then used = 0 end
local rpm, tpm, tokens = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local wait = -1
if rpm > 0 and n >= rpm then
  local freeing = redis.call('ZRANGE', KEYS[1], n - rpm, n - rpm, 'WITHSCORES')
  wait = tonumber(freeing[2]) + window - now
end
if tpm > 0 and used + tokens > tpm then
  local need = used + tokens - tpm
  local sent = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  local freed = tonumber(sent[#sent]) + window - now  -- (a total gone wrong: until the window is empty)
  for i = 1, #sent, 2 do
    need = need - cost(sent[i])
    if need <= 0 then freed = tonumber(sent[i + 1]) + window - now break end
  end
  wait = math.max(wait, freed)
end
if wait < 0 then
  redis.call('ZADD', KEYS[1], now, member)
  used = used + tokens
end
redis.call('SET', KEYS[2], used, 'PX', window + 1000)
redis.call('PEXPIRE', KEYS[1], window + 1000)
return wait
"""


class RedisQuota:
    """The window in Redis (`url`), under `mien:quota:<name>`; this process's LocalQuota while it is away."""

    def __init__(self, url: str, name: str, rpm: int, tpm: int, timeout: float = 1.0) -> None:
        self.url, self.rpm, self.tpm, self.timeout = url, rpm, tpm, timeout
        self.keys = [f"mien:quota:{name}", f"mien:quota:{name}:tokens"]
        self.local = LocalQuota(rpm, tpm)
        self._events = map(f"{uuid.uuid4().hex[:12]}:{{}}".format, itertools.count(1))
        self._redis: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._script: Any = None
        self._down = False
        self._retry_at = 0.0
        self._probing = False

    async def take(self, tokens: int) -> float | None:
        from redis.exceptions import RedisError

        if self._down and (self._probing or time.monotonic() < self._retry_at):
            return await self.local.take(tokens)
        probe = self._down
        self._probing = self._probing or probe
        try:
            self._connect()
            tokens = min(tokens, self.tpm) if self.tpm else 0
            args = [next(self._events), self.rpm, self.tpm, tokens, int(WINDOW * 1000)]
            waited = int(await self._script(keys=self.keys, args=args))
        except (RedisError, OSError) as e:
            if not self._down:
                log.error("Redis can't be reached (%s): the model's quota is counted in this process", e)
            self._down, self._retry_at = True, time.monotonic() + RETRY
            return await self.local.take(tokens)
        finally:
            if probe:
                self._probing = False
        if self._down:
            log.warning("Redis is back: the model's quota is counted there again")
            self._down = False
        return None if waited < 0 else waited / 1000

    def _connect(self) -> None:
        """A client for the running loop (its connections belong to one loop)."""
        loop = asyncio.get_running_loop()
        if self._redis is not None and self._loop is loop:
            return
        self._redis = redis_client(self.url, self.timeout)
        self._script = self._redis.register_script(_TAKE)
        self._loop = loop

    async def aclose(self) -> None:
        if self._redis is not None and self._loop is asyncio.get_running_loop():
            await self._redis.aclose()
        self._redis = self._loop = None


Quota = LocalQuota | RedisQuota


def quota_for(name: str, rpm: int, tpm: int, redis_url: str | None) -> Quota | None:
    """The quota of the model called `name` (None when neither limit is set)."""
    if not rpm and not tpm:
        return None
    return RedisQuota(redis_url, name, rpm, tpm) if redis_url else LocalQuota(rpm, tpm)
