"""One conversation: history, the system prompt, and a reply's path from model chunks to typed events.

    chunks (model or script) -> TagParser -> Text / Cue(tag) events
                             -> sentences with no tag -> offline inference -> Cue(inferred)

Events flow one way to the session, which forwards them to the client and the face.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal

from animation.emotions import EMOTIONS
from server.feelings import FEELINGS, Inference
from server.tags import Cue, TagParser, Text

SYSTEM_PROMPT = (
    "You are Mien, a friendly assistant with an expressive face. Keep replies short: one to three "
    "sentences. Show your feelings with an emotion tag in square brackets placed before the words it "
    "colours, for example: [joy] That's wonderful news! or [surprise:0.6] Really? "
    "Tags: " + ", ".join(f"[{e}]" for e in EMOTIONS if e != "neutral") + "."
)

# End of a sentence: terminal punctuation (plus closing quotes/brackets) followed by whitespace, or a newline.
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+|\n+")


@dataclass(frozen=True)
class ReplyCue:
    emotion: str
    intensity: float
    offset: int
    source: Literal["tag", "stage", "inferred"]


ReplyEvent = Text | ReplyCue
Classifier = Callable[[str], "Inference | None"]


@dataclass
class Turn:
    role: Literal["user", "assistant"]
    content: str
    status: Literal["complete", "interrupted", "error"] = "complete"


@dataclass
class Conversation:
    system_prompt: str = SYSTEM_PROMPT
    turns: list[Turn] = field(default_factory=list)
    max_turns: int = 20  # the small default model has a 2k context

    def messages(self) -> list[dict[str, str]]:
        out = [{"role": "system", "content": self.system_prompt}]
        for turn in self.turns[-self.max_turns :]:
            content = turn.content + (" …" if turn.status == "interrupted" else "")
            if content.strip():
                out.append({"role": turn.role, "content": content})
        return out


async def reply_events(
    chunks: AsyncIterator[str], classify: Classifier = FEELINGS.infer
) -> AsyncIterator[ReplyEvent]:
    """Parse a reply stream into text and emotion events, inferring emotion for untagged sentences."""
    parser = TagParser()
    sentence = _SentenceTracker()
    async for chunk in chunks:
        for event in parser.push(chunk):
            for out in await sentence.feed(event, classify):
                yield out
    for event in parser.flush():
        for out in await sentence.feed(event, classify):
            yield out
    for out in await sentence.finish(classify):
        yield out


class _SentenceTracker:
    """Collects visible text per sentence and asks the classifier about sentences without a tag."""

    def __init__(self) -> None:
        self._text = ""
        self._start = 0
        self._tagged = False

    async def feed(self, event: Text | Cue, classify: Classifier) -> list[ReplyEvent]:
        if isinstance(event, Cue):
            self._tagged = True
            return [ReplyCue(event.emotion, event.intensity, event.offset, event.source)]
        out: list[ReplyEvent] = [event]
        self._text += event.delta
        while m := _SENTENCE_END.search(self._text):
            out += await self._close(self._text[: m.end()], classify)
            self._start += m.end()
            self._text = self._text[m.end() :]
        return out

    async def finish(self, classify: Classifier) -> list[ReplyEvent]:
        return await self._close(self._text, classify)

    async def _close(self, sentence: str, classify: Classifier) -> list[ReplyEvent]:
        tagged, self._tagged = self._tagged, False
        if tagged or not sentence.strip():
            return []
        inferred = await asyncio.to_thread(classify, sentence)
        if inferred is None:
            return []
        offset = self._start + (len(sentence) - len(sentence.lstrip()))
        return [ReplyCue(inferred.emotion, inferred.intensity, offset, "inferred")]


async def scripted(text: str) -> AsyncIterator[str]:
    """A scripted line (`speak`) goes through the same path as a model's reply."""
    yield text
