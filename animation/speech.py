"""Speech: timed Oculus viseme sequences -> coarticulated mouth shapes, for many faces at once.

Each face holds a timeline of keys (absolute time, viseme, weight); key k's segment runs from its time
to the next key's. Coarticulation follows Cohen & Massaro (1993) with compact dominance functions
(data/visemes.toml): inside its own segment a viseme has its full dominance alpha; it reaches into each
neighbouring segment with alpha (1 - smoothstep(d / r))^p. So at any time three visemes blend (previous,
current, next), neighbours bleed into short segments, long ones reach their own shape, and visemes with
high dominance (the bilabials) are not washed out. The mouth is the dominance-weighted mean of their
shapes; `activity` is the non-silent share (how much speech owns the mouth) and `closure` how much a
lip closure is required (the mixer then closes the lips fully).

Storage per face: key arrays [n_faces, K] with a guard key at index 0 (time -BIG, sil) and three padding
keys after the last, so the window never needs bounds checks. A cursor per face advances monotonically;
a step touches only the faces that are speaking or cross-fading. Splicing a new timeline keeps the keys
before its start, and every splice cross-fades from the mouth shown at that moment, so a new sentence,
an interruption or a clear never snaps the mouth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from animation.kernels import smoothstep
from animation.rows import RowArrays
from animation.visemes import CLOSES, COARTICULATION, DOMINANCE, N_SPEECH, SHAPES, SIL, SPEAKS

C = COARTICULATION
BIG = 1e9  # guard time: finite, so differences never make inf - inf
PAD = 3  # padding keys after the last one
_ONES3 = np.ones(3, np.float32)
_DOMINANCE = DOMINANCE.astype(np.float32)
_SPEAKS = SPEAKS.astype(np.float32)
_CLOSES = CLOSES.astype(np.float32)


@dataclass
class Speech(RowArrays):
    times: np.ndarray  # [n, K] absolute key times (guard, keys, padding)
    vis: np.ndarray  # [n, K] viseme index
    weight: np.ndarray  # [n, K] amplitude of each key's shape
    length: np.ndarray  # [n] keys in use, guard included, padding excluded
    cursor: np.ndarray  # [n] index of the current key (the one whose segment holds the last step)
    begin: np.ndarray  # [n] time of the first key after the guard
    end: np.ndarray  # [n] when the final sil has run its tail: speech lets go of the mouth
    # The current segment, cached when the cursor moves (every ~0.1 s, not every frame):
    seg_t0: np.ndarray  # [n] its start and end
    seg_t1: np.ndarray
    seg_r: np.ndarray  # [n] how far the neighbours reach into it
    seg_vis: np.ndarray  # [n, 3] previous, current and next viseme
    seg_w: np.ndarray  # [n, 3] and their weights
    xf_start: np.ndarray  # [n] start of the current cross-fade
    xf_rate: np.ndarray  # [n] 1 / its duration
    xf_from: np.ndarray  # [n, N_SPEECH + 2] output (shape, activity, closure) it starts from
    last: np.ndarray  # [n, N_SPEECH + 2] output at the face's last step (what a cross-fade starts from)

    FILL: ClassVar[dict[str, float]] = {
        "times": -BIG,
        "begin": np.inf,
        "end": -np.inf,
        "xf_start": -np.inf,
        "seg_t1": -np.inf,
        "seg_r": 1.0,
        "xf_rate": 1.0,
    }

    @classmethod
    def empty(cls, n: int, width: int = 16) -> Speech:
        f64, f32 = np.float64, np.float32
        s = cls(
            np.zeros((0, width), f64),
            np.zeros((0, width), np.intp),
            np.zeros((0, width), f32),
            np.zeros(0, np.intp),
            np.zeros(0, np.intp),
            *(np.zeros(0, f64) for _ in range(5)),
            np.zeros((0, 3), np.intp),
            np.zeros((0, 3), f32),
            np.zeros(0, f64),
            np.zeros(0, f64),
            np.zeros((0, N_SPEECH + 2), f32),
            np.zeros((0, N_SPEECH + 2), f32),
        )
        s.grow(n)
        return s

    def reset(self, row: int) -> None:
        super().reset(row)
        self.length[row] = 1  # just the guard key (time -BIG, sil)

    def resize(self, n: int) -> None:
        old = len(self)
        super().resize(n)
        self.length[old:] = 1

    def fit(self, rows: int, least: int = 16) -> None:
        """Narrow the key arrays once the first `rows` faces' timelines fit in a quarter of them: one long
        reply must not keep every face's row wide. Keys past a row's padding are never read."""
        width = self.times.shape[1]
        need = max(least, int(self.length[:rows].max(initial=1)) + PAD)
        if 4 * need <= width:
            for name in ("times", "vis", "weight"):  # copies: the step indexes them flat (contiguous)
                setattr(self, name, getattr(self, name)[:, : 2 * need].copy())

    def _widen(self, k: int) -> None:
        """Room for k keys per face (x2 growth)."""
        width = self.times.shape[1]
        if k <= width:
            return
        new = max(k, 2 * width)
        for name, fill in (("times", -BIG), ("vis", SIL), ("weight", 0.0)):
            old = getattr(self, name)
            arr = np.full((old.shape[0], new), fill, dtype=old.dtype)
            arr[:, :width] = old
            setattr(self, name, arr)


def speaking(sp: Speech, row: int, t: float) -> bool:
    return bool(sp.begin[row] <= t < sp.end[row])


def splice(
    sp: Speech,
    row: int,
    now: float,
    times: np.ndarray,
    vis: np.ndarray,
    weight: np.ndarray,
    fade: float = C["crossfade"],
) -> None:
    """Make keys (absolute, strictly increasing times; last one sil) the face's timeline from times[0] on.

    Keys of the current timeline before times[0] are kept (a sentence queued after the one playing); a
    finished timeline is dropped, and one starting from rest gets the anticipation lead-in. The mouth
    cross-fades from what the face showed at `now` (its last step) over `fade` seconds.
    """
    busy = speaking(sp, row, now) or (now - sp.xf_start[row]) * sp.xf_rate[row] < 1.0
    sp.xf_from[row] = sp.last[row] if busy else 0.0  # what the last step showed
    sp.xf_start[row], sp.xf_rate[row] = now, 1.0 / fade
    t_new = float(times[0])
    old_t = sp.times[row, : int(sp.length[row])]
    if now < sp.end[row]:
        lo = max(1, int(sp.cursor[row]) - 1)  # keep the previous key: the window still needs it
        hi = max(lo, int(np.searchsorted(old_t, t_new, side="left")))
    else:
        lo = hi = 1
    extra = np.array([t_new - C["lead"]]) if hi == lo else np.zeros(0)  # from rest: lips pre-shape
    tail = float(times[-1]) + C["tail"] * np.arange(1, PAD + 1)
    all_t = np.concatenate([[-BIG], old_t[lo:hi], extra, times, tail])
    all_v = np.concatenate([[SIL], sp.vis[row, lo:hi], np.full(extra.size, SIL), vis, np.full(PAD, SIL)])
    all_w = np.concatenate([[0.0], sp.weight[row, lo:hi], np.zeros(extra.size), weight, np.zeros(PAD)])
    n = all_t.size - PAD
    sp._widen(all_t.size)
    sp.times[row, : all_t.size] = all_t
    sp.vis[row, : all_t.size] = all_v
    sp.weight[row, : all_t.size] = all_w
    sp.length[row] = n
    sp.begin[row] = all_t[1]
    sp.end[row] = all_t[n]  # the first padding key: the final sil plus its tail
    sp.cursor[row] = max(0, int(np.searchsorted(all_t[:n], now, side="right")) - 1)
    _cache(sp, np.array([row]))


def _cache(sp: Speech, rows: np.ndarray) -> None:
    """Refresh the cached current segment of rows whose cursor moved."""
    width = sp.times.shape[1]
    base = rows * width
    flat = base + sp.cursor[rows]
    times = sp.times.reshape(-1)
    t0, t1 = times[flat], times[flat + 1]
    sp.seg_t0[rows], sp.seg_t1[rows] = t0, t1
    sp.seg_r[rows] = np.minimum(C["reach"], t1 - t0)
    keys = flat[:, None] + np.arange(-1, 2)
    keys[:, 0] = np.maximum(keys[:, 0], base)  # cursor 0 (before the first key): no previous
    sp.seg_vis[rows] = sp.vis.reshape(-1)[keys]
    sp.seg_w[rows] = sp.weight.reshape(-1)[keys]


def _advance(sp: Speech, rows: np.ndarray, t: float) -> None:
    """Move the cursors of rows whose segment ended by t (rarely more than one key per step)."""
    width = sp.times.shape[1]
    times = sp.times.reshape(-1)
    cur = sp.cursor[rows]
    while True:
        nxt = times[rows * width + cur + 1] <= t
        if not nxt.any():
            break
        cur += nxt
    sp.cursor[rows] = cur
    _cache(sp, rows)


def evaluate(sp: Speech, sel: slice | np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """(shape [rows, N_SPEECH], (activity, closure) [rows, 2]) at t for the selected speaking rows.

    The dominance-weighted mean of the previous, current and next visemes: weights alpha x (f0, 1, f2),
    f0 and f2 the neighbours' reach factors (1 - smoothstep(d / r))^p, normalised; the shape is one
    small matmul of the blend weights spread over the 15 visemes with the viseme table.
    """
    vis = sp.seg_vis[sel]
    c = _DOMINANCE[vis]
    # Distances into the current segment from its start and to its end, as fractions of the reach.
    d = np.stack([t - sp.seg_t0[sel], sp.seg_t1[sel] - t], axis=1)
    d /= sp.seg_r[sel][:, None]
    f = 1.0 - smoothstep(d)
    c[:, ::2] *= f * f if C["sharpness"] == 2.0 else f ** C["sharpness"]
    # A speaking face's current viseme has alpha > 0, so the sum is positive; the floor only keeps
    # faces that are not speaking (evaluated in the all-faces path, then zeroed) free of NaN.
    c /= np.maximum(c @ _ONES3, 1e-12)[:, None]
    aux = np.empty((c.shape[0], 2), np.float32)
    aux[:, 0] = (c * _SPEAKS[vis]) @ _ONES3
    lo, hi = C["closure"]
    aux[:, 1] = smoothstep(((c * _CLOSES[vis]) @ _ONES3 - lo) * (1.0 / (hi - lo)))
    c *= sp.seg_w[sel]
    # Spread the three blend weights over the 15 visemes (bincount sums repeats), then one matmul.
    m, n_vis = c.shape[0], len(SHAPES)
    idx = np.arange(0, m * n_vis, n_vis)[:, None] + vis
    spread = np.bincount(idx.ravel(), weights=c.ravel(), minlength=m * n_vis)
    return spread.reshape(m, n_vis).astype(np.float32) @ SHAPES, aux


def step_speech(
    sp: Speech, t: float, active: np.ndarray
) -> tuple[slice | np.ndarray, np.ndarray, np.ndarray]:
    """(rows, shape [rows, N_SPEECH], (activity, closure) [rows, 2]) for faces speaking or cross-fading
    at t. rows is slice(None) (every face: those not speaking get zeros, which the mixer leaves
    untouched) when most faces speak, else an index array."""
    on = (sp.begin <= t) & (t < sp.end) & active
    moved = np.flatnonzero(on & (sp.seg_t1 <= t))
    if moved.size:
        _advance(sp, moved, t)
    fading = ((t - sp.xf_start) * sp.xf_rate < 1.0) & active
    busy = on | fading
    n_busy = int(np.count_nonzero(busy))
    if n_busy == 0:
        return np.zeros(0, np.intp), np.zeros((0, N_SPEECH), np.float32), np.zeros((0, 2), np.float32)
    sel: slice | np.ndarray = slice(None) if 2 * n_busy > busy.size else np.flatnonzero(busy)
    shape, aux = evaluate(sp, sel, t)
    live = on[sel]
    if not live.all():
        shape[~live] = 0.0
        aux[~live] = 0.0
    fade = fading[sel]
    if fade.any():
        f = np.flatnonzero(fading) if isinstance(sel, slice) else sel[fade]
        s = smoothstep((t - sp.xf_start[f]) * sp.xf_rate[f]).astype(np.float32)[:, None]
        src = sp.xf_from[f] * (1.0 - s)
        shape[fade] = src[:, :N_SPEECH] + shape[fade] * s
        aux[fade] = src[:, N_SPEECH:] + aux[fade] * s
    # Kept for the next splice's cross-fade (faces that stopped speaking keep their last, zero, output).
    sp.last[sel, :N_SPEECH] = shape
    sp.last[sel, N_SPEECH:] = aux
    return sel, shape, aux


def clear(sp: Speech, row: int, now: float) -> None:
    """Stop speaking from `now`: a final sil at now, the mouth easing back over `release` seconds."""
    if now < sp.end[row]:
        splice(sp, row, now, np.array([now]), np.array([SIL]), np.zeros(1, np.float32), C["release"])
