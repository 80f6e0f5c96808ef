"""One websocket session: admit -> open -> ONE supervised task group -> close.

The group holds every task of the session: the receive loop, the sender (the socket's only writer), the
reply in progress and its voice. When any of them fails, or the socket goes, the group cancels the rest;
the face's slot and the embed key's place are given back at once, before the group has finished
unwinding, and the server logs one line. Bad input is a typed error and changes nothing; a failure here
never reaches another session.

Connect with `/ws?persona=ID` to choose a persona. To resume a stored conversation, connect with
`/ws?resume=1` and send `{"type": "resume", "session_id": ID}` first (the older `/ws?session=ID` still works,
but puts the id in access logs).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from animation.track import TrackWriter
from server import metrics
from server.face import FaceHandle, StepFrame
from server.limits import Admission, EmbedKey, allowed_personas
from server.limits.pace import Pace
from server.protocol import Error, ProtocolError, State, parse_client_message
from server.protocol.outbound import FAIR_SHARE, Outbound, pump
from server.reply import History
from server.session.dialogue import Dialogue
from server.session.hello import hello
from server.session.idle import idle
from server.session.microphone import SessionMicrophone
from server.session.outlet import Outlet
from server.session.relay import Answer
from server.session.resume import CLOSE_TRY_LATER, Left, resume_request
from server.session.services import Services
from server.session.stored import find_stored, read_history
from server.store import Owner

log = logging.getLogger("mien.session")
CLOSE_IDLE = 4000  # websocket close codes (4000-4999 are the application's): idle, reconnect when back
CLOSE_MOVED = 4001  # resumed elsewhere (another tab, device or process): reconnect only when the user is back
CLOSE_RESTART = 1012  # "service restart": reconnect (and resume) right away
_REFUSAL_CLOSE = {"shutting_down": CLOSE_RESTART, "unavailable": CLOSE_TRY_LATER}  # others: 1008, for good
# What may be sent to a session from elsewhere (POST /sessions/{id}/messages): its face and its reply.


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
        self.admission: Admission | None = None  # what the gate counts for this session, until it leaves
        self.out = Outbound(self.settings.outbound_limit, self.settings.outbound_bytes)
        self.face: FaceHandle | None = None  # opened once the session is admitted
        self.dialogue: Dialogue | None = None
        self.ended = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None
        self._outlet: Outlet | None = None
        self._track: TrackWriter | None = None
        self._last_input = asyncio.get_running_loop().time()  # when the client last sent anything

    @property
    def key_id(self) -> str:
        return self.key.id if self.key is not None else ""

    async def run(self) -> None:
        """Serve the socket until either side ends."""
        await self.ws.accept()
        if not await self._admit():
            return
        opened, reason, failure = time.monotonic(), "closed", None
        relay = self.services.relay
        try:
            resumed, warning, conversation = await self._open(await resume_request(self.ws))
            async with asyncio.TaskGroup() as group:
                self._group = group
                await self._start(conversation, resumed, warning)
                group.create_task(self._receive(), name=f"mien-receive-{self.id}")
                group.create_task(self._send(), name=f"mien-send-{self.id}")
                group.create_task(self._watch_idle(), name=f"mien-idle-{self.id}")
        except* (Closed, Left) as closed:
            reason = str(closed.exceptions[0])
        except* Exception as failed:
            self._release()
            failure = failed.exceptions[0]
            reason = f"failed: {failure!r}"
            with contextlib.suppress(Exception):
                await self.ws.close(code=1011)
        finally:
            self._release()
            await relay.let_go(self.id, self)
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
        address = self.ws.client.host if self.ws.client else ""
        admission = await self.services.gate.admit(
            self.ws.query_params.get("key"), self.ws.headers.get("origin"), own_origin, address
        )
        if admission.refusal is not None:
            metrics.REFUSED.labels(admission.refusal).inc()
            await self.ws.send_text(Error(code=admission.refusal, message=admission.reason).model_dump_json())
            # Refused for good (1008: a reconnect would not help), or only for now.
            await self.ws.close(code=_REFUSAL_CLOSE.get(admission.refusal, 1008))
            return False
        self.key, self.admission = admission.key, admission
        metrics.ADMITTED.inc()
        metrics.SESSIONS.inc()
        if self.key is not None and self.key.persona:
            self.persona = self.services.personas[self.key.persona]
        return True

    async def _open(self, asked: str | None) -> tuple[bool, Error | None, History]:
        """Choose the persona (among the key's) and resume a stored conversation opened under the same key.
        A conversation of another site, or of Mien's own page, is not found from here."""
        params, personas, store = self.ws.query_params, self.services.personas, self.services.store
        allowed = self.personas
        warning = None
        wanted = params.get("persona")
        if wanted is not None and wanted not in allowed:
            known = ", ".join(allowed)
            warning = Error(
                code="unknown_persona", message=f"unknown persona {wanted[:64]!r}; known: {known}"
            )
        elif wanted is not None:
            self.persona = personas[wanted]
        stored = await find_stored(store, asked, self.ws)  # unreachable: `unavailable`, try later
        resumed = stored is not None and stored.key == self.key_id
        if resumed:
            self.id = str(asked)
            if stored is not None and stored.persona in allowed and wanted is None:
                self.persona = personas[stored.persona]
        # A resume takes the session over: a socket holding it (here or on another process) closes first,
        # its reply stored, before the history is read.
        await self.services.relay.hold(self.id, self, take_over=resumed)
        count = self.services.gateway.count_tokens
        owner = Owner(self.persona.id, self.key_id)
        conversation = History(store, self.id, count, max_turns=self.settings.max_turns, owner=owner)
        if resumed:
            await read_history(conversation, self.ws)
        return resumed, warning, conversation

    @property
    def personas(self) -> list[str]:
        """The personas this session may use: the embed key's, else all."""
        return allowed_personas(self.key, list(self.services.personas))

    async def _start(self, conversation: History, resumed: bool, warning: Error | None) -> None:
        """The face (the persona's, then the site's starting face), then hello and the history."""
        animator = self.services.animator
        start = {"expressiveness": self.persona.expressiveness, **(self.key.controls if self.key else {})}
        t_start = animator.now()
        self.face = animator.open(self._on_frame)
        self.face.set_mood(self.persona.mood.emotion, self.persona.mood.intensity)
        for name, value in start.items():  # through the handle: the prompt sees them as well as the face
            self.face.set_control(name, value)
        # Providers' error texts (they may name internal endpoints) go to the log; to clients only when the
        # operator asks (development), and never to an embedding site's visitors.
        public = self.key is not None or not self.settings.error_details
        self._outlet = outlet = Outlet(self.out, self.face, t_start, public=public)
        assert self.admission is not None
        self.dialogue = dialogue = Dialogue(
            self.services, outlet, conversation, self.persona, self.admission, self._spawn
        )
        dialogue.microphone = SessionMicrophone.of(self.services, self.key, dialogue)
        if self.settings.record_dir:
            path = Path(self.settings.record_dir) / f"{time.strftime('%Y%m%d-%H%M%S')}-{self.id}.json"
            self._track = TrackWriter(path, self.settings.fps)
        # The queue holds these few messages before the sender starts (its bound is at least 16).
        await outlet.send(
            hello(self.services, self.id, self.persona, start, resumed, self.personas, self.key)
        )
        if warning is not None:
            await outlet.send(warning)
        if resumed:
            await outlet.history("resume", conversation.turns)
            if conversation.turns and conversation.turns[-1].role == "user":
                # Every reply is stored when it ends, even interrupted: none after the last message means
                # the server stopped dead while answering it (a crash, a kill).
                lost = "the server restarted before it answered your last message; please send it again"
                await outlet.send(Error(code="reply_lost", message=lost))
        await outlet.send(State(state="idle"))

    def _release(self) -> None:
        """Give back the face's slot and the embed key's place (idempotent)."""
        if self.face is not None:
            self.face.release()
        if self.admission is not None:
            admission, self.admission = self.admission, None
            metrics.SESSIONS.dec()
            self.services.gate.leave(admission)

    def _closed(self, reason: str) -> Closed:
        self._release()  # now, not when every task has unwound
        return Closed(reason)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        assert self._group is not None
        return self._group.create_task(coro)

    async def move(self) -> None:
        """Resumed elsewhere: close with `moved`, and return once this session has ended."""
        message = "this conversation continued in another window or device"
        if self.dialogue is not None:  # its reply ends (stored as interrupted) before the new socket reads
            await self.dialogue.cancel_reply()
        self.goodbye(CLOSE_MOVED, Error(code="moved", message=message))
        await self.ended.wait()

    async def relayed(self, message: dict[str, Any]) -> Answer:
        """A message sent to this session from elsewhere, handled as if its socket had sent it."""
        if self.dialogue is None:
            return Answer(False, "not_allowed", "this session is not open yet")
        return await self.dialogue.relayed(message)

    def goodbye(self, code: int, error: Error) -> None:
        """Tell the client why, then close the socket with `code` once everything queued before is sent."""
        self.out.put_now(error.model_dump_json())
        self.out.close(code, error.code)

    async def _watch_idle(self) -> None:
        """Close a session nobody uses (idle.py); the page reconnects when its user is back."""
        assert self.dialogue is not None and self._outlet is not None
        why = await idle(self.settings, self.dialogue, self._outlet, lambda: self._last_input)
        self.goodbye(CLOSE_IDLE, why)

    async def _receive(self) -> None:
        assert self.dialogue is not None and self._outlet is not None
        loop = asyncio.get_running_loop()
        pace = Pace(self.settings.client_messages_per_second)
        for n in itertools.count(1):
            if n % FAIR_SHARE == 0:
                await asyncio.sleep(0)  # a flood of messages is read a share at a time (see pump)
            await pace.take()
            try:
                message = await self.ws.receive()
                self._last_input = loop.time()
            except Exception as e:  # the transport broke under us
                raise self._closed(f"receive failed: {e!r}") from None
            if message["type"] == "websocket.disconnect":
                raise self._closed(f"client left ({message.get('code', 1000)})")
            raw = message.get("text")
            try:
                if raw is None:  # binary: a picture, or the microphone's audio
                    await self.dialogue.binary(message.get("bytes") or b"")
                else:
                    await self.dialogue.handle(parse_client_message(raw))
            except ProtocolError as e:
                await self._outlet.send(Error(code=e.code, message=str(e)))

    async def _send(self) -> None:
        async def close(code: int, reason: str) -> None:
            await self.ws.close(code=code, reason=reason)

        try:
            goodbye = await pump(self.out, self.ws.send_text, self.ws.send_bytes, close)
        except Exception as e:  # a reset connection, a closed socket: this session is over
            raise self._closed(f"send failed: {e!r}") from None
        raise self._closed(f"closed by the server ({goodbye.reason})")

    def _on_frame(self, frame: StepFrame) -> None:
        if self._track is not None:
            self._track.add(frame.t, frame.channels)
        if self._outlet is not None:
            self._outlet.frame(frame)


async def serve_session(websocket: WebSocket, services: Services) -> None:
    with contextlib.suppress(WebSocketDisconnect):  # gone before it was admitted
        await Session(websocket, services).run()
