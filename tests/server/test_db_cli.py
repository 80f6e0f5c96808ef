"""`mien db migrate` and `mien db migrate-sqlite PATH`, run as an operator would (the installed command, the
database in MIEN_DATABASE_URL), against a real PostgreSQL (tests/engines/postgres.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from server.events import Cue, Turn
from server.store import Owner
from server.store.postgres import PostgresStore
from server.store.schema import migrations
from server.store.sqlite import SqliteStore
from tests.engines.postgres import PostgresServer
from tests.server.test_memory import old_sqlite_file

pytest_plugins = ["tests.engines.postgres_fixtures"]


def mien_db(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    mien = Path(sys.executable).parent / "mien"
    env = {**os.environ, "MIEN_DATABASE_URL": url}
    return subprocess.run([str(mien), "db", *args], env=env, capture_output=True, text=True, timeout=120)


def test_migrate_applies_the_migrations_once(pg_server: PostgresServer, pg_url: str) -> None:
    first, again = mien_db("migrate", url=pg_url), mien_db("migrate", url=pg_url)
    names = [m.name for m in migrations()]
    assert first.returncode == 0 and f"applied {', '.join(names)}" in first.stdout
    assert again.returncode == 0 and "up to date" in again.stdout
    tables = pg_server.psql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'", pg_server.database(pg_url)
    )
    assert set(tables.split()) == {"mien_migrations", "mien_meta", "sessions", "turns"}


def test_migrate_needs_a_database_url_and_says_when_it_cant_reach_it(tmp_path: Path) -> None:
    mien = Path(sys.executable).parent / "mien"
    env = {k: v for k, v in os.environ.items() if k != "MIEN_DATABASE_URL"}
    missing = subprocess.run(
        [str(mien), "db", "migrate"], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert missing.returncode == 2 and "database_url" in missing.stderr
    down = mien_db("migrate", url=f"postgresql://mien:s3cret@/mien?host={tmp_path}")  # no server there
    assert down.returncode == 1 and "PostgreSQL at" in down.stderr and "s3cret" not in down.stderr


def test_migrate_sqlite_copies_a_real_file_once(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "conversations.sqlite3"
    cue = Cue("joy", 0.6, 3, "tag")

    async def seed() -> dict[str, dict[str, object]]:
        store = SqliteStore(source)
        await store.append("a1", Turn("user", "Hello"), Owner("mien"), now=1000.25)
        await store.append("a1", Turn("assistant", "Hi!", cues=(cue,)), Owner("mien"), now=1001.5)
        await store.append("b2", Turn("assistant", "Welcome.", scripted=True), Owner("guide", "shop"))
        await store.append("b2", Turn("user", "Cut", "interrupted"), Owner("guide", "shop"))
        await store.append("c3", Turn("user", "Alone"), Owner("sceptic"), now=time.time())
        exported = {sid: await store.export(sid) for sid in ("a1", "b2", "c3")}
        await store.close()
        return exported

    exported = asyncio.run(seed())
    first = mien_db("migrate-sqlite", str(source), url=pg_url)
    assert first.returncode == 0, first.stderr
    assert "copied 3 sessions and 5 turns; skipped 0 sessions and 0 turns already there" in first.stdout
    again = mien_db("migrate-sqlite", str(source), url=pg_url)
    assert again.returncode == 0, again.stderr
    assert "copied 0 sessions and 0 turns; skipped 3 sessions and 5 turns already there" in again.stdout

    async def read() -> tuple[dict[str, dict[str, object]], list[Owner | None]]:
        store = PostgresStore(pg_url)
        copied = {sid: await store.export(sid) for sid in exported}
        owners = [await store.find(sid) for sid in exported]
        await store.close()
        return copied, owners

    copied, owners = asyncio.run(read())
    assert copied == exported  # every field, times and cues included, nothing twice
    assert owners == [Owner("mien"), Owner("guide", "shop"), Owner("sceptic")]


def test_migrate_sqlite_reads_an_old_file_and_adds_what_is_new(tmp_path: Path, pg_url: str) -> None:
    """A file from before cues, scripted lines and embed keys; then, copied again after it grew, only the
    new turns and sessions come over."""
    source = old_sqlite_file(tmp_path / "old.sqlite3")
    assert "copied 1 sessions and 1 turns" in mien_db("migrate-sqlite", str(source), url=pg_url).stdout

    async def grow() -> None:
        store = SqliteStore(source)  # brings the file's schema up to date, as `mien serve` would
        await store.append("s", Turn("assistant", "Hello."), Owner("guide"))
        await store.append("t", Turn("user", "New"), Owner("mien"))
        await store.close()

    asyncio.run(grow())
    grown = mien_db("migrate-sqlite", str(source), url=pg_url).stdout
    assert "copied 1 sessions and 2 turns; skipped 1 sessions and 1 turns already there" in grown

    async def read() -> list[Turn]:
        store = PostgresStore(pg_url)
        turns = await store.turns("s")
        await store.close()
        return turns

    assert asyncio.run(read()) == [Turn("user", "Hi"), Turn("assistant", "Hello.")]
