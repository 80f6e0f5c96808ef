"""Place of articulation for audio-only lip-sync (animation.lipsync): which closures shut the lips.

Only p/b/m shut the lips; t/d/k/g/n close the tract with the tongue. Two steps, numpy only:

- nasal murmurs among the frames first labelled vowels: voiced, weaker than the speech around them, their
  energy below 500 Hz with little at 1-3 kHz (Fujimura 1962). A rounded close vowel such as /u/ shares
  that balance and the weakness (its F2 is low and it fades into a following closure), so a murmur must
  also be set off from every vowel next to it by the nasal's own boundary: the 1-3 kHz band jumps by
  MID_JUMP or more within 30 ms while the band below 500 Hz stays nearly level (the velum opens or closes
  the side branch while the oral tract shuts or opens: Fujimura 1962; Stevens 1998, Acoustic Phonetics,
  ch. 9; used to find nasals in running speech by Mermelstein 1977). A vowel fading into a stop closure
  loses the low band as well, and /u/ inside a word has no such jump. Frames that look like a murmur but
  lack its boundaries (a nasal or /l/ missed, or the end of a /u/) are not labelled rounded;
- the place of each stop closure and murmur, from its release: the burst spectrum (Stevens & Blumstein
  1978: a labial burst is diffuse and falling, an alveolar one diffuse and rising, a velar one compact;
  the same holds at a nasal's release, Kurowski & Blumstein 1987) and the F2 transition out of it
  (labials have a low F2 locus, ~700 Hz, so F2 rises into the vowel; alveolars start near 1800 Hz:
  Delattre, Liberman & Cooper 1955). Labial -> PP; otherwise DD (stops) or nn (nasals), lips apart.

Thresholds were set on Piper sentences that the tests do not use.
"""

from __future__ import annotations

import numpy as np

from animation.lipsync_features import Features, robust_z, runs
from animation.visemes import VISEME_INDEX

BURST_TILT = -16.0  # dB, 3.5-8 kHz over 0.5-2.5 kHz at the release: below it falling (labial)
F2_RISE = 20.0  # dB of burst tilt that one z unit of F2 rise after the release is worth
MURMUR = -17.0  # dB, 1-3 kHz over 60-500 Hz: below it a voiced frame may be a nasal murmur
MURMUR_DEPTH = 7.0  # dB below the surrounding speech, at least
MID_JUMP = 8.0  # dB: at a murmur's boundary with a vowel the 1-3 kHz band jumps by this much or more
LOW_STEADY = 5.0  # dB: ... while the 60-500 Hz band changes by no more than this
EDGE = 3  # frames (30 ms) either side of a boundary over which the jump is measured
_V = VISEME_INDEX
VOWELS = [_V[v] for v in ("aa", "E", "ih", "oh", "ou")]


def place(f: Features, labels: np.ndarray) -> None:
    """Relabel in place: stop closures (PP from classify) -> PP or DD, nasal murmurs -> PP or nn."""
    vowel = np.isin(labels, VOWELS)
    candidate = vowel & (f.murmur < MURMUR) & (f.depth > MURMUR_DEPTH)
    nasal = [(a, b) for a, b in runs(candidate) if _murmur(f, vowel, a, b)]
    z_f2 = robust_z(np.log(f.f2), vowel & ~candidate)
    for a, b in runs(labels == _V["PP"]):
        labels[a:b] = _V["PP"] if _labial(f, z_f2, b) else _V["DD"]
    for a, b in nasal:
        labels[a:b] = _V["PP"] if _labial(f, z_f2, b) else _V["nn"]
    # The rest look rounded too (weak, little above 1 kHz) but may be a nasal or /l/ as well as the fading
    # end of a /u/: not rounded (E), so a nasal after /i/ does not pucker it; a /u/ stays rounded around it.
    for a, b in nasal:
        candidate[a:b] = False
    labels[candidate & np.isin(labels, [_V["ou"], _V["oh"]])] = _V["E"]


def _murmur(f: Features, vowel: np.ndarray, a: int, b: int) -> bool:
    """Whether frames a..b are a nasal murmur: 30 ms or longer, and every side that meets a vowel is a
    nasal boundary (1-3 kHz jumps, 60-500 Hz level); at least one side meets a vowel."""
    n = len(f)
    if b - a < 3:
        return False
    sides = []
    if a > 0 and vowel[a - 1]:
        sides.append((slice(max(a - EDGE, 0), a), slice(a, min(a + 2, b))))
    if b < n and vowel[b]:
        sides.append((slice(b, min(b + EDGE, n)), slice(max(b - 2, a), b)))
    if not sides:
        return False
    for out, inside in sides:
        k = out.start + int(np.argmax(f.mid[out]))  # the vowel's strongest frame next to the boundary
        if f.mid[k] - f.mid[inside].mean() < MID_JUMP or abs(f.low[k] - f.low[inside].mean()) > LOW_STEADY:
            return False
    return True


def _labial(f: Features, z_f2: np.ndarray, b: int) -> bool:
    """Whether the closure or murmur ending at frame b was labial: a falling release spectrum, and F2
    rising over the next 80 ms from a low locus (z_f2: log F2 z-scored over the vowels)."""
    burst = float(f.burst[b]) if b < len(f) else BURST_TILT
    out, later = z_f2[b : b + 3], z_f2[b + 4 : b + 8]
    out, later = out[np.isfinite(out)], later[np.isfinite(later)]
    rise = float(np.median(later) - np.median(out)) if out.size and later.size else 0.0
    return BURST_TILT - burst + F2_RISE * rise >= 0.0
