"""Where one reply's events go (its Sink): text and cues to the wire, cues to the face, sentences to the
voice, and the conversation state the face and the client show (thinking, speaking, idle).

With the voice on, a cue reaches the face when its word is spoken (the Sentence carries it to the
speaker), and so does a gesture: each `speech` message the speaker sends passes through here, and the
gestures before that piece's end go to the face at their word's audio time, by the speaker's own rule
(`time_at`); a gesture past the last spoken word comes as the voice ends. The wire learns of both at once
either way. The listening expression and the user's own poses
are not tied to words: they show now.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from server import metrics
from server.events import Cue, Gesture, ReplyEnded, ReplyEvent, ReplyFailed, ReplyStarted, Sentence, Text
from server.protocol import Error, ReplyEnd, ReplyStart, SpeechMessage, TextDelta
from server.session.outlet import Outlet
from server.voice import Voice, billed_tokens
from server.voice.cache import SpokenCache
from server.voice.speaker import Speaker
from server.voice.speech import time_at

log = logging.getLogger("mien.session")


@dataclass(frozen=True)
class Voicing:
    """How a session speaks: its voice, its one-at-a-time synthesis lane, where speaker tasks run, and the
    server's spoken sentences."""

    voice: Voice
    lane: asyncio.Lock
    spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]
    cache: SpokenCache | None = None


NOT_WORD_BOUND = frozenset({"empathy", "user"})  # cue sources the face shows at once, voice or not


class ReplyOutput:
    def __init__(
        self, outlet: Outlet, reply_id: int, voice: Voicing | None, spend: Callable[[int], None]
    ) -> None:
        """`voice`: how the session speaks, if its voice is on; `spend(tokens)`: what the reply cost."""
        self.outlet = outlet
        self.reply_id = reply_id
        self.speaker: Speaker | None = None
        if voice is not None:
            self.speaker = Speaker(
                reply_id,
                voice.voice,
                outlet.face,
                outlet.t_start,
                self._speak,
                voice.lane,
                voice.spawn,
                voice.cache,
            )
        self._spend = spend
        self._gestures: list[Gesture] = []  # with the voice: waiting for their word's audio
        self._voice_ends: float | None = None  # when the last piece sent stops sounding
        self._speaking = False
        self._started = time.monotonic()

    async def emit(self, event: ReplyEvent) -> None:
        outlet = self.outlet
        match event:
            case ReplyStarted(source=source):
                self._started = time.monotonic()
                # Both at once, never waiting for room: a reply that has started always reaches its end.
                outlet.send_now(ReplyStart(reply_id=self.reply_id, source=source))
                outlet.set_state_now("thinking")
            case Text(delta=delta, offset=offset):
                if not self._speaking:
                    self._speaking = True
                    metrics.FIRST_TEXT.observe(time.monotonic() - self._started)
                    await outlet.set_state("speaking")
                await outlet.send(TextDelta(reply_id=self.reply_id, offset=offset, delta=delta))
            case Cue() as cue:
                on_face = self.speaker is None or cue.source in NOT_WORD_BOUND
                await outlet.show(cue, self.reply_id, on_face=on_face)
            case Gesture() as gesture:
                if self.speaker is not None:
                    self._gestures.append(gesture)
                await outlet.gesture(gesture, self.reply_id, on_face=self.speaker is None)
            case Sentence() as sentence:
                if self.speaker is not None:
                    self._spend(billed_tokens(self.speaker.voice, sentence.text))  # a cloud voice costs too
                    self.speaker.say(sentence)
            case ReplyFailed(code=code, detail=detail):
                metrics.MODEL_ERRORS.labels(code).inc()
                # A provider's words may name its internals; ours (busy, internal) are already plain.
                message = outlet.public_detail(detail) if code == "provider_error" else detail
                outlet.send_now(Error(code=code, message=message, reply_id=self.reply_id))
            case ReplyEnded() as end:
                await self._end(end)

    async def settle(self) -> None:
        """Every sentence scheduled and sent (before reply_end); a voice that failed raises."""
        if self.speaker is not None:
            await self.speaker.finish()
            for gesture in self._gestures:  # past the last spoken word: as the voice ends
                self.outlet.face.gesture(gesture, self._voice_ends)
            self._gestures.clear()

    async def _speak(self, message: SpeechMessage, audio: bytes) -> None:
        """The speaker's way out: the gestures in this piece go to the face at their words' times."""
        t0 = self.outlet.t_start + message.t_ms / 1000
        duration = message.duration_ms / 1000
        words = [
            (
                "",
                (w.t_ms - message.t_ms) / 1000,
                (w.end_ms - message.t_ms) / 1000,
                w.offset - message.text_start,
            )
            for w in message.words
        ]
        due = [g for g in self._gestures if g.offset < message.text_end]
        self._gestures = [g for g in self._gestures if g.offset >= message.text_end]
        for gesture in due:
            at = t0 + time_at(words, duration, max(0, gesture.offset - message.text_start))
            self.outlet.face.gesture(gesture, at)
        self._voice_ends = t0 + duration
        await self.outlet.speak(message, audio)

    async def _end(self, end: ReplyEnded) -> None:
        """What the reply cost is counted first (nothing below can skip it); a reply that did not complete
        cuts the voice. Sent past the queue's bound: the reply may be being torn down."""
        outlet = self.outlet
        self._spend(end.tokens)
        metrics.REPLIES.labels(end.status).inc()
        if self.speaker is not None and end.status != "complete":
            await asyncio.shield(self.speaker.cancel())
        if end.status == "interrupted":
            outlet.face.clear()
        outlet.send_now(ReplyEnd(reply_id=self.reply_id, status=end.status, text=end.text))

    async def until_silent(self) -> None:
        """The text is done but the voice may go on: wait until its last sentence has sounded."""
        if self.speaker is not None:
            await self.speaker.until_silent()

    async def cut(self) -> None:
        """Stop the voice and the mouth now (a stop or a new message while the voice still sounds)."""
        if self.speaker is not None:
            await self.speaker.cancel()
