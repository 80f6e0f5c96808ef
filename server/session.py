"""One websocket session: a receive loop, at most one reply task, a face in the animator, and ONE sender
draining the outbound queue. Bad input gets a typed error and changes nothing; a failure here never
reaches another session.

Connect with `/ws?persona=ID` to choose a persona and `/ws?session=ID` to resume a stored conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from animation.arkit import ARKIT_52, HEAD_CHANNELS, N_CHANNELS
from animation.controls import CONTROLS, GAIN, lookup
from animation.emotions import EMOTION_INDEX, EMOTIONS, PAD
from animation.track import TrackWriter
from server import __version__, llm
from server.animator import Animator
from server.conversation import Conversation, ReplyCue, Turn, reply_events, scripted
from server.feelings import FEELINGS
from server.memory import MemoryStore
from server.outbound import Frame, Outbound
from server.personas import Persona
from server.protocol import (
    FRAME_FORMAT,
    MAX_MESSAGE_BYTES,
    MAX_TEXT_CHARS,
    PROTOCOL_VERSION,
    ClearHistory,
    ControlInfo,
    EmotionCue,
    EmotionInfo,
    Error,
    ExportHistory,
    Hello,
    History,
    HistoryTurn,
    Limits,
    PersonaInfo,
    ProtocolError,
    ReplyEnd,
    ReplyStart,
    SetControl,
    SetEmotion,
    SetExpressiveness,
    SetGain,
    SetMood,
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
from server.reply import FaceRequests, empathic_cue, prompt_for
from server.settings import Settings

log = logging.getLogger("mien.session")
_SESSION_ID = re.compile(r"[0-9a-f]{12,32}")


@dataclass
class Shared:
    """What every session of one server shares."""

    settings: Settings
    animator: Animator
    personas: dict[str, Persona]
    store: MemoryStore

    def persona_info(self, p: Persona) -> PersonaInfo:
        return PersonaInfo(id=p.id, name=p.name, greeting=p.greeting, avatar=p.avatar)


def _check_emotion(name: str) -> None:
    if name not in EMOTION_INDEX:
        raise ProtocolError("unknown_emotion", f"unknown emotion {name!r}; known: {', '.join(EMOTIONS)}")


class Session:
    def __init__(self, websocket: WebSocket, shared: Shared) -> None:
        self.ws = websocket
        self.shared = shared
        self.settings = shared.settings
        self.animator = shared.animator
        self.out = Outbound(self.settings.outbound_limit)
        self.conversation = Conversation()
        self.face = FaceRequests()
        self.hidden = False
        self.id = uuid.uuid4().hex[:16]
        self.persona = shared.personas[self.settings.persona]
        self.resumed = False
        self._reply: asyncio.Task[None] | None = None
        self._reply_ids = itertools.count(1)
        self._seq = 0
        self._t_start = 0.0
        self._slot = -1
        self._track: TrackWriter | None = None

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        await self.ws.accept()
        warning = await self._open()
        self._t_start = self.animator.now()
        await self._send(self._hello())
        if warning is not None:
            await self._send(warning)
        if self.resumed:
            await self._send_history("resume")
        await self._send(State(state="idle"))
        self._slot = self.animator.attach(self._on_frame)
        bank = self.animator.bank
        bank.set_mood(self._slot, self.persona.mood.emotion, self.persona.mood.intensity)
        bank.set_control(self._slot, "expressiveness", self.persona.expressiveness)
        if self.settings.record_dir:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            self._track = TrackWriter(
                Path(self.settings.record_dir) / f"{stamp}-{self.id}.json", self.settings.fps
            )
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
            if self._track is not None:
                await asyncio.to_thread(self._track.close)

    async def _open(self) -> Error | None:
        """Choose the persona and resume a stored conversation from the query string."""
        params = self.ws.query_params
        warning = None
        wanted = params.get("persona")
        if wanted is not None and wanted not in self.shared.personas:
            known = ", ".join(self.shared.personas)
            warning = Error(code="unknown_persona", message=f"unknown persona {wanted!r}; known: {known}")
        elif wanted is not None:
            self.persona = self.shared.personas[wanted]
        store = self.shared.store
        resume = params.get("session")
        if resume and _SESSION_ID.fullmatch(resume) and await asyncio.to_thread(store.exists, resume):
            self.id = resume
            stored = await asyncio.to_thread(store.open_session, resume, self.persona.id)
            if stored in self.shared.personas and wanted is None:
                self.persona = self.shared.personas[stored]
            turns = await asyncio.to_thread(store.turns, resume)
            self.conversation.turns = [Turn(t.role, t.content, t.status) for t in turns]
            self.resumed = True
        else:
            await asyncio.to_thread(store.open_session, self.id, self.persona.id)
            if self.settings.retention_days > 0:
                await asyncio.to_thread(store.purge, time.time() - self.settings.retention_days * 86400)
        return warning

    def _hello(self) -> Hello:
        return Hello(
            protocol=PROTOCOL_VERSION,
            server_version=__version__,
            session_id=self.id,
            model=self.settings.model,
            blendshapes=list(ARKIT_52),
            channels=list(HEAD_CHANNELS),
            emotions=list(EMOTIONS),
            emotion_info=[
                EmotionInfo(name=e, pleasure=float(p[0]), arousal=float(p[1]), dominance=float(p[2]))
                for e, p in zip(EMOTIONS, PAD.tolist(), strict=True)
            ],
            controls=[ControlInfo(**c.as_dict()) for c in CONTROLS],
            gain=ControlInfo(**GAIN.as_dict()),
            persona=self.shared.persona_info(self.persona),
            personas=[self.shared.persona_info(p) for p in self.shared.personas.values()],
            resumed=self.resumed,
            fps=self.settings.fps,
            frame_format=FRAME_FORMAT,
            limits=Limits(max_message_bytes=MAX_MESSAGE_BYTES, max_text_chars=MAX_TEXT_CHARS),
        )

    async def _send(self, message: BaseModel) -> None:
        await self.out.put(message.model_dump_json())

    def _send_now(self, message: BaseModel) -> None:
        """For the few messages sent while a reply is being torn down (cannot wait for queue space)."""
        self.out.put_now(message.model_dump_json())

    async def _send_history(self, reason: str) -> None:
        turns = [
            HistoryTurn(role=t.role, content=t.content, status=t.status) for t in self.conversation.turns
        ]
        await self._send(History(reason=reason, turns=turns))  # type: ignore[arg-type]

    async def _set_state(self, state: str) -> None:
        self.animator.bank.set_state(self._slot, state)
        await self._send(State(state=state))  # type: ignore[arg-type]

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
        if self._track is not None:
            self._track.add(t, channels)
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
                self.face.gains[emotion] = gain
            case SetExpressiveness(value=value):
                self._set_control("expressiveness", value)
            case SetControl(name=name, value=value):
                self._set_control(name, value)
            case SetMood(emotion=emotion, intensity=intensity):
                _check_emotion(emotion)
                bank.set_mood(slot, emotion, intensity)
                self.face.mood = (emotion, intensity)
            case ClearHistory():
                await self._cancel_reply()
                self.conversation.turns.clear()
                await asyncio.to_thread(self.shared.store.clear, self.id)
                await self._send_history("clear")
            case ExportHistory():
                await self._send_history("export")
            case Visibility(hidden=hidden):
                self.hidden = hidden
            case Typing(active=active):
                if self._reply is None or self._reply.done():
                    await self._set_state("listening" if active else "idle")

    def _set_control(self, name: str, value: float) -> None:
        try:
            control = lookup(name)
        except ValueError as e:
            raise ProtocolError("unknown_control", str(e)) from None
        try:
            self.animator.bank.set_control(self._slot, control.name, value)
        except ValueError as e:
            raise ProtocolError("out_of_range", str(e)) from None
        self.face.controls[control.name] = value

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

    async def _remember(self, turn: Turn) -> None:
        self.conversation.turns.append(turn)
        await asyncio.to_thread(self.shared.store.append, self.id, turn.role, turn.content, turn.status)

    async def _run_reply(self, reply_id: int, text: str, scripted_line: bool) -> None:
        bank, slot = self.animator.bank, self._slot
        visible: list[str] = []
        status = "complete"
        await self._send(ReplyStart(reply_id=reply_id, source="script" if scripted_line else "model"))
        await self._set_state("thinking")
        if scripted_line:
            chunks: AsyncIterator[str] = scripted(text)
        else:
            await self._remember(Turn("user", text))
            await self._listen(reply_id, text)
            self.conversation.system_prompt = prompt_for(self.persona, self.face)
            messages = await asyncio.to_thread(
                self.conversation.messages, lambda m: llm.count_tokens(m, self.settings)
            )
            chunks = llm.stream_reply(messages, self.settings)
        speaking = False
        try:
            annotate = self._annotate if self.settings.emotion_model and not scripted_line else None
            async for event in reply_events(chunks, annotate=annotate):
                if isinstance(event, ReplyCue):
                    if not (scripted_line or self.persona.allows(event.emotion)):
                        continue  # the persona never shows this emotion
                    bank.cue(slot, event.emotion, event.intensity, self.animator.now())
                    await self._send(
                        EmotionCue(
                            reply_id=reply_id,
                            emotion=event.emotion,
                            intensity=event.intensity,
                            offset=event.offset,
                            source=event.source,
                            confidence=event.confidence,
                            tempered_by=event.tempered_by,
                        )
                    )
                    continue
                if not speaking:
                    speaking = True
                    await self._set_state("speaking")
                visible.append(event.delta)
                await self._send(TextDelta(reply_id=reply_id, offset=event.offset, delta=event.delta))
        except asyncio.CancelledError:
            status = "interrupted"
            raise
        except llm.ProviderError as e:
            status = "error"
            self._send_now(Error(code="provider_error", message=str(e), reply_id=reply_id))
        except Exception:
            log.exception("reply %s failed", reply_id)
            status = "error"
            self._send_now(Error(code="internal", message="the reply failed unexpectedly", reply_id=reply_id))
        finally:
            full = "".join(visible)
            bank.set_state(slot, "idle")
            if status == "interrupted":
                bank.clear(slot, self.animator.now())
            if not scripted_line:
                self.conversation.turns.append(Turn("assistant", full, status))  # type: ignore[arg-type]
                # Stored before reply_end goes out (a client may resume right after it), and shielded:
                # a cancelled reply's partial text must still reach the store.
                await asyncio.shield(
                    asyncio.to_thread(self.shared.store.append, self.id, "assistant", full, status)
                )
            self._send_now(ReplyEnd(reply_id=reply_id, status=status, text=full))  # type: ignore[arg-type]
            self._send_now(State(state="idle"))

    async def _annotate(self, sentence: str) -> str:
        return await llm.annotate(sentence, self.settings, list(self.persona.emotions))

    async def _listen(self, reply_id: int, text: str) -> None:
        """Read the user's message and show an empathic listening face while the model thinks."""
        inferred = await asyncio.to_thread(FEELINGS.infer, text)
        cue = empathic_cue(inferred, self.persona)
        if cue is None:
            return
        emotion, intensity = cue
        self.animator.bank.cue(self._slot, emotion, intensity, self.animator.now(), hold=1.5)
        await self._send(
            EmotionCue(
                reply_id=reply_id,
                emotion=emotion,
                intensity=intensity,
                offset=0,
                source="empathy",
                confidence=round(inferred.scores.get(inferred.emotion, 0.5), 3) if inferred else 0.5,
            )
        )


async def serve_session(websocket: WebSocket, shared: Shared) -> None:
    session = Session(websocket, shared)
    with contextlib.suppress(WebSocketDisconnect):
        await session.run()
