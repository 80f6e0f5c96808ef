"""PostgreSQL's schema, versioned in the repo: server/store/migrations/NNNN_name.sql, applied in order and
recorded in `mien_migrations`. Every process runs this when it first connects; processes starting together
on an empty database take turns under one advisory lock, so each migration runs exactly once."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger("mien.store")
MIGRATIONS = Path(__file__).with_name("migrations")
# Advisory lock keys (two ints: "mien", then what is locked), the same in every process.
LOCK_SPACE = 0x6D69656E
MIGRATE_LOCK = 1
PURGE_LOCK = 2
_NAME = re.compile(r"(\d{4})_[\w-]+\.sql")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(directory: Path = MIGRATIONS) -> list[Migration]:
    """Every migration in the repo, in order; numbered 1, 2, 3... without gaps (a gap is a packaging bug)."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.fullmatch(path.name)
        if match is None:
            raise RuntimeError(f"{path}: a migration is named NNNN_name.sql")
        found.append(Migration(int(match[1]), path.stem, path.read_text()))
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{directory}: migrations must be numbered 1..N, got {[m.name for m in found]}")
    return found


async def migrate(conn: asyncpg.Connection, wanted: list[Migration] | None = None) -> list[str]:
    """Apply the migrations this database lacks, each in its own transaction with its record; the names
    applied (none when it was up to date). Waits while another process migrates."""
    wanted = migrations() if wanted is None else wanted
    # A session-level lock: it holds across the transactions below, and a dropped connection frees it.
    await conn.execute("SELECT pg_advisory_lock($1, $2)", LOCK_SPACE, MIGRATE_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS mien_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM mien_migrations")}
        known = {m.version for m in wanted}
        if newer := sorted(done - known):
            # A newer Mien migrated it (a rolling upgrade): migrations only add, so go on, but say so.
            log.warning("the database has migrations %s this version of Mien does not know", newer)
        applied = []
        for m in wanted:
            if m.version in done:
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO mien_migrations (version, name) VALUES ($1, $2)", m.version, m.name
                )
            applied.append(m.name)
        return applied
    finally:
        if not conn.is_closed():
            await conn.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_SPACE, MIGRATE_LOCK)
