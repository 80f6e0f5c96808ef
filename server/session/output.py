"""Where one reply's events go (its Sink): text and cues to the wire, cues to the face, sentences to the
voice, and the conversation state the face and the client show (thinking, speaking, idle).

With the voice on, cues and gestures reach the face when their words are spoken: the Sentence carries
them to the speaker, which places them on the audio's clock (server/voice/speaker.py). Without it they show
at once. The wire learns of both at once either way. The listening expression and the user's own poses are
not tied to words: they show now.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from server import metrics
from server.events import (
    Cue,
    Evaluated,
    Gesture,
    Guided,
    ReplyEnded,
    ReplyEvent,
    ReplyFailed,
    ReplyStarted,
    Seen,
    Sentence,
    Text,
)
from server.protocol import (
    Error,
    Evaluation,
    Guidance,
    ReplyEnd,
    ReplyStart,
    SpeechMessage,
    TextDelta,
    Vision,
)
from server.session.outlet import Outlet
from server.voice import Voice, billed_tokens
from server.voice.cache import SpokenCache
from server.voice.speaker import Speaker

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
        self._speaking = False
        self._started = time.monotonic()
        self.said: list[str] = []  # the reply's visible text so far (the microphone tells echo from speech)
        self._spoken: list[tuple[float, int]] = []  # (animation time a word starts sounding, its offset)
        self._spoken_end = 0  # where the text given to the voice so far ends

    async def emit(self, event: ReplyEvent) -> None:
        outlet = self.outlet
        match event:
            case ReplyStarted(source=source):
                self._started = time.monotonic()
                # Both at once, never waiting for room: a reply that has started always reaches its end.
                outlet.send_now(ReplyStart(reply_id=self.reply_id, source=source))
                outlet.set_state_now("thinking")
            case Text(delta=delta, offset=offset):
                self.said.append(delta)
                if not self._speaking:
                    self._speaking = True
                    metrics.FIRST_TEXT.observe(time.monotonic() - self._started)
                    await outlet.set_state("speaking")
                await outlet.send(TextDelta(reply_id=self.reply_id, offset=offset, delta=delta))
            case Cue() as cue:
                on_face = self.speaker is None or cue.source in NOT_WORD_BOUND
                await outlet.show(cue, self.reply_id, on_face=on_face)
            case Gesture() as gesture:
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
            case Guided() as guided:
                self._spend(guided.tokens)  # the reply's share of its teacher call
                outlet.send_now(guidance_message(self.reply_id, guided))
            case Seen(model=model, description=description, reason=None):
                outlet.send_now(Vision(reply_id=self.reply_id, model=model, description=description))
            case Seen(reason=str(reason)):
                outlet.send_now(Error(code="vision_unavailable", message=reason, reply_id=None))
            case Evaluated() as verdict:
                self._spend(verdict.tokens)  # judging (and rewriting) costs like the reply itself
                outlet.send_now(evaluation_message(self.reply_id, verdict))

    async def settle(self) -> None:
        """Every sentence sent and sounded (before reply_end: a stop or the user's voice meanwhile still
        interrupts the reply, keeping only what was heard); a voice that failed raises."""
        if self.speaker is not None:
            await self.speaker.finish()
            await self.speaker.until_silent()

    def heard(self, text: str) -> str:
        if self.speaker is None:
            return text
        now = self.outlet.face.now()
        cut = next((offset for at, offset in self._spoken if at > now), self._spoken_end)
        return text[:cut].rstrip()

    async def _speak(self, message: SpeechMessage, audio: bytes) -> None:
        """The speaker's way out: its words' times are kept to know what was heard when cut."""
        t0 = self.outlet.t_start
        self._spoken += [(t0 + w.t_ms / 1000, w.offset) for w in message.words]
        self._spoken_end = message.text_end
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


def evaluation_message(reply_id: int, verdict: Evaluated) -> Evaluation:
    """The verdict as the protocol says it (its cost stays on the server)."""
    fields = dataclasses.asdict(verdict)
    del fields["tokens"]
    return Evaluation(reply_id=reply_id, evaluated=verdict.reason is None, overall=verdict.overall, **fields)


def guidance_message(reply_id: int, guided: Guided) -> Guidance:
    fields = dataclasses.asdict(guided)
    del fields["tokens"]
    return Guidance(reply_id=reply_id, **fields)
