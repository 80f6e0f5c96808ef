"""Conversation memory: every session's turns in SQLite (stdlib, WAL) under the data directory, so a client
that reconnects with its session id resumes, even after a server restart. Users can clear and export
their conversation; a retention period deletes conversations idle for longer.

The store is synchronous and thread-safe; the session calls it through `asyncio.to_thread`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Role = Literal["user", "assistant"]
Status = Literal["complete", "interrupted", "error"]

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


@dataclass(frozen=True)
class StoredTurn:
    role: Role
    content: str
    status: Status
    at: float
    cues: tuple[dict[str, Any], ...] = ()  # a reply's emotion cues, so a resumed chat shows them again


class MemoryStore:
    def __init__(self, path: Path | str | None = None) -> None:
        """`path` None keeps everything in memory (tests, `--no-memory`)."""
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

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def open_session(self, session_id: str, persona: str, now: float | None = None) -> str | None:
        """Create the session, or return the persona it was stored with if it exists."""
        now = time.time() if now is None else now
        with self._lock:
            row = self._db.execute("SELECT persona FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is not None:
                return str(row[0])
            self._db.execute(
                "INSERT INTO sessions (id, persona, created, updated) VALUES (?, ?, ?, ?)",
                (session_id, persona, now, now),
            )
            return None

    def exists(self, session_id: str) -> bool:
        with self._lock:
            return (
                self._db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is not None
            )

    def append(
        self,
        session_id: str,
        role: Role,
        content: str,
        status: Status = "complete",
        cues: Sequence[dict[str, Any]] = (),
    ) -> None:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            seq = self._db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM turns WHERE session_id = ?", (session_id,)
            ).fetchone()[0]
            self._db.execute(
                "INSERT INTO turns (session_id, seq, role, content, status, at, cues)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, seq, role, content, status, now, json.dumps(list(cues))),
            )
            self._db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id))
            self._db.execute("COMMIT")

    def turns(self, session_id: str) -> list[StoredTurn]:
        with self._lock:
            rows = self._db.execute(
                "SELECT role, content, status, at, cues FROM turns WHERE session_id = ? ORDER BY seq",
                (session_id,),
            ).fetchall()
        return [StoredTurn(r[0], r[1], r[2], r[3], tuple(json.loads(r[4]))) for r in rows]

    def clear(self, session_id: str) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM turns WHERE session_id = ?", (session_id,)).rowcount

    def export(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute(
                "SELECT persona, created, updated FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
        turns = self.turns(session_id)
        return {
            "session_id": session_id,
            "persona": row[0] if row else None,
            "created": row[1] if row else None,
            "updated": row[2] if row else None,
            "turns": [
                {"role": t.role, "content": t.content, "status": t.status, "at": t.at, "cues": list(t.cues)}
                for t in turns
            ],
        }

    def purge(self, older_than: float) -> int:
        """Delete conversations not updated since `older_than` (epoch seconds); returns how many."""
        with self._lock:
            return self._db.execute("DELETE FROM sessions WHERE updated < ?", (older_than,)).rowcount
