"""Conversations in SQLite (stdlib, WAL) under the data directory. SQLite calls block, so each one runs in
a worker thread; one connection, serialised by a lock."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from server.events import Cue, Turn

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    persona TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    status TEXT NOT NULL,
    at REAL NOT NULL,
    cues TEXT NOT NULL DEFAULT '[]',
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

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return fn(self._db)

        return await asyncio.to_thread(locked)

    async def close(self) -> None:
        await self._run(lambda db: db.close())

    async def open_session(self, session_id: str, persona: str, now: float | None = None) -> str | None:
        now = time.time() if now is None else now

        def open_(db: sqlite3.Connection) -> str | None:
            row = db.execute("SELECT persona FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is not None:
                return str(row[0])
            db.execute(
                "INSERT INTO sessions (id, persona, created, updated) VALUES (?, ?, ?, ?)",
                (session_id, persona, now, now),
            )
            return None

        return await self._run(open_)

    async def exists(self, session_id: str) -> bool:
        row = await self._run(
            lambda db: db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone()
        )
        return row is not None

    async def append(self, session_id: str, turn: Turn) -> None:
        now = time.time()
        cues = json.dumps([c.stored() for c in turn.cues])

        def append(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")  # the write lock first: a locked database fails here, cleanly
            try:
                seq = db.execute(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM turns WHERE session_id = ?", (session_id,)
                ).fetchone()[0]
                db.execute(
                    "INSERT INTO turns (session_id, seq, role, content, status, at, cues)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (session_id, seq, turn.role, turn.content, turn.status, now, cues),
                )
                db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id))
            except BaseException:
                db.execute("ROLLBACK")  # never leave the one connection inside a failed transaction
                raise
            db.execute("COMMIT")

        await self._run(append)

    async def _rows(self, session_id: str) -> list[tuple[Any, ...]]:
        return await self._run(
            lambda db: db.execute(
                "SELECT role, content, status, at, cues FROM turns WHERE session_id = ? ORDER BY seq",
                (session_id,),
            ).fetchall()
        )

    async def turns(self, session_id: str) -> list[Turn]:
        rows = await self._rows(session_id)
        return [Turn(r[0], r[1], r[2], tuple(Cue(**c) for c in json.loads(r[4]))) for r in rows]

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
        rows = await self._rows(session_id)
        return {
            "session_id": session_id,
            "persona": row[0] if row else None,
            "created": row[1] if row else None,
            "updated": row[2] if row else None,
            "turns": [
                {"role": r[0], "content": r[1], "status": r[2], "at": r[3], "cues": json.loads(r[4])}
                for r in rows
            ],
        }

    async def purge(self, older_than: float) -> int:
        return await self._run(
            lambda db: db.execute("DELETE FROM sessions WHERE updated < ?", (older_than,)).rowcount
        )
