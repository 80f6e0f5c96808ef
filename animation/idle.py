"""Idle life: blinking and a gentle head sway, for many faces at once.

Kept deliberately to FEW channels (the two eyeBlink shapes, eyeWide while a blink is on, and the three
head channels): frames are delta-encoded on the wire at 8 bits per channel with a ~60 byte budget,
so continuous noise on many blendshapes would cost bandwidth every frame. Between blinks every
blendshape this layer touches is left exactly as the expression made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from animation.arkit import INDEX
from animation.rows import RowArrays

L_BLINK, R_BLINK = INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]
L_WIDE, R_WIDE = INDEX["eyeWideLeft"], INDEX["eyeWideRight"]
L_SQUINT, R_SQUINT = INDEX["eyeSquintLeft"], INDEX["eyeSquintRight"]
BLINK_CHANNELS: tuple[int, ...] = (L_BLINK, R_BLINK, L_WIDE, R_WIDE)
# "No second blink" offset: finite (unlike inf) so tau - second never makes inf - inf = NaN.
NO_SECOND = 1e12


@dataclass(frozen=True)
class BlinkParams:
    # Spontaneous blink rate, blinks/min: 17 at rest, 26 in conversation (Bentivoglio, Bressman,
    # Cassetta et al. 1997, "Analysis of blink rate patterns in normal subjects", Mov. Disord. 12(6)).
    rate_rest: float = 17.0
    rate_talking: float = 26.0
    # Lid kinematics: the down phase is faster than the up phase (VanderWerf, Brassinga, Reits et al.
    # 2003, J. Neurophysiol. 89); a full spontaneous blink lasts roughly 0.1-0.4 s. Seconds:
    close: float = 0.09
    closed: float = 0.04
    open: float = 0.16
    scale_lo: float = 0.85  # per-blink duration jitter, so blinks do not look stamped
    scale_hi: float = 1.2
    # Some spontaneous blinks come in quick pairs; a minority, so animation practice uses ~5-10 %.
    double_prob: float = 0.08
    double_gap_lo: float = 0.05
    double_gap_hi: float = 0.15
    # Start-to-start intervals: a refractory part, then a gamma-distributed remainder (inter-blink
    # intervals are right-skewed). The refractory exceeds the longest double blink (~0.85 s).
    refractory: float = 1.0
    gamma_shape: float = 2.0
    # Expression eye closure at which a due blink is skipped (eyes nearly shut already: a blink would
    # only read as a twitch); below it, blinks are shortened in proportion to the closure.
    suppress_closure: float = 0.6
    shorten: float = 0.5
    # How much eyeSquint counts as closure (it narrows the eye from below, not fully).
    squint_closure: float = 0.4

    @property
    def duration(self) -> float:
        return self.close + self.closed + self.open

    def mean_interval(self, talking: np.ndarray) -> np.ndarray:
        """Mean start-to-start interval of blink *events* (a double blink is one event, two blinks)."""
        rate = np.where(talking, self.rate_talking, self.rate_rest)
        return (1.0 + self.double_prob) * 60.0 / rate


DEFAULT_BLINK = BlinkParams()


@dataclass
class Blinks(RowArrays):
    """Blink schedule per face (arrays [n_faces])."""

    next_at: np.ndarray  # when the next blink event is due (seconds)
    start: np.ndarray  # start of the current/last blink
    scale: np.ndarray  # its duration scale
    second: np.ndarray  # offset of the second blink of a pair, NO_SECOND for a single blink

    FILL: ClassVar[dict[str, float]] = {
        "next_at": np.inf,
        "start": -np.inf,
        "scale": 1.0,
        "second": NO_SECOND,
    }

    @classmethod
    def empty(cls, n: int) -> Blinks:
        b = cls(*(np.zeros(0) for _ in range(4)))
        b.grow(n)
        return b


def draw_intervals(
    rng: np.random.Generator, talking: np.ndarray, params: BlinkParams = DEFAULT_BLINK
) -> np.ndarray:
    """Start-to-start intervals for len(talking) blink events, with the right mean rate."""
    rest = params.mean_interval(talking) - params.refractory
    return params.refractory + rng.gamma(params.gamma_shape, rest / params.gamma_shape)


def schedule_first(
    blinks: Blinks, row: int, t: float, rng: np.random.Generator, params: BlinkParams = DEFAULT_BLINK
) -> None:
    """A new face's first blink: a uniform fraction of an interval, so faces are not in step."""
    blinks.reset(row)
    blinks.next_at[row] = t + rng.random() * draw_intervals(rng, np.zeros(1, bool), params)[0]


def retime(blinks: Blinks, row: int, t: float, talking: bool, params: BlinkParams = DEFAULT_BLINK) -> None:
    """Talking changed: stretch the wait for the pending blink by the ratio of mean intervals."""
    old, new = params.mean_interval(np.array([not talking, talking]))
    if np.isfinite(blinks.next_at[row]) and blinks.next_at[row] > t:
        blinks.next_at[row] = t + (blinks.next_at[row] - t) * new / old


def lid(tau: np.ndarray, scale: np.ndarray, params: BlinkParams = DEFAULT_BLINK) -> np.ndarray:
    """Blink lid closure 0..1 at tau seconds after a blink's start; exactly 0 outside the blink."""
    c, h, o = params.close * scale, params.closed * scale, params.open * scale
    u_close = np.clip(tau / c, 0.0, 1.0)
    u_open = np.clip((tau - c - h) / o, 0.0, 1.0)
    # Smoothstep ease: lids accelerate and decelerate; value 1 during the closed phase.
    down = u_close * u_close * (3.0 - 2.0 * u_close)
    up = u_open * u_open * (3.0 - 2.0 * u_open)
    out = down * (1.0 - up)
    return np.where((tau >= 0.0) & (tau < c + h + o), out, 0.0)


def expression_closure(frame: np.ndarray, params: BlinkParams = DEFAULT_BLINK) -> np.ndarray:
    """How shut the expression already holds the eyes, 0..1 per face (mean of both eyes)."""
    left = frame[:, L_BLINK] + params.squint_closure * frame[:, L_SQUINT]
    right = frame[:, R_BLINK] + params.squint_closure * frame[:, R_SQUINT]
    return np.clip(0.5 * (left + right), 0.0, 1.0)


def step_blinks(
    blinks: Blinks,
    t: float,
    active: np.ndarray,
    talking: np.ndarray,
    closure: np.ndarray,
    rng: np.random.Generator,
    params: BlinkParams = DEFAULT_BLINK,
) -> np.ndarray:
    """Start the blinks that came due by t and return each face's blink lid closure at t ([n])."""
    due = np.flatnonzero(active & (blinks.next_at <= t))
    if due.size:
        # Keep the blink's sub-frame phase; one overdue by more than its closing phase (a stalled
        # server) is started mid-close, so it still shows instead of vanishing between frames.
        start = np.maximum(blinks.next_at[due], t - params.close)
        cl = closure[due]
        go = due[cl < params.suppress_closure]
        k = go.size
        scale = rng.uniform(params.scale_lo, params.scale_hi, k) * (1.0 - params.shorten * closure[go])
        gap = rng.uniform(params.double_gap_lo, params.double_gap_hi, k)
        pair = rng.random(k) < params.double_prob
        blinks.start[go] = start[cl < params.suppress_closure]
        blinks.scale[go] = scale
        blinks.second[go] = np.where(pair, params.duration * scale + gap, NO_SECOND)
        blinks.next_at[due] = start + draw_intervals(rng, talking[due], params)
    tau = t - blinks.start
    return np.maximum(lid(tau, blinks.scale, params), lid(tau - blinks.second, blinks.scale, params))


def apply_blink(frame: np.ndarray, lids: np.ndarray) -> np.ndarray:
    """Layer a blink over the expression's eyes, in place on frame [n, >=52].

    Soft union e + b - e*b, never an overwrite: the result is >= both the expression's own eye
    closure and the blink, so a closed-eye expression stays closed through a blink (a reported
    failure of avatar systems that set eyeBlink outright). eyeWide is relaxed during the blink,
    because a raised upper lid would otherwise hold the eye open against it.
    """
    b = lids.astype(frame.dtype, copy=False)
    for ch in (L_BLINK, R_BLINK):
        e = frame[:, ch]
        frame[:, ch] = e + b - e * b
    for ch in (L_WIDE, R_WIDE):
        frame[:, ch] *= 1.0 - b
    return frame


@dataclass(frozen=True)
class SwayParams:
    # Peak amplitude per head channel (yaw, pitch, roll) in radians: ~2, ~1.4 and ~1.1 degrees,
    # a resting, attentive head; enough to read as alive, too small to read as a gesture.
    amplitude: tuple[float, float, float] = (0.035, 0.025, 0.02)
    # Slow postural drift: components between ~4 and ~25 s periods.
    freq_lo: float = 0.04
    freq_hi: float = 0.25
    components: int = 3


DEFAULT_SWAY = SwayParams()


@dataclass
class Sway(RowArrays):
    """Sum-of-sines head drift per face (arrays [n_faces, 3, components])."""

    amp: np.ndarray
    freq: np.ndarray
    phase: np.ndarray

    @classmethod
    def empty(cls, n: int, params: SwayParams = DEFAULT_SWAY) -> Sway:
        s = cls(*(np.zeros((0, 3, params.components)) for _ in range(3)))
        s.grow(n)
        return s

    def draw(self, row: int, rng: np.random.Generator, params: SwayParams = DEFAULT_SWAY) -> None:
        """Give one face its own drift: random frequencies and phases, amplitudes that sum to the peak."""
        shape = (3, params.components)
        weights = rng.uniform(0.5, 1.0, shape)
        weights /= weights.sum(axis=1, keepdims=True)
        self.amp[row] = np.asarray(params.amplitude)[:, None] * weights
        self.freq[row] = rng.uniform(params.freq_lo, params.freq_hi, shape)
        self.phase[row] = rng.uniform(0.0, 2.0 * np.pi, shape)


def head_sway(sway: Sway, t: float) -> np.ndarray:
    """Head yaw, pitch, roll offsets at time t ([n, 3] radians); a smooth function of t alone."""
    return (sway.amp * np.sin(2.0 * np.pi * sway.freq * t + sway.phase)).sum(axis=2)
