"""The gatekeeper's counts in Redis (`redis_url`), shared by every process and machine of one deployment.

- Open sessions: a sorted set per cap (server, visitor, key, key and visitor) whose members are leases
  scored by when they expire. Admission is one Lua script (atomic on the server): drop expired leases,
  check every cap, add the lease to every set or to none. Each process renews its own leases every third
  of `LEASE` (and re-adds them, so a Redis that restarted empty counts them again); a process that dies
  without saying goodbye stops renewing, and its sessions stop counting within `LEASE` seconds.
- Messages per minute: a sorted set of the last minute's messages per (key, visitor), checked and counted
  by one script.
- Tokens and microphone audio (ms) per day: INCRBY on a counter per (key, day) and (key, visitor, day) that
  expires after two days.

A session's end and a reply's cost never wait for Redis: they are written by this process's background task
(at once, or on its next round if Redis is away; token amounts not yet written still count here). Every
call is bounded by `timeout`; a failure raises CountersUnavailable, and the gatekeeper decides (refuse, or
count locally). Keys start with `mien:` (use another Redis database, `/N` in the URL, per deployment).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from server.limits.counters import WINDOW, CountersUnavailable
from server.redis_client import redis_client

log = logging.getLogger("mien.limits")

LEASE = 30.0  # s a session counts without being renewed (a dead process's sessions are freed after this)
TOKENS_TTL = 2 * 86400  # s: a day's token counters outlive the day

_OPEN = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local now = tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[4 + i]) then return i end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[3], ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ARGV[4])
end
return 0
"""

_HIT = """
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then return false end
local now, window = tonumber(ARGV[1]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(window - (now - tonumber(oldest[2])))
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
return false
"""

# Token amounts, once per batch id: a batch sent again (its answer lost to a timeout) is not added twice.
_TOKENS = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', 86400) then return 0 end
for i = 2, #KEYS do
  redis.call('INCRBY', KEYS[i], ARGV[i - 1])
  redis.call('EXPIRE', KEYS[i], ARGV[#ARGV])
end
return 1
"""


class RedisCounters:
    def __init__(
        self,
        url: str,
        timeout: float = 1.0,
        lease: float = LEASE,
        clock: Callable[[], float] = time.time,
        prefix: str = "mien:",
    ) -> None:
        self._redis: Any = redis_client(url, timeout)
        self._open = self._redis.register_script(_OPEN)
        self._hit = self._redis.register_script(_HIT)
        self._tokens = self._redis.register_script(_TOKENS)
        self.lease = lease
        self.clock = clock
        self.prefix = prefix
        self._leases: dict[str, tuple[str, ...]] = {}  # this process's open sessions: renewed
        self._closed: list[tuple[str, tuple[str, ...]]] = []  # ended, not yet removed from Redis
        self._pending: Counter[str] = Counter()  # token amounts not yet sent
        self._batch: tuple[str, Counter[str]] | None = None  # sent, not known to be written: sent again
        self._events = map(f"{uuid.uuid4().hex[:12]}:{{}}".format, itertools.count(1))
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()  # one write at a time
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failing = False
        # After a failure, one call at a time waits for Redis; the others fail at once (no pile-up).
        self._down = False
        self._probing = False

    # ------------------------------------------------------------------ the Counters interface

    async def open(self, lease: str, caps: Sequence[tuple[str, int]]) -> int | None:
        if self._closed or self._writing.locked():  # this process's ended sessions are out first
            await self._write(renew=False)
        names = [self.prefix + name for name, _cap in caps]
        now = self.clock()
        args = [lease, repr(now), repr(now + self.lease), int(2000 * self.lease), *(cap for _n, cap in caps)]
        full = int(await self._call(self._open(keys=names, args=args)))
        if full:
            return full - 1
        self._leases[lease] = tuple(names)
        return None

    def close(self, lease: str, names: Sequence[str]) -> None:
        held = self._leases.pop(lease, None)
        if held is not None:
            self._closed.append((lease, held))
            self._wake.set()

    async def hit(self, name: str, limit: int, now: float) -> float | None:
        args = [repr(now), limit, next(self._events), WINDOW]
        wait = await self._call(self._hit(keys=[self.prefix + name], args=args))
        return None if wait is None else float(wait)

    def add(self, names: Sequence[str], amount: int) -> None:
        for name in names:
            self._pending[self.prefix + name] += amount
        self._wake.set()

    async def totals(self, names: Sequence[str]) -> list[int]:
        keys = [self.prefix + name for name in names]
        # Amounts not yet sent, and a batch in flight: read with its marker, which says whether Redis has
        # applied it (its reply may still be on the way), so it is counted exactly once.
        pending, batch = Counter(self._pending), self._batch
        marker = f"{self.prefix}batch:{batch[0]}" if batch is not None else keys[0]  # (else unused)
        *stored, applied = await self._call(self._redis.mget([*keys, marker]))
        sent = batch[1] if batch is not None and applied is None else Counter()
        return [int(v or 0) + pending[k] + sent[k] for k, v in zip(keys, stored, strict=True)]

    async def count(self, name: str) -> int:
        return int(await self._call(self._redis.zcount(self.prefix + name, f"({self.clock()!r}", "+inf")))

    # ------------------------------------------------------------------ lifecycle

    async def renew(self) -> None:
        """Renew this process's leases now (the background task does it every third of a lease)."""
        await self._write(renew=True)

    async def ping(self) -> None:
        await self._call(self._redis.ping())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mien-shared-limits")

    async def stop(self) -> None:
        """Write what is left (bounded by the timeout), stop renewing and close the connections."""
        if self._task is not None:  # not cancelled: a write in flight ends (bounded) and keeps its amounts
            self._stopping = True
            self._wake.set()
            await asyncio.gather(self._task, return_exceptions=True)
        for lease, names in self._leases.items():  # the process is going: its sessions too
            self._closed.append((lease, names))
        self._leases.clear()
        with contextlib.suppress(CountersUnavailable):
            await self._write(renew=False)
        await self._redis.aclose()

    async def _run(self) -> None:
        every = self.lease / 3
        renewed = self.clock()
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, renewed + every - self.clock())):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            renew = self.clock() >= renewed + every
            try:
                await self._write(renew)
            except CountersUnavailable as e:
                if not self._failing:
                    log.error("Redis can't be reached (%s): session ends and token use wait to be written", e)
                self._failing = True
                await asyncio.sleep(min(1.0, every))  # not a busy loop while it is away
                continue
            except Exception:  # a bug must not stop the renewals: sessions would stop counting in 30 s
                log.exception("writing the shared limits failed")
                await asyncio.sleep(min(1.0, every))
                continue
            if self._failing:
                log.warning("Redis is back: the shared limits are written again")
                self._failing = False
            if renew:
                renewed = self.clock()

    async def _write(self, renew: bool) -> None:
        """One round trip: ended sessions out, token amounts in, and (when due) this process's leases
        renewed. What fails stays queued for the next round."""
        async with self._writing:
            await self._write_now(renew)

    async def _write_now(self, renew: bool) -> None:
        closed = self._closed
        self._closed = []
        if self._batch is None and self._pending:
            self._batch, self._pending = (uuid.uuid4().hex, self._pending), Counter()
        pipe = self._redis.pipeline(transaction=False)
        for lease, names in closed:
            for name in names:
                pipe.zrem(name, lease)
        if self._batch is not None:
            batch, amounts = self._batch
            totals = list(amounts)
            keys = [f"{self.prefix}batch:{batch}", *totals]
            await self._tokens(keys=keys, args=[*(amounts[n] for n in totals), TOKENS_TTL], client=pipe)
        if renew and self._leases:
            until = self.clock() + self.lease
            members: dict[str, dict[str, float]] = defaultdict(dict)
            for lease, names in self._leases.items():
                for name in names:
                    members[name][lease] = until
            for name, scores in members.items():
                pipe.zadd(name, scores)
                pipe.pexpire(name, int(2000 * self.lease))
        try:
            await self._call(pipe.execute())
        except BaseException:  # unavailable, or cancelled by `stop`: nothing is lost, it goes next time
            self._closed = closed + self._closed
            raise
        self._batch = None

    async def _call(self, awaitable: Any) -> Any:
        from redis.exceptions import RedisError

        if self._down and self._probing:  # one call at a time finds out whether it is back
            if hasattr(awaitable, "close"):
                awaitable.close()  # a coroutine, never awaited
            raise CountersUnavailable("Redis: unreachable (being retried)")
        probe = self._down
        self._probing = self._probing or probe
        try:
            result = await awaitable
        except (RedisError, OSError) as e:
            self._down = True
            raise CountersUnavailable(f"Redis: {e}") from e
        finally:
            if probe:
                self._probing = False
        self._down = False
        return result
