"""How loud the user is while they speak, relative to their own running level: what the listening face
follows (animation/listening.py: brows up with the emphasis, blinks at the pauses).

Each piece of audio gives the level (RMS, dBFS) of its last `WINDOW` samples against a reference that
follows the user's voiced level through the turn (their mean level so far, then a running mean with time
constant `tau_s`; pauses, more than `voiced_db` under it, do not pull it down), mapped to -1..1: 0 at the
user's usual level, +1 at `span_db` above it, -1 at `span_db` under it (a pause). A loud speaker and a
quiet one both give the same range. The reference starts afresh with each turn. Pure: time is the
samples' count, nothing reads a clock.
"""

from __future__ import annotations

import math

import numpy as np

from server.hearing.vad import SAMPLE_RATE

WINDOW = 1024  # samples (64 ms, two of the voice detector's chunks): about a syllable's nucleus


class Loudness:
    def __init__(self, span_db: float = 10.0, tau_s: float = 1.5, voiced_db: float = -15.0) -> None:
        self.span_db, self.tau_s, self.voiced_db = span_db, tau_s, voiced_db
        self._ref: float | None = None  # the user's running voiced level in this turn, dBFS
        self._voiced_s = 0.0  # voiced audio in the reference so far

    def feed(self, audio: np.ndarray, speaking: bool) -> float | None:
        """The user's loudness at the end of `audio` (-1..1), or None while they are not speaking."""
        if not speaking or len(audio) == 0:
            self._ref, self._voiced_s = None, 0.0
            return None
        tail = np.asarray(audio[-WINDOW:], np.float32)
        db = 10.0 * math.log10(float(np.mean(tail * tail)) + 1e-10)
        if self._ref is None:
            self._ref = db
        relative = db - self._ref
        if relative > self.voiced_db:  # speech, not a pause: the reference follows the user's level
            seconds = len(audio) / SAMPLE_RATE
            self._voiced_s += seconds
            self._ref += relative * max(seconds / self._voiced_s, -math.expm1(-seconds / self.tau_s))
        return max(-1.0, min(1.0, relative / self.span_db))
