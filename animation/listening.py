"""The listening face follows the user's loudness: brows up with their emphasis, blinks at their pauses.

The server sends each face the user's loudness while they speak (-1 a pause, 0 their own usual level, +1
emphatic; server/hearing/loudness.py); a face follows it with attack/release smoothing. In the listening
state only, the brows rise with the loudness above 0 (added to the expression's, clipped, through
animation.mixer.add_brows), and blinks wait during emphasis and come in the pauses (data/listening.toml,
sources there). Every other state, and a face that hears nothing, is left exactly as it was: the faces
not following anyone cost one `any` per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from animation.arkit import INDEX
from animation.blinks import BlinkParams, Blinks
from animation.emotions import load_table
from animation.kernels import clip
from animation.rows import RowArrays

P = load_table("listening.toml")["listening"]
ATTACK, RELEASE = float(P["attack"]), float(P["release"])
HOLD_ABOVE, HOLD_MAX = float(P["hold_above"]), float(P["hold_max"])
QUIET_BELOW, QUIET_RATE = float(P["quiet_below"]), float(P["quiet_rate"])
PAUSE_BLINK, PAUSE_LAG = float(P["pause_blink"]), tuple(float(x) for x in P["pause_lag"])
BROW_CHANNELS = np.array([INDEX[name] for name in P["brows"]], np.intp)
BROW_WEIGHTS = np.array(list(P["brows"].values()), np.float32)
if not (ATTACK > 0 and RELEASE > 0 and -1 <= QUIET_BELOW < 0 < HOLD_ABOVE <= 1 and QUIET_RATE >= 1):
    raise ValueError("listening.toml: times > 0, -1 <= quiet_below < 0 < hold_above <= 1, quiet_rate >= 1")


@dataclass
class Hearing(RowArrays):
    """What each face hears of the user, -1..1."""

    target: np.ndarray  # [n] the loudness last sent (0 when the user is not speaking)
    level: np.ndarray  # [n] the loudness as the face follows it
    held_since: np.ndarray  # [n] since when a due blink has been waiting for the emphasis to pass

    FILL: ClassVar[dict[str, float]] = {"held_since": np.inf}

    @classmethod
    def empty(cls, n: int) -> Hearing:
        h = cls(np.zeros(0), np.zeros(0), np.zeros(0))
        h.grow(n)
        return h


def follow(h: Hearing, dt: np.ndarray) -> np.ndarray | None:
    """Move every face's level toward its target over dt [n] s; the levels before the move, or None when
    no face hears anything (the common case: nothing to do)."""
    if not (h.target.any() or h.level.any()):
        return None
    before = h.level.copy()
    tau = np.where(h.target > before, ATTACK, RELEASE)
    h.level += (h.target - before) * -np.expm1(-dt / tau)
    h.level[np.abs(h.level) < 1e-4] = 0.0  # settled: the face is left exactly as it was
    return before


def brows(h: Hearing, listening: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows whose brows rise, by how much 0..1): the listening faces' loudness above the user's usual."""
    lift = np.where(listening, clip(h.level, 0.0, 1.0), 0.0)
    rows = np.flatnonzero(lift > 0.0)
    return rows, lift[rows]


def blinks(
    h: Hearing,
    lids: Blinks,
    before: np.ndarray,
    listening: np.ndarray,
    t: float,
    rng: np.random.Generator,
    params: BlinkParams,
) -> np.ndarray:
    """Time the listening faces' blinks by the user's loudness (in place on `lids`); the factor [n] on each
    face's blink rate. A due blink waits during emphasis (kept due now, not overdue, so it starts cleanly
    when the emphasis passes); a pause's onset brings the next blink forward."""
    level = h.level
    held = listening & (lids.next_at <= t) & (level >= HOLD_ABOVE)
    h.held_since[...] = np.where(held, np.minimum(h.held_since, t), np.inf)
    held &= t - h.held_since < HOLD_MAX
    lids.next_at[held] = t + 1e-6
    pause = np.flatnonzero(listening & (before > QUIET_BELOW) & (level <= QUIET_BELOW))
    if pause.size:
        u = rng.random((pause.size, 2))
        go = pause[u[:, 0] < PAUSE_BLINK]
        lag = PAUSE_LAG[0] + (PAUSE_LAG[1] - PAUSE_LAG[0]) * u[u[:, 0] < PAUSE_BLINK, 1]
        soonest = np.maximum(t + lag, lids.start[go] + params.refractory)
        lids.next_at[go] = np.minimum(lids.next_at[go], soonest)
    quiet = np.where(listening, clip(-level, 0.0, 1.0), 0.0)
    return 1.0 + (QUIET_RATE - 1.0) * quiet
