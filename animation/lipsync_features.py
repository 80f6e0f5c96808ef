"""Frame-wise acoustic features of speech audio, for audio-only lip-sync (animation.lipsync and
animation.lipsync_place, which both read them; numpy only).

Each 10 ms frame (a 25 ms Hann window) gets band levels, the spectral centroid, the level of a short
window at a possible stop release (the burst), and formants F1 and F2 from selective linear prediction
(Makhoul 1975: the LPC autocorrelation from the 0-5 kHz part of the power spectrum). `robust_z` scales a
feature over an utterance's frames (a per-speaker normalisation); `runs` finds runs of frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

HOP = 0.01  # s between frames
WIN = 0.025  # s analysis window
LPC_FMAX = 5000.0  # Hz: formants F1, F2 (and F3 for most voices) lie below it
LPC_ORDER = 10  # two poles per formant in 0-5 kHz, plus two for the glottal and radiation tilt
BURST = 0.015  # s: the release burst's window, from 5 ms before a closure's end


@dataclass(frozen=True)
class Features:
    """Per-frame acoustic features (frame k centred at k * HOP)."""

    db: np.ndarray  # level, dB (60 Hz - 8 kHz)
    depth: np.ndarray  # dB below the loudest frame within +-120 ms
    hf: np.ndarray  # dB of 5-10 kHz relative to 60-400 Hz (frication vs voicing)
    tilt: np.ndarray  # dB of 2.5-5 kHz relative to 60-1000 Hz (low when the lips round)
    high: np.ndarray  # dB of 3.5-5 kHz relative to 60 Hz-5 kHz (F4 and up; low when the lips round)
    centroid: np.ndarray  # Hz
    f1: np.ndarray  # Hz (nan where LPC found none)
    f2: np.ndarray  # Hz
    low: np.ndarray  # dB, 60-500 Hz (F1 and the nasal murmur's resonance)
    mid: np.ndarray  # dB, 1-3 kHz (F2, F3; weak in a nasal murmur)
    burst: np.ndarray  # dB of 3.5-8 kHz relative to 0.5-2.5 kHz in a 15 ms window from 5 ms before k * HOP

    def __len__(self) -> int:
        return len(self.db)

    @property
    def murmur(self) -> np.ndarray:
        """dB of 1-3 kHz relative to 60-500 Hz (very low in a nasal murmur)."""
        return self.mid - self.low


def analyze(audio: np.ndarray, sample_rate: int) -> Features:
    """Frame-wise features of mono audio (any sample rate >= 16 kHz works best; 8 kHz still runs)."""
    x = np.asarray(audio, np.float64).reshape(-1)
    sr = float(sample_rate)
    hop, win = max(1, round(sr * HOP)), max(16, round(sr * WIN))
    n = max(1, -(-len(x) // hop))
    idx = np.arange(n)[:, None] * hop + np.arange(win)
    window = np.hanning(win)
    pad = (win // 2, win + hop)
    frames = np.pad(x, pad)[idx] * window
    emph = np.pad(np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]]), pad)[idx] * window  # LPC pre-emphasis
    nfft = 1 << (win - 1).bit_length()
    power = np.abs(np.fft.rfft(frames, nfft)) ** 2
    freqs = np.fft.rfftfreq(nfft, 1.0 / sr)

    def band(lo: float, hi: float) -> np.ndarray:
        return 10.0 * np.log10(power[:, (freqs >= lo) & (freqs < min(hi, sr / 2))].sum(1) + 1e-12)

    db = band(60, 8000)
    hf = band(5000, 10000) - band(60, 400) if sr > 10500 else band(2500, 4000) - band(60, 400)
    tilt = band(2500, 5000) - band(60, 1000)
    high = band(3500, 5000) - band(60, 5000)
    centroid = (power * freqs).sum(1) / (power.sum(1) + 1e-20)
    f1, f2 = _formants(np.abs(np.fft.rfft(emph, nfft)) ** 2, freqs)
    k = round(0.12 / HOP)
    env = sliding_window_view(np.pad(db, k, mode="edge"), 2 * k + 1).max(1)
    # A burst lasts 5-20 ms: a short window, so the closure before it and the vowel after it weigh little.
    short, lead = max(8, round(sr * BURST)), max(1, round(sr * 0.005))
    bursts = np.pad(x, (lead, short + hop))[np.arange(n)[:, None] * hop + np.arange(short)]
    bpower = np.abs(np.fft.rfft(bursts * np.hanning(short), nfft)) ** 2

    def bband(lo: float, hi: float) -> np.ndarray:
        return 10.0 * np.log10(bpower[:, (freqs >= lo) & (freqs < min(hi, sr / 2))].sum(1) + 1e-12)

    burst = bband(3500, 8000) - bband(500, 2500)
    return Features(db, env - db, hf, tilt, high, centroid, f1, f2, band(60, 500), band(1000, 3000), burst)


def _formants(power: np.ndarray, freqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F1, F2 per frame: LPC on the 0..LPC_FMAX band (Levinson-Durbin, batched), poles -> frequencies."""
    k = min(int(np.searchsorted(freqs, LPC_FMAX)), len(freqs) - 1)
    sr = 2.0 * freqs[k]  # the band's own sampling rate
    r = np.fft.irfft(power[:, : k + 1], n=2 * k)[:, : LPC_ORDER + 1]
    n, p = len(r), LPC_ORDER
    a = np.zeros((n, p + 1))
    a[:, 0] = 1.0
    err = r[:, 0] + 1e-12
    for i in range(1, p + 1):
        acc = r[:, i] + np.einsum("nj,nj->n", a[:, 1:i], r[:, i - 1 : 0 : -1])
        refl = -acc / err
        a[:, 1:i] += refl[:, None] * a[:, i - 1 : 0 : -1]
        a[:, i] = refl
        err *= 1.0 - refl * refl
    companion = np.zeros((n, p, p))
    companion[:, 0, :] = -a[:, 1:]
    companion[:, np.arange(1, p), np.arange(p - 1)] = 1.0
    roots = np.linalg.eigvals(companion)
    freq = np.angle(roots) * sr / (2 * np.pi)
    bandwidth = -np.log(np.abs(roots) + 1e-12) * sr / np.pi
    ok = (roots.imag > 0) & (freq > 150) & (bandwidth < 400) & (freq < sr / 2 - 100)
    sorted_f = np.sort(np.where(ok, freq, np.inf), axis=1)
    f1, f2 = sorted_f[:, 0], sorted_f[:, 1]
    return np.where(np.isfinite(f1), f1, np.nan), np.where(np.isfinite(f2), f2, np.nan)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def robust_z(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(x - median) / IQR-based spread over the masked frames; zeros where there is nothing to scale by."""
    vals = x[mask & np.isfinite(x)]
    if vals.size < 5:
        return np.zeros_like(x)
    q1, med, q3 = np.percentile(vals, [25, 50, 75])
    return (x - med) / max((q3 - q1) / 1.35, 1e-6)
