"""`mien db migrate-sqlite PATH`: conversations from a SQLite file (sqlite.py's, any age of its schema) into
PostgreSQL. Safe to run again: a session already there is not made twice and a turn already there (same
session, same seq) is not copied twice, so a second run copies nothing and an interrupted one can be run
again to finish. Each session is copied in one transaction."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from server.store.postgres import PostgresStore

_TURNS = (
    "INSERT INTO turns (session_id, seq, role, content, status, at, cues, scripted, gestures)"
    " SELECT $1, * FROM unnest($2::integer[], $3::text[], $4::text[], $5::text[], $6::float8[],"
    " $7::jsonb[], $8::boolean[], $9::jsonb[])"
    " ON CONFLICT (session_id, seq) DO NOTHING RETURNING seq"
)


@dataclass
class Copied:
    sessions: int = 0
    turns: int = 0
    skipped_sessions: int = 0  # already in PostgreSQL
    skipped_turns: int = 0

    def __str__(self) -> str:
        return (
            f"copied {self.sessions} sessions and {self.turns} turns; skipped {self.skipped_sessions}"
            f" sessions and {self.skipped_turns} turns already there"
        )


def _read(path: Path) -> list[tuple[tuple[str, str, float, float, str], list[tuple[object, ...]]]]:
    """Every session of the file with its turns, in order; columns an old file lacks get their defaults."""
    if not path.is_file():  # connect() would make an empty database there
        raise FileNotFoundError(f"{path}: no such file")
    db = sqlite3.connect(path)
    try:
        has = {t: {r[1] for r in db.execute(f"PRAGMA table_info({t})")} for t in ("sessions", "turns")}
        if not has["sessions"] or not has["turns"]:
            raise ValueError(f"{path}: not a Mien conversations file (no sessions and turns tables)")
        key = "key" if "key" in has["sessions"] else "''"
        cues = "cues" if "cues" in has["turns"] else "'[]'"
        scripted = "scripted" if "scripted" in has["turns"] else "0"
        gestures = "gestures" if "gestures" in has["turns"] else "'[]'"
        sessions = db.execute(f"SELECT id, persona, created, updated, {key} FROM sessions ORDER BY id")
        return [
            (
                session,
                db.execute(
                    f"SELECT seq, role, content, status, at, {cues}, {scripted}, {gestures} FROM turns"
                    " WHERE session_id = ? ORDER BY seq",
                    (session[0],),
                ).fetchall(),
            )
            for session in sessions.fetchall()
        ]
    finally:
        db.close()


async def copy_sqlite(path: Path, store: PostgresStore) -> Copied:
    """Copy the SQLite file's conversations into the store's database (migrated first); what was copied and
    what was already there."""
    copied = Copied()
    await store.start()
    for (sid, persona, created, updated, key), turns in _read(path):
        async with store.connection() as db, db.transaction():
            made = await db.fetchval(
                "INSERT INTO sessions (id, persona, created, updated, key) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (id) DO NOTHING RETURNING true",
                sid, persona, created, updated, key,
            )  # fmt: skip
            columns = list(zip(*turns, strict=True)) if turns else [()] * 8
            seq, role, content, status, at, cues, scripted, gestures = columns
            written = await db.fetch(
                _TURNS, sid, list(seq), list(role), list(content), list(status), list(at), list(cues),
                [bool(s) for s in scripted], list(gestures),
            )  # fmt: skip
        copied.sessions += bool(made)
        copied.skipped_sessions += not made
        copied.turns += len(written)
        copied.skipped_turns += len(turns) - len(written)
    return copied
