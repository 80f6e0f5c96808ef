"""A stored turn's row as both stores select it — (role, content, status, at, cues as JSON text, scripted,
gestures as JSON text), in that order — made into a Turn, and a session's rows into the export's plain JSON
data."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from server.events import Cue, Gesture, Turn


def turn_of(row: Sequence[Any]) -> Turn:
    role, content, status, _at, cues, scripted, gestures = row
    return Turn(
        role,
        content,
        status,
        tuple(Cue(**c) for c in json.loads(cues)),
        bool(scripted),
        tuple(Gesture(**g) for g in json.loads(gestures)),
    )


def stored(turn: Turn) -> tuple[str, str]:
    """The turn's cues and gestures as the JSON text both stores keep."""
    return json.dumps([c.stored() for c in turn.cues]), json.dumps([g.stored() for g in turn.gestures])


def exported(session_id: str, session: Sequence[Any] | None, rows: list[Sequence[Any]]) -> dict[str, Any]:
    """`session`: its (persona, created, updated), or None when it is not stored."""
    persona, created, updated = session if session is not None else (None, None, None)
    return {
        "session_id": session_id,
        "persona": persona,
        "created": created,
        "updated": updated,
        "turns": [
            {
                "role": r[0],
                "content": r[1],
                "status": r[2],
                "at": r[3],
                "cues": json.loads(r[4]),
                "gestures": json.loads(r[6]),
                "scripted": bool(r[5]),
            }
            for r in rows
        ],
    }
