"""Conversations in SQLite (stdlib, WAL) under the data directory. SQLite calls block, so each one runs in
a worker thread; one connection, serialised by a lock. A locked, full or unwritable database raises
StoreUnavailable (it may work again later); anything else is a bug."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from server.events import Turn
from server.store.errors import StoreUnavailable
from server.store.owner import Owner
from server.store.rows import exported, stored, turn_of

T = TypeVar("T")
# SQLite's primary result codes that mean "not now" rather than "wrong": busy or locked (another process
# holds the write lock past the 5 s wait), out of memory, read-only, I/O error, full disk, can't open.
_TRANSIENT = frozenset({5, 6, 7, 8, 10, 13, 14})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    persona TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    key TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS turns (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    status TEXT NOT NULL,
    at REAL NOT NULL,
    cues TEXT NOT NULL DEFAULT '[]',
    scripted INTEGER NOT NULL DEFAULT 0,
    gestures TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (session_id, seq)
);
"""


class SqliteStore:
    def __init__(self, path: Path | str | None = None) -> None:
        """`path` None keeps everything in memory."""
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path) if path is not None else ":memory:"
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(turns)")}
            if "cues" not in columns:  # a store written before cues were kept
                self._db.execute("ALTER TABLE turns ADD COLUMN cues TEXT NOT NULL DEFAULT '[]'")
            if "scripted" not in columns:  # ... or before scripted lines were told apart
                self._db.execute("ALTER TABLE turns ADD COLUMN scripted INTEGER NOT NULL DEFAULT 0")
            if "gestures" not in columns:  # ... or before gestures were kept
                self._db.execute("ALTER TABLE turns ADD COLUMN gestures TEXT NOT NULL DEFAULT '[]'")
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(sessions)")}
            if "key" not in columns:  # a store written before sessions were bound to embed keys
                self._db.execute("ALTER TABLE sessions ADD COLUMN key TEXT NOT NULL DEFAULT ''")
            # Retention deletes by age: an index keeps that a range scan, not a pass over every session.
            self._db.execute("CREATE INDEX IF NOT EXISTS sessions_updated ON sessions(updated)")

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return fn(self._db)

        try:
            return await asyncio.to_thread(locked)
        except sqlite3.OperationalError as e:
            if (getattr(e, "sqlite_errorcode", 0) & 0xFF) in _TRANSIENT:
                raise StoreUnavailable(f"SQLite {self.path}: {e}") from e
            raise

    async def start(self) -> None:
        """Nothing to do: the file and its schema are made when the store is."""

    async def close(self) -> None:
        await self._run(lambda db: db.close())

    async def find(self, session_id: str) -> Owner | None:
        row = await self._run(
            lambda db: db.execute("SELECT persona, key FROM sessions WHERE id = ?", (session_id,)).fetchone()
        )
        return None if row is None else Owner(str(row[0]), str(row[1]))

    async def append(self, session_id: str, turn: Turn, owner: Owner, now: float | None = None) -> None:
        now = time.time() if now is None else now
        cues, gestures = stored(turn)

        def append(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")  # the write lock first: a locked database fails here, cleanly
            try:
                # The session's row is made with its first turn: a connection that says nothing costs nothing.
                db.execute(
                    "INSERT INTO sessions (id, persona, created, updated, key) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT(id) DO UPDATE SET updated = excluded.updated",
                    (session_id, owner.persona, now, now, owner.key),
                )
                seq = db.execute(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM turns WHERE session_id = ?", (session_id,)
                ).fetchone()[0]
                db.execute(
                    "INSERT INTO turns (session_id, seq, role, content, status, at, cues, scripted, gestures)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        session_id,
                        seq,
                        turn.role,
                        turn.content,
                        turn.status,
                        now,
                        cues,
                        int(turn.scripted),
                        gestures,
                    ),
                )
            except BaseException:
                # Never leave the one connection inside a failed transaction (SQLite has already rolled
                # back after some errors, e.g. a full disk: then there is nothing to undo).
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

        await self._run(append)

    async def _rows(self, session_id: str) -> list[tuple[Any, ...]]:
        return await self._run(
            lambda db: db.execute(
                "SELECT role, content, status, at, cues, scripted, gestures FROM turns WHERE session_id = ?"
                " ORDER BY seq",
                (session_id,),
            ).fetchall()
        )

    async def turns(self, session_id: str) -> list[Turn]:
        return [turn_of(r) for r in await self._rows(session_id)]

    async def clear(self, session_id: str) -> int:
        return await self._run(
            lambda db: db.execute("DELETE FROM turns WHERE session_id = ?", (session_id,)).rowcount
        )

    async def export(self, session_id: str) -> dict[str, Any]:
        row = await self._run(
            lambda db: db.execute(
                "SELECT persona, created, updated FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
        )
        return exported(session_id, row, await self._rows(session_id))

    async def purge(self, older_than: float, every: float = 0.0) -> int:
        # One file, one machine's processes: each pass is cheap (an index range), `every` is not needed.
        return await self._run(
            lambda db: db.execute("DELETE FROM sessions WHERE updated < ?", (older_than,)).rowcount
        )
