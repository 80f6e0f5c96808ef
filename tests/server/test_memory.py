"""SQLite conversation memory: persistence across store instances (a restart), clear, export, retention."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from server.events import Cue, Turn
from server.store.sqlite import SqliteStore

T = TypeVar("T")


def run(result: Awaitable[T]) -> T:
    async def main() -> T:
        return await result

    return asyncio.run(main())


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
    assert store.open_session("abc", "guide") is None
    store.append("abc", Turn("user", "Hello"))
    store.append("abc", Turn("assistant", "Hi there", "interrupted"))
    store.close()
    again = Store(db)
    assert again.open_session("abc", "sceptic") == "guide"  # the stored persona wins
    assert [(t.role, t.content, t.status) for t in again.turns("abc")] == [
        ("user", "Hello", "complete"),
        ("assistant", "Hi there", "interrupted"),
    ]
    # WAL is a property of the database file: a plain connection sees it.
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sessions_are_isolated_and_clear_only_touches_one() -> None:
    store = Store()
    for sid in ("a", "b"):
        store.open_session(sid, "guide")
        store.append(sid, Turn("user", f"from {sid}"))
    assert store.clear("a") == 1
    assert store.turns("a") == [] and [t.content for t in store.turns("b")] == ["from b"]


def test_export_is_plain_json_data() -> None:
    store = Store()
    store.open_session("s", "guide")
    store.append("s", Turn("user", "Hi"))
    data = store.export("s")
    assert data["session_id"] == "s" and data["persona"] == "guide"
    assert data["turns"][0]["role"] == "user" and data["turns"][0]["content"] == "Hi"


def test_retention_purges_idle_conversations() -> None:
    store = Store()
    store.open_session("old", "guide", now=time.time() - 40 * 86400)
    store.open_session("new", "guide")
    store.append("new", Turn("user", "recent"))
    assert store.purge(time.time() - 30 * 86400) == 1
    assert not store.exists("old") and store.exists("new")


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
    assert store.turns("s")[0].cues == ()
    cue = Cue("joy", 0.5, 0, "tag")
    store.append("s", Turn("assistant", "Hello!", "complete", (cue,)))
    assert store.turns("s")[1].cues == (cue,)
    assert store.export("s")["turns"][1]["cues"] == [cue.stored()]
