"""A session's microphone: `listen` opens it, binary `mic` frames feed it, and what the user says becomes
their message, as if typed (the gate, moderation and the reply all as for text).

The audio goes through the hearing (server/hearing/: voice activity, turns judged by Smart Turn, Whisper)
in worker threads, one piece at a time per session, so the event loop only queues it. While the user
speaks the face listens (state `listening`): it follows their loudness (brows up with their emphasis,
blinks at their pauses: animation/listening.py) and nods at their pauses through the gesture layer;
partial transcripts go out about once a second of speech; the final one starts at the user's pause, on a
guess (recognition.py); a turn's end makes the face think until the reply starts.

Audio is metered in seconds, never counted as messages: the session's own allowance (`listen_seconds`)
and, under an embed key, the key's seconds a day and each visitor's (the gate's counters, shared by every
process with Redis), counted a second at a time. Past either, the audio gets `rate_limited` (the turn in
progress ends there and is answered); text goes on as before.

Barge-in: talking over the avatar ducks its audio at once (`barge_in` duck). The reply stops only for
speech meant for it: enough voiced time, and words that are neither backchannels ("mhm", "yeah": a
listener's, Ward & Tsukahara 2000) nor the avatar's own reply heard back through the speakers; with
`headphones` nothing can echo, so voiced time alone decides. Anything else resumes the reply's volume.
Audio is never stored or logged: only transcripts, like typed text.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Literal

import numpy as np

from server.events import Gesture
from server.hearing import asr, endpoint
from server.hearing.ear import Ear
from server.hearing.loudness import Loudness
from server.hearing.turns import Discarded, Guess, Paused, SpeechStarted, TurnEnded, TurnEvent
from server.hearing.vad import SAMPLE_RATE
from server.limits import EmbedKey
from server.protocol import (
    BargeIn,
    Error,
    ProtocolError,
    SpeechEnd,
    SpeechStart,
    Transcript,
    TranscriptWord,
    UserMessage,
)
from server.protocol.frames import decode_mic
from server.reply.feelings import FEELINGS
from server.reply.prompt import empathic_cue
from server.session.allowance import Allowance
from server.session.dialogue import Dialogue
from server.session.hello import speech_input
from server.session.outlet import Outlet
from server.session.recognition import Recognition
from server.session.services import Services

log = logging.getLogger("mien.session")

BACKCHANNELS = frozenset(
    "mhm mm mmm hmm hm uh huh uhhuh mm-hmm uh-huh um umm ah oh ok okay yeah yep yes right sure wow".split()
)
PARTIAL_EVERY_S = 1.0  # a partial transcript per this much new speech (each costs ~0.3 s of a core)
BARGE_VOICED_S = {True: 0.3, False: 0.5}  # voiced time before talking over the avatar counts (headphones?)
QUEUED_S = 10.0  # audio waiting for the hearing past this: the client sends faster than real time
_WORD = re.compile(r"[a-z0-9']+")


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w.strip("'") and w not in BACKCHANNELS]


class SessionMicrophone:
    def __init__(self, outlet: Outlet, dialogue: Dialogue, model: str, problem: str | None, budget_s: float):
        """`problem`: why this session can't talk (hello said so); `budget_s`: audio it may send in all."""
        self.outlet, self.dialogue, self.model, self.problem = outlet, dialogue, model, problem
        self.mode: Literal["off", "push", "auto"] = "off"
        self.headphones = False
        self._queue: asyncio.Queue[np.ndarray | None] = asyncio.Queue()
        self._queued = 0  # samples waiting
        self._task: asyncio.Task[None] | None = None
        self._ear = Ear(judge=endpoint.default())
        self._turn = 0
        self._partial_at = 0.0  # voiced seconds when the last partial was made
        self._barge: int | None = None  # the reply ducked for the user's speech, undecided
        self._recognition = Recognition(model, dialogue.spawn)
        self._loudness = Loudness()
        self._heard: float | None = None  # the loudness the face was last given
        # Audio is metered in seconds (the session's and the key's); past it, the turn ends here.
        self.allowance = Allowance(dialogue, budget_s, lambda: self._queue.put_nowait(None))

    @classmethod
    def of(cls, services: Services, key: EmbedKey | None, dialogue: Dialogue) -> SessionMicrophone:
        """The session's microphone, as its hello described it (off if the server or the key says so)."""
        problem = speech_input(services, key).reason
        settings = services.settings
        return cls(dialogue.outlet, dialogue, settings.asr_model, problem, settings.listen_seconds)

    async def listen(self, mode: str, headphones: bool) -> None:
        if self.problem is not None:
            raise ProtocolError("speech_unavailable", self.problem)
        if mode != "off":
            await self.allowance.check()
        else:
            self.allowance.meter()
        was, self.mode, self.headphones = self.mode, mode, headphones  # type: ignore[assignment]
        self._ear.turns.held = mode == "push"  # push-to-talk: the release ends the turn, not a pause
        if mode == "off" and was != "off":
            self._queue.put_nowait(None)  # whatever the user was saying ends here
        elif mode != "off" and self._task is None:
            self._task = self.dialogue.spawn(self._run())

    def audio(self, data: bytes) -> None:
        """A binary `mic` message from the socket (ProtocolError for anything wrong with it)."""
        if self.problem is not None:
            raise ProtocolError("speech_unavailable", self.problem)
        if self.mode == "off":
            raise ProtocolError("mic_off", "audio arrived while the microphone is off: send `listen` first")
        try:
            _seq, samples = decode_mic(data)
        except ValueError as e:
            raise ProtocolError("bad_audio", str(e)) from None
        if self.allowance.refused is None and (self._queued + len(samples)) / SAMPLE_RATE > QUEUED_S:
            raise ProtocolError("bad_audio", "audio arrives faster than real time; this piece was not heard")
        self.allowance.take(len(samples) / SAMPLE_RATE)
        self._queued += len(samples)
        self._queue.put_nowait(samples)

    async def _run(self) -> None:
        """The hearing's loop for this session: pieces through the ear (in a thread), events out."""
        try:  # the models load on the first microphone, in a thread, while the user starts talking
            await asyncio.to_thread(self._recognition.load)
        except asr.AsrUnavailable as e:
            self.problem = str(e)
            await self.outlet.send(Error(code="speech_unavailable", message=self.problem))
            return
        while True:
            pieces = [await self._queue.get()]
            while not self._queue.empty():  # what arrived meanwhile goes in one call
                pieces.append(self._queue.get_nowait())
            closed = any(p is None for p in pieces)
            audio = [p for p in pieces if p is not None]
            if audio:
                joined = np.concatenate(audio)
                self._queued -= len(joined)
                events = await asyncio.to_thread(self._ear.feed, joined)
                self._hear(joined)
                for event in events:
                    await self._on(event)
                await self._check_barge()
                self._partial()
            if closed:
                for event in await asyncio.to_thread(self._ear.close):
                    await self._on(event, mic_closed=True)
                self._ear.restart()
                self._hear(np.zeros(0, np.float32))

    def _hear(self, audio: np.ndarray) -> None:
        """The face follows the user's loudness while they speak (and stops when they do)."""
        level = self._loudness.feed(audio, self._ear.turns.speaking)
        if level is not None or self._heard is not None:
            self.outlet.face.hear(level)
            self._heard = level

    async def _on(self, event: TurnEvent, mic_closed: bool = False) -> None:
        outlet, face = self.outlet, self.outlet.face
        match event:
            case SpeechStarted(sample=sample):
                self._turn += 1
                self._partial_at = 0.0
                self._recognition.forget()
                await outlet.send(SpeechStart(turn=self._turn, at_ms=sample * 1000 // SAMPLE_RATE))
                output = self.dialogue.output
                if self.dialogue.replying and output is not None and output.speaker is not None:
                    self._barge = output.reply_id  # talking over the avatar: quieter at once
                    await outlet.send(BargeIn(action="duck", reply_id=output.reply_id))
                else:
                    await outlet.set_state("listening")
            case Guess():
                recognition = self._recognition.guess(event)
                if self._barge is not None and not self.headphones:  # what it hears answers the barge-in too
                    self.dialogue.spawn(self._heard_so_far(self._turn, recognition, show=False))
            case Paused():
                if not self.dialogue.replying:  # a listener's nod at the pause (not while talking itself)
                    face.gesture(Gesture("nod", intensity=0.35, source="listening"))
            case Discarded(sample=sample):
                await outlet.send(
                    SpeechEnd(turn=self._turn, at_ms=sample * 1000 // SAMPLE_RATE, reason="discarded")
                )
                await self._resume()
            case TurnEnded():
                reason = "mic" if mic_closed else event.reason
                at_ms = event.speech_end * 1000 // SAMPLE_RATE
                await outlet.send(SpeechEnd(turn=self._turn, at_ms=at_ms, reason=reason))  # type: ignore[arg-type]
                # Beside the hearing: stopping a reply (its voice mid-sentence) and starting the next one
                # take time, and the microphone's audio must go on being heard meanwhile.
                self.dialogue.spawn(self._final(event, self._turn))

    async def _final(self, event: TurnEnded, turn: int) -> None:
        if self._barge is None and not self.dialogue.replying:
            await self.outlet.set_state("thinking")  # until the reply starts (or nothing was said)
        heard = await self._recognition.final(event)
        offset_ms = (event.start * 1000) // SAMPLE_RATE
        words = [
            TranscriptWord(
                word=w.word,
                start_ms=offset_ms + round(w.start * 1000),
                end_ms=offset_ms + round(w.end * 1000),
                probability=round(w.probability, 3),
            )
            for w in heard.words
        ]
        await self.outlet.send(
            Transcript(turn=turn, text=heard.text, final=True, words=words, dropped=list(heard.dropped))
        )
        if self._barge is not None:
            if not self._meant_for_avatar(heard.text):
                await self._resume()
                return
            await self._stop_reply()
        if not heard.text:
            if not self.dialogue.replying:
                await self.outlet.set_state("idle")
            return
        try:
            await self.dialogue.handle(UserMessage(text=heard.text[:4000]))
        except ProtocolError as e:  # the gate or moderation said no: as for typed text
            await self.outlet.send(Error(code=e.code, message=str(e)))

    def _partial(self, barge: bool = False) -> None:
        """About once a second of speech (or for a barge-in's question), what the user has said so far: in
        the background (the hearing goes on meanwhile), and never queued behind another recognition."""
        turns, busy = self._ear.turns, self._recognition.busy
        every = 0.0 if barge else PARTIAL_EVERY_S  # a barge-in asks again as soon as there is more speech
        if not turns.speaking or busy or turns.voiced_s - self._partial_at <= every:
            return
        self._partial_at = turns.voiced_s
        recognition = self._recognition.partial(turns.current(), turns.span)
        self.dialogue.spawn(self._heard_so_far(self._turn, recognition))

    async def _heard_so_far(
        self, turn: int, recognition: asyncio.Task[asr.Transcript | None], show: bool = True
    ) -> None:
        """A partial transcript (or a guess, cut at a pause: its last word whole) came: it may answer a
        barge-in, and a partial is shown."""
        heard = await recognition
        if heard is None or turn != self._turn:
            return
        barge_voiced = self._ear.turns.voiced_s >= BARGE_VOICED_S[self.headphones]
        if self._barge is not None and barge_voiced and self._meant_for_avatar(heard.text, partial=show):
            await self._stop_reply()
        if show and heard.text and self._ear.turns.speaking:
            await self.outlet.send(Transcript(turn=turn, text=heard.text, final=False))
            if not self.dialogue.replying:  # the listening face reads the words as they come, as for text
                read = await asyncio.to_thread(FEELINGS.infer, heard.text)
                cue = empathic_cue(read, self.dialogue.persona)
                if cue is not None and turn == self._turn:
                    self.outlet.face.cue(cue)

    async def _check_barge(self) -> None:
        """While the avatar is ducked for the user: is it speech meant for it yet? (With headphones, enough
        voiced time says so; else a partial transcript's words do, when it comes.)"""
        turns = self._ear.turns
        if self._barge is None or turns.voiced_s < BARGE_VOICED_S[self.headphones]:
            return
        if self.headphones:
            await self._stop_reply()
        else:
            self._partial(barge=True)

    def _meant_for_avatar(self, text: str, partial: bool = False) -> bool:
        """Words that are not backchannels, and (without headphones) not all the avatar's own. A partial
        transcript's last word may be cut off mid-word (and so misheard): it does not count yet."""
        said = content_words(text)[: -1 if partial else None]
        if not said:
            return False
        if self.headphones:
            return True
        output = self.dialogue.output
        own = set(content_words("".join(output.said))) if output is not None else set()
        return not set(said) <= own

    async def _stop_reply(self) -> None:
        reply_id, self._barge = self._barge, None
        if reply_id is None:
            return
        await self.outlet.send(BargeIn(action="stop", reply_id=reply_id))
        output = self.dialogue.output
        if output is not None and output.reply_id == reply_id:
            await self.dialogue.cancel_reply()
        await self.outlet.set_state("listening")

    async def _resume(self) -> None:
        reply_id, self._barge = self._barge, None
        if reply_id is not None:
            await self.outlet.send(BargeIn(action="resume", reply_id=reply_id))
        elif not self.dialogue.replying:
            await self.outlet.set_state("idle")
