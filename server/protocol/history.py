"""The stored conversation on the wire: the `history` message and its turns, each with the cues and gestures
its reply made (offsets into its text), so a resumed or exported chat shows them again."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from server.events import CueSource, GestureSource, Role, Status, Turn
from server.protocol.common import _Message


class HistoryCue(_Message):
    emotion: str
    intensity: float
    offset: int
    source: CueSource


class HistoryGesture(_Message):
    gesture: str
    intensity: float
    offset: int
    source: GestureSource


class HistoryTurn(_Message):
    role: Role
    content: str
    status: Status
    cues: list[HistoryCue] = Field(default_factory=list)
    gestures: list[HistoryGesture] = Field(
        default_factory=list, description="The reply's gestures, as its `gesture` messages gave them."
    )
    scripted: bool = Field(False, description="A line the client had the avatar say (`speak`).")

    @classmethod
    def of(cls, turn: Turn) -> HistoryTurn:
        """A remembered turn as the wire shows it."""
        return cls(
            role=turn.role,
            content=turn.content,
            status=turn.status,
            cues=[HistoryCue(**c.stored()) for c in turn.cues],
            gestures=[HistoryGesture(**g.stored()) for g in turn.gestures],
            scripted=turn.scripted,
        )


class History(_Message):
    """The conversation so far: sent after `hello` when a session resumes, and on `export_history`."""

    type: Literal["history"] = "history"
    reason: Literal["resume", "export", "clear"]
    turns: list[HistoryTurn]
