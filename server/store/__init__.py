"""Conversations behind one interface (Store): turns kept as they happen, so a client that reconnects with
its session id resumes, even after a restart; clear, export, and a retention period. SQLite is the
embedded default (sqlite.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from server.events import Turn


class Store(Protocol):
    async def open_session(self, session_id: str, persona: str, now: float | None = None) -> str | None:
        """Create the session, or return the persona it was stored with if it exists."""
        ...

    async def exists(self, session_id: str) -> bool: ...

    async def append(self, session_id: str, turn: Turn) -> None: ...

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
