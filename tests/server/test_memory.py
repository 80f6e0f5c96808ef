"""SQLite conversation memory: persistence across store instances (a restart), clear, export, retention."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from server.events import Cue, Turn
from server.store import Owner
from server.store.sqlite import SqliteStore

T = TypeVar("T")


def run(result: Awaitable[T]) -> T:
    async def main() -> T:
        return await result

    return asyncio.run(main())


GUIDE = Owner("guide")


class Store:
    """The async store driven from plain test code, one call at a time."""

    def __init__(self, path: Path | None = None) -> None:
        self.store = SqliteStore(path)

    def __getattr__(self, name: str) -> object:
        method = getattr(self.store, name)
        return lambda *args, **kwargs: run(method(*args, **kwargs))


def test_turns_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "data" / "mien.sqlite3"
    store = Store(db)
    assert store.find("abc") is None
    store.append("abc", Turn("user", "Hello"), Owner("guide", "site"))
    store.append("abc", Turn("assistant", "Hi there", "interrupted"), Owner("sceptic"))
    store.close()
    again = Store(db)
    assert again.find("abc") == Owner("guide", "site")  # the first turn's owner stays
    assert [(t.role, t.content, t.status) for t in again.turns("abc")] == [
        ("user", "Hello", "complete"),
        ("assistant", "Hi there", "interrupted"),
    ]
    # WAL is a property of the database file: a plain connection sees it.
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sessions_are_isolated_and_clear_only_touches_one() -> None:
    store = Store()
    for sid in ("a", "b"):
        store.append(sid, Turn("user", f"from {sid}"), GUIDE)
    assert store.clear("a") == 1
    assert store.turns("a") == [] and [t.content for t in store.turns("b")] == ["from b"]


def test_export_is_plain_json_data() -> None:
    store = Store()
    store.append("s", Turn("user", "Hi"), GUIDE)
    data = store.export("s")
    assert data["session_id"] == "s" and data["persona"] == "guide"
    assert data["turns"][0]["role"] == "user" and data["turns"][0]["content"] == "Hi"


def test_retention_purges_idle_conversations() -> None:
    store = Store()
    store.append("old", Turn("user", "long ago"), GUIDE, now=time.time() - 40 * 86400)
    store.append("new", Turn("user", "recent"), GUIDE)
    assert store.purge(time.time() - 30 * 86400) == 1
    assert store.find("old") is None and store.find("new") == GUIDE
    assert store.turns("old") == []  # its turns went with it


def test_a_session_is_stored_from_its_first_turn_and_purged_through_an_index() -> None:
    store = Store()
    db = store.store._db
    assert db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0
    store.append("s", Turn("user", "Hi"), GUIDE)
    assert db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 1
    plan = " ".join(str(r) for r in db.execute("EXPLAIN QUERY PLAN DELETE FROM sessions WHERE updated < 0"))
    assert "sessions_updated" in plan  # a range scan of the index, not a pass over every session


def test_cues_are_kept_and_an_old_store_gains_the_column(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    old = sqlite3.connect(db)
    old.executescript(
        "CREATE TABLE sessions (id TEXT PRIMARY KEY, persona TEXT NOT NULL, created REAL NOT NULL,"
        " updated REAL NOT NULL);"
        "CREATE TABLE turns (session_id TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL,"
        " content TEXT NOT NULL, status TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (session_id, seq));"
        "INSERT INTO sessions VALUES ('s', 'guide', 0, 0);"
        "INSERT INTO turns VALUES ('s', 1, 'user', 'Hi', 'complete', 0);"
    )
    old.close()
    store = Store(db)
    assert store.turns("s")[0].cues == () and store.find("s") == Owner("guide", "")
    cue = Cue("joy", 0.5, 0, "tag")
    store.append("s", Turn("assistant", "Hello!", "complete", (cue,), scripted=True), GUIDE)
    assert store.turns("s")[1].cues == (cue,) and store.turns("s")[1].scripted
    assert store.export("s")["turns"][1]["cues"] == [cue.stored()]
