"""Conversations behind one interface (Store): turns kept as they happen, so a client that reconnects with
its session id resumes, even after a restart; clear, export, and a retention period. SQLite is the
embedded default (sqlite.py). A session is stored from its first turn, and bound to the embed key it was
opened under."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from server.events import Turn
from server.store.owner import Owner

__all__ = ["Owner", "Store", "open_store"]


class Store(Protocol):
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

    async def purge(self, older_than: float) -> int:
        """Delete conversations not updated since `older_than` (epoch seconds); how many."""
        ...

    async def close(self) -> None: ...


def open_store(data_dir: str | None) -> Store:
    """The store for a data directory (None: in memory only)."""
    from server.store.sqlite import SqliteStore

    return SqliteStore(Path(data_dir) / "conversations.sqlite3" if data_dir else None)
