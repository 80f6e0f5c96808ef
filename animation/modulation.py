"""Shaping a blend of emotions before it reaches the face: contrast and maximum simultaneous emotions.

Both act on effective emotion strengths w [n_faces, n_emotions] (envelope x gain), in place, and only on
the rows that need them (more emotions than allowed, or a contrast other than 1), so the common case
costs a mask and nothing else. Both are continuous in w: an emotion crossing a rank or a control moving
never makes the face pop (the envelopes and the bank's slew limit smooth what is left).
"""

from __future__ import annotations

import numpy as np

from animation.kernels import clip

# An emotion must lead the first hidden one by this much strength to show fully; closer ones show in
# proportion. A hard cut would pop when two emotions swap ranks; this ramps them across instead.
GATE_SOFTNESS = 0.1


def contrast_curve(s: np.ndarray, k: np.ndarray) -> np.ndarray:
    """s / (s + k (1 - s)) for s in [0, 1]: 0 -> 0, 1 -> 1, slope 1/k at 0 (k > 0)."""
    return s / (s + k * (1.0 - s))


def modulate(
    w: np.ndarray,
    max_n: np.ndarray,
    k: np.ndarray,
    contrast_rows: np.ndarray,
    softness: float = GATE_SOFTNESS,
) -> None:
    """Contrast, then keep only each row's max_n strongest emotions; in place on w (float32).

    Contrast: with m the row's strongest strength and s = w / m, each emotion becomes m * s / (s + k (1 - s)):
    the strongest keeps its strength, others are pushed down (k > 1) or pulled up toward it (k < 1), zero
    stays zero. k: [n_faces]; contrast_rows: the rows with k != 1.

    Maximum emotions (max_n: int [n_faces], >= 1): each emotion is scaled by clip((w - h) / min(softness, h),
    0, 1), h the row's (max_n + 1)-th largest strength. Everything at or below rank max_n + 1 vanishes,
    clear leaders are untouched, a near tie at the cut-off shows both partly, and as h -> 0 the gate opens
    fully (so an emotion appearing or fading at the cut-off never jumps).
    """
    n_emotions = w.shape[1]
    counts = (w > 0.0).astype(np.float32) @ np.ones(n_emotions, np.float32)
    over = counts > max_n
    if contrast_rows.size:
        over[contrast_rows] = True
    rows = np.flatnonzero(over)
    if rows.size == 0:
        return
    sub = w[rows]
    ranked = np.sort(sub, axis=1)  # ascending; one sort serves both the max and the cut-off
    top = ranked[:, -1:]
    hidden = ranked[np.arange(rows.size), n_emotions - 1 - np.minimum(max_n[rows], n_emotions - 1)][:, None]
    if contrast_rows.size:
        kk = k[rows, None].astype(np.float32)
        inv = 1.0 / np.maximum(top, np.float32(1e-30))
        sub = top * contrast_curve(sub * inv, kk)
        hidden = top * contrast_curve(hidden * inv, kk)  # contrast keeps ranks: the cut-off maps along
    # softness min(softness, h): with h = 0 (no more emotions than allowed) the gate is fully open.
    soft = np.maximum(np.minimum(hidden, np.float32(softness)), np.float32(1e-30))
    gate = (sub - hidden) / soft
    w[rows] = sub * clip(gate, 0.0, 1.0, out=gate)
