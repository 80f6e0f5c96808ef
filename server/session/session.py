"""One websocket session: admit -> open -> ONE supervised task group -> close.

The group holds every task of the session: the receive loop, the sender (the socket's only writer), the
reply in progress and its voice. When any of them fails, or the socket goes, the group cancels the rest;
the face's slot and the embed key's place are given back at once, before the group has finished
unwinding, and the server logs one line. Bad input is a typed error and changes nothing; a failure here
never reaches another session.

Connect with `/ws?persona=ID` to choose a persona and `/ws?session=ID` to resume a stored conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from animation.track import TrackWriter
from server.face import FaceHandle
from server.limits import EmbedKey
from server.protocol import Error, ProtocolError, State, parse_client_message
from server.protocol.outbound import Outbound, pump
from server.reply import History
from server.session.dialogue import Dialogue
from server.session.hello import hello
from server.session.outlet import Outlet
from server.session.services import Services

log = logging.getLogger("mien.session")
_SESSION_ID = re.compile(r"[0-9a-f]{12,32}")


class Closed(Exception):
    """The session is over: the client left, or the socket failed."""


class Session:
    def __init__(self, websocket: WebSocket, services: Services) -> None:
        self.ws = websocket
        self.services = services
        self.settings = services.settings
        self.id = uuid.uuid4().hex[:16]
        self.persona = services.personas[self.settings.persona]
        self.key: EmbedKey | None = None  # the embed key this session came with, if any
        self.out = Outbound(self.settings.outbound_limit)
        self.face: FaceHandle | None = None  # opened once the session is admitted
        self.dialogue: Dialogue | None = None
        self.ended = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None
        self._outlet: Outlet | None = None
        self._track: TrackWriter | None = None
        self._admitted = False

    async def run(self, sessions: dict[str, Session]) -> None:
        """Serve the socket until either side ends; `sessions` lists the server's open sessions."""
        await self.ws.accept()
        if not await self._admit():
            return
        opened, reason, failure = time.monotonic(), "closed", None
        try:
            resumed, warning, conversation = await self._open()
            sessions[self.id] = self
            async with asyncio.TaskGroup() as group:
                self._group = group
                await self._start(conversation, resumed, warning)
                group.create_task(self._receive(), name=f"mien-receive-{self.id}")
                group.create_task(self._send(), name=f"mien-send-{self.id}")
        except* Closed as closed:
            reason = str(closed.exceptions[0])
        except* Exception as failed:
            self._release()
            failure = failed.exceptions[0]
            reason = f"failed: {failure!r}"
            with contextlib.suppress(Exception):
                await self.ws.close(code=1011)
        finally:
            self._release()
            sessions.pop(self.id, None)
            if self._track is not None:
                await asyncio.to_thread(self._track.close)
            replies = self.dialogue.replies if self.dialogue else 0
            log.log(
                logging.ERROR if failure else logging.INFO,
                "session %s ended (%s) after %.1f s: %d replies, %d frames dropped",
                self.id, reason, time.monotonic() - opened, replies, self.out.frames_dropped,
                exc_info=failure,
            )  # fmt: skip
            self.ended.set()

    async def _admit(self) -> bool:
        """Embed key and origin check; a refusal is a typed error, then the socket closes (1008)."""
        scheme = "https" if self.ws.url.scheme == "wss" else "http"
        own_origin = f"{scheme}://{self.ws.headers.get('host', '')}"
        admission = self.services.gate.admit(
            self.ws.query_params.get("key"), self.ws.headers.get("origin"), own_origin
        )
        if admission.refusal is not None:
            await self.ws.send_text(Error(code=admission.refusal, message=admission.reason).model_dump_json())
            await self.ws.close(code=1008)
            return False
        self.key, self._admitted = admission.key, True
        if self.key is not None and self.key.persona:
            self.persona = self.services.personas[self.key.persona]
        return True

    async def _open(self) -> tuple[bool, Error | None, History]:
        """Choose the persona and resume a stored conversation from the query string."""
        params, personas, store = self.ws.query_params, self.services.personas, self.services.store
        warning = None
        wanted = params.get("persona")
        if wanted is not None and wanted not in personas:
            known = ", ".join(personas)
            warning = Error(code="unknown_persona", message=f"unknown persona {wanted!r}; known: {known}")
        elif wanted is not None:
            self.persona = personas[wanted]
        resume = params.get("session")
        resumed = bool(resume and _SESSION_ID.fullmatch(resume) and await store.exists(resume))
        if resumed:
            self.id = str(resume)
            stored = await store.open_session(self.id, self.persona.id)
            if stored in personas and wanted is None:
                self.persona = personas[stored]
        else:
            await store.open_session(self.id, self.persona.id)
            if self.settings.retention_days > 0:
                await store.purge(time.time() - self.settings.retention_days * 86400)
        conversation = History(store, self.id, self.services.gateway.count_tokens)
        if resumed:
            await conversation.resume()
        return resumed, warning, conversation

    async def _start(self, conversation: History, resumed: bool, warning: Error | None) -> None:
        """The face (the persona's, then the site's starting face), then hello and the history."""
        animator = self.services.animator
        start = {"expressiveness": self.persona.expressiveness, **(self.key.controls if self.key else {})}
        t_start = animator.now()
        self.face = animator.open(self._on_frame)
        self.face.set_mood(self.persona.mood.emotion, self.persona.mood.intensity)
        for name, value in start.items():  # through the handle: the prompt sees them as well as the face
            self.face.set_control(name, value)
        self._outlet = outlet = Outlet(self.out, self.face, t_start, public=self.key is not None)
        visitor = self.ws.client.host if self.ws.client else "unknown"
        self.dialogue = Dialogue(
            self.services, outlet, conversation, self.persona, self.key, visitor, self._spawn
        )
        if self.settings.record_dir:
            path = Path(self.settings.record_dir) / f"{time.strftime('%Y%m%d-%H%M%S')}-{self.id}.json"
            self._track = TrackWriter(path, self.settings.fps)
        # The queue holds these few messages before the sender starts (its bound is at least 16).
        await outlet.send(hello(self.services, self.id, self.persona, start, resumed))
        if warning is not None:
            await outlet.send(warning)
        if resumed:
            await outlet.history("resume", conversation.turns)
        await outlet.send(State(state="idle"))

    def _release(self) -> None:
        """Give back the face's slot and the embed key's place (idempotent)."""
        if self.face is not None:
            self.face.release()
        if self._admitted:
            self._admitted = False
            self.services.gate.leave(self.key)

    def _closed(self, reason: str) -> Closed:
        self._release()  # now, not when every task has unwound
        return Closed(reason)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        assert self._group is not None
        return self._group.create_task(coro)

    async def _receive(self) -> None:
        assert self.dialogue is not None and self._outlet is not None
        while True:
            try:
                message = await self.ws.receive()
            except Exception as e:  # the transport broke under us
                raise self._closed(f"receive failed: {e!r}") from None
            if message["type"] == "websocket.disconnect":
                raise self._closed(f"client left ({message.get('code', 1000)})")
            raw = message.get("text")
            try:
                if raw is None:
                    raise ProtocolError("invalid_message", "binary messages are not accepted")
                await self.dialogue.handle(parse_client_message(raw))
            except ProtocolError as e:
                await self._outlet.send(Error(code=e.code, message=str(e)))

    async def _send(self) -> None:
        try:
            await pump(self.out, self.ws.send_text, self.ws.send_bytes)
        except Exception as e:  # a reset connection, a closed socket: this session is over
            raise self._closed(f"send failed: {e!r}") from None

    def _on_frame(self, channels: np.ndarray, t: float) -> None:
        if self._track is not None:
            self._track.add(t, channels)
        if self._outlet is not None:
            self._outlet.frame(channels, t)


async def serve_session(websocket: WebSocket, services: Services, sessions: dict[str, Session]) -> None:
    with contextlib.suppress(WebSocketDisconnect):  # gone before it was admitted
        await Session(websocket, services).run(sessions)
