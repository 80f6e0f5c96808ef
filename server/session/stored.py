"""What a resume reads from the conversation store: whose the session asked for is, then its history. While
the store can't be reached (StoreUnavailable) the client is told to come back (`unavailable`, close 1013),
never given an empty conversation under its id. A session whose first turn was never written (the store
was down all along) is not found: the resume starts a new conversation."""

from __future__ import annotations

import logging

from fastapi import WebSocket

from server.protocol import Error
from server.reply import History
from server.session.resume import CLOSE_TRY_LATER, SESSION_ID, Left
from server.store import Owner, Store, StoreUnavailable

log = logging.getLogger("mien.session")
DOWN = "this conversation can't be loaded right now; please try again in a moment"


class StoreDown(Left):
    """The session could not be opened: the store holding its history can't be reached."""


async def find_stored(store: Store, asked: str | None, ws: WebSocket) -> Owner | None:
    """Whose the session asked for is; None when none was asked (or not a session id) or it is not stored."""
    if not asked or not SESSION_ID.fullmatch(asked):
        return None
    try:
        return await store.find(asked)
    except StoreUnavailable as e:
        raise await _refuse(ws, asked, e) from None


async def read_history(conversation: History, ws: WebSocket) -> None:
    """The resumed conversation's turns, from the store."""
    try:
        await conversation.resume()
    except StoreUnavailable as e:
        raise await _refuse(ws, conversation.session_id, e) from None


async def _refuse(ws: WebSocket, session_id: str, e: StoreUnavailable) -> StoreDown:
    log.error("session %s: can't resume, the store can't be reached: %s", session_id, e)
    await ws.send_text(Error(code="unavailable", message=DOWN).model_dump_json())
    await ws.close(code=CLOSE_TRY_LATER)
    return StoreDown(f"store unavailable: {e}")
