"""FaceBank: every session's face as rows of numpy arrays, animated together by one `step` call.

Frame layering, per step, for all faces at once:

    1. emotion layer   envelopes x gains x expressiveness -> FACS mix -> ARKit, slew-limited
    2. speech layer    (hook: `_speech_layer`, identity in v1; visemes will go here)
    3. idle layer      blink by soft union with the expression's eye closure; head sway
    4. clip            blendshapes to [0, 1], head to [-HEAD_RANGE, HEAD_RANGE]

Time always comes in as an argument (seconds, any origin, one clock per bank); the bank never reads a
clock. Randomness comes from one numpy Generator seeded at construction.
"""

from __future__ import annotations

import math

import numpy as np

from animation import dynamics, idle
from animation.arkit import HEAD_RANGE, N_BLENDSHAPES, N_CHANNELS
from animation.emotions import EMOTION_INDEX, EMOTIONS, N_EMOTIONS, NEUTRAL
from animation.facs import EMOTION_TO_CHANNELS, mix

MAX_GAIN = 2.0
MAX_EXPRESSIVENESS = 2.0
# Emotion-layer slew limit, per second: 0.5 of the shape range per 30 fps frame. The springs stay
# well under it (<= 0.18/frame per unit cue); it bounds what they cannot, e.g. a gain slider jump,
# which it spreads over at most 2 frames instead of one pop.
SLEW_PER_SECOND = 15.0
HEAD = slice(N_BLENDSHAPES, N_BLENDSHAPES + 3)


def _number(name: str, value: object, lo: float, hi: float) -> float:
    """A finite float in [lo, hi], else ValueError (bools and strings are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, not {type(value).__name__}")
    x = float(value)
    if not (math.isfinite(x) and lo <= x <= hi):
        raise ValueError(f"{name} must be finite and in [{lo}, {hi}], got {value!r}")
    return x


def _time(t: object) -> float:
    return _number("t", t, -math.inf, math.inf)


class FaceBank:
    """Many faces' animation state; slots are row indices, reused after `remove`."""

    def __init__(
        self,
        capacity: int = 8,
        seed: int | None = None,
        *,
        matrix: np.ndarray | None = None,
        envelope: dynamics.EnvelopeParams = dynamics.DEFAULT_PARAMS,
        blink: idle.BlinkParams = idle.DEFAULT_BLINK,
        sway: idle.SwayParams = idle.DEFAULT_SWAY,
    ) -> None:
        """matrix: optional [n_emotions, 52] emotion -> blendshape table (default: the FACS one)."""
        cap = max(1, int(capacity))
        if matrix is None:
            matrix = EMOTION_TO_CHANNELS
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.shape != (N_EMOTIONS, N_BLENDSHAPES) or not np.all(np.isfinite(matrix)):
            raise ValueError(f"matrix must be finite with shape {(N_EMOTIONS, N_BLENDSHAPES)}")
        self._matrix = matrix
        self._params, self._blink_params, self._sway_params = envelope, blink, sway
        self._rng = np.random.default_rng(seed)
        self._active = np.zeros(cap, dtype=bool)
        self._t = np.zeros(cap)  # time of each face's last step (or of its add)
        self._talking = np.zeros(cap, dtype=bool)
        self._gain = np.ones((cap, N_EMOTIONS))
        self._expressiveness = np.ones(cap)
        self._shown = np.zeros((cap, N_BLENDSHAPES), dtype=np.float32)  # slew-limited emotion layer
        self._env = dynamics.Envelopes.zeros(cap, N_EMOTIONS)
        self._blinks = idle.Blinks.empty(cap)
        self._sway = idle.Sway.empty(cap, sway)

    # -- slots ---------------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return int(self._active.shape[0])

    def active_slots(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(self._active)]

    def add(self, t: float) -> int:
        """A new face at rest on neutral at time t; returns its slot (lowest free one, growing x2)."""
        t = _time(t)
        free = np.flatnonzero(~self._active)
        if free.size == 0:
            self._grow(2 * self.capacity)
            free = np.flatnonzero(~self._active)
        slot = int(free[0])
        self._reset(slot)
        self._active[slot] = True
        self._t[slot] = t
        idle.schedule_first(self._blinks, slot, t, self._rng, self._blink_params)
        self._sway.draw(slot, self._rng, self._sway_params)
        return slot

    def remove(self, slot: int) -> None:
        """Free a face's slot (ValueError if it is not an active face); its row outputs zeros."""
        slot = self._slot(slot)
        self._active[slot] = False
        self._reset(slot)

    # -- controls ------------------------------------------------------------------------------

    def cue(self, slot: int, emotion: str, intensity: float, t: float, hold: float | None = None) -> None:
        """Show `emotion` at `intensity` (0..1) from time t: rise, hold `hold` s (default ~2.5), decay.

        hold may be math.inf (held until `clear` or another cue). Cueing "neutral" releases every
        other emotion from t on. A t earlier than the face's last step is taken as that step's time.
        """
        slot = self._slot(slot)
        e = self._emotion(emotion)
        peak = _number("intensity", intensity, 0.0, 1.0)
        t = _time(t)
        if hold is None:
            hold = self._params.default_hold
        elif isinstance(hold, bool) or not isinstance(hold, int | float | np.integer | np.floating):
            raise ValueError("hold must be a number or None")
        elif math.isnan(hold) or hold < 0.0:
            raise ValueError(f"hold must be >= 0 (inf allowed), got {hold!r}")
        t = max(t, float(self._t[slot]))
        if e == NEUTRAL:
            others = np.arange(N_EMOTIONS) != NEUTRAL
            dynamics.release(self._env, slot, t, others)
        dynamics.cue(self._env, slot, e, peak, t, float(hold))

    def set_gain(self, slot: int, emotion: str, gain: float) -> None:
        """Per-emotion output gain 0..2 (1 default), applied live from the next step."""
        slot = self._slot(slot)
        e = self._emotion(emotion)
        self._gain[slot, e] = _number("gain", gain, 0.0, MAX_GAIN)

    def set_expressiveness(self, slot: int, value: float) -> None:
        """Scale of the whole emotion layer, 0..2 (1 default), applied live from the next step."""
        slot = self._slot(slot)
        self._expressiveness[slot] = _number("expressiveness", value, 0.0, MAX_EXPRESSIVENESS)

    def set_talking(self, slot: int, talking: bool) -> None:
        """While talking the face blinks more often (26 vs 17 per minute)."""
        slot = self._slot(slot)
        talking = bool(talking)
        if talking != self._talking[slot]:
            idle.retime(self._blinks, slot, float(self._t[slot]), talking, self._blink_params)
            self._talking[slot] = talking

    def clear(self, slot: int, t: float) -> None:
        """Every emotion decays to neutral from time t (smoothly, from wherever it is)."""
        slot = self._slot(slot)
        t = max(_time(t), float(self._t[slot]))
        dynamics.release(self._env, slot, t)

    def emotion_levels(self, slot: int) -> dict[str, float]:
        """Current envelope per emotion, 0..1, before gains and expressiveness (debugging, tests)."""
        slot = self._slot(slot)
        return {name: float(self._env.level[slot, i]) for i, name in enumerate(EMOTIONS)}

    # -- the frame -----------------------------------------------------------------------------

    def step(self, t: float) -> np.ndarray:
        """Advance all active faces to time t; float32 [capacity, 55], zero rows for free slots.

        Faces never move backwards: a t earlier than a face's last step leaves it where it is.
        """
        t = _time(t)
        active = self._active
        t0 = np.where(active, self._t, t)
        dt = np.maximum(t - t0, 0.0)
        self._t = np.where(active, np.maximum(self._t, t), self._t)

        frame = np.zeros((self.capacity, N_CHANNELS), dtype=np.float32)
        frame[:, :N_BLENDSHAPES] = self._emotion_layer(t0, t, dt)
        self._speech_layer(frame, t)
        self._idle_layer(frame, t)
        np.clip(frame[:, :N_BLENDSHAPES], 0.0, 1.0, out=frame[:, :N_BLENDSHAPES])
        np.clip(frame[:, HEAD], -HEAD_RANGE, HEAD_RANGE, out=frame[:, HEAD])
        frame[~active] = 0.0
        return frame

    def _emotion_layer(self, t0: np.ndarray, t: float, dt: np.ndarray) -> np.ndarray:
        dynamics.advance(self._env, t0, t, self._params)
        weights = self._env.level * self._gain * self._expressiveness[:, None]
        target = mix(weights, self._matrix)
        # Slew-limit toward the target; land on it exactly when within reach, so a settled face
        # repeats bit-identical values (float a + (b - a) need not equal b).
        reach = (SLEW_PER_SECOND * dt)[:, None].astype(np.float32)
        diff = target - self._shown
        self._shown = np.where(np.abs(diff) <= reach, target, self._shown + np.clip(diff, -reach, reach))
        return self._shown

    def _speech_layer(self, frame: np.ndarray, t: float) -> None:
        """Hook for visemes (later issue): will blend mouth/jaw shapes over the emotion layer in place.

        It goes before idle so that blinks and sway layer over speech too.
        """
        return

    def _idle_layer(self, frame: np.ndarray, t: float) -> None:
        closure = idle.expression_closure(frame, self._blink_params)
        lids = idle.step_blinks(
            self._blinks, t, self._active, self._talking, closure, self._rng, self._blink_params
        )
        idle.apply_blink(frame, lids)
        frame[:, HEAD] += idle.head_sway(self._sway, t)

    # -- internals -----------------------------------------------------------------------------

    def _slot(self, slot: int) -> int:
        if isinstance(slot, bool) or not isinstance(slot, int | np.integer):
            raise ValueError(f"slot must be an int, not {type(slot).__name__}")
        if not (0 <= slot < self.capacity and self._active[slot]):
            raise ValueError(f"slot {slot} is not an active face")
        return int(slot)

    @staticmethod
    def _emotion(emotion: str) -> int:
        if not isinstance(emotion, str) or emotion not in EMOTION_INDEX:
            raise ValueError(f"unknown emotion {emotion!r}; expected one of {', '.join(EMOTIONS)}")
        return EMOTION_INDEX[emotion]

    def _reset(self, slot: int) -> None:
        self._t[slot] = 0.0
        self._talking[slot] = False
        self._gain[slot] = 1.0
        self._expressiveness[slot] = 1.0
        self._shown[slot] = 0.0
        self._env.reset(slot)
        self._blinks.reset(slot)
        self._sway.reset(slot)

    def _grow(self, n: int) -> None:
        def pad(a: np.ndarray, fill: float) -> np.ndarray:
            out = np.full((n, *a.shape[1:]), fill, dtype=a.dtype)
            out[: a.shape[0]] = a
            return out

        self._active = pad(self._active, False)
        self._t = pad(self._t, 0.0)
        self._talking = pad(self._talking, False)
        self._gain = pad(self._gain, 1.0)
        self._expressiveness = pad(self._expressiveness, 1.0)
        self._shown = pad(self._shown, 0.0)
        self._env.grow(n)
        self._blinks.grow(n)
        self._sway.grow(n)
