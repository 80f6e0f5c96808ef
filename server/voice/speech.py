"""What every voice gives: a Speech (mono audio, phonemes and words on the audio's clock), and the Voice
interface. Piper (piper.py), espeak-ng (espeak.py) and cloud voices (cloud.py) implement it; which one
speaks is registry.py's choice. Synthesis is CPU-bound and blocking: call it off the event loop (the
speaker uses its own thread pool). A Voice is safe to share between threads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from animation import phonemes as ph
from server.voice.prosody import NEUTRAL, Prosody

Word = tuple[str, float, float, int]  # (word, start s, end s, code-point offset in the text)
Stress = tuple[int, float]  # (a word's code-point offset in the text, audio time s of its stressed vowel)
_WORD_RE = re.compile(r"\w+(?:['’.\-]\w+)*")


class VoiceUnavailable(RuntimeError):
    """No speech engine could be loaded (the message says why, per engine)."""


class VoiceFailed(RuntimeError):
    """A loaded voice could not speak a sentence (a cloud provider's error, timeout or bad audio); the
    message is safe to show a user."""


@dataclass(frozen=True)
class Speech:
    text: str  # the input text: words' offsets index it
    audio: np.ndarray  # float32 mono, -1..1
    sample_rate: int
    phonemes: list[ph.Segment] = field(default_factory=list)  # (IPA phoneme or "_", start s, end s)
    words: list[Word] = field(default_factory=list)
    # Viseme keys found from the audio itself (animation.lipsync), for voices that report no phonemes;
    # computed where the audio is made (a worker thread), not on the event loop.
    keys: ph.Visemes | None = None
    # (word offset, start s of its primary-stressed vowel) for the words the voice stressed, in order; None
    # for a voice that does not say (beats.py then falls back on the words themselves).
    stresses: list[Stress] | None = None

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    def time_at(self, offset: int) -> float:
        """Audio time of a text position (code points): the start of the first word at or after it, the
        end of the audio past the last word. Places an emotion cue found at `offset` on the word it
        belongs to."""
        return time_at(self.words, self.duration, offset)

    def visemes(self) -> ph.Visemes:
        """The viseme keys for FaceBank.visemes(slot, t0=when the audio starts, *speech.visemes()): from
        the phonemes when the voice reports them, else from the audio (animation.lipsync)."""
        if self.keys is not None:
            return self.keys
        if not self.phonemes and len(self.audio):
            from animation.lipsync import lipsync

            return lipsync(self.audio, self.sample_rate)
        return ph.to_visemes(self.phonemes)


class Voice(Protocol):
    name: str
    sample_rate: int

    def synthesize(self, text: str, prosody: Prosody = NEUTRAL) -> Speech:
        """`text` spoken, coloured by `prosody` (the sentence's emotion; prosody.py)."""
        ...

    def stream(self, text: str, prosody: Prosody = NEUTRAL) -> Iterator[Speech]: ...


def billed_tokens(voice: Voice, text: str) -> int:
    """What speaking `text` costs against an embed key's tokens: a cloud voice (a paid request, billed by
    the character) about one token per four characters; an offline voice nothing."""
    return -(-len(text) // 4) if voice.name.startswith("litellm:") else 0


def time_at(words: Sequence[Word], duration: float, offset: int) -> float:
    """Speech.time_at, for timings kept without their samples."""
    return next((start for _word, start, _end, at in words if at >= offset), duration)


def tokens(text: str) -> list[tuple[str, int]]:
    """The words of text with their code-point offsets (letters and digits; inner ' . - kept)."""
    return [(m.group(), m.start()) for m in _WORD_RE.finditer(text)]


def concat(parts: Sequence[Speech], text: str, sample_rate: int) -> Speech:
    """One Speech from consecutive ones (their timings shifted onto the joined audio)."""
    audio, phonemes, words = [], [], []
    stresses: list[Stress] | None = None if all(s.stresses is None for s in parts) else []
    t = 0.0
    for s in parts:
        audio.append(s.audio)
        phonemes += [(p, a + t, b + t) for p, a, b in s.phonemes]
        words += [(w, a + t, b + t, o) for w, a, b, o in s.words]
        if stresses is not None:
            stresses += [(o, a + t) for o, a in s.stresses or ()]
        t += s.duration
    joined = np.concatenate(audio) if audio else np.zeros(0, np.float32)
    keys = None
    if any(s.keys is not None for s in parts):  # audio-driven parts: their keys, shifted the same way
        edges = np.cumsum([0.0] + [s.duration for s in parts])
        times, names, weights = [], [], []
        for s, t0, t1 in zip(parts, edges[:-1], edges[1:], strict=True):
            k = s.visemes()
            keep = k.times + t0 < t1 if s is not parts[-1] else np.ones(len(k.times), bool)
            times.append(k.times[keep] + t0)  # a part's closing "sil" may sit past its end: dropped
            names += [v for v, ok in zip(k.visemes, keep, strict=True) if ok]
            weights.append(k.weights[keep])
        keys = ph.Visemes(np.concatenate(times), names, np.concatenate(weights).astype(np.float32))
    return Speech(text, joined.astype(np.float32, copy=False), sample_rate, phonemes, words, keys, stresses)
