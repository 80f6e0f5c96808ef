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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from animation.arkit import ARKIT_52, HEAD_CHANNELS, N_CHANNELS
from animation.controls import CONTROLS, GAIN, lookup
from animation.emotions import EMOTION_INDEX, EMOTIONS, PAD
from animation.track import TrackWriter
from server import __version__
from server.animator import Animator
from server.assets import avatar_url
from server.binary import encode_frame, quantize
from server.conversation import Conversation, Turn
from server.embed import EmbedKey, Gatekeeper
from server.memory import MemoryStore
from server.outbound import Frame, Outbound
from server.personas import Persona
from server.prompting import FaceRequests
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
    MoodInfo,
    PersonaInfo,
    ProtocolError,
    SetControl,
    SetEmotion,
    SetExpressiveness,
    SetGain,
    SetMood,
    SetVoice,
    Speak,
    State,
    Stop,
    Typing,
    UserMessage,
    Visibility,
    parse_client_message,
)
from server.reply_task import run_reply
from server.settings import Settings
from server.speaker import audio_info, shared_voice, voice_available
from server.voice import Voice, VoiceUnavailable
from server.voice_cloud import Fallback
from server.voices import AUTO
from server.voices import resolve as resolve_voice

log = logging.getLogger("mien.session")
_SESSION_ID = re.compile(r"[0-9a-f]{12,32}")


@dataclass
class Shared:
    """What every session of one server shares."""

    settings: Settings
    animator: Animator
    personas: dict[str, Persona]
    store: MemoryStore
    gate: Gatekeeper

    def persona_info(self, p: Persona) -> PersonaInfo:
        mood = MoodInfo(emotion=p.mood.emotion, intensity=p.mood.intensity)
        voice = str(resolve_voice(p.voice, self.settings))
        url = avatar_url(p.avatar)
        return PersonaInfo(
            id=p.id, name=p.name, greeting=p.greeting, avatar=p.avatar, avatar_url=url, mood=mood, voice=voice
        )


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
        self.voice_lane = asyncio.Lock()  # one synthesis at a time for this session (server/speaker.py)
        self._seq = 0
        self.t_start = 0.0
        self.slot = -1
        self._track: TrackWriter | None = None
        self.voice: Voice | None = None  # set by `set_voice`: replies are spoken
        self.key: EmbedKey | None = None  # the embed key this session came with, if any
        self.visitor = websocket.client.host if websocket.client else "unknown"

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        await self.ws.accept()
        if not await self._admit():
            return
        try:
            await self._run()
        finally:
            self.shared.gate.leave(self.key)

    async def _admit(self) -> bool:
        """Embed key and origin check; a refusal is a typed error, then the socket closes (1008)."""
        scheme = "https" if self.ws.url.scheme == "wss" else "http"
        own_origin = f"{scheme}://{self.ws.headers.get('host', '')}"
        admission = self.shared.gate.admit(
            self.ws.query_params.get("key"), self.ws.headers.get("origin"), own_origin
        )
        self.key = admission.key
        if admission.refusal is None:
            if self.key is not None and self.key.persona:
                self.persona = self.shared.personas[self.key.persona]
            return True
        self.key = None  # nothing was counted for a refused session
        await self.ws.send_text(Error(code=admission.refusal, message=admission.reason).model_dump_json())
        await self.ws.close(code=1008)
        return False

    async def _run(self) -> None:
        warning = await self._open()
        self.t_start = self.animator.now()
        await self.send(self._hello())
        if warning is not None:
            await self.send(warning)
        if self.resumed:
            await self._send_history("resume")
        await self.send(State(state="idle"))
        self.slot = self.animator.attach(self._on_frame)
        bank = self.animator.bank
        bank.set_mood(self.slot, self.persona.mood.emotion, self.persona.mood.intensity)
        for name, value in self._starting_controls().items():
            bank.set_control(self.slot, name, value)
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
            self.animator.detach(self.slot)
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
            self.conversation.turns = [Turn(t.role, t.content, t.status, t.cues) for t in turns]
            self.resumed = True
        else:
            await asyncio.to_thread(store.open_session, self.id, self.persona.id)
            if self.settings.retention_days > 0:
                await asyncio.to_thread(store.purge, time.time() - self.settings.retention_days * 86400)
        return warning

    def _starting_controls(self) -> dict[str, float]:
        return {"expressiveness": self.persona.expressiveness, **(self.key.controls if self.key else {})}

    def _hello(self) -> Hello:
        start = self._starting_controls()
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
            # The persona (and an embed key) set the session's starting face: clients show and reset to it.
            controls=[ControlInfo(**c.as_dict(), value=start.get(c.name)) for c in CONTROLS],
            gain=ControlInfo(**GAIN.as_dict()),
            persona=self.shared.persona_info(self.persona),
            personas=[self.shared.persona_info(p) for p in self.shared.personas.values()],
            resumed=self.resumed,
            voice=voice_available(resolve_voice(self.persona.voice, self.settings)),
            audio=audio_info(),
            fps=self.settings.fps,
            frame_format=FRAME_FORMAT,
            limits=Limits(max_message_bytes=MAX_MESSAGE_BYTES, max_text_chars=MAX_TEXT_CHARS),
        )

    async def send(self, message: BaseModel) -> None:
        await self.out.put(message.model_dump_json())

    def send_now(self, message: BaseModel) -> None:
        """For the few messages sent while a reply is being torn down (cannot wait for queue space)."""
        self.out.put_now(message.model_dump_json())

    async def _send_history(self, reason: str) -> None:
        turns = [
            HistoryTurn(role=t.role, content=t.content, status=t.status, cues=list(t.cues))  # type: ignore[arg-type]
            for t in self.conversation.turns
        ]
        await self.send(History(reason=reason, turns=turns))  # type: ignore[arg-type]

    async def set_state(self, state: str) -> None:
        self.animator.bank.set_state(self.slot, state)
        await self.send(State(state=state))  # type: ignore[arg-type]

    async def _sender(self) -> None:
        """The only writer to the websocket."""
        last_sent = np.zeros(N_CHANNELS, dtype=np.int32)
        while True:
            item = await self.out.get()
            if isinstance(item, Frame):
                q = quantize(item.channels)
                await self.ws.send_bytes(encode_frame(item.seq, item.t_ms, q, last_sent))
                last_sent = q
            elif isinstance(item, bytes):
                await self.ws.send_bytes(item)
            else:
                await self.ws.send_text(item)

    def _on_frame(self, channels: np.ndarray, t: float) -> None:
        if self._track is not None:
            self._track.add(t, channels)
        if self.hidden:
            return
        self._seq += 1
        t_ms = round((t - self.t_start) * 1000)
        self.out.offer_frame(Frame(self._seq, max(0, t_ms), channels.copy()))

    # ------------------------------------------------------------------ input

    async def _receive_loop(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            raw = message.get("text")
            if raw is None:
                await self.send(Error(code="invalid_message", message="binary messages are not accepted"))
                continue
            try:
                await self._handle(parse_client_message(raw))
            except ProtocolError as e:
                await self.send(Error(code=e.code, message=str(e)))

    async def _handle(self, msg: BaseModel) -> None:
        bank, slot, now = self.animator.bank, self.slot, self.animator.now()
        match msg:
            case UserMessage(text=text) | Speak(text=text):
                # A scripted line costs too (a cloud voice speaks it): both count against an embed key.
                refusal = self.shared.gate.allow_message(self.key, self.visitor, time.time())
                if refusal is not None:
                    raise ProtocolError("rate_limited", refusal)
                await self._start_reply(text, scripted_line=isinstance(msg, Speak))
            case Stop():
                await self._cancel_reply()
            case SetEmotion(emotion=emotion, intensity=intensity, hold=hold):
                _check_emotion(emotion)
                bank.cue(slot, emotion, intensity, now, hold=hold)
                await self.send(
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
            case SetVoice(enabled=enabled):
                self.voice = await self._load_voice() if enabled else None
            case Typing(active=active):
                if self._reply is None or self._reply.done():
                    await self.set_state("listening" if active else "idle")

    async def _load_voice(self) -> Voice:
        """The persona's voice (loaded once per server, in a thread). A cloud voice is wrapped so that a
        sentence it fails to speak sends a `voice_failed` error and is spoken offline instead."""
        spec = resolve_voice(self.persona.voice, self.settings)
        try:
            voice = await asyncio.to_thread(shared_voice, spec, self.settings)
        except VoiceUnavailable as e:
            raise ProtocolError("voice_unavailable", str(e)) from None
        if not spec.cloud:
            return voice
        loop = asyncio.get_running_loop()

        def report(message: str) -> None:  # from the synthesis thread
            with contextlib.suppress(RuntimeError):  # the loop is gone: so is the client
                # reply_id null: the reply's text is whole (a sentence is just spoken offline instead), and
                # the failing request may belong to a reply already interrupted.
                log.warning("voice failed: %s", message)
                error = Error(code="voice_failed", message=self.public_detail(message), reply_id=None)
                loop.call_soon_threadsafe(self.send_now, error)

        return Fallback(voice, lambda: shared_voice(AUTO, self.settings), report)

    def public_detail(self, detail: str) -> str:
        """A provider's error text: whole for the server's own page, plain for embedding sites' visitors."""
        return detail if self.key is None else "the service is unavailable right now; please try again soon"

    def _set_control(self, name: str, value: float) -> None:
        try:
            control = lookup(name)
        except ValueError as e:
            raise ProtocolError("unknown_control", str(e)) from None
        try:
            self.animator.bank.set_control(self.slot, control.name, value)
        except ValueError as e:
            raise ProtocolError("out_of_range", str(e)) from None
        self.face.controls[control.name] = value

    # ------------------------------------------------------------------ replies

    async def _start_reply(self, text: str, *, scripted_line: bool) -> None:
        await self._cancel_reply()  # a new message interrupts the reply in progress
        reply_id = next(self._reply_ids)
        self._reply = asyncio.create_task(run_reply(self, reply_id, text, scripted_line))

    async def _cancel_reply(self) -> None:
        task, self._reply = self._reply, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def serve_session(websocket: WebSocket, shared: Shared) -> None:
    session = Session(websocket, shared)
    with contextlib.suppress(WebSocketDisconnect):
        await session.run()
