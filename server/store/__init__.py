"""Conversations behind one interface (Store): turns kept as they happen, so a client that reconnects with
its session id resumes, even after a restart; clear, export, and a retention period. SQLite is the
embedded default (sqlite.py); with `database_url` they live in PostgreSQL (postgres.py), shared by every
process and machine. A session is stored from its first turn, and bound to the embed key it was opened
under.

A store that can't be reached (PostgreSQL down, a locked or full SQLite file) raises StoreUnavailable, and
only that: anything else it raises is a bug. The conversation's History holds what it could not write and
writes it when the store is back (server/reply/history.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from server.events import Turn
from server.store.errors import StoreUnavailable
from server.store.owner import Owner

__all__ = ["Owner", "Store", "StoreUnavailable", "open_store"]


class Store(Protocol):
    async def start(self) -> None:
        """Connect, and bring the schema up to date (PostgreSQL); later calls would do it too."""
        ...

    async def find(self, session_id: str) -> Owner | None:
        """Whose the stored session is, or None when there is none (sessions are stored from their first
        turn on)."""
        ...

    async def append(self, session_id: str, turn: Turn, owner: Owner, now: float | None = None) -> None:
        """Store the turn (the session's row too, owned by `owner`, when it is the first)."""
        ...

    async def turns(self, session_id: str) -> list[Turn]: ...

    async def clear(self, session_id: str) -> int:
        """Forget the session's turns; how many there were."""
        ...

    async def export(self, session_id: str) -> dict[str, Any]:
        """The conversation as plain JSON data (turns with their times and cues)."""
        ...

    async def purge(self, older_than: float, every: float = 0.0) -> int:
        """Delete conversations not updated since `older_than` (epoch seconds); how many. `every`: the
        retention pass's interval; a shared store skips the pass when another process ran one within it."""
        ...

    async def close(self) -> None: ...


def open_store(data_dir: str | None, database_url: str | None = None) -> Store:
    """PostgreSQL at `database_url` when given (it connects on first use); else SQLite in the data
    directory (None: in memory only)."""
    if database_url:
        from server.store.postgres import PostgresStore

        return PostgresStore(database_url)
    from server.store.sqlite import SqliteStore

    return SqliteStore(Path(data_dir) / "conversations.sqlite3" if data_dir else None)
