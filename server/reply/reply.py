"""One reply, as an object given what it needs: the model gateway, the persona, the face it speaks with (for
what was asked of it), the conversation's history and the sink its events go to. It never sees the
session. Cancelling `run` interrupts it: the partial text is kept, marked interrupted.

    user text -> history, listening cue -> prompt (persona + face requests) -> gateway.stream
    -> sentences.reply_events -> ReplyStarted, Text, Cue, Sentence, ReplyFailed?, ReplyEnded -> sink
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial

from server.events import Cue, Gesture, ReplyEnded, ReplyFailed, ReplyStarted, Sink, Status, Text, Turn
from server.face import FaceHandle
from server.llm import ANNOTATOR_PROMPT, Busy, Gateway, ProviderError, rough_tokens
from server.personas import Persona
from server.reply.feelings import FEELINGS
from server.reply.history import History
from server.reply.prompt import empathic_cue, prompt_for
from server.reply.sentences import Annotator, reply_events, scripted

log = logging.getLogger("mien.reply")


@dataclass
class Reply:
    gateway: Gateway
    persona: Persona
    face: FaceHandle  # what was asked of the face shapes the prompt
    history: History
    sink: Sink
    scripted: bool = field(default=False, kw_only=True)  # a line spoken as written (tags allowed), no model
    reply_id: int | None = field(default=None, kw_only=True)  # the session's number for it (turns not saved)
    _annotation_tokens: int = field(default=0, init=False)

    async def run(self, text: str) -> None:
        """Once ReplyStarted is out, every way out (a stop while the message is still being read included)
        ends with ReplyEnded. Nothing but cancellation escapes: one reply's failure is its own."""
        await self.sink.emit(ReplyStarted("script" if self.scripted else "model"))
        visible: list[str] = []
        cues: list[Cue] = []  # kept with the turn, so a resumed chat shows them again
        gestures: list[Gesture] = []  # likewise
        status: Status = "complete"
        prompt_tokens = 0
        try:
            if self.scripted:
                chunks: AsyncIterator[str] = scripted(text)
            else:
                await self.history.add(Turn("user", text), reply_id=self.reply_id)
                await self._listen(text)
            # The whole pipeline (annotator calls too) holds one model slot; the face listens meanwhile.
            async with contextlib.nullcontext() if self.scripted else self.gateway.slots.hold():
                if not self.scripted:
                    system = prompt_for(self.persona, self.face.requests)
                    messages, prompt_tokens = await asyncio.to_thread(self.history.messages, system)
                    chunks = self.gateway.stream(messages)
                async for event in reply_events(chunks, annotate=self._annotator(), keep=self._keep):
                    if isinstance(event, Text):
                        visible.append(event.delta)
                    elif isinstance(event, Cue) and event.tempered_by is None:
                        cues.append(event)
                    elif isinstance(event, Gesture):
                        gestures.append(event)
                    await self.sink.emit(event)
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
