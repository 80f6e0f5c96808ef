"""One reply, as an object given what it needs: the model gateway, the persona, the face it speaks with (for
what was asked of it), the conversation's history and the sink its events go to. It never sees the
session. Cancelling `run` interrupts it: the partial text is kept, marked interrupted.

    user text -> history, listening cue -> prompt (persona + face requests) -> gateway.stream
    -> sentences.reply_events -> ReplyStarted, Text, Cue, Sentence, ReplyFailed?, ReplyEnded -> sink

With a judge (judge.py) in `revise` or `pick`, the model's whole reply is held (the face thinks) and the one
chosen goes through the same events, its verdict (`Evaluated`) before ReplyEnded; in `observe` the session
asks for the verdict afterwards (`observe()`), so judging never delays the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from server.events import (
    Cue,
    Gesture,
    Guided,
    ReplyEnded,
    ReplyFailed,
    ReplyStarted,
    Seen,
    Sink,
    Status,
    Text,
    Turn,
)
from server.face import FaceHandle
from server.llm import ANNOTATOR_PROMPT, Busy, Gateway, ProviderError, rough_tokens, side_failure
from server.personas import Persona
from server.reply.evaluation import tagged
from server.reply.feelings import FEELINGS
from server.reply.history import History
from server.reply.judge import Judge, redacted
from server.reply.prompt import empathic_cue, prompt_for
from server.reply.sentences import Annotator, reply_events, scripted
from server.reply.teacher import Guidance, Teacher, TeacherUnavailable, student_messages
from server.seeing import DESCRIBED_AS, Picture, VisionRoute, describe, with_picture

log = logging.getLogger("mien.reply")
PICTURE = " [picture]"  # what the conversation keeps of a picture shown: that there was one


@dataclass
class Reply:
    gateway: Gateway
    persona: Persona
    face: FaceHandle  # what was asked of the face shapes the prompt
    history: History
    sink: Sink
    scripted: bool = field(default=False, kw_only=True)  # a line spoken as written (tags allowed), no model
    reply_id: int | None = field(default=None, kw_only=True)  # the session's number for it (turns not saved)
    judge: Judge | None = field(default=None, kw_only=True)  # a second model judging the reply
    teacher: Teacher | None = field(default=None, kw_only=True)  # guidance for the student (`gateway`)
    # Who this reply is for: the teacher batches only conversations of one audience (embed key and persona),
    # and where the page may not see the prompts (`reveal` False) no model's words about them reach it.
    audience: str = field(default="", kw_only=True)
    reveal: bool = field(default=True, kw_only=True)
    _annotation_tokens: int = field(default=0, init=False)
    _shown: tuple[str, list[dict[str, str]], str] | None = field(default=None, init=False)  # for observe()

    async def run(self, text: str, picture: Picture | None = None, seeing: VisionRoute | None = None) -> None:
        """Once ReplyStarted is out, every way out (a stop while the message is still being read included)
        ends with ReplyEnded. Nothing but cancellation escapes: one reply's failure is its own. `picture`:
        one the user shows with the text, reaching the model the way `seeing` says."""
        await self.sink.emit(ReplyStarted("script" if self.scripted else "model"))
        visible: list[str] = []
        cues: list[Cue] = []  # kept with the turn, so a resumed chat shows them again
        gestures: list[Gesture] = []  # likewise
        status: Status = "complete"
        prompt_tokens = 0
        try:
            judge, verdict = self.judge, None
            if self.scripted:
                chunks: AsyncIterator[str] = scripted(text)
            else:
                kept = text + (PICTURE if picture else "")  # the conversation keeps no picture, only its mark
                await self.history.add(Turn("user", kept), reply_id=self.reply_id)
                await self._listen(text)
                system = prompt_for(self.persona, self.face.requests)
                messages, prompt_tokens = await asyncio.to_thread(self.history.messages, system)
                if picture is not None and seeing is not None:
                    messages = await self._with_picture(messages, picture, seeing)
                if self.teacher is not None and not (judge is not None and judge.holds):
                    # Before the model slot: waiting for the teacher (and the others batched with this
                    # conversation) must not hold the embedded student from other sessions' replies.
                    guidance = await self._guidance(messages)
            # The whole pipeline (annotator calls too) holds one model slot; the face listens meanwhile.
            async with contextlib.nullcontext() if self.scripted else self.gateway.slots.hold():
                if not self.scripted:
                    if judge is not None and judge.holds:  # the whole reply first, then the one chosen
                        raw, verdict = await judge.held(messages)
                        chunks = scripted(raw)
                    elif self.teacher is not None:  # the teacher's first words, then the student
                        chunks, guided = await self._guided(messages, guidance)
                        await self.sink.emit(guided if self.reveal else replace(guided, plan=""))
                    else:
                        chunks = self.gateway.stream(messages)
                async for event in reply_events(chunks, annotate=self._annotator(), keep=self._keep):
                    if verdict is not None and verdict.tempered and isinstance(event, Cue):
                        event = judge.temper(event)  # the verdict found the emotions don't fit the words
                    if isinstance(event, Text):
                        visible.append(event.delta)
                    elif isinstance(event, Cue) and event.tempered_by is None:
                        cues.append(event)
                    elif isinstance(event, Gesture):
                        gestures.append(event)
                    await self.sink.emit(event)
                if verdict is not None:
                    await self.sink.emit(verdict if self.reveal else redacted(verdict))
                elif judge is not None and not self.scripted:
                    said = tagged("".join(visible), [(c.emotion, c.intensity, c.offset) for c in cues])
                    self._shown = (system, [m for m in messages if m["role"] != "system"], said)
            await self.sink.settle()
        except asyncio.CancelledError:
            status = "interrupted"
            visible = [self.sink.heard("".join(visible))]  # only what was heard is what was said
            raise
        except Busy as e:
            status = "error"
            log.info("reply refused: %s", e)
            await self.sink.emit(ReplyFailed("busy", str(e)))
        except ProviderError as e:
            status = "error"
            log.warning("reply: %s", e)
            await self.sink.emit(ReplyFailed("provider_error", str(e)))
        except Exception:
            log.exception("reply failed")
            status = "error"
            await self.sink.emit(ReplyFailed("internal", "the reply failed unexpectedly"))
        finally:
            await self._end(status, "".join(visible), cues, gestures, prompt_tokens)

    async def _end(
        self, status: Status, full: str, cues: list[Cue], gestures: list[Gesture], prompt_tokens: int
    ) -> None:
        """Scripted lines (greetings too) are part of what the avatar said: the model sees them as its own
        turns and a resumed chat shows them. Stored before ReplyEnded (a client may resume right after it),
        even when cancelled; ReplyEnded goes out even if storing fails or is cancelled. A store that can't
        be reached is no failure of the reply: the history holds the turn and writes it later (the session
        tells its user, `not_saved`)."""
        reply_tokens = 0
        try:
            if full or not self.scripted:
                turn = Turn(
                    "assistant", full, status, tuple(cues), scripted=self.scripted, gestures=tuple(gestures)
                )
                reply_tokens = await self.history.add(turn, reply_id=self.reply_id)
        except Exception:  # a bug: the turn is not kept
            log.exception("the reply could not be stored")
            if status == "complete":  # shown whole but not kept: a resumed chat would miss it, so say so
                status = "error"
                await self.sink.emit(ReplyFailed("internal", "this reply could not be saved"))
        finally:
            spent = 0 if self.scripted else prompt_tokens + reply_tokens + self._annotation_tokens
            await self.sink.emit(ReplyEnded(status, full, spent))

    async def _guidance(self, messages: list[dict[str, Any]]) -> Guidance | str:
        """The teacher's guidance for this reply (batched with its audience's), or why there is none."""
        assert self.teacher is not None
        try:
            return await self.teacher.guide(messages, self.audience)
        except TeacherUnavailable as e:
            return str(e)

    async def _guided(
        self, messages: list[dict[str, Any]], guidance: Guidance | str
    ) -> tuple[AsyncIterator[str], Guided]:
        """The reply's chunks: the teacher's first words verbatim, then the student's continuation. No
        guidance: the student alone; a student that cannot answer: the teacher writes it all."""
        teacher = self.teacher
        assert teacher is not None
        names = {"teacher": teacher.plan.model, "student": self.gateway.options.model}
        if isinstance(guidance, str):
            guided, asked, start = Guided("unguided", **names, reason=guidance), messages, ""
        else:
            given = {"plan": guidance.plan, "start": guidance.start, "batch": guidance.batch}
            guided = Guided("guided", **names, **given, tokens=guidance.tokens)
            asked, start = student_messages(messages, guidance), guidance.start
        stream = self.gateway.stream(asked)
        try:
            first = await anext(stream, "")  # the student starts, or cannot
        except ProviderError as e:
            log.warning("the student failed, the teacher answers: %s", e)
            why = "the student model failed before its first word"
            return teacher.answer(messages), replace(guided, status="teacher_only", reason=why, start="")
        if start and first[:1].isalnum() and start[-1:].isalnum():
            first = " " + first  # the teacher's words are whole words: the student's next one follows a space
        return _chain((start, first), stream), guided

    async def _with_picture(
        self, messages: list[dict[str, Any]], picture: Picture, seeing: VisionRoute
    ) -> Any:
        """The conversation with the picture: attached, for a model that sees; else in another model's
        words (a `Seen` event says them, or why there are none: the reply then answers the words)."""
        if seeing.direct:
            return with_picture(messages, picture)
        timeout = self.gateway.options.timeout
        try:
            said = await describe(self.gateway, seeing.model, picture, timeout)
        except Exception as e:  # whatever failed, the reply answers the words
            why = side_failure("vision", e, timeout)
            await self.sink.emit(Seen(seeing.model, reason=f"the picture could not be described: {why}"))
            return messages
        await self.sink.emit(Seen(seeing.model, said))
        *before, last = messages
        return [*before, {**last, "content": last["content"] + "\n" + DESCRIBED_AS.format(description=said)}]

    async def observe(self) -> None:
        """`observe`: the verdict on the reply just shown (nothing if it did not complete)."""
        if self.judge is not None and self._shown is not None:
            verdict = await self.judge.judged(*self._shown)
            await self.sink.emit(verdict if self.reveal else redacted(verdict))

    def _keep(self, emotion: str) -> bool:
        return self.scripted or self.persona.allows(emotion)

    def _annotator(self) -> Annotator | None:
        if self.scripted or not self.gateway.annotator:
            return None
        annotate = partial(self.gateway.annotate, emotions=list(self.persona.emotions))

        async def counted(sentence: str) -> str:  # the annotator's calls are the reply's cost too
            tagged = await annotate(sentence)
            self._annotation_tokens += rough_tokens(
                [{"content": ANNOTATOR_PROMPT}, {"content": sentence}, {"content": tagged}]
            )
            return tagged

        return counted

    async def _listen(self, text: str) -> None:
        """Read the user's message: the face listens with an empathic expression while the model thinks."""
        cue = empathic_cue(await asyncio.to_thread(FEELINGS.infer, text), self.persona)
        if cue is not None:
            await self.sink.emit(cue)


async def _chain(parts: tuple[str, ...], stream: AsyncIterator[str]) -> AsyncIterator[str]:
    """The given strings, then every chunk of `stream`."""
    for part in parts:
        if part:
            yield part
    async for chunk in stream:
        yield chunk
