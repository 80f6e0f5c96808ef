"""Faces: every session's face as rows of numpy arrays, and the one `step` that animates them together.

The public, validated API (cues, controls, state, speech) is animation.engine.FaceBank, built on this.
Layer order, per step, for all faces at once (details and region masks in animation.mixer):

    1. emotion   envelopes (onset / hold / decay toward the mood baseline; micro-expressions) x gains
                 -> contrast -> max emotions -> FACS AU space (antagonists, saturation) x expressiveness
                 x upper/lower face strength -> slew limit -> ARKit
    2. speech    visemes own the jaw and lips (coarticulated), keeping part of the emotion's smile/frown;
                 bilabials close the lips
    3. idle      gaze owns eyeLook* (plus the emotion's eye direction as a bias); blinks by soft union
                 with the expression's eye closure; head sway + breathing + gaze-following head
                 + the emotions' head posture (FACS head codes, followed slowly)
    4. clip      each layer keeps its range; mouth and head are clipped where layers combine

Time always comes in as an argument (seconds, any origin, one clock per bank); the bank never reads a
clock. Every random draw comes from one numpy Generator, injected or seeded at construction. No step
loops over faces in Python: each layer works on whole arrays (faces on axis 0) or on the few rows that
have something happening (a blink, a saccade, speech).
"""

from __future__ import annotations

import math

import numpy as np

from animation import blinks, checks, dynamics, gaze, head, mixer, modulation, speech
from animation import states as st
from animation.controls import Settings
from animation.emotions import N_EMOTIONS, NEUTRAL
from animation.facs import MIXING, Mixing, au_activations
from animation.kernels import clip

# Emotion-layer slew limit, per second: 0.5 of the shape range per 30 fps frame. The springs stay
# well under it (<= 0.18/frame per unit cue, 0.37 for a micro-expression); it bounds what they cannot,
# e.g. a gain or control jump, which it spreads over a few frames instead of one pop.
SLEW_PER_SECOND = 15.0
DEG = math.pi / 180.0
# Gaze pose (eye h, eye v, head h, head v; degrees) -> head (yaw, pitch, roll) radians: the head's share
# of a gaze shift. +yaw turns to the subject's left, as +h looks there; +pitch nods down, so looking up
# lifts the head.
_GAZE_TO_HEAD = np.zeros((4, 3))
_GAZE_TO_HEAD[2, 0], _GAZE_TO_HEAD[3, 1] = DEG, -DEG


class Faces:
    """Many faces' animation state and its step; slots are row indices, reused after `remove`. Use
    animation.engine.FaceBank, which adds the per-face inputs."""

    def __init__(
        self,
        capacity: int = 8,
        seed: int | None = None,
        *,
        rng: np.random.Generator | None = None,
        matrix: np.ndarray | None = None,
        envelope: dynamics.EnvelopeParams = dynamics.DEFAULT_PARAMS,
        blink: blinks.BlinkParams = blinks.DEFAULT_BLINK,
        sway: head.HeadParams = head.DEFAULT_HEAD,
    ) -> None:
        """rng: the Generator every draw comes from (default: one seeded with `seed`).
        matrix: optional [n_emotions, 52] emotion -> blendshape table (default: the FACS AU tables)."""
        cap = max(1, int(capacity))
        self._mix: Mixing = MIXING if matrix is None else Mixing.from_channels(matrix)
        self._params, self._blink_params, self._head_params = envelope, blink, sway
        self._rng = rng if rng is not None else np.random.default_rng(seed)
        self._active = np.zeros(cap, dtype=bool)
        self._t = np.zeros(cap)  # time of each face's last step (or of its add)
        self._state = np.zeros(cap, dtype=np.intp)
        self._gain = np.ones((cap, N_EMOTIONS), np.float32)
        self._mood = np.zeros((cap, 2))  # (emotion index, intensity)
        # The emotion layer's AU activations as shown (slew-limited), [faces, mixing columns].
        self._shown = np.zeros((cap, len(self._mix.columns)), dtype=np.float32)
        self._settings = Settings.empty(cap)
        self._region = self._settings.region_scale(self._mix.upper)
        self._k = self._settings.contrast_k()
        self._max_n = self._settings.max_emotions.astype(np.intp)
        self._contrast_rows = np.zeros(0, np.intp)
        self._env = dynamics.Envelopes.zeros(cap, N_EMOTIONS, envelope)
        self._blinks = blinks.Blinks.empty(cap)
        self._gaze = gaze.Gaze.empty(cap)
        self._head = head.Head.empty(cap, sway)
        self._speech = speech.Speech.empty(cap)

    # -- slots ---------------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return int(self._active.shape[0])

    def active_slots(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(self._active)]

    def add(self, t: float) -> int:
        """A new face at rest on neutral at time t; returns its slot (lowest free one, growing x2)."""
        t = checks.time(t)
        free = np.flatnonzero(~self._active)
        if free.size == 0:
            self._grow(2 * self.capacity)
            free = np.flatnonzero(~self._active)
        slot = int(free[0])
        self._reset(slot)
        self._active[slot] = True
        self._t[slot] = t
        blinks.schedule_first(self._blinks, slot, t, st.BLINK_RATE[st.IDLE], self._rng, self._blink_params)
        gaze.start(self._gaze, slot, t, self._rng)
        self._head.draw(slot, self._rng, st.HEAD_SCALE[st.IDLE], self._head_params)
        return slot

    def remove(self, slot: int) -> None:
        """Free a face's slot (ValueError if it is not an active face); its row outputs zeros."""
        slot = self._slot(slot)
        self._active[slot] = False
        self._reset(slot)

    # -- the frame -----------------------------------------------------------------------------

    def step(self, t: float) -> np.ndarray:
        """Advance all active faces to time t; a new float32 [capacity, 55], zero rows for free slots.

        Faces never move backwards: a t earlier than a face's last step leaves it where it is.
        """
        t = checks.time(t)
        active = self._active
        t0 = np.where(active, self._t, t)
        dt = t - t0
        if dt.min() < 0.0:  # some faces are ahead of t (added later, or a stale t): hold them there
            dt = clip(dt, 0.0, np.inf)
            t_eval: float | np.ndarray = (t0 + dt)[:, None]
        else:
            t_eval = t
        np.maximum(self._t, t, out=self._t, where=active)
        frame = self._emotion_layer(t0, t_eval, dt)
        rows, shape, aux = speech.step_speech(self._speech, t, active)
        mixer.blend_speech(frame, rows, shape, aux)
        self._idle_layer(frame, t, dt)
        if not active.all():
            frame[~active] = 0.0
        return frame

    def _emotion_layer(self, t0: np.ndarray, t: float | np.ndarray, dt: np.ndarray) -> np.ndarray:
        dynamics.advance(self._env, t0, t, self._params)
        w = self._env.level * self._gain
        modulation.modulate(w, self._max_n, self._k, self._contrast_rows)
        a = au_activations(w, self._mix)
        a *= self._region
        # Slew-limit in AU space, scaled so that no channel moves more than SLEW_PER_SECOND * dt. Usually
        # every face is within reach and the target is taken as is (a settled face repeats bit-identical
        # values, as the wire's delta encoder wants).
        diff = a - self._shown
        per_au = SLEW_PER_SECOND / self._mix.spread
        if np.abs(diff, out=diff).max() > per_au * np.where(self._active, dt, np.inf).min():
            reach = (per_au * dt)[:, None].astype(np.float32)
            a = self._shown + clip(a - self._shown, -reach, reach)
        self._shown = a
        frame = a @ self._mix.au_to_frame
        return clip(frame, 0.0, 1.0, out=frame)

    def _idle_layer(self, frame: np.ndarray, t: float, dt: np.ndarray) -> None:
        state, active, rng = self._state, self._active, self._rng
        pose = gaze.step_gaze(self._gaze, t, active, state, rng)  # eye h, v and head h, v, degrees
        # The emotion's own eye direction (read before gaze overwrites eyeLook*) biases the gaze.
        mixer.apply_gaze(frame, pose[:, :2] + frame @ mixer.EYE_BIAS)

        def closure(rows: np.ndarray) -> np.ndarray:
            return clip(frame[rows] @ mixer.CLOSURE, 0.0, 1.0)

        rate = st.BLINK_RATE[state]
        rows, lids = blinks.step_blinks(self._blinks, t, active, rate, closure, rng, self._blink_params)
        mixer.apply_blink(frame, rows, lids)
        posture = self._shown @ self._mix.au_to_head  # the emotions' head codes (sadness hangs the head)
        head_pose = head.step_head(self._head, t, dt, st.HEAD_SCALE[state], self._head_params, posture)
        head_pose += pose @ _GAZE_TO_HEAD
        mixer.set_head(frame, head_pose)

    # -- internals -----------------------------------------------------------------------------

    def _slot(self, slot: int) -> int:
        if isinstance(slot, bool) or not isinstance(slot, int | np.integer):
            raise ValueError(f"slot must be an int, not {type(slot).__name__}")
        if not (0 <= slot < self.capacity and self._active[slot]):
            raise ValueError(f"slot {slot} is not an active face")
        return int(slot)

    def _derive(self, slot: int) -> None:
        """Refresh the per-face arrays the step reads, after a control of `slot` changed."""
        s = self._settings
        row = slice(slot, slot + 1)
        self._region[slot] = Settings.region_scale(s, self._mix.upper, row)[0]
        self._k[slot] = float(s.contrast_k(row)[0])
        self._max_n[slot] = int(s.max_emotions[slot])
        self._contrast_rows = np.flatnonzero(self._k != 1.0)
        speed = float(s.speed(row)[0])
        if speed != self._env.speed[slot]:
            dynamics.set_speed(self._env, slot, speed, float(self._t[slot]))

    def _reset(self, slot: int) -> None:
        self._t[slot] = 0.0
        self._state[slot] = st.IDLE
        self._gain[slot] = 1.0
        self._mood[slot] = (NEUTRAL, 0.0)
        self._shown[slot] = 0.0
        for layer in (self._settings, self._env, self._blinks, self._gaze, self._head, self._speech):
            layer.reset(slot)
        self._derive(slot)

    def _grow(self, n: int) -> None:
        def pad(a: np.ndarray, fill: float) -> np.ndarray:
            out = np.full((n, *a.shape[1:]), fill, dtype=a.dtype)
            out[: a.shape[0]] = a
            return out

        self._active = pad(self._active, False)
        self._t = pad(self._t, 0.0)
        self._state = pad(self._state, st.IDLE)
        self._gain = pad(self._gain, 1.0)
        self._mood = pad(self._mood, 0.0)
        self._shown = pad(self._shown, 0.0)
        for layer in (self._settings, self._env, self._blinks, self._gaze, self._head, self._speech):
            layer.grow(n)
        self._region = self._settings.region_scale(self._mix.upper)
        self._k = self._settings.contrast_k()
        self._max_n = self._settings.max_emotions.astype(np.intp)
        self._contrast_rows = np.flatnonzero(self._k != 1.0)
