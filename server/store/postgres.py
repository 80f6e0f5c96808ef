"""Conversations in PostgreSQL (asyncpg), shared by every process and machine: any process resumes any
session, retention runs once per interval for the whole deployment. The schema is migrated on first use
(schema.py). A small pool; every call (waiting for a connection included) is bounded by a timeout; a
database that can't be reached raises StoreUnavailable, anything else is a bug. The URL's password is never
logged: `where` is the URL without it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from server.events import Turn
from server.store.errors import StoreUnavailable
from server.store.owner import Owner
from server.store.rows import exported, stored, turn_of
from server.store.schema import LOCK_SPACE, PURGE_LOCK, migrate

T = TypeVar("T")
log = logging.getLogger("mien.store")
POOL_SIZE = 4  # connections per process: calls are short, and a session makes one at a time
TIMEOUT = 5.0  # s for one call, a connection included: an unreachable database fails it, not hangs it
# What "the database can't be reached" looks like: refused or lost connections (class 08), shutdowns and
# cancellations (57), no room (53: disk full, too many connections), a login refused (28), no database (3D),
# and OS errors (no socket, no route).
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
    asyncpg.exceptions.InvalidCatalogNameError,
)
_UPSERT = (
    "INSERT INTO sessions (id, persona, created, updated, key) VALUES ($1, $2, $3, $3, $4)"
    " ON CONFLICT (id) DO UPDATE SET updated = GREATEST(sessions.updated, EXCLUDED.updated)"
)
# The next seq is read after the upsert above has locked the session's row until commit: another process
# appending to the same session waits for that lock, then (READ COMMITTED: each statement sees what was
# committed before it) reads this turn's seq and takes the next. The primary key backs it up.
_APPEND = (
    "INSERT INTO turns (session_id, seq, role, content, status, at, cues, scripted, gestures)"
    " SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6::jsonb, $7, $8::jsonb FROM turns"
    " WHERE session_id = $1"
)
_ROWS = (
    "SELECT role, content, status, at, cues::text AS cues, scripted, gestures::text AS gestures FROM turns"
    " WHERE session_id = $1 ORDER BY seq"
)


def redacted(url: str) -> str:
    """The URL without its password, in the user part or the query (for logs and errors)."""
    url = re.sub(r"^(\w+://[^/@:]*):[^/]*@", r"\1:***@", url)  # to the last @ of the host part
    return re.sub(r"([?&])password=[^&]*", r"\1password=***", url)


class PostgresStore:
    def __init__(self, url: str, *, timeout: float = TIMEOUT, pool_size: int = POOL_SIZE) -> None:
        """Nothing connects yet: the first call does (and migrates), so a database that is down at start-up
        delays nothing but conversations."""
        self.url = url
        self.where = redacted(url)
        self.timeout = timeout
        self.migrated: list[str] = []  # the migrations this store applied (none: the database had them)
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _ready(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                # min_size 0: connections are made when needed, and nothing reconnects (and logs) in the
                # background while the database is down.
                connect = min(self.timeout, 10.0)  # a host that never answers fails soon, even in a CLI
                pool = await asyncpg.create_pool(
                    self.url, min_size=0, max_size=self._pool_size, timeout=connect
                )
                try:
                    async with pool.acquire() as conn:
                        applied = await migrate(conn)
                except BaseException:
                    pool.terminate()
                    raise
                self.migrated += applied
                done = f" (migrations applied: {', '.join(applied)})" if applied else ""
                log.info("conversations stored in PostgreSQL at %s%s", self.where, done)
                self._pool = pool
            return self._pool

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection for one call, within the call's timeout; failing to reach the database (or
        losing it meanwhile) raises StoreUnavailable."""
        try:
            async with asyncio.timeout(self.timeout):
                pool = await self._ready()
                async with pool.acquire() as conn:
                    yield conn
        except TimeoutError:
            raise StoreUnavailable(
                f"PostgreSQL at {self.where}: no answer within {self.timeout:g} s"
            ) from None
        except _UNREACHABLE as e:
            raise StoreUnavailable(f"PostgreSQL at {self.where}: {e}") from e
        except asyncpg.InterfaceError as e:
            if "closed" not in str(e):  # "connection is closed": lost under us; others are misuse (bugs)
                raise
            raise StoreUnavailable(f"PostgreSQL at {self.where}: {e}") from e

    async def _call(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async with self.connection() as conn:
            return await fn(conn)

    async def start(self) -> None:
        async with self.connection():
            pass

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.timeout)
            except (TimeoutError, *_UNREACHABLE):  # calls still running, or the database gone: just drop
                pool.terminate()

    async def find(self, session_id: str) -> Owner | None:
        row = await self._call(
            lambda db: db.fetchrow("SELECT persona, key FROM sessions WHERE id = $1", session_id)
        )
        return None if row is None else Owner(row["persona"], row["key"])

    async def append(self, session_id: str, turn: Turn, owner: Owner, now: float | None = None) -> None:
        now = time.time() if now is None else now
        cues, gestures = stored(turn)

        async def append(db: asyncpg.Connection) -> None:
            async with db.transaction():
                await db.execute(_UPSERT, session_id, owner.persona, now, owner.key)
                await db.execute(
                    _APPEND,
                    session_id,
                    turn.role,
                    turn.content,
                    turn.status,
                    now,
                    cues,
                    turn.scripted,
                    gestures,
                )

        await self._call(append)

    async def _rows(self, session_id: str) -> list[asyncpg.Record]:
        return await self._call(lambda db: db.fetch(_ROWS, session_id))

    async def turns(self, session_id: str) -> list[Turn]:
        return [turn_of(r) for r in await self._rows(session_id)]

    async def clear(self, session_id: str) -> int:
        status = await self._call(
            lambda db: db.execute("DELETE FROM turns WHERE session_id = $1", session_id)
        )
        return int(status.split()[-1])  # "DELETE n"

    async def export(self, session_id: str) -> dict[str, Any]:
        row = await self._call(
            lambda db: db.fetchrow("SELECT persona, created, updated FROM sessions WHERE id = $1", session_id)
        )
        return exported(session_id, row, await self._rows(session_id))

    async def purge(self, older_than: float, every: float = 0.0) -> int:
        """One pass for the whole deployment per `every` seconds: a process that finds another purging
        (the transaction's advisory lock) or one that purged within `every` (by the database's clock, the
        same for every machine) skips its pass and returns 0."""

        async def purge(db: asyncpg.Connection) -> int:
            async with db.transaction():
                if not await db.fetchval("SELECT pg_try_advisory_xact_lock($1, $2)", LOCK_SPACE, PURGE_LOCK):
                    return 0
                now = await db.fetchval("SELECT extract(epoch FROM clock_timestamp())::float8")
                last = await db.fetchval("SELECT at FROM mien_meta WHERE name = 'purge'")
                if every > 0 and last is not None and now - last < every:
                    return 0
                status = await db.execute("DELETE FROM sessions WHERE updated < $1", older_than)
                await db.execute(
                    "INSERT INTO mien_meta (name, at) VALUES ('purge', $1)"
                    " ON CONFLICT (name) DO UPDATE SET at = EXCLUDED.at",
                    now,
                )
                return int(status.split()[-1])

        return await self._call(purge)
