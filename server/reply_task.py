"""Running one reply for a session: model (or script) chunks -> events -> the wire, the face, the voice
and the memory. Interruption cancels the task; the partial text is kept and marked interrupted."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING

from server import llm
from server.conversation import ReplyCue, Turn, reply_events, rough_tokens, scripted
from server.feelings import FEELINGS
from server.prompting import empathic_cue, prompt_for
from server.protocol import EmotionCue, Error, ReplyEnd, ReplyStart, SpeechMessage, State, TextDelta
from server.speaker import FaceHooks, Speaker

if TYPE_CHECKING:
    from server.session import Session

log = logging.getLogger("mien.reply")


async def _remember(self: Session, turn: Turn) -> None:
    self.conversation.turns.append(turn)
    await asyncio.to_thread(self.shared.store.append, self.id, turn.role, turn.content, turn.status)


async def run_reply(self: Session, reply_id: int, text: str, scripted_line: bool) -> None:
    """One reply: model (or script) -> events -> the wire, the face, the voice and the memory."""
    bank, slot = self.animator.bank, self.slot
    visible: list[str] = []
    cues: list[dict[str, object]] = []  # kept with the turn, so a resumed chat shows them again
    status = "complete"
    messages: list[dict[str, str]] = []
    speaking = False
    speaker = None
    await self.send(ReplyStart(reply_id=reply_id, source="script" if scripted_line else "model"))
    # From here on every way out (a stop while the message is being read included) ends with reply_end.
    try:
        await self.set_state("thinking")
        if scripted_line:
            chunks: AsyncIterator[str] = scripted(text)
        else:
            await _remember(self, Turn("user", text))
            await _listen(self, reply_id, text)
            self.conversation.system_prompt = prompt_for(self.persona, self.face)
            messages = await asyncio.to_thread(
                self.conversation.messages, lambda m: llm.count_tokens(m, self.settings)
            )
            chunks = llm.stream_reply(messages, self.settings)
        if self.voice is not None:
            face = FaceHooks(bank, slot)
            speaker = Speaker(
                reply_id,
                self.voice,
                self.animator.now,
                self.t_start,
                face,
                partial(_speak, self),
                self.voice_lane,
            )
        annotate = partial(_annotate, self) if self.settings.emotion_model and not scripted_line else None
        async for event in reply_events(chunks, annotate=annotate):
            if isinstance(event, ReplyCue):
                if not (scripted_line or self.persona.allows(event.emotion)):
                    continue  # the persona never shows this emotion
                if speaker is not None:  # the face shows it when its word is spoken
                    speaker.cue(event.emotion, event.intensity, event.offset)
                else:
                    bank.cue(slot, event.emotion, event.intensity, self.animator.now())
                await self.send(
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
                if event.tempered_by is None:
                    cue = {"emotion": event.emotion, "intensity": event.intensity, "offset": event.offset}
                    cues.append({**cue, "source": event.source})
                continue
            if not speaking:
                speaking = True
                await self.set_state("speaking")
            visible.append(event.delta)
            await self.send(TextDelta(reply_id=reply_id, offset=event.offset, delta=event.delta))
            if speaker is not None:
                speaker.text(event.delta)
        if speaker is not None:
            await speaker.finish()  # every sentence scheduled and sent before reply_end
    except asyncio.CancelledError:
        status = "interrupted"
        if speaker is not None:
            await asyncio.shield(speaker.cancel())
        raise
    except llm.ProviderError as e:
        status = "error"
        log.warning("reply %s: %s", reply_id, e)
        self.send_now(Error(code="provider_error", message=self.public_detail(str(e)), reply_id=reply_id))
    except Exception:
        log.exception("reply %s failed", reply_id)
        status = "error"
        self.send_now(Error(code="internal", message="the reply failed unexpectedly", reply_id=reply_id))
    finally:
        full = "".join(visible)
        if status == "interrupted":
            bank.clear(slot, self.animator.now())
        if not scripted_line:
            # What the reply cost, against the embed key's daily allowance (prompt + reply, roughly).
            self.shared.gate.spend(self.key, rough_tokens(messages) + len(full) // 4, time.time())
        if full or not scripted_line:
            # Scripted lines (greetings too) are part of what the avatar said: the model sees them as its
            # own turns and a resumed chat shows them. Stored before reply_end goes out (a client may
            # resume right after it), and shielded: a cancelled reply's partial text must reach the store.
            kept = tuple(cues)
            self.conversation.turns.append(Turn("assistant", full, status, kept))  # type: ignore[arg-type]
            await asyncio.shield(
                asyncio.to_thread(self.shared.store.append, self.id, "assistant", full, status, kept)
            )
        self.send_now(ReplyEnd(reply_id=reply_id, status=status, text=full))  # type: ignore[arg-type]
        if status != "complete" or speaker is None:
            if speaker is not None and status == "error":
                await asyncio.shield(speaker.cancel())
            _idle(self)
    if status == "complete" and speaker is not None:
        # The text is done but the voice goes on: the face stays "speaking" until its last sentence has
        # sounded, and a stop or a new message in that time still cuts the voice and the mouth.
        try:
            await speaker.until_silent()
        except asyncio.CancelledError:
            await asyncio.shield(speaker.cancel())
            raise
        finally:
            _idle(self)


def _idle(self: Session) -> None:
    self.animator.bank.set_state(self.slot, "idle")
    self.send_now(State(state="idle"))


async def _speak(self: Session, message: SpeechMessage, audio: bytes) -> None:
    await self.send(message)
    self.out.put_now(audio)  # right behind its speech message, even when the queue is full


async def _annotate(self: Session, sentence: str) -> str:
    return await llm.annotate(sentence, self.settings, list(self.persona.emotions))


async def _listen(self: Session, reply_id: int, text: str) -> None:
    """Read the user's message and show an empathic listening face while the model thinks."""
    inferred = await asyncio.to_thread(FEELINGS.infer, text)
    cue = empathic_cue(inferred, self.persona)
    if cue is None:
        return
    emotion, intensity = cue
    self.animator.bank.cue(self.slot, emotion, intensity, self.animator.now(), hold=1.5)
    await self.send(
        EmotionCue(
            reply_id=reply_id,
            emotion=emotion,
            intensity=intensity,
            offset=0,
            source="empathy",
            confidence=round(inferred.scores.get(inferred.emotion, 0.5), 3) if inferred else 0.5,
        )
    )
