"""Audio-driven lip-sync: any speech audio -> timed Oculus visemes, with no transcript or alignment.

For audio that comes without phoneme timings (a cloud voice, a user's WAV). Not a volume-driven jaw:
each 10 ms frame is classified from what the spectrum says about the mouth (numpy only; the frame
features are measured in animation.lipsync_features):

- pauses: energy near the noise floor for longer than a pause (sil);
- closures: a short dip well below the surrounding speech with little high-frequency energy (a stop's
  closure), and nasal murmurs (Fujimura 1962), told from a rounded /u/ by their abrupt boundaries;
- place of each closure, since only p/b/m shut the lips: the release burst and the F2 transition out of
  it. Labial -> PP; otherwise DD (stops) or nn (nasals), lips apart. Both in animation.lipsync_place;
- fricatives: noise whose spectral centroid is high (SS above ~4 kHz, CH 2.5-4 kHz, weak ones FF);
- vowels and sonorants: formants F1 and F2 from selective linear prediction (Makhoul 1975: the LPC
  autocorrelation from the 0-5 kHz part of the power spectrum). Lip rounding and protrusion lengthen
  the vocal tract and lower its resonances (Stevens 1998, Acoustic Phonetics, ch. 6), and with lower
  formants the spectrum above them falls too (formant levels follow formant frequencies: Fant 1956), so
  rounding is the mean of lowered cues: F2, the 2.5-5 kHz and 5-10 kHz balance, the spectral centroid,
  the 3.5-5 kHz level (F2 alone misses the fronted /u/ of American English); jaw opening raises F1.
  All are z-scores over the utterance's voiced frames (a per-speaker normalisation in the spirit of
  Lobanov 1971), so a female or child voice, or a quieter recording, reads the same. Rounded and
  close -> ou, rounded and open -> oh, open -> aa, spread and close -> ih, else E. Thresholds were set
  on Piper sentences that the tests do not use.

The frame labels are smoothed (a 50 ms majority vote) and turned into viseme keys for
FaceBank.visemes, like the phoneme path (animation.phonemes). The normalisation needs a whole
utterance (a sentence, ~1 s or more): run it per sentence of a streamed voice, not per 20 ms chunk.
`speak_frames` steps a FaceBank over keys and returns the frame track the server would stream (`mien
say` and `mien lipsync`).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from animation.arkit import N_CHANNELS
from animation.lipsync_features import HOP, Features, analyze, robust_z, runs
from animation.lipsync_place import place
from animation.phonemes import Visemes
from animation.visemes import VISEME_INDEX, VISEMES

PAUSE = 0.2  # s: a low-energy stretch longer than this is a pause, shorter ones inside speech a closure
MIN_SEGMENT = 0.05  # s: shorter label runs are outvoted by their neighbours (closures: 0.02)
_V = VISEME_INDEX


def _smooth_voiced(x: np.ndarray, voiced: np.ndarray, k: int = 3) -> np.ndarray:
    """Moving average over 2k+1 frames, counting only voiced ones (so closures don't drag vowels)."""
    w = voiced.astype(np.float64)
    kernel = np.ones(2 * k + 1)
    num = np.convolve(np.where(voiced, x, 0.0), kernel, mode="same")
    return num / np.maximum(np.convolve(w, kernel, mode="same"), 1.0)


def classify(f: Features) -> tuple[np.ndarray, np.ndarray]:
    """(viseme index per frame, weight per frame 0..1) from the features."""
    n = len(f)
    level = float(np.percentile(f.db, 95))
    floor = float(np.percentile(f.db, 5))
    quiet = (f.db < max(floor + 8.0, level - 50.0)) | (f.db < level - 60.0)
    labels = np.full(n, _V["E"], np.intp)
    # Pauses: long quiet runs (and the quiet lead-in / tail).
    pause = np.zeros(n, bool)
    for a, b in runs(quiet):
        if (b - a) * HOP >= PAUSE or a == 0 or b == n:
            pause[a:b] = True
    fricative = (f.centroid > 2500.0) & ~quiet
    # Closures: well below the surrounding speech, not frication, not a pause.
    closure = ~pause & ~fricative & ((f.depth > 14.0) | quiet) & (f.hf < -12.0)
    voiced = ~pause & ~closure & ~fricative
    # Vowel quality, z-scored over the voiced frames and averaged over ~70 ms (about a vowel's steady part).
    z_f1 = _smooth_voiced(np.nan_to_num(robust_z(np.log(f.f1), voiced)), voiced)
    # Rounding (and protrusion) lengthens the tract: F2, the 2.5-5 kHz band, the 5-10 kHz band, the
    # centroid and the 3.5-5 kHz level all drop together. Their mean is steadier than F2 alone, which LPC
    # often misplaces; the 3.5-5 kHz level counts twice: it told Piper's fronted /u/ from /i/ and schwa
    # best on the tuning sentences (~9 dB lower), where its F2 did not at all.
    lowering = (
        np.nan_to_num(robust_z(np.log(f.f2), voiced))
        + robust_z(f.tilt, voiced)
        + robust_z(f.hf, voiced)
        + robust_z(np.log(f.centroid + 1.0), voiced)
        + 2.0 * robust_z(f.high, voiced)
    )
    rounding = _smooth_voiced(-lowering / 6.0, voiced)
    labels[voiced & (z_f1 > 0.5)] = _V["aa"]
    labels[voiced & (rounding < -0.15) & (z_f1 <= 0.3)] = _V["ih"]
    labels[voiced & (rounding > 0.3)] = _V["oh"]
    labels[voiced & (rounding > 0.3) & (z_f1 < 0.2)] = _V["ou"]
    strong = f.db > level - 22.0
    labels[fricative] = _V["FF"]
    labels[fricative & strong & (f.centroid > 4000.0)] = _V["SS"]
    labels[fricative & strong & (f.centroid <= 4000.0)] = _V["CH"]
    labels[closure] = _V["PP"]
    labels[pause] = _V["sil"]
    place(f, labels)  # only labial closures and murmurs shut the lips
    # Louder speech moves the mouth a little more; quiet vowels (reduced ones) a little less.
    weight = np.clip(0.55 + 0.45 * (f.db - (level - 25.0)) / 25.0, 0.3, 1.0).astype(np.float32)
    weight[labels == _V["sil"]] = 0.0
    return labels, weight


def _smooth(labels: np.ndarray) -> np.ndarray:
    """Majority vote over 50 ms, then runs shorter than MIN_SEGMENT join the run before them."""
    k = 2
    n = len(labels)
    if n > 2 * k:
        win = sliding_window_view(np.pad(labels, k, mode="edge"), 2 * k + 1)
        counts = np.stack([(win == v).sum(1) for v in range(len(VISEMES))], axis=1)
        voted = counts.argmax(1)
        keep = (labels == _V["PP"]) | (labels == _V["sil"])  # closures and pauses are never voted away
        labels = np.where(keep, labels, voted)
    out = labels.copy()
    start = 0
    for i in range(1, n + 1):
        if i == n or out[i] != out[start]:
            short = (i - start) * HOP < (0.02 if out[start] == _V["PP"] else MIN_SEGMENT)
            if short and start > 0:
                out[start:i] = out[start - 1]
            start = i
    return out


def lipsync(audio: np.ndarray, sample_rate: int) -> Visemes:
    """Viseme keys for FaceBank.visemes (times from the audio's start; the last one "sil")."""
    f = analyze(audio, sample_rate)
    labels, weight = classify(f)
    labels = _smooth(labels)
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    times = starts * HOP
    names = [VISEMES[i] for i in labels[starts]]
    weights = np.array([weight[a:b].max() for a, b in zip(starts, [*change, len(labels)], strict=True)])
    if names[-1] != "sil":
        times = np.append(times, len(labels) * HOP)
        names.append("sil")
        weights = np.append(weights, 0.0)
    return Visemes(times.astype(np.float64), names, weights.astype(np.float32))


def speak_frames(
    keys: Visemes,
    duration: float,
    fps: float = 30.0,
    emotion: tuple[str, float] | None = None,
    cue_at: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(times [n], frames [n, N_CHANNELS]): one face speaking `keys` from t=0, stepped at fps over the audio
    plus the mouth's release, with `emotion` (name, intensity) cued at cue_at and held."""
    from animation.engine import FaceBank

    bank = FaceBank(capacity=1, seed=seed)
    slot = bank.add(0.0)
    bank.set_talking(slot, True)
    if emotion is not None:
        bank.cue(slot, emotion[0], emotion[1], cue_at, hold=max(duration - cue_at, 0.5))
    bank.visemes(slot, 0.0, keys.times, keys.visemes, keys.weights)
    end = duration + 0.3  # the final sil's tail and the cross-fade back to rest
    times = np.arange(int(np.floor(end * fps)) + 1) / fps
    frames = np.empty((len(times), N_CHANNELS), np.float32)
    for i, t in enumerate(times):
        if t >= duration:
            bank.set_talking(slot, False)
        frames[i] = bank.step(float(t))[slot]
    return times, frames
