"""Conversations in a real PostgreSQL (tests/engines/postgres.py): the setting, migrations applied once by
processes starting together, seqs that stay distinct and ordered with two processes appending to one
session, retention run once per pass across processes, and a conversation's history through an outage
(held, told once, written in order when the database is back, or reported lost when the session closes)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from server.events import Gesture, Turn
from server.llm import rough_tokens
from server.reply.history import History
from server.settings import ConfigError, Settings
from server.store import Owner, StoreUnavailable, open_store
from server.store.postgres import PostgresStore, redacted
from server.store.schema import migrate, migrations
from server.store.sqlite import SqliteStore
from tests.engines.postgres import PostgresServer

pytest_plugins = ["tests.engines.postgres_fixtures"]
GUIDE = Owner("guide")
MIGRATIONS = [m.name for m in migrations()]


def test_database_url_picks_postgres_and_a_password_is_never_shown(tmp_path: Path) -> None:
    url = "postgres://mien:s3cret@db.example:5432/mien"
    settings = Settings.load({"MIEN_DATABASE_URL": url})
    assert settings.database_url == url
    assert isinstance(open_store(str(tmp_path), settings.database_url), PostgresStore)
    assert isinstance(open_store(str(tmp_path), None), SqliteStore)  # without it: SQLite, as before
    with pytest.raises(ConfigError, match="database_url: a URL starting with postgresql://") as e:
        Settings.load({"MIEN_DATABASE_URL": "mysql://mien:s3cret@db.example/mien"})
    assert "s3cret" not in str(e.value) and "MIEN_DATABASE_URL" in str(e.value)
    assert redacted(url) == "postgres://mien:***@db.example:5432/mien"
    assert redacted("postgresql:///mien?host=/run/pg&password=s3cret") == (
        "postgresql:///mien?host=/run/pg&password=***"
    )
    assert "s3cret" not in PostgresStore(url).where


def test_an_unreachable_database_is_one_typed_error_at_once(tmp_path: Path) -> None:
    async def main() -> float:
        store = PostgresStore(f"postgresql://mien:s3cret@/mien?host={tmp_path}", timeout=2.0)  # no server
        began = time.monotonic()
        with pytest.raises(StoreUnavailable) as e:
            await store.append("s", Turn("user", "Hi"), GUIDE)
        assert "s3cret" not in str(e.value) and "PostgreSQL at" in str(e.value)
        await store.close()
        return time.monotonic() - began

    assert asyncio.run(main()) < 2.0


def test_a_database_that_does_not_answer_fails_the_call_within_its_timeout(pg_url: str) -> None:
    """Another connection holds a lock the call needs: after the call's timeout it is StoreUnavailable (not
    a hang), and the store works again once the lock is gone."""

    async def main() -> None:
        store = PostgresStore(pg_url, timeout=1.0)
        await store.append("s", Turn("user", "Hi"), GUIDE)
        other = await asyncpg.connect(pg_url)
        async with other.transaction():
            await other.execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
            began = time.monotonic()
            with pytest.raises(StoreUnavailable, match="no answer within 1 s"):
                await store.find("s")
            assert 1.0 <= time.monotonic() - began < 3.0
        await other.close()
        assert await store.find("s") == GUIDE
        await store.close()

    asyncio.run(main())


def test_migrations_run_once_when_stores_open_together(pg_server: PostgresServer, pg_url: str) -> None:
    """Three processes' stores on an empty database at once: one migrates (under the advisory lock; a plain
    CREATE TABLE run twice would fail), the others wait for it and find the schema made."""

    async def main() -> list[list[str]]:
        stores = [PostgresStore(pg_url) for _ in range(3)]
        await asyncio.gather(*(s.start() for s in stores))
        later = PostgresStore(pg_url)
        await later.start()
        for store in [*stores, later]:
            await store.close()
        return [s.migrated for s in [*stores, later]]

    applied = asyncio.run(main())
    assert sorted(applied) == [[], [], [], MIGRATIONS]
    assert MIGRATIONS[:2] == ["0001_conversations", "0002_retention"]
    recorded = pg_server.psql(
        "SELECT version, name FROM mien_migrations ORDER BY applied, version", pg_server.database(pg_url)
    )
    assert recorded.split() == [f"{i}|{name}" for i, name in enumerate(MIGRATIONS, 1)]  # in order


def test_turns_stored_before_gestures_were_kept_still_load(pg_url: str) -> None:
    """A database at migration 0002 (no gestures column) with a turn in it: a store of this version
    migrates it, reads the old turn (no gestures) and keeps the gestures of the next one."""

    async def main() -> None:
        conn = await asyncpg.connect(pg_url)
        assert await migrate(conn, migrations()[:2]) == MIGRATIONS[:2]
        await conn.execute("INSERT INTO sessions (id, persona, created, updated) VALUES ('s', 'guide', 0, 0)")
        await conn.execute(
            "INSERT INTO turns (session_id, seq, role, content, status, at, cues, scripted)"
            " VALUES ('s', 1, 'assistant', 'Hi', 'complete', 0, '[]', false)"
        )
        await conn.close()
        store = PostgresStore(pg_url)
        assert [t.gestures for t in await store.turns("s")] == [()]
        assert store.migrated == MIGRATIONS[2:] and "0003_gestures" in MIGRATIONS
        nod = Gesture("nod", 0, 0.3, "inferred")
        await store.append("s", Turn("assistant", "Yes.", gestures=(nod,)), GUIDE)
        assert [t.gestures for t in await store.turns("s")] == [(), (nod,)]
        assert [t["gestures"] for t in (await store.export("s"))["turns"]] == [[], [nod.stored()]]
        await store.close()

    asyncio.run(main())


def test_migrations_are_numbered_without_gaps(tmp_path: Path) -> None:
    for name in ("0001_a.sql", "0003_c.sql"):
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(RuntimeError, match=r"numbered 1\.\.N"):
        migrations(tmp_path)


APPENDER = """
import asyncio, sys
from server.events import Gesture, Turn
from server.store import Owner
from server.store.postgres import PostgresStore

async def main(url: str, name: str) -> None:
    store = PostgresStore(url)
    await store.start()
    print("ready", flush=True)
    sys.stdin.readline()  # both processes ready: go

    async def lane(n: int) -> None:
        for i in range(25):
            await store.append("shared", Turn("user", f"{name} {n} {i}"), Owner("mien"))

    await asyncio.gather(*(lane(n) for n in range(4)))
    await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_two_processes_appending_to_one_session_keep_distinct_ordered_seqs(
    pg_server: PostgresServer, pg_url: str
) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, pg_url, name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.close()
    assert [proc.wait(120) for proc in procs] == [0, 0]
    for proc in procs:
        assert proc.stdout is not None
        proc.stdout.close()
    rows = pg_server.psql(
        "SELECT seq, content FROM turns ORDER BY seq", pg_server.database(pg_url)
    ).splitlines()
    seqs = [int(r.split("|")[0]) for r in rows]
    assert seqs == list(range(1, 201))  # 2 processes x 4 lanes x 25 turns: none lost, none shared
    lanes: dict[str, list[int]] = {}
    for row in rows:
        name, lane, i = row.split("|")[1].split()
        lanes.setdefault(f"{name} {lane}", []).append(int(i))
    assert len(lanes) == 8 and all(order == list(range(25)) for order in lanes.values())  # each in order
    assert {r.split("|")[1].split()[0] for r in rows[:100]} == {"a", "b"}  # they did interleave


def test_retention_runs_once_across_processes_within_a_pass(pg_server: PostgresServer, pg_url: str) -> None:
    long_ago, cutoff = time.time() - 40 * 86400, time.time() - 30 * 86400

    async def main() -> None:
        a, b = PostgresStore(pg_url), PostgresStore(pg_url)
        await a.append("old1", Turn("user", "long ago"), GUIDE, now=long_ago)
        purged = await asyncio.gather(a.purge(cutoff, every=3600), b.purge(cutoff, every=3600))
        assert sorted(purged) == [0, 1]  # the same pass, started together: one of them ran it
        await a.append("old2", Turn("user", "long ago"), GUIDE, now=long_ago)
        assert await b.purge(cutoff, every=3600) == 0 and await a.purge(cutoff, every=3600) == 0
        assert await a.find("old2") == GUIDE  # a pass ran within the hour: nobody purges again yet
        pg_server.psql("UPDATE mien_meta SET at = at - 3601", pg_server.database(pg_url))  # an hour on
        assert await b.purge(cutoff, every=3600) == 1 and await a.find("old2") is None
        for store in (a, b):
            await store.close()

    asyncio.run(main())


def test_sqlite_purges_at_every_pass_as_before(tmp_path: Path) -> None:
    async def main() -> list[int]:
        store = SqliteStore(tmp_path / "c.sqlite3")
        done = []
        for sid in ("old1", "old2"):
            await store.append(sid, Turn("user", "long ago"), GUIDE, now=time.time() - 40 * 86400)
            done.append(await store.purge(time.time() - 30 * 86400, every=3600))
        await store.close()
        return done

    assert asyncio.run(main()) == [1, 1]


# ------------------------------------------------------------------------------------- through an outage


def _contents(turns: list[Turn]) -> list[str]:
    return [t.content for t in turns]


def test_turns_are_held_through_an_outage_and_written_in_order(
    pg_server: PostgresServer, pg_url: str
) -> None:
    async def main() -> None:
        store = PostgresStore(pg_url, timeout=2.0)
        history = History(store, "s", rough_tokens, owner=GUIDE)  # no keep(): only writes retry here
        told: list[int | None] = []
        history.on_unsaved = told.append
        await history.add(Turn("user", "one"), reply_id=1)
        pg_server.stop()
        await history.add(Turn("assistant", "two"), reply_id=1)
        await history.add(Turn("user", "three"), reply_id=2)
        await history.clear()  # held too, in its place: what came before it is cleared once written
        await history.add(Turn("user", "four"), reply_id=3)
        assert told == [1] and history.unsaved == 4 and not history.saved.is_set()  # told once
        assert _contents(history.turns) == ["four"]
        assert history.messages("sys")[0][-1]["content"] == "four"  # the model still sees it
        pg_server.start()
        await history.add(Turn("assistant", "five"), reply_id=3)  # writes what was held, then this one
        assert history.unsaved == 0 and history.saved.is_set()
        again = PostgresStore(pg_url)
        assert _contents(await again.turns("s")) == ["four", "five"]
        pg_server.stop()  # a second outage: told again
        await history.add(Turn("user", "six"), reply_id=4)
        assert told == [1, 4]
        pg_server.start()
        await history.close()  # the session is over: its last try writes it
        assert _contents(await again.turns("s")) == ["four", "five", "six"]
        for store in (history.store, again):
            await store.close()

    asyncio.run(main())


def test_held_turns_are_written_by_the_timer_when_nothing_else_comes(
    pg_server: PostgresServer, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """keep() runs as long as the session (a task of its group): it retries with backoff, and when the
    session ends (cancelled) gives what is still held a last try."""

    async def main() -> None:
        store = PostgresStore(pg_url, timeout=2.0)
        history = History(store, "s", rough_tokens, owner=GUIDE, retry=(0.05, 0.2))
        keeper = asyncio.create_task(history.keep())
        await history.add(Turn("user", "one"))
        pg_server.stop()
        await history.add(Turn("assistant", "two"))
        assert history.unsaved == 1
        pg_server.start()
        await asyncio.wait_for(history.saved.wait(), 30)  # the timer found the database back
        assert _contents(await store.turns("s")) == ["one", "two"]
        pg_server.stop()  # a second outage, and the session ends in it
        await history.add(Turn("user", "three"))
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)
        assert history.unsaved == 1
        pg_server.start()
        await store.close()

    with caplog.at_level(logging.ERROR, logger="mien.store"):
        asyncio.run(main())
    lost = [r.getMessage() for r in caplog.records if "closed with turns not saved" in r.getMessage()]
    assert len(lost) == 1 and "1 lost" in lost[0]


def test_a_session_closing_with_turns_unsaved_logs_how_many(
    pg_server: PostgresServer, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        store = PostgresStore(pg_url, timeout=2.0)
        history = History(store, "s", rough_tokens, owner=GUIDE, retry=(0.05, 0.2))
        pg_server.stop()
        try:
            await history.add(Turn("user", "one"))
            await history.add(Turn("assistant", "two"))
            await history.close()
        finally:
            pg_server.start()
        assert history.unsaved == 2
        assert await store.find("s") is None  # never written: another process would not find it
        await store.close()

    with caplog.at_level(logging.ERROR, logger="mien.store"):
        asyncio.run(main())
    lost = [r for r in caplog.records if "closed with turns not saved" in r.getMessage()]
    assert len(lost) == 1 and lost[0].levelno == logging.ERROR
    assert "2 lost" in lost[0].getMessage()
