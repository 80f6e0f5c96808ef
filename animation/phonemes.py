"""Phoneme alignments -> timed Oculus visemes for `FaceBank.visemes` (table: data/phonemes.toml).

An alignment is a list of (symbol, start_s, end_s) covering the audio, as a TTS engine reports it: Piper
gives one entry per IPA code point (stress marks, length marks, spaces and punctuation included), espeak-ng
one per phoneme. `tidy` groups code points into phonemes (affricates merged, marks attached, pauses
collapsed to "_", word-boundary time shared by its neighbours) without changing the total span;
`to_visemes` maps phonemes to visemes and merges what a 30 fps face cannot show.
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Sequence
from importlib import resources
from typing import Any, NamedTuple

import numpy as np

from animation.visemes import CLOSES, VISEME_INDEX, VISEMES

PAUSE = "_"
Segment = tuple[str, float, float]  # (phoneme or symbol, start s, end s)


def _load() -> dict[str, Any]:
    with resources.files("animation").joinpath("data", "phonemes.toml").open("rb") as f:
        return tomllib.load(f)


_TABLE = _load()
PHONEME_VISEME: dict[str, str] = {}
for _vis, _phonemes in _TABLE["viseme"].items():
    if _vis not in VISEME_INDEX:
        raise ValueError(f"phonemes.toml: unknown viseme {_vis!r}")
    for _p in _phonemes:
        if _p in PHONEME_VISEME:
            raise ValueError(f"phonemes.toml: {_p!r} listed under {PHONEME_VISEME[_p]} and {_vis}")
        PHONEME_VISEME[_p] = _vis
WEIGHT: dict[str, float] = {k: float(v) for k, v in _TABLE["weight"].items()}
_SYMBOLS = _TABLE["symbols"]
TRANSPARENT = frozenset(_SYMBOLS["transparent"])
ATTACH_PREVIOUS = frozenset(_SYMBOLS["attach_previous"])
ATTACH_NEXT = frozenset(_SYMBOLS["attach_next"])
PAUSES = frozenset(_SYMBOLS["pause"])
BOUNDARIES = frozenset(_SYMBOLS["boundary"])
MIN_SEGMENT = float(_TABLE["merge"]["min_segment"])
MIN_PAUSE = float(_TABLE["merge"]["min_pause"])
_MULTI = sorted((p for p in PHONEME_VISEME if len(p) > 1), key=len, reverse=True)  # longest match first
_MARKS = ATTACH_PREVIOUS | ATTACH_NEXT
_CLOSURE = {name for name, closes in zip(VISEMES, CLOSES, strict=True) if closes}


class Visemes(NamedTuple):
    """Arguments for FaceBank.visemes: times (s, strictly increasing, on the alignment's clock), names
    (the last one "sil") and weights (0..1)."""

    times: np.ndarray
    visemes: list[str]
    weights: np.ndarray


def tidy(symbols: Sequence[Segment]) -> list[Segment]:
    """Raw alignment symbols -> phonemes covering the same span (start of the first to end of the last).

    Stress marks give their time to the phoneme after them, length and other marks to the one before;
    pauses and punctuation become one "_" each run; a word boundary's time is split between the
    phonemes on either side (a pause next to it takes all of it); zero-length symbols are dropped.
    """
    out: list[list[Any]] = []  # [phoneme, start, end]
    pending_start: float | None = None  # time of marks waiting for the next phoneme
    half_boundary: float | None = None  # start of a boundary whose second half goes to the next phoneme
    i, n = 0, len(symbols)
    while i < n:
        sym, t0, t1 = symbols[i][0], float(symbols[i][1]), float(symbols[i][2])
        step = 1
        for multi in _MULTI:  # affricates: several symbols, one phoneme
            k = len(multi)
            if sym == multi[0] and "".join(s[0] for s in symbols[i : i + k]) == multi:
                sym, t1, step = multi, float(symbols[i + k - 1][2]), k
                break
        i += step
        start = t0 if pending_start is None else pending_start
        if sym in BOUNDARIES:
            if out and out[-1][0] == PAUSE:
                out[-1][2] = t1
            elif out:
                mid = 0.5 * (start + t1)
                out[-1][2] = mid
                half_boundary = mid
            else:
                half_boundary = start
            pending_start = None
            continue
        if sym in ATTACH_NEXT:
            pending_start = start
            continue
        if sym in ATTACH_PREVIOUS and out and out[-1][0] != PAUSE:
            out[-1][0] += sym
            out[-1][2] = t1
            pending_start = None
            continue
        if half_boundary is not None:
            start = half_boundary
        half_boundary, pending_start = None, None
        if sym in PAUSES:
            if out and out[-1][0] == PAUSE:
                out[-1][2] = t1
            else:
                out.append([PAUSE, start, t1])
            continue
        out.append([sym, start, t1])
    if out and (pending_start is not None or half_boundary is not None):
        out[-1][2] = float(symbols[-1][2])  # trailing marks or boundary: keep the span whole
    return [(p, s, e) for p, s, e in out if e > s]


def viseme_of(phoneme: str) -> tuple[str, float] | None:
    """(viseme, weight) of one phoneme, marks ignored; None for a glottal or an unknown symbol."""
    if phoneme == PAUSE:
        return "sil", 0.0
    base = "".join(c for c in unicodedata.normalize("NFD", phoneme) if c not in _MARKS)
    base = "".join(c for c in base if not unicodedata.combining(c))
    if base in TRANSPARENT:
        return None
    for cand in (base, phoneme, base[:1]):
        if cand in PHONEME_VISEME:
            return PHONEME_VISEME[cand], WEIGHT.get(cand, 1.0)
    return None


def labels(phonemes: Sequence[Segment], min_pause: float = MIN_PAUSE) -> list[tuple[str, float]]:
    """(viseme, weight) per phoneme: glottals and unknown symbols take the next sound's viseme (the
    previous one's before a pause), and a pause shorter than min_pause inside speech carries on the
    previous sound (no rest for the mouth mid-phrase)."""
    raw = [viseme_of(p) for p, _, _ in phonemes]
    out: list[tuple[str, float] | None] = list(raw)
    nxt: tuple[str, float] | None = None
    for k in range(len(out) - 1, -1, -1):  # transparent: the next non-pause sound
        if raw[k] is None:
            out[k] = nxt
        elif raw[k][0] != "sil":  # type: ignore[index]
            nxt = raw[k]
        else:
            nxt = None
    prev: tuple[str, float] = ("sil", 0.0)
    for k, (p, t0, t1) in enumerate(phonemes):
        inner = 0 < k < len(phonemes) - 1
        if out[k] is None or (p == PAUSE and inner and t1 - t0 < min_pause and prev[0] != "sil"):
            out[k] = prev
        prev = out[k]  # type: ignore[assignment]
    return out  # type: ignore[return-value]


def to_visemes(
    phonemes: Sequence[Segment], min_segment: float = MIN_SEGMENT, min_pause: float = MIN_PAUSE
) -> Visemes:
    """Phonemes (tidy ones) -> the viseme keys FaceBank.visemes takes, on the alignment's clock.

    Each key starts at the start of a phoneme; equal neighbours merge (keeping the larger weight); a
    segment shorter than min_segment is absorbed by the one before it (by the next one at the start or
    after a closure), except closures and rests, which are kept however short; the sequence ends with "sil" at
    the last phoneme's end (or at its trailing pause).
    """
    segs: list[list[Any]] = []  # [viseme, weight, start, end]
    for (_, t0, t1), (vis, w) in zip(phonemes, labels(phonemes, min_pause), strict=True):
        if t1 <= t0:
            continue
        if segs and segs[-1][0] == vis:
            segs[-1][1], segs[-1][3] = max(segs[-1][1], w), t1
        else:
            segs.append([vis, w, t0, t1])
    changed = True
    while changed:  # absorb the shortest tiny segment first, so merges cascade sensibly
        changed = False
        tiny = [
            k
            for k, s in enumerate(segs)
            if s[3] - s[2] < min_segment and s[0] not in _CLOSURE and s[0] != "sil" and len(segs) > 1
        ]
        if tiny:
            k = min(tiny, key=lambda j: segs[j][3] - segs[j][2])
            # Into the segment before, unless that is a closure (the lips would stay shut into the
            # vowel) or there is none: then the next one starts earlier.
            if k > 0 and (segs[k - 1][0] not in _CLOSURE or k == len(segs) - 1):
                segs[k - 1][3] = segs[k][3]
            else:
                segs[k + 1][2] = segs[k][2]
            del segs[k]
            _merge_equal(segs)
            changed = True
    if not segs:
        return Visemes(np.zeros(1), ["sil"], np.zeros(1, np.float32))
    times = [s[2] for s in segs]
    names = [s[0] for s in segs]
    weights = [s[1] for s in segs]
    if names[-1] != "sil":
        times.append(segs[-1][3])
        names.append("sil")
        weights.append(0.0)
    return Visemes(np.asarray(times, np.float64), names, np.asarray(weights, np.float32))


def _merge_equal(segs: list[list[Any]]) -> None:
    k = 1
    while k < len(segs):
        if segs[k][0] == segs[k - 1][0]:
            segs[k - 1][1] = max(segs[k - 1][1], segs[k][1])
            segs[k - 1][3] = segs[k][3]
            del segs[k]
        else:
            k += 1


def viseme_at(keys: Visemes, t: np.ndarray) -> np.ndarray:
    """Index into keys.visemes of the key whose segment holds each time (-1 before the first key)."""
    return np.searchsorted(keys.times, np.asarray(t, np.float64), side="right") - 1
