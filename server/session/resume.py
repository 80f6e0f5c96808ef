"""Which stored conversation a new socket asks to resume: the `resume` message a `?resume=1` client sends
first (the older `?session=ID` query still works, but puts the id in access logs)."""

from __future__ import annotations

import asyncio
import re

from fastapi import WebSocket

from server.protocol import Error, ProtocolError, Resume, parse_client_message

SESSION_ID = re.compile(r"[0-9a-f]{12,32}")
RESUME_WAIT = 10.0  # s a `?resume=1` client has to send its resume message
# "Try again later": what a session can't be opened without (the shared limits, the store) is unreachable.
CLOSE_TRY_LATER = 1013


class Left(Exception):
    """The client went away before saying which session."""


async def resume_request(ws: WebSocket) -> str | None:
    """The session id asked for; None (a new session, and a typed error) when the first message is something
    else or does not come within RESUME_WAIT."""
    if "resume" not in ws.query_params:
        return ws.query_params.get("session")
    try:
        message = await asyncio.wait_for(ws.receive(), RESUME_WAIT)
    except TimeoutError:
        return None
    if message["type"] == "websocket.disconnect":
        raise Left(f"client left ({message.get('code', 1000)})")
    try:
        parsed = parse_client_message(message.get("text") or "")
        if not isinstance(parsed, Resume):
            raise ProtocolError("invalid_message", f"expected resume first, got {parsed.type}")  # type: ignore[attr-defined]
        return parsed.session_id
    except ProtocolError as e:
        await ws.send_text(Error(code=e.code, message=str(e)).model_dump_json())
        return None
