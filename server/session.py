"""One websocket session: a receive loop, at most one reply task, a face in the animator, and ONE sender
draining the outbound queue. Bad input gets a typed error and changes nothing; a failure here never
reaches another session."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import AsyncIterator

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from animation.arkit import ARKIT_52, HEAD_CHANNELS, N_CHANNELS
from animation.emotions import EMOTION_INDEX, EMOTIONS
from server import __version__, llm
from server.animator import Animator
from server.conversation import Conversation, ReplyCue, Turn, reply_events, scripted
from server.outbound import Frame, Outbound
from server.protocol import (
    FRAME_FORMAT,
    MAX_MESSAGE_BYTES,
    MAX_TEXT_CHARS,
    PROTOCOL_VERSION,
    EmotionCue,
    Error,
    Hello,
    Limits,
    ProtocolError,
    ReplyEnd,
    ReplyStart,
    SetEmotion,
    SetExpressiveness,
    SetGain,
    Speak,
    State,
    Stop,
    TextDelta,
    Typing,
    UserMessage,
    Visibility,
    encode_frame,
    parse_client_message,
    quantize,
)
from server.settings import Settings

log = logging.getLogger("mien.session")


def _check_emotion(name: str) -> None:
    if name not in EMOTION_INDEX:
        raise ProtocolError("unknown_emotion", f"unknown emotion {name!r}; known: {', '.join(EMOTIONS)}")


class Session:
    def __init__(self, websocket: WebSocket, settings: Settings, animator: Animator) -> None:
        self.ws = websocket
        self.settings = settings
        self.animator = animator
        self.id = uuid.uuid4().hex[:12]
        self.out = Outbound(settings.outbound_limit)
        self.conversation = Conversation()
        self.hidden = False
        self._reply: asyncio.Task[None] | None = None
        self._reply_ids = itertools.count(1)
        self._seq = 0
        self._t_start = 0.0
        self._slot = -1

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        await self.ws.accept()
        self._t_start = self.animator.now()
        await self._send(self._hello())
        await self._send(State(state="idle"))
        self._slot = self.animator.attach(self._on_frame)
        sender = asyncio.create_task(self._sender(), name=f"mien-send-{self.id}")
        try:
            await self._receive_loop()
        except WebSocketDisconnect:
            pass
        finally:
            self.animator.detach(self._slot)
            await self._cancel_reply()
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    def _hello(self) -> Hello:
        return Hello(
            protocol=PROTOCOL_VERSION,
            server_version=__version__,
            session_id=self.id,
            model=self.settings.model,
            blendshapes=list(ARKIT_52),
            channels=list(HEAD_CHANNELS),
            emotions=list(EMOTIONS),
            fps=self.settings.fps,
            frame_format=FRAME_FORMAT,
            limits=Limits(max_message_bytes=MAX_MESSAGE_BYTES, max_text_chars=MAX_TEXT_CHARS),
        )

    async def _send(self, message: BaseModel) -> None:
        await self.out.put(message.model_dump_json())

    async def _sender(self) -> None:
        """The only writer to the websocket."""
        last_sent = np.zeros(N_CHANNELS, dtype=np.int32)
        while True:
            item = await self.out.get()
            if isinstance(item, Frame):
                q = quantize(item.channels)
                await self.ws.send_bytes(encode_frame(item.seq, item.t_ms, q, last_sent))
                last_sent = q
            else:
                await self.ws.send_text(item)

    def _on_frame(self, channels: np.ndarray, t: float) -> None:
        if self.hidden:
            return
        self._seq += 1
        t_ms = round((t - self._t_start) * 1000)
        self.out.offer_frame(Frame(self._seq, max(0, t_ms), channels.copy()))

    # ------------------------------------------------------------------ input

    async def _receive_loop(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            raw = message.get("text")
            if raw is None:
                await self._send(Error(code="invalid_message", message="binary messages are not accepted"))
                continue
            try:
                await self._handle(parse_client_message(raw))
            except ProtocolError as e:
                await self._send(Error(code=e.code, message=str(e)))

    async def _handle(self, msg: BaseModel) -> None:
        bank, slot, now = self.animator.bank, self._slot, self.animator.now()
        match msg:
            case UserMessage(text=text):
                await self._start_reply(text, scripted_line=False)
            case Speak(text=text):
                await self._start_reply(text, scripted_line=True)
            case Stop():
                await self._cancel_reply()
            case SetEmotion(emotion=emotion, intensity=intensity, hold=hold):
                _check_emotion(emotion)
                bank.cue(slot, emotion, intensity, now, hold=hold)
                await self._send(
                    EmotionCue(reply_id=None, emotion=emotion, intensity=intensity, offset=0, source="user")
                )
            case SetGain(emotion=emotion, gain=gain):
                _check_emotion(emotion)
                bank.set_gain(slot, emotion, gain)
            case SetExpressiveness(value=value):
                bank.set_expressiveness(slot, value)
            case Visibility(hidden=hidden):
                self.hidden = hidden
            case Typing(active=active):
                if self._reply is None or self._reply.done():
                    await self._send(State(state="listening" if active else "idle"))

    # ------------------------------------------------------------------ replies

    async def _start_reply(self, text: str, *, scripted_line: bool) -> None:
        await self._cancel_reply()  # a new message interrupts the reply in progress
        reply_id = next(self._reply_ids)
        self._reply = asyncio.create_task(self._run_reply(reply_id, text, scripted_line))

    async def _cancel_reply(self) -> None:
        task, self._reply = self._reply, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run_reply(self, reply_id: int, text: str, scripted_line: bool) -> None:
        bank, slot = self.animator.bank, self._slot
        visible: list[str] = []
        status = "complete"
        if not scripted_line:
            self.conversation.turns.append(Turn("user", text))
        await self._send(ReplyStart(reply_id=reply_id, source="script" if scripted_line else "model"))
        await self._send(State(state="thinking"))
        chunks: AsyncIterator[str] = (
            scripted(text) if scripted_line else llm.stream_reply(self.conversation.messages(), self.settings)
        )
        speaking = False
        try:
            async for event in reply_events(chunks):
                if isinstance(event, ReplyCue):
                    bank.cue(slot, event.emotion, event.intensity, self.animator.now())
                    await self._send(
                        EmotionCue(
                            reply_id=reply_id,
                            emotion=event.emotion,
                            intensity=event.intensity,
                            offset=event.offset,
                            source=event.source,
                        )
                    )
                    continue
                if not speaking:
                    speaking = True
                    bank.set_talking(slot, True)
                    await self._send(State(state="speaking"))
                visible.append(event.delta)
                await self._send(TextDelta(reply_id=reply_id, offset=event.offset, delta=event.delta))
        except asyncio.CancelledError:
            status = "interrupted"
            raise
        except llm.ProviderError as e:
            status = "error"
            self.out.put_now(
                Error(code="provider_error", message=str(e), reply_id=reply_id).model_dump_json()
            )
        except Exception:
            log.exception("reply %s failed", reply_id)
            status = "error"
            self.out.put_now(
                Error(
                    code="internal", message="the reply failed unexpectedly", reply_id=reply_id
                ).model_dump_json()
            )
        finally:
            full = "".join(visible)
            if not scripted_line:
                self.conversation.turns.append(Turn("assistant", full, status))  # type: ignore[arg-type]
            bank.set_talking(slot, False)
            if status == "interrupted":
                bank.clear(slot, self.animator.now())
            # put_now: these must go out even while the task is being cancelled.
            self.out.put_now(ReplyEnd(reply_id=reply_id, status=status, text=full).model_dump_json())  # type: ignore[arg-type]
            self.out.put_now(State(state="idle").model_dump_json())


async def serve_session(websocket: WebSocket, settings: Settings, animator: Animator) -> None:
    session = Session(websocket, settings, animator)
    with contextlib.suppress(WebSocketDisconnect):
        await session.run()
