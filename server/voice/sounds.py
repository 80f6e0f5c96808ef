"""The voice's breath sounds: a reply's [sigh] and [laugh] (a tag or a stage direction, *sighs*, *laughs*)
heard where they are made, in the audio of the piece of a sentence they fall in (breath.py makes them).

A sound at a piece's first word goes in front of its audio, one past its last word after it, one before a
word in between into the pause before that word (at its quietest point, so no word is clipped); the
sound's segments become phonemes on the same clock (the mouth opens "aa" per laugh note) and everything
after it moves later by its duration. The laugh's pitch follows the voice's: the median F0 of the piece's
own audio (an autocorrelation estimate, FALLBACK_F0 when it finds none); its level follows the piece's
loudness (an intensity-1 sound peaks at LEVEL x the speech's peak). Each sound is the same every time the
same voice says the same piece (its noise seeded from the voice, the text, the kind and the offset), so a
kept sentence (cache.py, keyed with `key`) is what a fresh synthesis would give.

Only offline voices (Piper, espeak-ng) make them: a cloud voice's audio is the provider's rendition, its
timbre and loudness not ours to match, and a fallback may stand in mid-reply; there the gesture stays a
face movement only.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from server.events import Sentence
from server.voice.breath import KINDS, LAUGH, SIGH, synthesize
from server.voice.speech import Speech, concat

SOURCES = ("tag", "stage")  # what the model asked for; inferred and beat movements make no sound
FALLBACK_F0 = 120.0  # Hz: the laugh's base pitch when the speech shows none (a whispered or silent piece)
LEVEL = 0.5  # an intensity-1 sound's peak, x the speech's
# breath.toml's peak at intensity 1 (peak_dbfs), which LEVEL maps onto: a softer sound stays softer.
_FULL = {"sigh": 10 ** (SIGH["peak_dbfs"][1] / 20), "laugh": 10 ** (LAUGH["peak_dbfs"][1] / 20)}
FADE = 0.005  # s: raised-cosine fades either side of a cut into the speech
QUIET = 0.01  # s: the window the quietest point of a pause is found with
F0_RANGE = (60.0, 400.0)  # Hz: speaking pitches the estimate looks for
# A frame is voiced when its normalised autocorrelation peaks this high (speech's: median 0.8-0.9, a sigh's
# 0.35, white noise's 0.15, measured on Piper and breath.py), and a piece when this share of its frames is.
VOICED, MIN_VOICED = 0.6, 0.2


class Sound(NamedTuple):
    kind: str  # "sigh" or "laugh"
    offset: int  # code points into the piece's text: before the word at or after it
    intensity: float


def wanted(sentence: Sentence, voice: str) -> tuple[Sound, ...]:
    """The breath sounds a piece of a reply makes in `voice` (its name): none for a cloud voice."""
    if voice.startswith("litellm:"):  # cloud: see the module's docstring
        return ()
    return tuple(
        Sound(g.gesture, max(0, g.offset - sentence.start), min(1.0, max(0.0, g.intensity)))
        for g in sentence.gestures
        if g.gesture in KINDS and g.source in SOURCES
    )


def key(sounds: Sequence[Sound]) -> str:
    """The sounds as part of a cache key ("" for none)."""
    return ",".join(f"{s.kind}@{s.offset}:{s.intensity:.3f}" for s in sounds)


def seed(voice: str, text: str, sound: Sound) -> int:
    return zlib.crc32(f"{voice}\n{text}\n{sound.kind}\n{sound.offset}".encode())


def median_f0(audio: np.ndarray, sample_rate: int, window: float = 0.04, hop: float = 0.01) -> float | None:
    """The median F0 (Hz) of the voiced frames of `audio`, or None when none is voiced: per frame the
    normalised autocorrelation's first peak within F0_RANGE that comes near the highest one (so a
    period's multiples don't halve the estimate), frames counted as voiced when loud (within 30 dB of the
    loudest) and periodic (a peak of at least VOICED); None too when under MIN_VOICED of the loud frames
    are (breath noise through a resonant tract correlates now and then, speech mostly)."""
    size, step = round(window * sample_rate), round(hop * sample_rate)
    x = np.asarray(audio, np.float64)
    if len(x) < size:
        return None
    frames = np.lib.stride_tricks.sliding_window_view(x, size)[::step]
    frames = (frames - frames.mean(axis=1, keepdims=True)) * np.hanning(size)
    energy = np.sum(frames**2, axis=1)
    loud = energy > max(float(energy.max()), 1e-20) * 1e-3
    if not loud.any():
        return None
    frames, energy = frames[loud], energy[loud]
    spectrum = np.fft.rfft(frames, 2 * size, axis=1)
    ac = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :size]
    lag_window = np.fft.irfft(np.abs(np.fft.rfft(np.hanning(size), 2 * size)) ** 2)[:size]
    ac = ac / energy[:, None] / np.maximum(lag_window / lag_window[0], 1e-3)  # unbiased, 1 at lag 0
    lo, hi = (round(sample_rate / f) for f in (F0_RANGE[1], F0_RANGE[0]))
    f0s = []
    for row in ac[:, lo : hi + 1]:
        top = float(row.max())
        if top < VOICED:
            continue  # not periodic: unvoiced or silence
        i = int(np.argmax(row >= 0.9 * top))  # the first lag near the best, climbed to its own peak
        while i + 1 < len(row) and row[i + 1] >= row[i]:
            i += 1
        f0s.append(sample_rate / (lo + i))
    if len(f0s) < MIN_VOICED * len(ac):
        return None
    return float(np.median(f0s))


def mix(speech: Speech, sounds: Sequence[Sound], voice: str) -> tuple[Speech, list[tuple[Sound, float]]]:
    """`speech` with each sound in its place, and each sound with its start (s) on the new audio's clock.
    Speech with no audio (a sentence of nothing but a sound) gets the sound alone, at breath.toml's level."""
    sr = speech.sample_rate
    if not sounds or sr < 8000:  # too low a rate for the formants: no sound
        return speech, []
    f0 = median_f0(speech.audio, sr) or FALLBACK_F0
    peak = float(np.abs(speech.audio).max()) if len(speech.audio) else 0.0
    cuts = [_cut(speech, s.offset) for s in sounds]
    made = []
    for s in sounds:
        b = synthesize(s.kind, sr, s.intensity, f0, np.random.default_rng(seed(voice, speech.text, s)))
        gain = LEVEL * peak / _FULL[s.kind] if peak > 0 else 1.0
        made.append(Speech("", b.audio * np.float32(gain), sr, list(b.segments), [], None, []))
    edges = sorted({0.0, *cuts, speech.duration})
    parts: list[Speech] = []
    starts = [0.0] * len(sounds)
    t = 0.0
    for i, edge in enumerate(edges):
        for k in (k for k in range(len(sounds)) if cuts[k] == edge):  # in the reply's order
            starts[k] = t
            parts.append(made[k])
            t += made[k].duration
        if i + 1 < len(edges):
            parts.append(_slice(speech, edge, edges[i + 1]))
            t += parts[-1].duration
    return concat(parts, speech.text, sr), list(zip(sounds, starts, strict=True))


def _cut(speech: Speech, offset: int) -> float:
    """Where a sound before the word at `offset` goes (s, on a sample): in front of the audio before the
    first word, after it past the last, else the quietest point of the pause before the word."""
    words, sr = speech.words, speech.sample_rate
    k = next((i for i, w in enumerate(words) if w[3] >= offset), None)
    if k is None:
        return speech.duration
    if k == 0:
        return 0.0
    start, gap = words[k][1], max(0.0, words[k][1] - words[k - 1][2])
    a, b, w = round((start - gap) * sr), round(start * sr), max(1, round(QUIET * sr))
    if b - a <= w:
        return b / sr
    power = np.convolve(np.asarray(speech.audio[a:b], np.float64) ** 2, np.ones(w), "valid")
    return (a + int(np.argmin(power)) + w // 2) / sr


def _slice(speech: Speech, a: float, b: float) -> Speech:
    """The part of `speech` from a to b (s): its timings from a, those crossing an edge cut there."""
    sr = speech.sample_rate
    audio = np.array(speech.audio[round(a * sr) : round(b * sr)], np.float32)
    n = min(round(FADE * sr), len(audio) // 2)
    ramp = (0.5 * (1 - np.cos(np.pi * np.arange(n) / max(n, 1)))).astype(np.float32)
    if a > 0 and n:
        audio[:n] *= ramp
    if b < speech.duration and n:
        audio[-n:] *= ramp[::-1]
    phonemes = [(p, max(p0, a) - a, min(p1, b) - a) for p, p0, p1 in speech.phonemes if p0 < b and p1 > a]
    words = [(w, w0 - a, min(w1, b) - a, o) for w, w0, w1, o in speech.words if a <= w0 < b]
    stresses = None
    if speech.stresses is not None:
        stresses = [(o, t - a) for o, t in speech.stresses if a <= t < b]
    keys = None
    if speech.keys is not None:
        k = speech.keys
        inside = (k.times >= a) & (k.times < b)
        before = np.flatnonzero(k.times < a)
        take = np.flatnonzero(inside) if not len(before) else np.r_[before[-1], np.flatnonzero(inside)]
        times = np.maximum(k.times[take] - a, 0.0)
        keys = type(k)(times, [k.visemes[i] for i in take], k.weights[take])
    return Speech(speech.text, audio, sr, [p for p in phonemes if p[2] > p[1]], words, keys, stresses)
