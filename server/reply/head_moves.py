"""Head gestures the words call for, for a finished sentence the model left without a gesture: a nod on
affirmation and agreement, a shake on negation, a small tilt on questions (issue 16).

Rules, not a model: word lists and precedence in data/head_moves.toml (sources there). In order:
1. a question (ends in "?", or an indirect one: "I wonder") tilts, at its wh-word or inverted auxiliary;
   a negation inside a question does not deny (Ladd 1981), so the question wins;
2. a leading answer particle sets the polarity: "Yes, ..." nods, "No, ..." shakes, at the particle;
3. a negation anywhere (not inside an idiom such as "no matter") shakes, at the first negative word;
4. an affirmation anywhere (an affirming adverb, an agreement phrase, an idiom of assent) nods.
Offsets are code points of the sentence's text, as for cues. `python -m bench.gestures` measures the
rules on hand-labelled sentences.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_DATA = tomllib.loads((Path(__file__).parent / "data" / "head_moves.toml").read_text())
INTENSITY = float(_DATA["intensity"])
GESTURES = ("nod", "shake", "tilt")

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_CLAUSE_BREAK = re.compile(r"[,;:—–]")
_QUESTION_END = re.compile(r"\?[\"')\]”’»]*\s*$")


def _phrases(items: list[str]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(_WORD.findall(p)) for p in items)


_Q, _NEG, _AFF = _DATA["question"], _DATA["negation"], _DATA["affirmation"]
WH = frozenset(_Q["wh"])
AUXILIARIES = frozenset(_Q["auxiliaries"])
INDIRECT = _phrases(_Q["indirect"])
NEGATIONS = frozenset([*_NEG["words"], *_NEG["approximate"], *_NEG["bare"]])
NEG_SUFFIX = _NEG["suffix"]
NOT_DENIALS = _phrases(_NEG["idioms"])
PARTICLES = frozenset(_AFF["particles"])
LOOSE = frozenset(_AFF["loose"])
FILLERS = frozenset(_AFF["fillers"])
ADVERBS = frozenset(_AFF["adverbs"])
AGREEMENTS = _phrases(_AFF["phrases"])
ASSENT_IDIOMS = _phrases(_AFF["idioms"])
_NEGATIVE_PARTICLES = frozenset(["no", "nope", "nah"])


@dataclass(frozen=True)
class HeadMove:
    """A gesture the words call for: `gesture` (nod, shake, tilt) before the word at `offset` (code points
    of the sentence), and why (`rule`: question, particle, negation, affirmation)."""

    gesture: str
    offset: int
    rule: str


@dataclass(frozen=True)
class _Token:
    word: str  # lower case, curly apostrophes straightened
    start: int
    end: int


def _tokens(text: str) -> list[_Token]:
    # Lower-casing and straightening apostrophes keep every code point's position.
    norm = text.lower().replace("’", "'").replace("‘", "'")
    return [_Token(m.group(), m.start(), m.end()) for m in _WORD.finditer(norm)]


def _find(words: list[str], phrases: tuple[tuple[str, ...], ...]) -> list[tuple[int, int]]:
    """(first, past-last) token spans where any phrase occurs, in order of position."""
    spans = []
    for i in range(len(words)):
        for p in phrases:
            if p and tuple(words[i : i + len(p)]) == p:
                spans.append((i, i + len(p)))
    return sorted(spans)


def _is_negation(word: str) -> bool:
    return word in NEGATIONS or word.endswith(NEG_SUFFIX)


def infer(text: str) -> HeadMove | None:
    """The head gesture a sentence's words call for, or None."""
    tokens = _tokens(text)
    if not tokens:
        return None
    words = [t.word for t in tokens]
    tilt = _question(text, tokens, words)
    if tilt is not None:
        return HeadMove("tilt", tilt, "question")
    lead = _leading_particle(text, tokens)
    if lead is not None:
        word = tokens[lead].word
        gesture = "shake" if word in _NEGATIVE_PARTICLES else "nod"
        return HeadMove(gesture, tokens[lead].start, "particle")
    assent = _find(words, ASSENT_IDIOMS)
    masked = {i for a, b in [*assent, *_find(words, NOT_DENIALS)] for i in range(a, b)}
    negation = next((i for i, w in enumerate(words) if i not in masked and _is_negation(w)), None)
    if negation is not None:
        return HeadMove("shake", tokens[negation].start, "negation")
    found = [i for i, w in enumerate(words) if w in ADVERBS]
    found += [a for a, _ in [*assent, *_find(words, AGREEMENTS)]]
    if found:
        return HeadMove("nod", tokens[min(found)].start, "affirmation")
    return None


def _question(text: str, tokens: list[_Token], words: list[str]) -> int | None:
    """Where a question's tilt goes, or None if the sentence does not ask."""
    indirect = _find(words, INDIRECT)
    if indirect:
        return tokens[indirect[0][0]].start
    if not _QUESTION_END.search(text):
        return None
    breaks = [m.start() for m in _CLAUSE_BREAK.finditer(text)]
    # The last clause with words: the question proper ("Sure, do you want it?" asks with "do").
    clause = tokens
    for b in reversed(breaks):
        after = [t for t in tokens if t.start > b]
        if after:
            clause = after
            break
    for t in clause[:3]:
        if t.word in WH or t.word in AUXILIARIES or (t.word.endswith(NEG_SUFFIX) and t is clause[0]):
            return t.start
    return clause[0].start


def _leading_particle(text: str, tokens: list[_Token]) -> int | None:
    """The index of an answer particle opening the sentence (after fillers), or None."""
    for i, t in enumerate(tokens):
        if t.word in PARTICLES or t.word in _NEGATIVE_PARTICLES:
            if t.word in LOOSE and not _punctuation_follows(text, t.end):
                return None
            if t.word in _NEGATIVE_PARTICLES and t.word == "no" and not _punctuation_follows(text, t.end):
                return None  # "No one ...", "No way ..." are negations, found below
            return i
        if t.word not in FILLERS:
            return None
    return None


def _punctuation_follows(text: str, end: int) -> bool:
    rest = text[end:].lstrip()
    return not rest or rest[0] in ",.!;:—–…)"


def evaluate(rows: list[tuple[str, str]]) -> dict[str, Any]:
    """Per-gesture precision, recall and support on (sentence, expected) rows, expected one of nod,
    shake, tilt, none; and the confusion (expected -> inferred -> count)."""
    labels = [*GESTURES, "none"]
    confusion = {e: dict.fromkeys(labels, 0) for e in labels}
    for sentence, expected in rows:
        move = infer(sentence)
        confusion[expected][move.gesture if move else "none"] += 1
    scores = {}
    for g in GESTURES:
        hit = confusion[g][g]
        said = sum(confusion[e][g] for e in labels)
        support = sum(confusion[g].values())
        scores[g] = {
            "precision": round(hit / said, 3) if said else 0.0,
            "recall": round(hit / support, 3) if support else 0.0,
            "support": support,
        }
    return {"sentences": len(rows), "scores": scores, "confusion": confusion}


_TICKS = re.compile(r"`+")


def prose(text: str, code: int = 0) -> tuple[str, int]:
    """`text` with what is inside backtick code spans and fences blanked (same length, so offsets hold):
    code never nods or shakes. `code`: the backtick run that opened code still open before `text` (as the
    tag parser counts it, server/reply/tags.py); returns the masked text and that state after it."""
    out, at = [], 0
    for m in _TICKS.finditer(text):
        out.append(text[at : m.start()] if not code else " " * (m.start() - at))
        run = len(m.group())
        if not code:
            code = run
        elif run == code or (code >= 3 and run >= code):
            code = 0
        out.append(" " * run)
        at = m.end()
    out.append(text[at:] if not code else " " * (len(text) - at))
    return "".join(out), code
