"""Conversation memory, in SQLite and in PostgreSQL (a real server, tests/engines/postgres.py): persistence
across store instances (a restart), clear, export, retention; what is particular to each store after."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from server.events import Cue, Gesture, Turn
from server.store import Owner, Store
from server.store.postgres import PostgresStore
from server.store.sqlite import SqliteStore
from tests.engines.postgres import PostgresServer

pytest_plugins = ["tests.engines.postgres_fixtures"]
GUIDE = Owner("guide")
OpenStore = Callable[[], Store]


def test_turns_survive_a_restart(open_store: OpenStore) -> None:
    async def main() -> None:
        store = open_store()
        assert await store.find("abc") is None
        await store.append("abc", Turn("user", "Hello"), Owner("guide", "site"))
        await store.append("abc", Turn("assistant", "Hi there", "interrupted"), Owner("sceptic"))
        await store.close()
        again = open_store()
        assert await again.find("abc") == Owner("guide", "site")  # the first turn's owner stays
        assert [(t.role, t.content, t.status) for t in await again.turns("abc")] == [
            ("user", "Hello", "complete"),
            ("assistant", "Hi there", "interrupted"),
        ]
        await again.close()

    asyncio.run(main())


def test_sessions_are_isolated_and_clear_only_touches_one(open_store: OpenStore) -> None:
    async def main() -> None:
        store = open_store()
        for sid in ("a", "b"):
            await store.append(sid, Turn("user", f"from {sid}"), GUIDE)
        assert await store.clear("a") == 1
        assert await store.turns("a") == [] and [t.content for t in await store.turns("b")] == ["from b"]
        await store.append("a", Turn("user", "again"), GUIDE)  # a cleared session goes on
        assert [t.content for t in await store.turns("a")] == ["again"]
        await store.close()

    asyncio.run(main())


def test_export_is_plain_json_data(open_store: OpenStore) -> None:
    async def main() -> None:
        store = open_store()
        await store.append("s", Turn("user", "Hi"), GUIDE, now=1000.5)
        cue = Cue("joy", 0.5, 3, "tag")
        nod = Gesture("nod", 0, 0.3, "inferred")
        turn = Turn("assistant", "Hello!", cues=(cue,), scripted=True, gestures=(nod,))
        await store.append("s", turn, GUIDE, now=1001.0)
        data = await store.export("s")
        assert data == {
            "session_id": "s",
            "persona": "guide",
            "created": 1000.5,
            "updated": 1001.0,
            "turns": [
                {"role": "user", "content": "Hi", "status": "complete", "at": 1000.5, "cues": [],
                 "gestures": [], "scripted": False},
                {"role": "assistant", "content": "Hello!", "status": "complete", "at": 1001.0,
                 "cues": [cue.stored()], "gestures": [nod.stored()], "scripted": True},
            ],
        }  # fmt: skip
        assert (await store.export("nobody"))["turns"] == []
        await store.close()

    asyncio.run(main())


def test_cues_gestures_and_scripted_lines_are_kept(open_store: OpenStore) -> None:
    async def main() -> None:
        store = open_store()
        cue = Cue("joy", 0.5, 0, "tag")
        gestures = (Gesture("shake", 7, 1.0, "stage"), Gesture("tilt", 12, 0.3, "inferred"))
        said = Turn("assistant", "Hello! No. Why?", "complete", (cue,), scripted=True, gestures=gestures)
        await store.append("s", said, GUIDE)
        await store.close()
        again = open_store()  # read back from storage, not from anything the first store kept
        (turn,) = await again.turns("s")
        assert turn == said
        await again.close()

    asyncio.run(main())


def test_retention_purges_idle_conversations(open_store: OpenStore) -> None:
    async def main() -> None:
        store = open_store()
        await store.append("old", Turn("user", "long ago"), GUIDE, now=time.time() - 40 * 86400)
        await store.append("new", Turn("user", "recent"), GUIDE)
        assert await store.purge(time.time() - 30 * 86400) == 1
        assert await store.find("old") is None and await store.find("new") == GUIDE
        assert await store.turns("old") == []  # its turns went with it
        await store.close()

    asyncio.run(main())


def test_a_session_is_stored_from_its_first_turn(open_store: OpenStore) -> None:
    async def main() -> None:
        store = open_store()
        assert await store.find("s") is None and await store.export("s") == {
            "session_id": "s",
            "persona": None,
            "created": None,
            "updated": None,
            "turns": [],
        }
        await store.append("s", Turn("user", "Hi"), GUIDE)
        assert await store.find("s") == GUIDE
        await store.close()

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------- SQLite


def test_sqlite_is_in_wal_mode(tmp_path: Path) -> None:
    db = tmp_path / "data" / "mien.sqlite3"
    asyncio.run(SqliteStore(db).close())
    # WAL is a property of the database file: a plain connection sees it.
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_purges_through_an_index() -> None:
    db = SqliteStore()._db
    plan = " ".join(str(r) for r in db.execute("EXPLAIN QUERY PLAN DELETE FROM sessions WHERE updated < 0"))
    assert "sessions_updated" in plan  # a range scan of the index, not a pass over every session


def old_sqlite_file(path: Path) -> Path:
    """A conversations file from before cues, scripted lines and embed keys: session 's' (persona guide)
    with one turn, the user's 'Hi'."""
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE sessions (id TEXT PRIMARY KEY, persona TEXT NOT NULL, created REAL NOT NULL,"
        " updated REAL NOT NULL);"
        "CREATE TABLE turns (session_id TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL,"
        " content TEXT NOT NULL, status TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (session_id, seq));"
        "INSERT INTO sessions VALUES ('s', 'guide', 0, 0);"
        "INSERT INTO turns VALUES ('s', 1, 'user', 'Hi', 'complete', 0);"
    )
    old.close()
    return path


def test_an_old_sqlite_store_gains_the_columns(tmp_path: Path) -> None:
    db = old_sqlite_file(tmp_path / "old.sqlite3")

    async def main() -> None:
        store = SqliteStore(db)
        assert (await store.turns("s"))[0].cues == () and await store.find("s") == Owner("guide", "")
        cue = Cue("joy", 0.5, 0, "tag")
        await store.append("s", Turn("assistant", "Hello!", "complete", (cue,), scripted=True), GUIDE)
        assert (await store.turns("s"))[1].cues == (cue,) and (await store.turns("s"))[1].scripted
        assert (await store.export("s"))["turns"][1]["cues"] == [cue.stored()]
        assert (await store.turns("s"))[0].gestures == () and (await store.export("s"))["turns"][0][
            "gestures"
        ] == []
        nod = Gesture("nod", 0)
        await store.append("s", Turn("assistant", "Yes.", gestures=(nod,)), GUIDE)
        assert (await store.turns("s"))[2].gestures == (nod,)

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------- PostgreSQL


def test_postgres_schema_means_what_sqlites_does(pg_server: PostgresServer, pg_url: str) -> None:
    """jsonb cues and gestures, a boolean `scripted`, the retention index, turns deleted with their
    session."""

    async def main() -> None:
        store = PostgresStore(pg_url)
        turn = Turn("assistant", "Hi", cues=(Cue("joy", 0.5),), scripted=True, gestures=(Gesture("wink"),))
        await store.append("s", turn, GUIDE)
        await store.close()

    asyncio.run(main())
    database = pg_server.database(pg_url)
    columns = pg_server.psql(
        "SELECT column_name || ':' || data_type FROM information_schema.columns"
        " WHERE table_name = 'turns' ORDER BY ordinal_position",
        database,
    ).split()
    assert "cues:jsonb" in columns and "scripted:boolean" in columns and "seq:integer" in columns
    assert "gestures:jsonb" in columns
    assert pg_server.psql("SELECT cues->0->>'emotion' FROM turns", database).strip() == "joy"
    assert pg_server.psql("SELECT gestures->0->>'gesture' FROM turns", database).strip() == "wink"
    indexes = pg_server.psql("SELECT indexdef FROM pg_indexes WHERE tablename = 'sessions'", database)
    assert "sessions_updated ON public.sessions USING btree (updated)" in indexes
    pg_server.psql("DELETE FROM sessions", database)
    assert pg_server.psql("SELECT count(*) FROM turns", database).strip() == "0"  # ON DELETE CASCADE
