"""Emotion intensity envelopes: onset, hold and decay, for many faces x emotions at once.

Each (face, emotion) pair is a critically damped spring chasing a piecewise-constant target:

    target(t) = pre       for t < start      (what was in force before the latest cue)
              = peak      for start <= t < hold_end
              = baseline  afterwards          (0 today; a mood layer can raise it later)

A critically damped spring never overshoots from rest and has continuous position and velocity,
so a new cue of the same emotion retargets without a pop. The onset uses a stiff spring (~0.3 s to
95 %), the decay a soft one (a few seconds), as facial actions rise fast and fade slowly.

The step integrates the spring *exactly* over each constant-target segment, so results do not
depend on frame rate and a long server stall just lands on the right value. All functions are
pure in the sense of the project: state arrays in, state arrays out (updated in place), time as a
float argument, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

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
    # Within this of the target (and nearly still) the level snaps onto it exactly, so an idle face
    # produces bitwise-constant frames and the wire's delta encoder sends nothing.
    snap_eps: float = 1e-4
    snap_speed: float = 1e-2


DEFAULT_PARAMS = EnvelopeParams()


@dataclass
class Envelopes(RowArrays):
    """Spring state for [n_faces, n_emotions]; float64 so long holds do not drift."""

    level: np.ndarray  # current intensity 0..1
    vel: np.ndarray  # d level / dt, per second
    pre: np.ndarray  # target before `start`
    peak: np.ndarray  # target from `start` until `hold_end`
    start: np.ndarray  # seconds
    hold_end: np.ndarray  # seconds (may be +inf: held until released)
    baseline: np.ndarray  # target after `hold_end`

    # No cue yet: start and hold_end in the distant past, so the target is the baseline.
    FILL: ClassVar[dict[str, float]] = {"start": -np.inf, "hold_end": -np.inf}

    @classmethod
    def zeros(cls, n_faces: int, n_emotions: int) -> Envelopes:
        """n_faces faces at rest on neutral."""
        return cls(**{f.name: np.full((n_faces, n_emotions), cls.FILL.get(f.name, 0.0)) for f in fields(cls)})


def spring(
    x: np.ndarray, v: np.ndarray, target: np.ndarray, omega: np.ndarray, dt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact critically damped spring: x(t) = target + (e + (v + w e) t) e^(-w t), e = x - target."""
    e = x - target
    c = v + omega * e
    decay = np.exp(-omega * dt)
    return target + (e + c * dt) * decay, (v - omega * c * dt) * decay


def target_at(
    env: Envelopes, t: float | np.ndarray, rows: slice | np.ndarray | int = slice(None)
) -> np.ndarray:
    """Target in force at time t for the given rows ([.., n_emotions])."""
    return np.where(
        t < env.start[rows],
        env.pre[rows],
        np.where(t < env.hold_end[rows], env.peak[rows], env.baseline[rows]),
    )


def _segment(env: Envelopes, target: np.ndarray, dt: np.ndarray, params: EnvelopeParams) -> None:
    moving = dt > 0.0
    if not np.any(moving):
        return
    above = target < env.level
    # A target now below the level drops any upward momentum: otherwise the soft fade spring would
    # coast on the onset's speed (joy rising at 0.8, retargeted to 0.3, would sail on to 1.0 first).
    env.vel = np.where(moving & above & (env.vel > 0.0), 0.0, env.vel)
    # Stiff spring when rising toward the target, soft when falling: fast onset, slow fade.
    omega = np.where(above, params.release_omega, params.attack_omega)
    level, vel = spring(env.level, env.vel, target, omega, dt)
    # Untouched where dt == 0: target + (x - target) need not give back x bit for bit.
    env.level = np.where(moving, level, env.level)
    env.vel = np.where(moving, vel, env.vel)


def advance(env: Envelopes, t0: np.ndarray, t1: float, params: EnvelopeParams = DEFAULT_PARAMS) -> None:
    """Advance every row from its own time t0 ([n_faces]) to t1, in place. Rows with t0 >= t1 stay put."""
    t0c = np.minimum(t0, t1)[:, None]
    b1 = np.clip(env.start, t0c, t1)  # the cue's start, within this step
    b2 = np.clip(env.hold_end, b1, t1)  # the end of its hold, within this step
    _segment(env, env.pre, b1 - t0c, params)
    _segment(env, env.peak, b2 - b1, params)
    _segment(env, env.baseline, t1 - b2, params)
    # Levels are intensities: keep them in [0, 1] even if a retarget mid-flight overshoots slightly.
    over = (env.level < 0.0) | (env.level > 1.0)
    if np.any(over):
        env.level = np.clip(env.level, 0.0, 1.0)
        env.vel[over] = 0.0
    final = target_at(env, t1)
    snap = (np.abs(env.level - final) < params.snap_eps) & (np.abs(env.vel) < params.snap_speed)
    env.level[snap] = final[snap]
    env.vel[snap] = 0.0


def cue(env: Envelopes, row: int, emotion: int, peak: float, t: float, hold: float) -> None:
    """Start (or retarget) one emotion of one face at time t: rise to `peak`, hold, then decay.

    t must not be earlier than the row's last step (the caller clamps): the past is already drawn.
    """
    env.pre[row, emotion] = target_at(env, t, row)[emotion]
    env.start[row, emotion] = t
    env.peak[row, emotion] = peak
    env.hold_end[row, emotion] = t + hold


def release(env: Envelopes, row: int, t: float, emotions: np.ndarray | slice = slice(None)) -> None:
    """From time t on, the given emotions of one face decay to baseline (current motion is kept)."""
    env.pre[row, emotions] = target_at(env, t, row)[emotions]
    env.start[row, emotions] = t
    env.hold_end[row, emotions] = t


def max_onset_step(dt: float, params: EnvelopeParams = DEFAULT_PARAMS) -> float:
    """Largest change of a unit-intensity level over dt seconds from rest (for smoothness checks)."""
    w = params.attack_omega
    # The attack curve's speed peaks at w/e (at t = 1/w); the curve is concave after that.
    return min(1.0, w / math.e * dt)
