"""Spontaneous blinks for many faces at once: timing, lid shape, doubles and partial blinks.

Only the faces blinking at a given time are touched (a few percent), and only the eyeBlink and eyeWide
channels: between blinks every blendshape is left exactly as the expression made it, so the wire's delta
encoder sends nothing for the eyes. How a blink combines with the expression is the mixer's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from animation.kernels import smoothstep
from animation.rows import RowArrays

# "No second blink" offset: finite (unlike inf) so tau - second never makes inf - inf = NaN.
NO_SECOND = 1e12
# Columns of Blinks.shape: one blink's close, hold and open durations (s), and its depth.
CLOSE, HOLD, OPEN, AMP = range(4)


@dataclass(frozen=True)
class BlinkParams:
    # Phases of one blink, seconds. Issue 4 asks for ~100 ms close, 100-300 ms closed, ~100 ms open;
    # the lid goes down faster than it comes up (VanderWerf, Brassinga, Reits et al. 2003, "Eyelid
    # movements: behavioral studies of blinking in humans under different stimulus conditions",
    # J. Neurophysiol. 89(5)), so the opening is a little longer.
    close: float = 0.1
    open: float = 0.12
    jitter_lo: float = 0.85  # per-blink scale of close and open, so blinks do not look stamped
    jitter_hi: float = 1.15
    # Closed phase drawn as lo + (hi - lo) u^2, u uniform: within the stated range, mostly short
    # (mean ~170 ms), since long closures read as sleepy.
    hold_lo: float = 0.1
    hold_hi: float = 0.3
    # Some spontaneous blinks come in quick pairs; a minority, so animation practice uses ~5-10 %.
    double_prob: float = 0.08
    double_gap_lo: float = 0.05
    double_gap_hi: float = 0.15
    # Some blinks are incomplete: the lid stops part way (Mien: 15 %, closing 55-85 % of the way).
    partial_prob: float = 0.15
    partial_lo: float = 0.55
    partial_hi: float = 0.85
    # Start-to-start intervals: a refractory part, then a gamma-distributed remainder (inter-blink
    # intervals are right-skewed). The refractory exceeds the longest double blink (~1.26 s).
    refractory: float = 1.3
    gamma_shape: float = 2.0
    # Expression eye closure at which a due blink is skipped (eyes nearly shut already: a blink would
    # only read as a twitch); below it, blinks are shortened in proportion to the closure.
    suppress_closure: float = 0.6
    shorten: float = 0.5

    @property
    def longest(self) -> float:
        """The longest single blink, s."""
        return (self.close + self.open) * self.jitter_hi + self.hold_hi

    def mean_interval(self, rate: np.ndarray) -> np.ndarray:
        """Mean start-to-start interval of blink *events* (a double blink is one event, two blinks)."""
        return (1.0 + self.double_prob) * 60.0 / np.asarray(rate, dtype=np.float64)


DEFAULT_BLINK = BlinkParams()


@dataclass
class Blinks(RowArrays):
    """Blink schedule per face."""

    next_at: np.ndarray  # [n] when the next blink event is due (seconds)
    start: np.ndarray  # [n] start of the current/last blink
    second: np.ndarray  # [n] offset of the second blink of a pair, NO_SECOND for a single blink
    end: np.ndarray  # [n] offset at which the whole event (both blinks) is over
    shape: np.ndarray  # [n, 4] close, hold, open, amp of the current/last blink

    FILL: ClassVar[dict[str, float]] = {"next_at": np.inf, "start": -np.inf, "second": NO_SECOND}

    @classmethod
    def empty(cls, n: int) -> Blinks:
        b = cls(*(np.zeros(0) for _ in range(4)), np.ones((0, 4)))
        b.grow(n)
        return b


def draw_intervals(
    rng: np.random.Generator, rate: np.ndarray, params: BlinkParams = DEFAULT_BLINK
) -> np.ndarray:
    """Start-to-start intervals for len(rate) blink events (rate: blinks/min each), right on average."""
    rest = params.mean_interval(rate) - params.refractory
    if np.any(rest <= 0.0):
        raise ValueError("blink rate too high for the refractory period")
    return params.refractory + rng.standard_gamma(params.gamma_shape, rest.shape) * (
        rest / params.gamma_shape
    )


def schedule_first(
    blinks: Blinks,
    row: int,
    t: float,
    rate: float,
    rng: np.random.Generator,
    params: BlinkParams = DEFAULT_BLINK,
) -> None:
    """A new face's first blink: a uniform fraction of an interval, so faces are not in step."""
    blinks.reset(row)
    blinks.next_at[row] = t + rng.random() * draw_intervals(rng, np.array([rate]), params)[0]


def retime(blinks: Blinks, row: int, t: float, old_rate: float, new_rate: float) -> None:
    """The blink rate changed: stretch the wait for the pending blink by the ratio of mean intervals."""
    if np.isfinite(blinks.next_at[row]) and blinks.next_at[row] > t:
        blinks.next_at[row] = t + (blinks.next_at[row] - t) * old_rate / new_rate


def lid(tau: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Lid closure 0..amp at tau >= 0 s after a blink's start (shape [.., 4]); exactly 0 once it is over."""
    close, hold, open_, amp = shape[..., CLOSE], shape[..., HOLD], shape[..., OPEN], shape[..., AMP]
    # Smoothstep ease: lids accelerate and decelerate; value amp during the closed phase.
    down = smoothstep(tau / close)
    up = smoothstep((tau - close - hold) / open_)
    return amp * down * (1.0 - up)


def _start(
    blinks: Blinks,
    due: np.ndarray,
    t: float,
    rate: np.ndarray,
    closure: np.ndarray,
    rng: np.random.Generator,
    params: BlinkParams,
) -> None:
    # Keep the blink's sub-frame phase; one overdue by more than its closing phase (a stalled
    # server) is started mid-close, so it still shows instead of vanishing between frames.
    start = np.maximum(blinks.next_at[due], t - params.close)
    # Draws for every due face, used or not, so the random stream does not depend on the expression.
    u = rng.random((due.size, 6))
    interval = draw_intervals(rng, rate[due], params)
    ok = closure < params.suppress_closure
    go, u, p = due[ok], u[ok], params
    scale = (p.jitter_lo + (p.jitter_hi - p.jitter_lo) * u[:, 0]) * (1.0 - p.shorten * closure[ok])
    hold = p.hold_lo + (p.hold_hi - p.hold_lo) * u[:, 1] ** 2
    gap = p.double_gap_lo + (p.double_gap_hi - p.double_gap_lo) * u[:, 2]
    pair = u[:, 3] < p.double_prob
    amp = np.where(u[:, 4] < p.partial_prob, p.partial_lo + (p.partial_hi - p.partial_lo) * u[:, 5], 1.0)
    one = (p.close + p.open) * scale + hold
    blinks.start[go] = start[ok]
    blinks.shape[go] = np.stack([p.close * scale, hold, p.open * scale, amp], axis=1)
    blinks.second[go] = np.where(pair, one + gap, NO_SECOND)
    blinks.end[go] = np.where(pair, 2.0 * one + gap, one)
    blinks.next_at[due] = start + interval


def step_blinks(
    blinks: Blinks,
    t: float,
    active: np.ndarray,
    rate: np.ndarray,
    closure: object,
    rng: np.random.Generator,
    params: BlinkParams = DEFAULT_BLINK,
) -> tuple[np.ndarray, np.ndarray]:
    """Start the blinks that came due by t; return (rows blinking at t, their lid closure 0..1).

    rate: blinks/min per face (from its conversation state). closure: a function rows -> how shut the
    expression already holds those faces' eyes (0..1), asked only for the faces whose blink is due.
    """
    due = np.flatnonzero(active & (blinks.next_at <= t))
    if due.size:
        _start(blinks, due, t, rate, closure(due), rng, params)  # type: ignore[operator]
    rows = np.flatnonzero(t - blinks.start < blinks.end)
    if rows.size == 0:
        return rows, np.zeros(0)
    tau = t - blinks.start[rows]
    second = blinks.second[rows]
    # A pair's second blink starts after the first is over: one lid curve, shifted for the second.
    tau = np.where(tau >= second, tau - second, tau)
    return rows, lid(tau, blinks.shape[rows])
