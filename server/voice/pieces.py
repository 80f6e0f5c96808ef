"""Where to cut a sentence for speaking: a long first sentence clause by clause (its first clause sounds
while the rest is synthesised), and nothing longer than MAX_PIECE in one synthesis."""

from __future__ import annotations

import re

from server.events import Sentence

LONG = 60  # chars (~3 s of speech): an urgent sentence longer than this is spoken clause by clause
MIN_CLAUSE = 16  # chars: the shortest piece a sentence is cut into
HEAD = 50  # chars (~2.5 s): a first clause longer than this is cut earlier if it can be
MAX_PIECE = 250  # chars (~12 s of speech): no single synthesis is longer, whatever the punctuation
# Clause boundaries: punctuation, or before a conjunction or the like (a weaker but real break).
_CLAUSE = re.compile(r"[,;:]\s+|\s[-–—]+\s+|[–—]")
_CONJUNCTION = re.compile(
    r"\s(?=(?:and|but|or|so|because|which|that|who|while|when|where|if|though|although|until|unless|after"
    r"|before|since|with|without)\s)",
    re.I,
)


def first_clause(text: str) -> int | None:
    """Where to cut a long sentence so that its first clause can sound sooner (the head's length), or
    None. Both pieces keep MIN_CLAUSE characters, and the head at least 1/8 of the tail: the tail is
    then synthesised (well under 1/8 of real time) before the head has finished sounding. Punctuation
    makes the most natural cut; when it comes later than HEAD, the earliest cut of any kind."""
    n = len(text.rstrip())
    if n <= LONG:
        return None

    def cuts(pattern: re.Pattern[str]) -> list[int]:
        ends = (m.end() for m in pattern.finditer(text, 0, n))
        return [c for c in ends if c >= MIN_CLAUSE and n - c >= MIN_CLAUSE and 8 * c >= n - c]

    punctuation, words = cuts(_CLAUSE), cuts(_CONJUNCTION)
    if punctuation and punctuation[0] <= HEAD:
        return punctuation[0]
    return min(punctuation + words, default=None)


def piece_cut(text: str) -> int | None:
    """Where to cut a text longer than MAX_PIECE (None if it isn't): the last clause boundary before it,
    else the last conjunction, else the last space, else MAX_PIECE itself (one endless "word")."""
    if len(text.rstrip()) <= MAX_PIECE:
        return None
    for pattern in (_CLAUSE, _CONJUNCTION, re.compile(r"\s+")):
        ends = [m.end() for m in pattern.finditer(text, 0, MAX_PIECE) if m.end() >= MIN_CLAUSE]
        if ends:
            return ends[-1]
    return MAX_PIECE


def split(sentence: Sentence, cut: int) -> tuple[Sentence, Sentence]:
    """The sentence in two at `cut` (characters), each piece with the cues and gestures on its words."""
    at = sentence.start + cut
    head = Sentence(
        sentence.start,
        sentence.text[:cut],
        tuple(c for c in sentence.cues if c.offset < at),
        tuple(g for g in sentence.gestures if g.offset < at),
        sentence.code,
    )
    tail = Sentence(
        at,
        sentence.text[cut:],
        tuple(c for c in sentence.cues if c.offset >= at),
        tuple(g for g in sentence.gestures if g.offset >= at),
        sentence.code,
    )
    return head, tail
