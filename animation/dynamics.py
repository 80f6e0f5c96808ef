"""Emotion intensity envelopes: onset, hold and decay toward a mood baseline, for many faces x emotions.

Each (face, emotion) pair is a critically damped spring chasing a piecewise-constant target:

    target(t) = (previous target)  for t < start
              = peak               for start <= t < hold_end
              = baseline           afterwards          (the face's mood: 0 except for the mood emotion)

A critically damped spring never overshoots from rest and has continuous position and velocity, so
a new cue of the same emotion retargets without a pop. The onset uses a stiff spring (~0.3 s to 95 %),
the decay a soft one (a few seconds), as facial actions rise fast and fade slowly. A cue with a short
hold is a micro-expression: both springs are much faster, so it flashes and is gone in ~0.5 s
(micro-expressions last 1/25 to 1/2 s: Ekman 2003, Emotions Revealed; Yan, Wu, Liang et al. 2013,
"How fast are the leaked facial expressions: the duration of micro-expressions", J. Nonverbal Behav.).
A per-face speed factor (the smoothing control) scales every spring.

The spring is solved in closed form. Each pair keeps an *anchor*: the target and spring constant of its
current segment and the segment's start state, so at any time in the segment

    level(t) = target + (e0 + c0 tau) exp(-omega tau),   tau = t - ts,   e0 = x(ts) - target,
                                                         c0 = v(ts) + omega e0.

A step only evaluates this (a handful of whole-array operations); a pair is re-anchored, exactly at the
boundary's time, when its target changes: a cue's start or hold end inside the step (the few pairs
whose `next_at` falls in it), or an API call. Results are therefore independent of frame rate, and a
long server stall just lands on the right value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from animation.kernels import clip
from animation.rows import RowArrays


@dataclass(frozen=True)
class EnvelopeParams:
    # omega 15/s: x(t) = 1 - (1 + wt) e^-wt reaches 94 % at 0.3 s; peak speed w/e = 5.5/s, so
    # at most 0.18 of the cue intensity per 30 fps frame.
    attack_omega: float = 15.0
    # omega 2.5/s: from a held level the decay is 60 % done at 1.2 s, 96 % at 2 s, snaps at ~4.7 s.
    release_omega: float = 2.5
    # Hold time when a cue gives none: long enough to read during a sentence (~2.5 s).
    default_hold: float = 2.5
    # Cues held shorter than this are micro-expressions: onset 80 % in 0.1 s, gone (< 5 %) 0.3 s after.
    micro_hold: float = 0.5
    micro_attack_omega: float = 30.0
    micro_release_omega: float = 15.0
    # Within this of the target (and nearly still) the level snaps onto it exactly, so an idle face
    # produces bitwise-constant frames and the wire's delta encoder sends nothing.
    snap_eps: float = 1e-4
    snap_speed: float = 1e-2


DEFAULT_PARAMS = EnvelopeParams()


@dataclass
class Envelopes(RowArrays):
    """Spring state [n_faces, n_emotions]: times in float64 (clocks run for hours), the rest float32."""

    level: np.ndarray  # intensity 0..1 at the last evaluation
    target: np.ndarray  # anchor: target of the current segment
    e0: np.ndarray  # anchor: level - target at ts
    c0: np.ndarray  # anchor: velocity + omega e0 at ts
    omega: np.ndarray  # anchor: spring constant (speed factor included)
    peak: np.ndarray  # the latest cue's peak
    baseline: np.ndarray  # target after the hold (the mood)
    attack: np.ndarray  # the latest cue's spring constants (normal or micro), before the speed factor
    release: np.ndarray
    ts: np.ndarray  # anchor: segment start, seconds (float64)
    start: np.ndarray  # the latest cue's start and end of hold (may be +inf), float64
    hold_end: np.ndarray
    next_at: np.ndarray  # the pair's next boundary (start or hold_end) after its anchor, or +inf
    speed: np.ndarray  # [n_faces] speed factor (smoothing control)

    # No cue yet: start and hold_end in the distant past, so the target is the baseline.
    FILL: ClassVar[dict[str, float]] = {
        "start": -np.inf,
        "hold_end": -np.inf,
        "next_at": np.inf,
        "speed": 1.0,
        "omega": 1.0,
    }

    @classmethod
    def zeros(cls, n_faces: int, n_emotions: int, params: EnvelopeParams = DEFAULT_PARAMS) -> Envelopes:
        """n_faces faces at rest on neutral."""
        pairs = [np.zeros((0, n_emotions), np.float32) for _ in range(9)]
        times = [np.zeros((0, n_emotions)) for _ in range(4)]
        env = cls(*pairs, *times, np.zeros(0))
        env.fills = {**cls.FILL, "attack": params.attack_omega, "release": params.release_omega}
        env.grow(n_faces)
        return env

    def flat(self, name: str) -> np.ndarray:
        """A field as a 1-D view, for flat (row * n_emotions + emotion) indexing."""
        return getattr(self, name).reshape(-1)


def spring(
    x: np.ndarray, v: np.ndarray, target: np.ndarray, omega: np.ndarray, dt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact critically damped spring: x(t) = target + (e + (v + w e) t) e^(-w t), e = x - target."""
    e = x - target
    c = v + omega * e
    decay = np.exp(-omega * dt)
    return target + (e + c * dt) * decay, (v - omega * c * dt) * decay


def _state(env: Envelopes, idx: np.ndarray, t: object) -> tuple[np.ndarray, np.ndarray]:
    """(level, velocity) of the pairs at flat indices idx at time t (>= their anchor time)."""
    tau = t - env.flat("ts")[idx]
    w, e0, c0 = env.flat("omega")[idx], env.flat("e0")[idx], env.flat("c0")[idx]
    decay = np.exp(-w * tau)
    dev = e0 + c0 * tau
    return env.flat("target")[idx] + dev * decay, (c0 - w * dev) * decay


def _anchor(env: Envelopes, idx: np.ndarray, t: object, target: object) -> None:
    """Re-anchor pairs (flat indices) at time t, from their state then, on a new target."""
    x, v = _state(env, idx, t)
    down = target < x
    # A target below the level drops any upward momentum: otherwise the soft fade spring would coast
    # on the onset's speed (joy rising at 0.8, retargeted to 0.3, would sail on to 1.0 first).
    v[down & (v > 0.0)] = 0.0
    # Stiff spring when rising toward the target, soft when falling: fast onset, slow fade.
    w = np.where(down, env.flat("release")[idx], env.flat("attack")[idx])
    w *= env.speed[idx // env.level.shape[1]]
    e0 = x - target
    env.flat("target")[idx], env.flat("e0")[idx], env.flat("ts")[idx] = target, e0, t
    env.flat("c0")[idx], env.flat("omega")[idx] = v + w * e0, w


def _anchor_one(env: Envelopes, row: int, col: int, t: float, target: float) -> None:
    """_anchor for a single pair, in Python floats: an API call should not pay for array machinery."""
    tau = t - float(env.ts[row, col])
    w, e0, c0 = float(env.omega[row, col]), float(env.e0[row, col]), float(env.c0[row, col])
    decay = math.exp(-w * tau)
    dev = e0 + c0 * tau
    x, v = float(env.target[row, col]) + dev * decay, (c0 - w * dev) * decay
    down = target < x
    if down and v > 0.0:
        v = 0.0
    w = float(env.release[row, col] if down else env.attack[row, col]) * float(env.speed[row])
    e0 = x - target
    env.target[row, col], env.e0[row, col], env.ts[row, col] = target, e0, t
    env.c0[row, col], env.omega[row, col] = v + w * e0, w


def _schedule_one(env: Envelopes, row: int, col: int, t: float) -> None:
    """_schedule for a single pair (a cue), in Python floats."""
    start, hold_end = float(env.start[row, col]), float(env.hold_end[row, col])
    if start <= t:
        target = env.peak[row, col] if hold_end > t else env.baseline[row, col]
        _anchor_one(env, row, col, t, float(target))
        env.next_at[row, col] = hold_end if hold_end > start and hold_end > t else math.inf
    else:
        env.next_at[row, col] = start


def _schedule(env: Envelopes, idx: np.ndarray, t: object) -> None:
    """Anchor pairs whose (new) schedule has a boundary at or before t, and set their next boundary."""
    start, hold_end = env.flat("start")[idx], env.flat("hold_end")[idx]
    held = hold_end > start
    now = start <= t
    if now.any():
        i = idx[now]
        target = np.where(hold_end[now] > t, env.flat("peak")[i], env.flat("baseline")[i])
        _anchor(env, i, t, target)
    env.flat("next_at")[idx] = np.where(~now, start, np.where(held & (hold_end > t), hold_end, np.inf))


def _boundaries(env: Envelopes, t1: float | np.ndarray) -> None:
    """Re-anchor, exactly at their times, the pairs whose next boundary falls at or before t1."""
    next_at = env.flat("next_at")
    due = np.flatnonzero(next_at <= (t1 if np.ndim(t1) == 0 else np.repeat(t1[:, 0], env.level.shape[1])))  # type: ignore[index]
    while due.size:
        b = next_at[due]
        start, hold_end = env.flat("start")[due], env.flat("hold_end")[due]
        began = b == start
        held = began & (hold_end > start)
        _anchor(env, due, b, np.where(held, env.flat("peak")[due], env.flat("baseline")[due]))
        next_at[due] = np.where(held, hold_end, np.inf)
        # A cue that starts and ends within the step needs its second boundary too (rare).
        due = due[held & (hold_end <= (t1 if np.ndim(t1) == 0 else t1[due // env.level.shape[1], 0]))]  # type: ignore[index]


def advance(
    env: Envelopes, t0: np.ndarray, t1: float | np.ndarray, params: EnvelopeParams = DEFAULT_PARAMS
) -> None:
    """Bring every row to t1 (scalar, or [n_faces, 1] per row), in place; t0 ([n_faces]) is unused
    (kept for callers), as the closed form needs only the anchors. Callers keep t1 >= each face's time.
    """
    _boundaries(env, t1)
    tau = np.subtract(t1, env.ts, out=np.empty_like(env.level), casting="same_kind")
    decay = np.multiply(env.omega, tau)
    np.negative(decay, out=decay)
    np.exp(decay, out=decay)
    dev = np.multiply(env.c0, tau, out=tau)
    dev += env.e0
    dev *= decay
    # In place: env may be a view of the bank's live rows. Levels are intensities: keep them in [0, 1]
    # even if a retarget mid-flight overshoots slightly.
    level = np.add(env.target, dev, out=env.level)
    clip(level, 0.0, 1.0, out=level)
    # Snap pairs that have arrived (close and nearly still) onto their target for good: e0 = c0 = 0
    # makes every later evaluation give exactly the target, so a settled face is bitwise constant.
    gap = np.abs(dev)
    near = np.flatnonzero((gap < params.snap_eps) & (gap > 0.0))
    if near.size:
        dev_n, decay_n = dev.reshape(-1)[near], decay.reshape(-1)[near]
        v = (env.flat("c0")[near] - env.flat("omega")[near] * dev_n) * decay_n
        near = near[np.abs(v) < params.snap_speed]
        env.flat("e0")[near] = env.flat("c0")[near] = 0.0
        env.flat("level")[near] = env.flat("target")[near]


def _pairs(env: Envelopes, row: int, cols: np.ndarray) -> np.ndarray:
    return row * env.level.shape[1] + np.asarray(cols, dtype=np.intp)


def cue(
    env: Envelopes,
    row: int,
    emotion: int,
    peak: float,
    t: float,
    hold: float,
    now: float | None = None,
    params: EnvelopeParams = DEFAULT_PARAMS,
) -> None:
    """Start (or retarget) one emotion of one face at time t: rise to `peak`, hold, then decay.

    t must not be earlier than the row's last step `now` (the caller clamps; default t): the past is
    already drawn. A hold shorter than params.micro_hold makes it a micro-expression.
    """
    now = t if now is None else now
    env.start[row, emotion] = t
    env.peak[row, emotion] = peak
    env.hold_end[row, emotion] = t + hold
    micro = hold < params.micro_hold
    env.attack[row, emotion] = params.micro_attack_omega if micro else params.attack_omega
    env.release[row, emotion] = params.micro_release_omega if micro else params.release_omega
    _schedule_one(env, row, emotion, now)


def release(
    env: Envelopes, row: int, t: float, emotions: np.ndarray | slice = slice(None), now: float | None = None
) -> None:
    """From time t on, the given emotions of one face decay to baseline (current motion is kept)."""
    env.start[row, emotions] = t
    env.hold_end[row, emotions] = t
    _schedule(env, _pairs(env, row, np.arange(env.level.shape[1])[emotions]), t if now is None else now)


def set_baseline(
    env: Envelopes, row: int, baseline: np.ndarray, now: float, params: EnvelopeParams = DEFAULT_PARAMS
) -> None:
    """The mood: what every emotion of one face decays back to once its cue's hold is over.

    Moods drift rather than flash: emotions already following the baseline move to the new one on
    the slow (release) spring in both directions, until their next cue.
    """
    env.baseline[row] = baseline
    cols = np.flatnonzero(env.hold_end[row] <= now)
    env.attack[row, cols] = params.release_omega
    env.release[row, cols] = params.release_omega
    _anchor(env, _pairs(env, row, cols), now, env.baseline[row, cols])


def set_speed(env: Envelopes, row: int, speed: float, now: float) -> None:
    """Change one face's spring speed factor from `now` on (re-anchored: no jump)."""
    env.speed[row] = speed
    _anchor(env, _pairs(env, row, np.arange(env.level.shape[1])), now, env.target[row].copy())


def max_onset_step(dt: float, params: EnvelopeParams = DEFAULT_PARAMS, micro: bool = False) -> float:
    """Largest change of a unit-intensity level over dt seconds from rest (for smoothness checks)."""
    w = params.micro_attack_omega if micro else params.attack_omega
    # The attack curve's speed peaks at w/e (at t = 1/w); the curve is concave after that.
    return min(1.0, w / math.e * dt)
