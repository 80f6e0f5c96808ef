"""`POST /sessions/{id}/messages?key=KEY`: one client message (stop, a face control, a scripted line) for an
open session, from outside its socket — a site's backend, a control panel, a moderator — delivered to the
process holding the socket (relay.py). The session id is the secret (as for resume), and the key must be the
one the session was opened under. JSON bodies only: a browser on another site must ask first (CORS
preflight), and Mien answers that only for GET."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from server.protocol import MAX_MESSAGE_BYTES, ProtocolError, parse_client_message
from server.session.dialogue import RELAYABLE
from server.session.relay import Relay
from server.session.resume import SESSION_ID

_STATUS = {"unknown_session": 404, "rate_limited": 429, "not_allowed": 403, "unavailable": 503}


def _error(code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=_STATUS.get(code, 400))


async def post_message(request: Request, session_id: str, relay: Relay) -> JSONResponse:
    if request.headers.get("content-type", "").partition(";")[0].strip() != "application/json":
        return _error("invalid_message", "send the message as application/json")
    body = bytearray()
    async for chunk in request.stream():  # bounded as a socket message is, however it is sent
        body += chunk
        if len(body) > MAX_MESSAGE_BYTES:
            return _error("too_large", f"messages are limited to {MAX_MESSAGE_BYTES} bytes")
    if not SESSION_ID.fullmatch(session_id):
        return _error("unknown_session", "no open session has that id")
    try:
        message = parse_client_message(body.decode("utf-8", "replace"))
    except ProtocolError as e:
        return _error(e.code, str(e))
    kind = getattr(message, "type", "")
    if kind not in RELAYABLE:
        return _error("not_allowed", f"{kind!r} can't be sent from outside the session's socket")
    answer = await relay.send(session_id, request.query_params.get("key", ""), message.model_dump())
    if not answer.ok:
        return _error(answer.code, answer.message)
    return JSONResponse({"delivered": True}, status_code=202)
