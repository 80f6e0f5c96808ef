"""Breath sounds for the [sigh] and [laugh] gestures: what the voice makes that is not words.

- sigh: an audible exhalation, aspiration noise through a neutral vocal tract, rising quickly and then
  falling long, its spectrum darkening as the flow runs out (0.6-1.2 s by intensity);
- laugh: a short "ha-ha-ha", 3-5 notes (by intensity) at ~4.6 a second, each an /h/ into a voiced open
  central vowel, its F0 well above the voice's speech and falling over the bout, each note softer.

Numbers and sources are data (data/breath.toml). The synthesis is a classic source-filter one (Klatt 1980):
white noise and a Rosenberg glottal pulse train, through a cascade of formant resonators applied in the
frequency domain (their exact, causal response at the FFT's bins: numpy only, and fast, where a per-sample
IIR loop in Python would not be). Deterministic given the `rng` passed in. The audio peaks at the table's
level (-12 dBFS at intensity 1), below speech, for the caller to mix at the voice's sample rate.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

_TABLE = tomllib.loads((Path(__file__).parent / "data" / "breath.toml").read_text())
SIGH: dict = _TABLE["sigh"]
LAUGH: dict = _TABLE["laugh"]
FADE = float(_TABLE["fade"])
KINDS = ("sigh", "laugh")
PAD = 0.05  # s of zeros the filters ring into, so the FFT's circular convolution never wraps
# The mouth's labels, IPA as the voices' phonemes are (animation/data/phonemes.toml maps them to visemes):
# /h/ takes the next sound's shape; the laugh's open vowel is "aa"; the sigh's lips part a little ("ə");
# between laugh notes the mouth rests ("_", a pause).
ASPIRATION, LAUGH_VOWEL, SIGH_VOWEL, REST = "h", "ɐ", "ə", "_"

Segment = tuple[str, float, float]  # (phoneme, start s, end s), like animation.phonemes.Segment


class Breath(NamedTuple):
    audio: np.ndarray  # float32 mono, in [-1, 1]
    sample_rate: int
    segments: list[Segment]  # what the mouth does, on the audio's clock: contiguous, 0 to the end
    f0: list[float]  # each laugh note's mean F0 (Hz); empty for a sigh

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def onsets(self) -> list[float]:
        """When each laugh note's vowel starts (s): where the jaw should open. Empty for a sigh."""
        return [t0 for p, t0, _ in self.segments if p == LAUGH_VOWEL]


def synthesize(kind: str, sample_rate: int, intensity: float, f0: float, rng: np.random.Generator) -> Breath:
    """A `kind` ("sigh" or "laugh") at `intensity` (0..1); `f0` is the voice's median speaking F0 (Hz),
    which the laugh's pitch is set from (a sigh is unvoiced and ignores it)."""
    if kind not in KINDS:
        raise ValueError(f"unknown breath sound {kind!r}: one of {', '.join(KINDS)}")
    if not 0.0 <= intensity <= 1.0:  # NaN fails too
        raise ValueError(f"intensity must be within [0, 1], not {intensity!r}")
    if sample_rate < 8000:
        raise ValueError(f"sample rate {sample_rate} is too low for the formants (>= 8000 Hz)")
    if kind == "laugh" and not 40.0 <= f0 <= 600.0:
        raise ValueError(f"f0 must be a speaking pitch (40-600 Hz), not {f0!r}")
    audio, segments, pitches = (_sigh if kind == "sigh" else _laugh)(sample_rate, intensity, f0, rng)
    audio *= _fades(len(audio), sample_rate)
    peak = 10 ** (_lerp(SIGH["peak_dbfs"] if kind == "sigh" else LAUGH["peak_dbfs"], intensity) / 20)
    audio *= peak / max(float(np.abs(audio).max()), 1e-12)
    return Breath(audio.astype(np.float32), sample_rate, segments, pitches)


def breath(kind: str, sample_rate: int, intensity: float, f0: float, rng: np.random.Generator) -> np.ndarray:
    """The audio alone of `synthesize`."""
    return synthesize(kind, sample_rate, intensity, f0, rng).audio


def syllable_count(intensity: float) -> int:
    """Notes in a laugh bout: the table's fewest at intensity 0, one more per equal step up to its most."""
    lo, hi = (int(n) for n in LAUGH["syllables"])
    return min(hi, lo + int(intensity * (hi - lo + 1)))


def _lerp(pair: Sequence[float], t: float) -> float:
    return float(pair[0]) + (float(pair[1]) - float(pair[0])) * t


def _sigh(sr: int, intensity: float, _f0: float, rng: np.random.Generator) -> tuple:
    n = round(_lerp(SIGH["duration"], intensity) * sr)
    length = n / sr  # whole samples, so the segments end with the audio
    t = np.arange(n) / sr
    attack = float(SIGH["attack"])
    u = np.clip((t - attack) / (length - attack), 0.0, 1.0)
    # A quick raised-cosine rise to the peak flow, then a fall in dB that starts slowly and speeds up.
    env = np.where(
        t < attack,
        0.5 * (1 - np.cos(np.pi * t / attack)),
        10 ** (float(SIGH["end_db"]) * u ** float(SIGH["shape"]) / 20),
    )
    noise = rng.standard_normal(n)
    tract = dict(formants=SIGH["formants"], bandwidths=SIGH["bandwidths"], highpass=SIGH["highpass"])
    # The same noise through the tract with the bright and the dark tilt, crossfaded as the flow falls:
    # the spectrum darkens while the waveform stays one breath.
    bright, dark = (_unit(_shape(noise, sr, tilt=tilt, **tract)) for tilt in SIGH["tilt"])
    audio = ((1 - u) * bright + u * dark) * env
    return audio, [(ASPIRATION, 0.0, attack), (SIGH_VOWEL, attack, length)], []


def _laugh(sr: int, intensity: float, f0: float, rng: np.random.Generator) -> tuple:
    count = syllable_count(intensity)
    period = 1.0 / float(LAUGH["rate"])
    h_len, v_len, jitter = float(LAUGH["aspiration"]), float(LAUGH["vowel"]), float(LAUGH["jitter"])
    n = round((FADE + jitter + (count - 1) * period + h_len + v_len + float(LAUGH["tail"])) * sr)
    length = n / sr
    t = np.arange(n) / sr
    raise_ = np.geomspace(*LAUGH["f0_raise"], count) if count > 1 else np.array(LAUGH["f0_raise"][:1])
    pitches = f0 * raise_ * np.exp(rng.normal(0.0, float(LAUGH["f0_spread"]), count))
    fall = float(LAUGH["f0_fall"]) / 2
    h_env, v_env = np.zeros(n), np.zeros(n)
    knots_t, knots_f, segments, gains = [], [], [], []
    for k in range(count):
        onset = FADE + jitter + k * period + rng.uniform(-jitter, jitter)
        v0, v1 = onset + h_len, onset + h_len + v_len
        gain = 10 ** (float(LAUGH["decay_db"]) * k / 20)
        # The /h/ builds over its length and dies away 20 ms into the vowel (the glottis closing).
        h_env += gain * _ramp(t, onset, v0) * (1 - _ramp(t, v0, v0 + 0.02))
        v_env += gain * _note(t, v0, v1)
        knots_t += [v0, v1]
        knots_f += [pitches[k] * (1 + fall), pitches[k] * (1 - fall)]
        segments += [(ASPIRATION, onset, v0), (LAUGH_VOWEL, v0, v1)]
        gains.append(gain)
    f0_track = np.interp(t, knots_t, knots_f)  # falling across each note, gliding between notes
    flow = _rosenberg(f0_track, sr)
    voiced = np.diff(flow, prepend=0.0) * sr / f0_track  # lip radiation: the flow's derivative, per period
    noise = rng.standard_normal(n)
    tract = dict(formants=LAUGH["formants"], bandwidths=LAUGH["bandwidths"], highpass=LAUGH["highpass"])
    vowel = _shape(voiced * v_env, sr, **tract)
    # Each note's vowel set to its level in the decrescendo: where the harmonics fall on the formants
    # would otherwise make one note several dB louder than the table says. The cuts are in the silences.
    vowels = [(round(a * sr), round(b * sr)) for p, a, b in segments if p == LAUGH_VOWEL]
    onsets = [round(a * sr) for p, a, _ in segments if p == ASPIRATION]
    cuts = [0, *((b + a) // 2 for (_, b), a in zip(vowels, onsets[1:], strict=False)), n]
    for (a, b), lo, hi, gain in zip(vowels, cuts[:-1], cuts[1:], gains, strict=True):
        vowel[lo:hi] *= gain / max(float(np.sqrt(np.mean(vowel[a:b] ** 2))), 1e-12)
    h = _unit(_shape(noise * h_env, sr, **tract), h_env)
    # Breathiness: aspiration that pulses with the glottis's opening, as in a breathy voice (Klatt 1980).
    breathy = _unit(_shape(noise * v_env * (0.3 + flow), sr, **tract), v_env)
    audio = vowel + 10 ** (LAUGH["h_db"] / 20) * h + 10 ** (LAUGH["breathy_db"] / 20) * breathy
    return audio, _rests(segments, length), [float(p) for p in pitches]


def _rests(segments: list[Segment], length: float) -> list[Segment]:
    """The segments with rests filling the time before, between and after them."""
    out: list[Segment] = []
    t = 0.0
    for seg in segments:
        if seg[1] > t:
            out.append((REST, t, seg[1]))
        out.append(seg)
        t = seg[2]
    return [*out, (REST, t, length)] if length > t else out


def _rosenberg(f0_track: np.ndarray, sr: int) -> np.ndarray:
    """Glottal flow (0..1) for an F0 contour: Rosenberg's trigonometric pulse, one per period."""
    phase = np.cumsum(f0_track) / sr % 1.0
    opening, closing = (float(q) for q in LAUGH["open_quotient"])
    rising = 0.5 * (1 - np.cos(np.pi * phase / opening))
    falling = np.cos(np.pi * np.clip(phase - opening, 0.0, closing) / (2 * closing))
    return np.where(phase < opening, rising, np.where(phase < opening + closing, falling, 0.0))


def _shape(
    x: np.ndarray,
    sr: int,
    *,
    formants: Sequence[float],
    bandwidths: Sequence[float],
    highpass: float,
    tilt: float = 0.0,
    pivot: float = 1000.0,
) -> np.ndarray:
    """x through a cascade of two-pole resonators (Klatt 1980's, unity gain at 0 Hz), a gentle high-pass
    and a spectral tilt (dB/octave above `pivot`), applied as one response at the FFT's bins."""
    size = len(x) + round(PAD * sr)
    freqs = np.fft.rfftfreq(size, 1.0 / sr)
    z1 = np.exp(-2j * np.pi * freqs / sr)
    response = np.ones(len(freqs), complex)
    for f, bw in zip(formants, bandwidths, strict=True):
        if f >= 0.45 * sr:  # past what this rate carries (an 8-16 kHz voice loses the top formants)
            continue
        r = np.exp(-np.pi * bw / sr)
        c = 2 * r * np.cos(2 * np.pi * f / sr)
        response *= (1 - c + r * r) / (1 - c * z1 + r * r * z1 * z1)
    response *= freqs**2 / (freqs**2 + highpass**2)  # a second-order-like high-pass: no rumble, no DC
    response *= (np.maximum(freqs, pivot) / pivot) ** (tilt / (20 * np.log10(2)))
    return np.fft.irfft(np.fft.rfft(x, size) * response, size)[: len(x)]


def _unit(x: np.ndarray, env: np.ndarray | None = None) -> np.ndarray:
    """x scaled to unit RMS per unit of its envelope (so mixing levels are relative to the envelope)."""
    weight = float(np.sum(env**2)) if env is not None else len(x)
    return x / max(np.sqrt(float(np.sum(x**2)) / max(weight, 1e-12)), 1e-12)


def _ramp(t: np.ndarray, a: float, b: float) -> np.ndarray:
    return np.clip((t - a) / (b - a), 0.0, 1.0)


def _note(t: np.ndarray, a: float, b: float) -> np.ndarray:
    """A vowel's envelope: a 15 ms raised-cosine attack, a hold, a raised-cosine release (its last 45 %)."""
    rise = 0.5 * (1 - np.cos(np.pi * _ramp(t, a, a + 0.015)))
    release = 0.5 * (1 + np.cos(np.pi * _ramp(t, b - 0.45 * (b - a), b)))
    return rise * release


def _fades(n: int, sr: int) -> np.ndarray:
    ramp = 0.5 * (1 - np.cos(np.pi * np.clip(np.arange(n) / (FADE * sr), 0.0, 1.0)))
    return np.minimum(ramp, ramp[::-1])
