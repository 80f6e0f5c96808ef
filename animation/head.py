"""Head motion: idle sway and breathing on the three head channels, for many faces at once.

Both are sums of sines. To make a step one small matrix-vector product instead of a sine per face and
component, every face draws from the same set of frequencies (data/states.toml [head]) with its own
random amplitudes and phases: sin(w t + p) = sin(w t) cos(p) + cos(w t) sin(p), so a face is a row of
coefficients and the time basis [sin(w t), cos(w t)] is computed once per step for all faces.
Breathing nods the pitch only (the frame budget wants few channels); sway size follows the
conversation state through a rate-limited ramp, so a state change never jumps the head.

Posture: the emotions' head position codes (FACS 51-56: sadness hangs the head, confusion tilts it)
arrive as a target pose per face; the head follows it with a lag and a speed cap (data/states.toml
[head] posture_time, posture_rate), so no cue, gain or control jump can jerk the head.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from animation.kernels import clip
from animation.rows import RowArrays
from animation.states import HEAD


@dataclass(frozen=True)
class HeadParams:
    sway: tuple[float, float, float] = tuple(HEAD["sway"])  # type: ignore[assignment]
    sway_freqs: tuple[float, ...] = tuple(HEAD["sway_freqs"])
    # Each channel mixes this many of the sway frequencies (a random subset per face and channel).
    components: int = 3
    breath_amplitude: float = float(HEAD["breath_amplitude"])
    breath_per_minute: tuple[float, ...] = tuple(HEAD["breath_per_minute"])
    scale_rate: float = float(HEAD["scale_rate"])
    posture_time: float = float(HEAD["posture_time"])
    posture_rate: float = float(HEAD["posture_rate"])
    sway_omega: np.ndarray = field(init=False, repr=False, compare=False)
    breath_omega: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sway_omega", 2.0 * np.pi * np.asarray(self.sway_freqs))
        object.__setattr__(self, "breath_omega", 2.0 * np.pi * np.asarray(self.breath_per_minute) / 60.0)


DEFAULT_HEAD = HeadParams()


@dataclass
class Head(RowArrays):
    """Per-face coefficients: sway [n, 3 * 2F] (yaw, pitch, roll x sin/cos), breath [n, 2B], scale [n];
    posture [n, 3]: the emotions' head pose as shown (radians)."""

    sway: np.ndarray
    breath: np.ndarray
    scale: np.ndarray
    posture: np.ndarray

    @classmethod
    def empty(cls, n: int, params: HeadParams = DEFAULT_HEAD) -> Head:
        f, b = len(params.sway_freqs), len(params.breath_per_minute)
        h = cls(np.zeros((0, 3 * 2 * f)), np.zeros((0, 2 * b)), np.zeros(0), np.zeros((0, 3)))
        h.grow(n)
        return h

    def draw(
        self, row: int, rng: np.random.Generator, scale: float, params: HeadParams = DEFAULT_HEAD
    ) -> None:
        """Give one face its own sway and breathing: random frequency subsets, weights and phases."""
        f, b = len(params.sway_freqs), len(params.breath_per_minute)
        weights = np.zeros((3, f))
        for ch in range(3):
            pick = rng.choice(f, size=min(params.components, f), replace=False)
            weights[ch, pick] = rng.uniform(0.5, 1.0, pick.size)
        # Amplitudes sum to the channel's peak, so the sway never exceeds it.
        weights *= np.asarray(params.sway)[:, None] / weights.sum(axis=1, keepdims=True)
        phase = rng.uniform(0.0, 2.0 * np.pi, (3, f))
        self.sway[row] = np.concatenate([weights * np.cos(phase), weights * np.sin(phase)], axis=1).ravel()
        breath = np.zeros(2 * b)
        k, p = int(rng.integers(b)), rng.uniform(0.0, 2.0 * np.pi)
        breath[k], breath[b + k] = params.breath_amplitude * np.cos(p), params.breath_amplitude * np.sin(p)
        self.breath[row] = breath
        self.scale[row] = scale


def step_head(
    head: Head,
    t: float,
    dt: np.ndarray,
    target_scale: np.ndarray,
    params: HeadParams = DEFAULT_HEAD,
    posture: np.ndarray | None = None,
) -> np.ndarray:
    """Head (yaw, pitch, roll) offsets in radians at time t, [n, 3]; ramps each face's sway size.

    posture: the emotions' target head pose [n, 3] (radians; None: keep the current one). Each face's
    shown posture closes the gap with time constant posture_time, at most posture_rate rad/s per axis.
    """
    reach = params.scale_rate * dt
    head.scale += clip(target_scale - head.scale, -reach, reach)
    if posture is not None:
        gap = posture - head.posture
        gap *= (1.0 - np.exp(-dt / params.posture_time))[:, None]
        cap = (params.posture_rate * dt)[:, None]
        head.posture += clip(gap, -cap, cap)
    ws, wb = params.sway_omega * t, params.breath_omega * t
    sway_basis = np.concatenate([np.sin(ws), np.cos(ws)])
    breath_basis = np.concatenate([np.sin(wb), np.cos(wb)])
    n = head.scale.shape[0]
    out = (head.sway.reshape(n * 3, -1) @ sway_basis).reshape(n, 3)
    out *= head.scale[:, None]
    out[:, 1] += head.breath @ breath_basis
    out += head.posture
    return out
