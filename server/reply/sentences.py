"""A reply's path from model chunks to typed events, sentence by sentence:

    chunks -> tags.TagParser -> Text, Cue (tag, stage), Gesture (passed on as they come: a gesture picks no
              sentence's feeling)
           -> at each sentence's end: Cue (annotator or inferred) for an untagged sentence, or corrections of
              tags its words clearly contradict; a Gesture (inferred: nod, shake, tilt, head_moves) its
              words call for if the model gave it no gesture; then the Sentence itself, carrying every cue
              that colours it and every gesture on its words (the voice makes them as the words sound)

Everything is yielded in order: a sentence's Text before its inferred cues and gesture, those before the
Sentence (so a voice has the gesture before it speaks the sentence).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

from animation.emotions import EMOTION_INDEX, PAD
from server.events import Cue, Gesture, Sentence, Text
from server.reply import head_moves
from server.reply.feelings import FEELINGS, Inference
from server.reply.tags import TagParser

log = logging.getLogger("mien.reply")

# End of a sentence: terminal punctuation (plus closing quotes/brackets) followed by whitespace, or a newline.
SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+|\n+")

Classifier = Callable[[str], "Inference | None"]
Annotator = Callable[[str], Awaitable[str]]  # a sentence -> the same words with emotion tags

# A tag is tempered when the words say the opposite, clearly: the classifier is confident and the two
# emotions sit on opposite sides of pleasure (a [joy] on a condolence).
CROSS_CHECK_SCORE = 0.5
TEMPERED = 0.35  # the tag's intensity is scaled by this


async def reply_events(
    chunks: AsyncIterator[str],
    classify: Classifier = FEELINGS.infer,
    annotate: Annotator | None = None,
    keep: Callable[[str], bool] = lambda emotion: True,
) -> AsyncIterator[Text | Cue | Gesture | Sentence]:
    """Text, Cue and Sentence events for a reply stream. Cues whose emotion `keep` refuses (the persona
    never shows it) are dropped."""
    parser = TagParser()
    sentences = _Sentences(classify, annotate, keep)
    async for chunk in chunks:
        for event in parser.push(chunk):
            for out in await sentences.feed(event):
                yield out
    for event in parser.flush():
        for out in await sentences.feed(event):
            yield out
    for out in await sentences.close("", final=True):
        yield out


async def scripted(text: str) -> AsyncIterator[str]:
    """A scripted line (`speak`) goes through the same path as a model's reply."""
    yield text


class _Sentences:
    def __init__(self, classify: Classifier, annotate: Annotator | None, keep: Callable[[str], bool]) -> None:
        self._classify = classify
        self._annotate = annotate
        self._keep = keep
        self._text = ""  # the current sentence's visible text so far
        self._start = 0
        self._cues: list[Cue] = []  # the model's own cues in the current sentence
        self._tagged = False  # the model tagged it (perhaps only with emotions the persona never shows)
        self._gestures: list[Gesture] = []  # the model's gestures not in a finished sentence yet
        self._code = 0  # a backtick code span or fence left open by the sentences so far (head_moves.prose)

    async def feed(self, event: Text | Cue | Gesture) -> list[Text | Cue | Gesture | Sentence]:
        if isinstance(event, Gesture):
            self._gestures.append(event)
            return [event]
        if isinstance(event, Cue):
            self._tagged = True  # the model chose this sentence's feeling: nothing is inferred for it
            if not self._keep(event.emotion):
                return []
            self._cues.append(event)
            return [event]
        out: list[Text | Cue | Gesture | Sentence] = [event]
        self._text += event.delta
        while m := SENTENCE_END.search(self._text):
            rest = self._text[m.end() :]
            self._text = self._text[: m.end()]
            out += await self.close(rest)
        return out

    async def close(self, rest: str, final: bool = False) -> list[Text | Cue | Gesture | Sentence]:
        """End the current sentence; `rest` (text already past its end) starts the next one; `final`: the
        reply's last."""
        text, start, cues, tagged = self._text, self._start, self._cues, self._tagged
        self._text, self._start, self._cues, self._tagged = rest, start + len(text), [], False
        words, self._code = head_moves.prose(text, self._code)  # code never nods or shakes
        # A gesture before this sentence's end is the model's (one after its last word, at the reply's end).
        end = start + len(text) + (1 if final else 0)
        gestures = [g for g in self._gestures if g.offset < end]
        self._gestures = [g for g in self._gestures if g.offset >= end]
        if not text.strip():  # a trailing tag: cues and gestures, no words
            return [Sentence(start, text, tuple(cues), tuple(gestures))] if cues or gestures else []
        moves = [] if gestures else _head_move(words, start)
        gestures += moves
        code = _code_spans(text, words, start)

        def sentence(cues: list[Cue]) -> Sentence:
            return Sentence(start, text, tuple(cues), tuple(gestures), code)

        if tagged:
            if not cues:
                return [*moves, sentence([])]
            corrected = _cross_check(cues, await asyncio.to_thread(self._classify, text))
            found = [c for c in corrected if c.tempered_by is not None]
            return [*found, *moves, sentence(corrected)]
        found = [c for c in await self._found(text, start) if self._keep(c.emotion)]
        return [*found, *moves, sentence(found)]

    async def _found(self, text: str, start: int) -> list[Cue]:
        """Cues for an untagged sentence: the annotator's when it has some, else the classifier's."""
        if self._annotate is not None:
            annotated = await self._annotated(text, start)
            if annotated is not None:
                return annotated
        inferred = await asyncio.to_thread(self._classify, text)
        if inferred is None:
            return []
        offset = start + (len(text) - len(text.lstrip()))
        confidence = round(inferred.scores.get(inferred.emotion, 0.5), 3)
        return [Cue(inferred.emotion, inferred.intensity, offset, "inferred", confidence)]

    async def _annotated(self, sentence: str, start: int) -> list[Cue] | None:
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
        out: list[Cue] = []
        for e in events:
            if isinstance(e, Cue):
                solid = len("".join(copy[: e.offset].split()))
                at = positions[solid] if solid < len(positions) else len(sentence)
                out.append(Cue(e.emotion, e.intensity, start + at, "annotator", 0.9))
        return out


def _code_spans(text: str, prose: str, start: int) -> tuple[tuple[int, int], ...]:
    """The (start, end) offsets of the code in a sentence: where its prose (head_moves.prose) blanked it."""
    changed = [a != b for a, b in zip(text, prose, strict=True)]
    spans, i = [], 0
    for is_code, run in itertools.groupby(changed):
        n = len(list(run))
        if is_code:
            spans.append((start + i, start + i + n))
        i += n
    return tuple(spans)


def _head_move(text: str, start: int) -> list[Gesture]:
    """The nod, shake or tilt the sentence's words call for (none, or one), smaller than a tag's."""
    move = head_moves.infer(text)
    if move is None:
        return []
    return [Gesture(move.gesture, start + move.offset, head_moves.INTENSITY, "inferred")]


def _cross_check(cues: list[Cue], inferred: Inference | None) -> list[Cue]:
    """The sentence's cues, each one its words clearly contradict replaced by its tempered correction."""
    if inferred is None or inferred.scores.get(inferred.emotion, 0.0) < CROSS_CHECK_SCORE:
        return cues
    words = float(PAD[EMOTION_INDEX[inferred.emotion], 0])
    out = []
    for cue in cues:
        if float(PAD[EMOTION_INDEX[cue.emotion], 0]) * words < -0.1:
            cue = replace(
                cue,
                intensity=round(cue.intensity * TEMPERED, 3),
                confidence=round(1.0 - inferred.scores[inferred.emotion], 3),
                tempered_by=inferred.emotion,
            )
        out.append(cue)
    return out
