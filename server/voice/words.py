"""Word timings for Piper, which reports phonemes but not words: each word's own phonemes (espeak-ng's,
through Piper's phonemizer) are aligned with the sentence's phoneme stream by edit distance. espeak-ng
joins function words ("on the" -> ɔnðə), expands numbers and abbreviations; the alignment absorbs it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from animation import phonemes as ph
from server.voice.speech import Word


def _letters(symbols: Sequence[str]) -> list[int]:
    """Indices of the symbols that are sounds (not stress, boundary or pause marks)."""
    skip = ph.ATTACH_NEXT | ph.BOUNDARIES | ph.PAUSES
    return [i for i, s in enumerate(symbols) if s not in skip and not s.isspace()]


def align_words(word_symbols: Sequence[Sequence[str]], stream: Sequence[str]) -> np.ndarray:
    """Owner word (index into word_symbols, or -1) of each symbol of the spoken stream.

    Levenshtein alignment of the words' concatenated sounds against the stream's; a stream sound with no
    counterpart goes to the word of the sound before it (or after it, at the start), and a stress mark
    to the word of the sound after it.
    """
    a_owner = np.array([w for w, syms in enumerate(word_symbols) for _ in _letters(syms)], np.intp)
    a = [s for syms in word_symbols for i in _letters(syms) for s in syms[i]]
    b_idx = _letters(stream)
    b = [stream[i] for i in b_idx]
    n, m = len(a), len(b)
    owner = np.full(len(stream), -1, np.intp)
    if n == 0 or m == 0:
        return owner
    # Row by row over a: the insertion chain along a row is a running minimum (vectorised).
    ar = np.arange(m + 1)
    d = np.empty((n + 1, m + 1), np.int32)
    d[0] = ar
    b_arr = np.array(b, dtype=object)
    for i in range(1, n + 1):
        sub = (b_arr != a[i - 1]).astype(np.int32)
        tmp = np.empty(m + 1, np.int32)
        tmp[0] = i
        tmp[1:] = np.minimum(d[i - 1, 1:] + 1, d[i - 1, :-1] + sub)
        d[i] = np.minimum.accumulate(tmp - ar) + ar
    b_owner = np.full(m, -1, np.intp)
    i, j = n, m
    while i > 0 and j > 0:
        if d[i, j] == d[i - 1, j - 1] + (a[i - 1] != b[j - 1]):
            b_owner[j - 1] = a_owner[i - 1]
            i, j = i - 1, j - 1
        elif d[i, j] == d[i, j - 1] + 1:
            j -= 1
        else:
            i -= 1
    known = np.flatnonzero(b_owner >= 0)
    if known.size:  # unmatched sounds: the previous matched one's word (the first one's, before it)
        prev = np.maximum.accumulate(np.where(b_owner >= 0, np.arange(m), -1))
        b_owner = b_owner[np.where(prev >= 0, prev, known[0])]
    owner[b_idx] = b_owner
    for k in range(len(stream) - 2, -1, -1):  # stress marks: the next sound's word
        if stream[k] in ph.ATTACH_NEXT:
            owner[k] = owner[k + 1]
    return owner


def word_spans(
    words: Sequence[tuple[str, int]], owner: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> list[Word]:
    """(word, start, end, offset) of the words said in a stretch of audio, from each stream symbol's
    owner (index into words, -1 for none) and times: words first..last owned there, in text order. A
    word between them that nothing was said for gets an empty span where the previous word ended."""
    owned = owner[owner >= 0]
    if not owned.size:
        return []
    out: list[Word] = []
    t = float(starts[0])
    for w in range(int(owned.min()), int(owned.max()) + 1):
        mine = np.flatnonzero(owner == w)
        t0, t1 = (max(float(starts[mine[0]]), t), float(ends[mine[-1]])) if mine.size else (t, t)
        out.append((words[w][0], t0, max(t0, t1), words[w][1]))
        t = max(t, t1)
    return out
