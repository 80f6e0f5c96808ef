"""Beats: the small brow raise and head dip a speaker makes on a few stressed words, timed to the audio.

Rules and sources are data (data/beats.toml). Per intonational phrase of a spoken piece (clause punctuation
ends one), one beat on its nuclear accent, the last stressed content word, and in a long phrase one more,
smaller, on its first; never on code, on a word a gesture of the reply falls on, or while one of its
gestures is under way; at least `min_gap` apart, at most `max_per_piece`. A word is stressed when the voice
says so (Piper: espeak-ng's primary stress in context, `Speech.stresses`), its beat on the stressed vowel;
with a voice that doesn't say, every content word counts, its beat at its start.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from animation.gestures import ATTACK, DURATION, GESTURE_INDEX
from server.events import Gesture, Sentence
from server.voice.speech import Stress, Word, time_at

_RULES = tomllib.loads((Path(__file__).parent / "data" / "beats.toml").read_text())
PHRASE_BREAK = re.compile(_RULES["phrase_break"])
MIN_WORDS = int(_RULES["min_words"])
LONG_PHRASE = int(_RULES["long_phrase"])
MAX_PER_PIECE = int(_RULES["max_per_piece"])
MIN_GAP = float(_RULES["min_gap"])
INTENSITY = float(_RULES["intensity"])
PRENUCLEAR = float(_RULES["prenuclear"])
FUNCTION_WORDS = frozenset(_RULES["function_words"])
BEAT = "beat"  # its movement: animation/data/gestures.toml
# The beat starts this long before its vowel (its attack), so that its apex meets the vowel.
LEAD = float(ATTACK[GESTURE_INDEX[BEAT]]) if _RULES["apex_on_vowel"] else 0.0
LENGTH = float(DURATION[GESTURE_INDEX[BEAT]])


class Beat(NamedTuple):
    offset: int  # the stressed word's offset in the piece's text
    vowel: float  # audio time (s, the piece's clock) of its stressed vowel
    intensity: float

    @property
    def start(self) -> float:
        """When the movement starts (its apex on the vowel)."""
        return self.vowel - LEAD


def content_word(word: str) -> bool:
    """A word of an open class, made of letters (numbers, identifiers and paths are not)."""
    plain = word.lower().replace("’", "'")
    return plain.replace("'", "").replace("-", "").isalpha() and plain not in FUNCTION_WORDS


def place(
    text: str,
    words: Sequence[Word],
    stresses: Sequence[Stress] | None,
    *,
    taken: Collection[int] = (),
    busy: Sequence[tuple[float, float]] = (),
    code: Sequence[tuple[int, int]] = (),
) -> list[Beat]:
    """The beats of one spoken piece, in time order. `words` and `stresses` on its audio clock, offsets
    into `text`; `taken`: offsets of words a gesture falls on; `busy`: (start, end) s of its gestures;
    `code`: (start, end) offsets of code."""
    stressed = dict(stresses) if stresses is not None else None
    breaks = [m.start() for m in PHRASE_BREAK.finditer(text)]
    phrases: dict[int, list[Word]] = {}
    for word in words:
        phrases.setdefault(sum(b < word[3] for b in breaks), []).append(word)
    picks: list[Beat] = []
    for phrase in phrases.values():
        found = []
        for w, start, _end, at in phrase:
            vowel = start if stressed is None else stressed.get(at)
            if vowel is None or not content_word(w) or at in taken or any(a <= at < b for a, b in code):
                continue
            found.append((at, vowel))
        if len(phrase) < MIN_WORDS or not found:
            continue
        picks.append(Beat(*found[-1], INTENSITY))
        if len(phrase) >= LONG_PHRASE and len(found) > 1:
            picks.append(Beat(*found[0], PRENUCLEAR))
    picks.sort(key=lambda b: -b.intensity)  # every phrase's nuclear accent before any prenuclear one
    kept: list[Beat] = []
    for beat in picks:
        if len(kept) == MAX_PER_PIECE:
            break
        span = (beat.start, beat.start + LENGTH)
        if any(span[0] < b and a < span[1] for a, b in busy):
            continue
        if all(abs(beat.vowel - k.vowel) >= MIN_GAP for k in kept):
            kept.append(beat)
    return sorted(kept, key=lambda b: b.vowel)


def moves(
    sentence: Sentence,
    words: Sequence[Word],
    duration: float,
    stresses: Sequence[Stress] | None,
    starts: Mapping[Gesture, float] | None = None,
) -> list[tuple[Gesture, float]]:
    """Every movement of a spoken piece with its start on the piece's audio clock, in time order: the
    reply's gestures at their words (the cues' rule: the first word at or after the offset, the audio's
    end past the last word) or at their `starts` when given (a breath sound's, sounds.py), then the beats
    around them."""
    out: list[tuple[Gesture, float]] = []
    taken, busy = set(), []
    for g in sentence.gestures:
        offset = max(0, g.offset - sentence.start)
        at = starts[g] if starts and g in starts else time_at(words, duration, offset)
        out.append((g, at))
        busy.append((at, at + float(DURATION[GESTURE_INDEX[g.gesture]])))
        taken.update(next(([o] for _w, _a, _b, o in words if o >= offset), []))
    code = [(a - sentence.start, b - sentence.start) for a, b in sentence.code]
    for beat in place(sentence.text, words, stresses, taken=taken, busy=busy, code=code):
        out.append((Gesture(BEAT, sentence.start + beat.offset, beat.intensity, "beat"), beat.start))
    return sorted(out, key=lambda m: m[1])
