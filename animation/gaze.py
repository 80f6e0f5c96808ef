"""Gaze: fixations and saccades, in listening / thinking / speaking / idle modes, for many faces at once.

A face's gaze is a direction (h, v) in degrees from looking straight at the viewer (+h toward the
subject's left, +v up). It holds still during a fixation and jumps in a saccade lasting tens of ms
(main sequence), so on the wire the eyes cost bytes only for a frame or two per shift. Where the next
fixation goes and how long it lasts depends on the face's conversation state (data/states.toml). The
head takes a small, slower share of each shift (eye-head coordination). The mixer turns the direction
into the eyeLook* channels, which gaze owns.

Thinking is gaze aversion: the first fixation after entering the state is away (up and to the side), to
the side each face habitually looks (drawn once per face), held with small saccades near that place,
with an occasional glance back; the first fixation after leaving it is on the viewer again. The head
turns with the eyes by its usual share. Gaze writes only the eyeLook* channels and its share of the head
pose, so it never touches the lids (blinks) or the mouth (lip-sync).

State per face is kept as 4-vectors (eye h, eye v, head h, head v), so a step eases every face's eyes
and head with a handful of whole-array operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from animation import states as st
from animation.kernels import clip, smoothstep
from animation.rows import RowArrays

G = st.GAZE
_EASE = np.array([0, 0, 1, 1])  # eye columns follow the saccade's ease, head columns the head's


@dataclass
class Gaze(RowArrays):
    """Per-face saccade state; angles in degrees, times in seconds."""

    origin: np.ndarray  # [n, 4] (eye h, eye v, head h, head v) where the current shift started
    delta: np.ndarray  # [n, 4] the shift: target - origin
    start: np.ndarray  # [n] when it started
    rate: np.ndarray  # [n, 2] 1 / duration of the eye's and the head's part
    next_at: np.ndarray  # [n] when the next saccade is due
    away: np.ndarray  # [n] 1.0 while fixating away from the viewer
    side: np.ndarray  # [n] +1 / -1: the side (h sign) this face's thinking aversions prefer
    fresh: np.ndarray  # [n] 1.0 until the first saccade after a state change

    FILL: ClassVar[dict[str, float]] = {"start": -np.inf, "rate": 1.0, "next_at": np.inf, "side": 1.0}

    @classmethod
    def empty(cls, n: int) -> Gaze:
        z1, z2, z4 = np.zeros(0), np.zeros((0, 2)), np.zeros((0, 4))
        g = cls(z4, z4.copy(), z1, z2, z1.copy(), z1.copy(), z1.copy(), z1.copy())
        g.grow(n)
        return g


def position(g: Gaze, rows: slice | np.ndarray, t: float) -> np.ndarray:
    """(eye h, eye v, head h, head v) in degrees at time t for the given rows, [rows, 4]."""
    ease = smoothstep((t - g.start[rows])[:, None] * g.rate[rows])
    return g.origin[rows] + g.delta[rows] * ease[:, _EASE]


def start(g: Gaze, row: int, t: float, rng: np.random.Generator) -> None:
    """A new face: looking at the viewer, first shift soon (faces do not start in step), its side drawn."""
    g.reset(row)
    u = rng.random(2)
    g.next_at[row] = t + u[0] * (G["fix_min"] + 1.0)
    g.side[row] = 1.0 if u[1] < 0.5 else -1.0


def hurry(g: Gaze, row: int, t: float, rng: np.random.Generator) -> None:
    """The state changed: move to the new mode's first target (data/states.toml p_enter) after a short
    latency."""
    g.next_at[row] = min(g.next_at[row], t + rng.uniform(*G["latency"]))
    g.fresh[row] = 1.0


# Per state: p_viewer, p_back, fix_viewer, fix_away, away h low, away v low, away h span, away v span,
# p_enter, p_side, hold_sd.
_TABLE = np.stack(
    [
        st.P_VIEWER,
        st.P_BACK,
        st.FIX_VIEWER,
        st.FIX_AWAY,
        st.AWAY_H[:, 0],
        st.AWAY_V[:, 0],
        st.AWAY_H[:, 1] - st.AWAY_H[:, 0],
        st.AWAY_V[:, 1] - st.AWAY_V[:, 0],
        st.P_ENTER,
        st.P_SIDE,
        st.HOLD_SD,
    ],
    axis=1,
)
_FACE_SD = np.array([G["face_sd_h"], G["face_sd_v"]])
_FACE_MEAN = np.array([0.0, G["face_mean_v"]])
_FACE_LO = np.array([-G["face_max"], G["face_mean_v"] - G["face_max"]])
_FACE_HI = np.array([G["face_max"], G["face_mean_v"] + G["face_max"]])
# A fixation target (h, v) -> the 4-vector goal: the eyes go there, the head takes its share.
_GOAL = np.array([[1.0, 0.0, G["head_share"], 0.0], [0.0, 1.0, 0.0, G["head_share"]]])


def _targets(
    g: Gaze, due: np.ndarray, state: np.ndarray, now: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Next fixation (h, v) [k, 2] of the due rows, its mean duration [k] and whether it is on the viewer [k].

    now: the rows' current eye direction [k, 2]. On the viewer: a point on the face. Away: a fresh point in
    the state's ranges, on the face's preferred side with chance p_side; or, when already away in a state
    with hold_sd, a small saccade from where the eyes are, kept in the ranges and on the same side.
    """
    k = state.size
    tab = _TABLE[state]
    away, fresh = g.away[due] > 0.0, g.fresh[due] > 0.0
    u = rng.random((k, 4))
    p_viewer = np.where(fresh, tab[:, 8], np.where(away, tab[:, 1], tab[:, 0]))
    viewer = u[:, 0] < p_viewer
    face = clip(rng.normal(_FACE_MEAN, _FACE_SD, (k, 2)), _FACE_LO, _FACE_HI)
    lo, span = tab[:, 4:6], tab[:, 6:8]
    aside = lo + span * u[:, 2:4]
    side = np.where(u[:, 1] < tab[:, 9], g.side[due], -g.side[due])
    hold = away & ~fresh & (tab[:, 10] > 0.0)
    if hold.any():
        near = now[hold] + rng.normal(0.0, 1.0, (int(hold.sum()), 2)) * tab[hold, 10:11]
        side[hold] = np.where(now[hold, 0] < 0.0, -1.0, 1.0)
        size = np.stack([np.abs(near[:, 0]), near[:, 1]], 1)  # |h| and v, the side applied below
        aside[hold] = clip(size, lo[hold], lo[hold] + span[hold])
    aside[:, 0] *= side
    target = np.where(viewer[:, None], face, aside)
    return target, np.where(viewer, tab[:, 2], tab[:, 3]), viewer


def step_gaze(
    g: Gaze, t: float, active: np.ndarray, state: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Start the saccades due by t; return every face's (eye h, eye v, head h, head v), [n, 4] degrees."""
    due = np.flatnonzero(active & (g.next_at <= t))
    if due.size:
        now = position(g, due, t)
        target, mean, viewer = _targets(g, due, state[due], now[:, :2], rng)
        step = target - now[:, :2]
        dur = G["saccade_base"] + G["saccade_per_degree"] * np.sqrt(step * step @ (1.0, 1.0))
        # Keep the sub-frame phase, but a saccade overdue by a stall starts no earlier than one saccade ago.
        s0 = np.maximum(g.next_at[due], t - dur)
        lo, shape = G["fix_min"], G["fix_shape"]
        fix = lo + rng.standard_gamma(shape, due.size) * (mean - lo) * (1.0 / shape)
        g.origin[due], g.delta[due] = now, target @ _GOAL - now
        g.start[due], g.rate[due] = s0, np.stack([1.0 / dur, np.full(due.size, 1.0 / G["head_duration"])], 1)
        g.away[due], g.fresh[due] = ~viewer, 0.0
        g.next_at[due] = s0 + dur + fix
    return position(g, slice(None), t)
