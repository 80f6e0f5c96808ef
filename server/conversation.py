"""One conversation: history, the system prompt, and a reply's path from model chunks to typed events.

    chunks (model or script) -> TagParser -> Text / Cue(tag) events
                             -> sentences with no tag -> offline inference -> Cue(inferred)

Events flow one way to the session, which forwards them to the client and the face.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from animation.emotions import EMOTION_INDEX, EMOTIONS, PAD
from server.feelings import FEELINGS, Inference
from server.tags import Cue, TagParser, Text

DEFAULT_PERSONA_PROMPT = (
    "You are Mien, a friendly assistant with an expressive face. Keep replies short: one to three sentences."
)


def system_prompt(persona_prompt: str, emotions: Sequence[str], notes: Sequence[str] = ()) -> str:
    """The persona's prompt, the tag instructions for its emotions, and any style notes."""
    tags = ", ".join(f"[{e}]" for e in emotions if e != "neutral")
    return (
        f"{persona_prompt.strip()}\n\nShow your feelings with an emotion tag in square brackets placed "
        "before the words it colours, for example: [joy] That's wonderful news! or [surprise:0.6] Really? "
        f"Tags you may use: {tags}." + "".join(f"\n{note}" for note in notes)
    )


SYSTEM_PROMPT = system_prompt(DEFAULT_PERSONA_PROMPT, EMOTIONS)

log = logging.getLogger("mien.conversation")

# End of a sentence: terminal punctuation (plus closing quotes/brackets) followed by whitespace, or a newline.
SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+|\n+")


@dataclass(frozen=True)
class ReplyCue:
    emotion: str
    intensity: float
    offset: int
    source: Literal["tag", "stage", "inferred", "annotator"]
    confidence: float = 1.0
    # Set on a correction: the classifier read the sentence as this emotion, so the tag was tempered.
    tempered_by: str | None = None


ReplyEvent = Text | ReplyCue
Classifier = Callable[[str], "Inference | None"]
Annotator = Callable[[str], Awaitable[str]]  # a sentence -> the same words with emotion tags


@dataclass
class Turn:
    role: Literal["user", "assistant"]
    content: str
    status: Literal["complete", "interrupted", "error"] = "complete"
    cues: tuple[dict[str, object], ...] = ()  # {emotion, intensity, offset, source}: shown again on resume


TokenCounter = Callable[[list[dict[str, str]]], int]


def rough_tokens(messages: list[dict[str, str]]) -> int:
    """About four characters a token, plus a little per message: good enough to stay inside a budget."""
    return sum(len(m["content"]) // 4 + 4 for m in messages)


@dataclass
class Conversation:
    system_prompt: str = SYSTEM_PROMPT
    turns: list[Turn] = field(default_factory=list)
    token_budget: int = 1500  # the small default model has a 2k context; the reply needs room too

    def messages(self, count: TokenCounter = rough_tokens) -> list[dict[str, str]]:
        """System prompt plus the newest turns that fit the token budget (oldest dropped first)."""
        system = {"role": "system", "content": self.system_prompt}
        history = [
            {"role": t.role, "content": t.content + (" …" if t.status == "interrupted" else "")}
            for t in self.turns
            if t.content.strip()
        ]
        # Keep the newest turns; the last one (the user's message) always stays.
        while len(history) > 1 and count([system, *history]) > self.token_budget:
            history.pop(0)
        return [system, *history]


async def reply_events(
    chunks: AsyncIterator[str], classify: Classifier = FEELINGS.infer, annotate: Annotator | None = None
) -> AsyncIterator[ReplyEvent]:
    """Parse a reply stream into text and emotion events; untagged sentences get the annotator's tags
    (when one is configured) or the classifier's inference."""
    parser = TagParser()
    sentence = _SentenceTracker(classify, annotate)
    async for chunk in chunks:
        for event in parser.push(chunk):
            for out in await sentence.feed(event):
                yield out
    for event in parser.flush():
        for out in await sentence.feed(event):
            yield out
    for out in await sentence.finish():
        yield out


class _SentenceTracker:
    """Collects visible text per sentence; asks the annotator (if any) or the classifier about sentences
    without a tag, and cross-checks the ones with tags."""

    def __init__(self, classify: Classifier, annotate: Annotator | None) -> None:
        self._classify = classify
        self._annotate = annotate
        self._text = ""
        self._start = 0
        self._cues: list[ReplyCue] = []  # the model's own cues in the current sentence

    async def feed(self, event: Text | Cue) -> list[ReplyEvent]:
        if isinstance(event, Cue):
            # Stage directions are a model's aside rather than an instruction: a little less certain.
            confidence = 1.0 if event.source == "tag" else 0.8
            cue = ReplyCue(event.emotion, event.intensity, event.offset, event.source, confidence)
            self._cues.append(cue)
            return [cue]
        out: list[ReplyEvent] = [event]
        self._text += event.delta
        while m := SENTENCE_END.search(self._text):
            out += await self._close(self._text[: m.end()])
            self._start += m.end()
            self._text = self._text[m.end() :]
        return out

    async def finish(self) -> list[ReplyEvent]:
        return await self._close(self._text)

    async def _close(self, sentence: str) -> list[ReplyEvent]:
        cues, self._cues = self._cues, []
        if not sentence.strip():
            return []
        if not cues and self._annotate is not None:
            annotated = await self._annotated(sentence)
            if annotated is not None:
                return annotated
        inferred = await asyncio.to_thread(self._classify, sentence)
        if cues:
            return _cross_check(cues, inferred)
        if inferred is None:
            return []
        offset = self._start + (len(sentence) - len(sentence.lstrip()))
        confidence = inferred.scores.get(inferred.emotion, 0.5)
        return [ReplyCue(inferred.emotion, inferred.intensity, offset, "inferred", round(confidence, 3))]

    async def _annotated(self, sentence: str) -> list[ReplyEvent] | None:
        """The annotator's tags mapped onto this sentence, or None (failed, or it changed the words)."""
        assert self._annotate is not None
        try:
            tagged = await self._annotate(sentence)
        except Exception:  # the classifier still has a say
            log.warning("annotator failed; falling back to the classifier", exc_info=True)
            return None
        parser = TagParser()
        events = parser.push(tagged) + parser.flush()
        copy = "".join(e.delta for e in events if isinstance(e, Text))
        if "".join(copy.split()) != "".join(sentence.split()):
            return None
        # Offsets count non-space characters, so whitespace the annotator changed doesn't matter.
        positions = [i for i, c in enumerate(sentence) if not c.isspace()]
        out: list[ReplyEvent] = []
        for e in events:
            if isinstance(e, Cue):
                solid = len("".join(copy[: e.offset].split()))
                at = positions[solid] if solid < len(positions) else len(sentence)
                out.append(ReplyCue(e.emotion, e.intensity, self._start + at, "annotator", 0.9))
        return out


# A tag is tempered when the words say the opposite, clearly: the classifier is confident and the two
# emotions sit on opposite sides of pleasure (a [joy] on a condolence).
CROSS_CHECK_SCORE = 0.5
TEMPERED = 0.35  # the tag's intensity is scaled by this


def _cross_check(cues: list[ReplyCue], inferred: Inference | None) -> list[ReplyEvent]:
    if inferred is None or inferred.scores.get(inferred.emotion, 0.0) < CROSS_CHECK_SCORE:
        return []
    words = float(PAD[EMOTION_INDEX[inferred.emotion], 0])
    out: list[ReplyEvent] = []
    for cue in cues:
        tag = float(PAD[EMOTION_INDEX[cue.emotion], 0])
        if tag * words < -0.1:
            out.append(
                ReplyCue(
                    cue.emotion,
                    round(cue.intensity * TEMPERED, 3),
                    cue.offset,
                    cue.source,
                    round(1.0 - inferred.scores[inferred.emotion], 3),
                    tempered_by=inferred.emotion,
                )
            )
    return out


async def scripted(text: str) -> AsyncIterator[str]:
    """A scripted line (`speak`) goes through the same path as a model's reply."""
    yield text
