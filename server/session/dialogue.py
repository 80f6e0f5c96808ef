"""What happens while a session is open: each client message becomes a change to the face, a reply, or
an answer; the reply in progress (at most one) and its voice. Bad values raise ProtocolError (a typed
`error` to the client) and change nothing."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from pydantic import BaseModel

from animation.controls import lookup
from animation.emotions import EMOTION_INDEX, EMOTIONS
from server.events import Cue
from server.limits import Admission, MinuteWindow, Refused
from server.personas import Persona
from server.protocol import Error, ProtocolError, parse_client_message
from server.protocol import client as msg
from server.protocol.frames import IMAGE_KIND
from server.reply import History, Judge, JudgePlan, Reply
from server.seeing import Picture, VisionRoute
from server.session import prompts
from server.session.outlet import Outlet
from server.session.output import ReplyOutput, Voicing
from server.session.pictures import SessionPictures
from server.session.relay import Answer
from server.session.services import Services
from server.voice import Voice, VoiceUnavailable

log = logging.getLogger("mien.session")
NOT_SAVED = "This conversation is not being saved right now; it will be when the database is back."

Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


# What may be sent to a session from outside its socket (POST /sessions/{id}/messages, relay.py).
RELAYABLE = {"stop", "speak", "set_emotion", "set_gain", "set_expressiveness", "set_control", "set_mood"}


class Microphone(Protocol):  # server/session/microphone.py (which needs the Dialogue: no import here)
    async def listen(self, mode: str, headphones: bool) -> None: ...
    def audio(self, data: bytes) -> None: ...


class Dialogue:
    def __init__(
        self,
        services: Services,
        outlet: Outlet,
        conversation: History,
        persona: Persona,
        admission: Admission,
        spawn: Spawn,
    ) -> None:
        """`spawn`: how a task joins the session's supervised group (replies and their voices do)."""
        self.services = services
        self.outlet = outlet
        self.face = outlet.face
        self.conversation = conversation
        self.persona = persona
        self.admission = admission  # the embed key (if any) and the visitor, for the gate's counts
        self.spawn = spawn
        self.voice: Voice | None = None  # set by `set_voice`: replies are spoken
        self.voice_lane = asyncio.Lock()  # one synthesis at a time for this session (voice/speaker.py)
        self.replies = 0
        self._reply_ids = itertools.count(1)
        self.quiet_since = 0.0  # when the last reply ended (loop clock): idleness counts from then too
        self._exports = MinuteWindow()  # when this minute's exports were answered
        self._reply: asyncio.Task[None] | None = None
        self.output: ReplyOutput | None = None  # the latest reply's way out (its id, what it has said)
        self.microphone: Microphone | None = None  # set by the session: `listen` goes to it
        self.pictures = SessionPictures(services.vision, services.settings.max_image_bytes)
        self.own_persona = persona  # as configured (`set_prompts` may give this session its own prompt)
        self.own_plan = JudgePlan.of(services.settings, persona)  # a second model judging replies, if any
        self.judge = Judge(services.gateway, self.own_plan) if self.own_plan is not None else None
        # Turns the store can't take are held and written later (server/reply/history.py): say so, once.
        # Their retries run in the session's group, and end with it (what is still held then is logged).
        conversation.on_unsaved = self._not_saved
        spawn(conversation.keep())

    async def handle(self, message: BaseModel) -> None:
        face, outlet = self.face, self.outlet
        match message:
            case msg.Speak() if self.admission.key is not None and not self.admission.key.allow_speak:
                # Another site's page putting words in the avatar's mouth: only when its key allows it.
                raise ProtocolError("not_allowed", "this site's avatar does not take scripted lines")
            case msg.UserMessage(image=int(image_id)):
                picture = self.pictures.take(image_id)  # unknown_image before any cost is counted
                await self._admit(message.text)
                await self.start_reply(message.text, scripted=False, picture=picture)
            case msg.UserMessage(text=text) | msg.Speak(text=text):
                await self._admit(text)
                await self.start_reply(text, scripted=isinstance(message, msg.Speak))
            case msg.Stop():
                await self.cancel_reply()
            case msg.SetEmotion(emotion=emotion, intensity=intensity, hold=hold):
                _check_emotion(emotion)
                await outlet.show(Cue(emotion, intensity, 0, "user", hold=hold), None)
            case msg.SetGain(emotion=emotion, gain=gain):
                _check_emotion(emotion)
                face.set_gain(emotion, gain)
            case msg.SetExpressiveness(value=value):
                self._set_control("expressiveness", value)
            case msg.SetControl(name=name, value=value):
                self._set_control(name, value)
            case msg.SetMood(emotion=emotion, intensity=intensity):
                _check_emotion(emotion)
                face.set_mood(emotion, intensity)
            case msg.ClearHistory():
                await self.cancel_reply()
                await self.conversation.clear()
                await outlet.history("clear", self.conversation.turns)
            case msg.ExportHistory():
                self._check_export_rate()
                await outlet.history("export", self.conversation.turns)
            case msg.Visibility(hidden=hidden):
                outlet.hidden = hidden
            case msg.SetVoice(enabled=enabled):
                self.voice = await self._load_voice() if enabled else None
            case msg.Resume():
                raise ProtocolError(
                    "invalid_message", "resume is only the first message of a socket opened with ?resume=1"
                )
            case msg.Listen(mode=mode, headphones=headphones):
                if self.microphone is None:
                    raise ProtocolError("speech_unavailable", "this session has no microphone")
                await self.microphone.listen(mode, headphones)
            case msg.SetPrompts():
                key = self.admission.key
                args = (self.persona, self.own_persona, self.judge, self.own_plan)
                self.persona, self.judge = prompts.edit(message, key, *args)
                plan = self.judge.plan if self.judge is not None else None
                model = self.services.settings.generator
                await outlet.send(prompts.prompts_info(model, self.persona, self.own_persona, plan))
            case msg.Typing(active=active):
                if not self.replying:
                    await outlet.set_state("listening" if active else "idle")

    async def _admit(self, text: str) -> None:
        """A line the avatar will answer or say: counted against an embed key (a scripted line costs too:
        a cloud voice speaks it), then moderated before the model sees it (ProtocolError if refused)."""
        denial = await self.services.gate.allow_message(self.admission)
        if denial is not None:
            raise ProtocolError(*denial)
        try:  # a word list at once; a moderation model, bounded
            await self.services.moderation.check(text, self.admission.key)
        except Refused as e:
            raise ProtocolError(e.code, str(e)) from None

    async def binary(self, data: bytes) -> None:
        """A binary message: a picture (made ready and acknowledged with `image`), or microphone audio."""
        if data[:1] == bytes([IMAGE_KIND]):
            await self.outlet.send(await self.pictures.receive(data))
        elif self.microphone is not None:
            self.microphone.audio(data)
        else:
            raise ProtocolError("speech_unavailable", "this session has no microphone")

    async def relayed(self, message: dict[str, Any]) -> Answer:
        """A message sent from elsewhere, handled as if the socket had sent it (the relayable kinds only)."""
        if message.get("type") not in RELAYABLE:
            kind = str(message.get("type"))[:64]
            return Answer(False, "not_allowed", f"{kind!r} can't be sent from elsewhere")
        try:
            await self.handle(parse_client_message(json.dumps(message)))
        except ProtocolError as e:
            return Answer(False, e.code, str(e))
        return Answer(True)

    # ------------------------------------------------------------------ replies

    @property
    def replying(self) -> bool:
        return self._reply is not None and not self._reply.done()

    @property
    def reply_task(self) -> asyncio.Task[None] | None:
        """The reply in progress (its voice included), if any."""
        return self._reply if self.replying else None

    async def start_reply(self, text: str, *, scripted: bool, picture: Picture | None = None) -> None:
        await self.cancel_reply()  # a new message interrupts the reply in progress
        self.replies += 1
        self._reply = self.spawn(self._run_reply(next(self._reply_ids), text, scripted, picture))
        # Let it start (reply_start is out) before the next message is read: a `stop` right behind this
        # message then interrupts a reply the client knows of, instead of one that never began.
        await asyncio.sleep(0)

    async def cancel_reply(self) -> None:
        task, self._reply = self._reply, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])

    async def _run_reply(self, reply_id: int, text: str, scripted: bool, picture: Picture | None) -> None:
        voice, services = self.voice, self.services
        voicing = Voicing(voice, self.voice_lane, self.spawn, services.spoken) if voice is not None else None
        output = self.output = ReplyOutput(self.outlet, reply_id, voicing, self._spend)
        key = self.admission.key
        reply = Reply(
            self.services.gateway,
            self.persona,
            self.face,
            self.conversation,
            output,
            scripted=scripted,
            reply_id=reply_id,
            judge=self.judge,
            teacher=services.teacher,
            audience=f"{key.id if key is not None else ''}/{self.own_persona.id}",  # batched together
            reveal=prompts.editable(key),
        )
        try:
            seeing = self.pictures.route if isinstance(self.pictures.route, VisionRoute) else None
            await reply.run(text, picture, seeing)
            if self.judge is not None and not self.judge.holds:
                self.spawn(reply.observe())  # judged beside the session: it never delays the next turn
            await output.until_silent()  # the face stays "speaking" until the voice has sounded
        except asyncio.CancelledError:
            await asyncio.shield(output.cut())
            raise
        except Exception:  # a bug past the reply's own handling: this reply is lost, the session is not
            log.exception("reply %s failed", reply_id)
            self.outlet.send_now(
                Error(code="internal", message="the reply failed unexpectedly", reply_id=reply_id)
            )
        finally:
            self.outlet.idle()
            self.quiet_since = asyncio.get_running_loop().time()

    def _not_saved(self, reply_id: int | None) -> None:
        """The first turn of a store outage is held: the user learns that the conversation is not being
        saved (a resume elsewhere would miss it), before that reply's end."""
        self.outlet.send_now(Error(code="not_saved", message=NOT_SAVED, reply_id=reply_id))

    def _check_export_rate(self) -> None:
        """A whole conversation per export: a client asking again and again would make the server copy it
        out without end (the outbound queue's byte budget bounds memory; this bounds the work)."""
        now, limit = time.monotonic(), self.services.settings.exports_per_minute
        if self._exports.full(limit, now) is not None:
            raise ProtocolError("rate_limited", f"export limit reached ({limit} a minute)")
        self._exports.append(now)

    def _spend(self, tokens: int) -> None:
        self.services.gate.spend(self.admission, tokens)

    # ------------------------------------------------------------------ face and voice

    def _set_control(self, name: str, value: float) -> None:
        try:
            control = lookup(name)
        except ValueError as e:
            raise ProtocolError("unknown_control", str(e)) from None
        try:
            self.face.set_control(control.name, value)
        except ValueError as e:
            raise ProtocolError("out_of_range", str(e)) from None

    async def _load_voice(self) -> Voice:
        """The persona's voice (loaded once per server, in a thread). A sentence a cloud voice fails to
        speak sends a `voice_failed` error and is spoken offline instead."""
        loop = asyncio.get_running_loop()
        outlet = self.outlet

        def report(message: str) -> None:  # from the synthesis thread
            with contextlib.suppress(RuntimeError):  # the loop is gone: so is the client
                # reply_id null: the reply's text is whole (a sentence is just spoken offline instead),
                # and the failing request may belong to a reply already interrupted.
                log.warning("voice failed: %s", message)
                plain = "the cloud voice failed; the built-in voice speaks instead"
                error = Error(
                    code="voice_failed", message=outlet.public_detail(message, plain), reply_id=None
                )
                loop.call_soon_threadsafe(outlet.send_now, error)

        try:
            return await asyncio.to_thread(self.services.voices.for_session, self.persona.voice, report)
        except VoiceUnavailable as e:
            log.warning("no voice for %s: %s", self.persona.voice, e)
            detail = self.outlet.public_detail(str(e), "this server cannot speak aloud right now")
            raise ProtocolError("voice_unavailable", detail) from None


def _check_emotion(name: str) -> None:
    if name not in EMOTION_INDEX:
        raise ProtocolError("unknown_emotion", f"unknown emotion {name!r}; known: {', '.join(EMOTIONS)}")
