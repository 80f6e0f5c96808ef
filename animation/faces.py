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
                 + the emotions' head posture (FACS head codes, followed slowly); gestures ([nod],
                 [wink]: animation.gestures) add their shapes before, and their head and eyes here
    4. clip      each layer keeps its range; mouth and head are clipped where layers combine

Time always comes in as an argument (seconds, any origin, one clock per bank); the bank never reads a
clock. Every random draw comes from one numpy Generator, injected or seeded at construction. No step
loops over faces in Python: each layer works on whole arrays (faces on axis 0) or on the few rows that
have something happening (a blink, a saccade, speech).

Live faces are packed in rows 0..n-1 (animation.slots maps the callers' stable slot ids to rows), so a
step computes exactly the live faces, and the arrays shrink once most faces have left (issue 14).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from animation import blinks, checks, dynamics, gaze, gestures, head, listening, mixer, modulation, speech
from animation import states as st
from animation.arkit import N_CHANNELS
from animation.controls import Settings
from animation.emotions import N_EMOTIONS, NEUTRAL
from animation.facs import MIXING, Mixing, au_activations
from animation.kernels import clip
from animation.slots import SlotMap

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
# The bank's own per-face arrays and what a fresh row holds; _region, _k and _max_n derive from the settings.
_FILLS = {"_t": 0.0, "_state": st.IDLE, "_gain": 1.0, "_mood": 0.0, "_shown": 0.0}
_DERIVED = ("_region", "_k", "_max_n")


class Faces:
    """Many faces' animation state and its step; slots are stable ids, the lowest free one reused after
    `remove`. Use animation.engine.FaceBank, which adds the per-face inputs."""

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
        """capacity: rows to start with, and the fewest kept as faces leave (it doubles when full, halves
        when at most a quarter is used). rng: the Generator every draw comes from (default: one seeded
        with `seed`). matrix: optional [n_emotions, 52] emotion -> blendshape table (default: FACS)."""
        cap = max(1, int(capacity))
        self._floor = cap
        self._mix: Mixing = MIXING if matrix is None else Mixing.from_channels(matrix)
        self._params, self._blink_params, self._head_params = envelope, blink, sway
        self._rng = rng if rng is not None else np.random.default_rng(seed)
        self._slots = SlotMap(cap)
        self._t = np.zeros(cap)  # time of each face's last step (or of its add)
        self._state = np.zeros(cap, dtype=np.intp)
        self._gain = np.ones((cap, N_EMOTIONS), np.float32)
        self._mood = np.zeros((cap, 2))  # (emotion index, intensity)
        # The emotion layer's AU activations as shown (slew-limited), [faces, mixing columns].
        self._shown = np.zeros((cap, len(self._mix.columns)), dtype=np.float32)
        self._settings = Settings.empty(cap)
        self._env = dynamics.Envelopes.zeros(cap, N_EMOTIONS, envelope)
        self._blinks = blinks.Blinks.empty(cap)
        self._gaze = gaze.Gaze.empty(cap)
        self._head = head.Head.empty(cap, sway)
        self._speech = speech.Speech.empty(cap)
        self._gestures = gestures.Gestures.empty(cap)
        self._hearing = listening.Hearing.empty(cap)  # the user's loudness, followed while listening
        self._derive_all()

    # -- slots ---------------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        """Rows allocated per face array (live faces are rows 0..n-1)."""
        return int(self._t.shape[0])

    @property
    def slot_limit(self) -> int:
        """Rows of `step`'s frames: every live slot id is below it."""
        return self._slots.limit

    def active_slots(self) -> list[int]:
        return self._slots.slots()

    def add(self, t: float) -> int:
        """A new face at rest on neutral at time t; returns its slot (the lowest free one)."""
        t = checks.time(t)
        if self._slots.n == self.capacity:
            self._resize(2 * self.capacity)
        slot, row = self._slots.add()
        self._reset(row)
        self._t[row] = t
        blinks.schedule_first(self._blinks, row, t, st.BLINK_RATE[st.IDLE], self._rng, self._blink_params)
        gaze.start(self._gaze, row, t, self._rng)
        self._head.draw(row, self._rng, st.HEAD_SCALE[st.IDLE], self._head_params)
        return slot

    def remove(self, slot: int) -> None:
        """Free a face's slot (ValueError if it is not an active face); its row in the frames reads zeros.

        The last row moves into the face's row; the arrays halve while at most a quarter is used.
        """
        row, last = self._slots.remove(slot)
        if row != last:
            self._move(last, row)
        self._reset(last)
        n, cap = self._slots.n, self.capacity
        while cap // 2 >= self._floor and n <= cap // 4:
            cap //= 2
        if cap != self.capacity:
            self._resize(cap)
        self._speech.fit(n)
        self._slots.fit(self.capacity)

    # -- the frame -----------------------------------------------------------------------------

    def step(self, t: float) -> np.ndarray:
        """Advance the live faces to time t; a new float32 [slot_limit, 55]: row `slot` for each live
        slot, zeros for free ones. Only the live faces are computed.

        Faces never move backwards: a t earlier than a face's last step leaves it where it is.
        """
        t = checks.time(t)
        n = self._slots.n
        if n == 0:
            return np.zeros((self.slot_limit, N_CHANNELS), np.float32)
        t0 = self._t[:n].copy()
        dt = t - t0
        if dt.min() < 0.0:  # some faces are ahead of t (added later, or a stale t): hold them there
            dt = clip(dt, 0.0, np.inf)
            t_eval: float | np.ndarray = (t0 + dt)[:, None]
        else:
            t_eval = t
        np.maximum(self._t[:n], t, out=self._t[:n])
        frame = self._emotion_layer(n, t0, t_eval, dt)
        on = np.ones(n, bool)
        rows, shape, aux = speech.step_speech(self._speech.view(n), t, on)
        mixer.blend_speech(frame, rows, shape, aux)
        moves = self._gesture_layer(frame, n, t, rows, aux)
        heard = listening.follow(self._hearing.view(n), dt)
        if heard is not None:  # someone is speaking to a face: its brows rise with their emphasis
            mixer.add_brows(frame, *listening.brows(self._hearing.view(n), self._state[:n] == st.LISTENING))
        self._idle_layer(frame, n, on, t, dt, moves, heard)
        return self._slots.scatter(frame)

    def _emotion_layer(self, n: int, t0: np.ndarray, t: float | np.ndarray, dt: np.ndarray) -> np.ndarray:
        env = self._env.view(n)
        dynamics.advance(env, t0, t, self._params)
        w = env.level * self._gain[:n]
        modulation.modulate(w, self._max_n[:n], self._k[:n], self._contrast_rows)
        a = au_activations(w, self._mix)
        a *= self._region[:n]
        # Slew-limit in AU space, scaled so that no channel moves more than SLEW_PER_SECOND * dt. Usually
        # every face is within reach and the target is taken as is (a settled face repeats bit-identical
        # values, as the wire's delta encoder wants).
        shown = self._shown[:n]
        diff = a - shown
        per_au = SLEW_PER_SECOND / self._mix.spread
        if np.abs(diff, out=diff).max() > per_au * dt.min():
            reach = (per_au * dt)[:, None].astype(np.float32)
            a = shown + clip(a - shown, -reach, reach)
        shown[...] = a
        frame = a @ self._mix.au_to_frame
        return clip(frame, 0.0, 1.0, out=frame)

    def _gesture_layer(
        self, frame: np.ndarray, n: int, t: float, speaking: np.ndarray | slice, aux: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Add the gestures' shapes (yielding the mouth to speech); their (rows, head, eyes) for later."""
        rows, shapes, head_add, eyes_add = gestures.step_gestures(self._gestures.view(n), t)
        if rows.size:
            activity = np.zeros(n, np.float32)
            activity[speaking] = aux[:, 0]
            mixer.add_gestures(frame, rows, shapes, activity)
        return rows, head_add, eyes_add

    def _idle_layer(
        self, frame: np.ndarray, n: int, on: np.ndarray, t: float, dt: np.ndarray, moves: tuple, heard: Any
    ) -> None:
        """Gaze, blinks and head; `heard`: listening.follow's levels before this step (None: nobody heard)."""
        state, rng = self._state[:n], self._rng
        eyes, lids, sway = self._gaze.view(n), self._blinks.view(n), self._head.view(n)
        moved, head_add, eyes_add = moves
        pose = gaze.step_gaze(eyes, t, on, state, rng)  # eye h, v and head h, v, degrees
        # The emotion's own eye direction (read before gaze overwrites eyeLook*) biases the gaze.
        direction = pose[:, :2] + frame @ mixer.EYE_BIAS
        direction[moved] += eyes_add  # an eyeroll sweeps on top of the gaze
        mixer.apply_gaze(frame, direction)

        def closure(rows: np.ndarray) -> np.ndarray:
            return clip(frame[rows] @ mixer.CLOSURE, 0.0, 1.0)

        rate = st.BLINK_RATE[state]
        if heard is not None:  # blinks wait through the user's emphasis and come at their pauses
            hearing, params = self._hearing.view(n), self._blink_params
            rate = rate * listening.blinks(hearing, lids, heard, state == st.LISTENING, t, rng, params)
        rows, shut = blinks.step_blinks(lids, t, on, rate, closure, rng, self._blink_params)
        mixer.apply_blink(frame, rows, shut)
        posture = self._shown[:n] @ self._mix.au_to_head  # the emotions' head codes (sadness hangs the head)
        head_pose = head.step_head(sway, t, dt, st.HEAD_SCALE[state], self._head_params, posture)
        head_pose += pose @ _GAZE_TO_HEAD
        head_pose[moved] += head_add
        mixer.set_head(frame, head_pose)

    # -- internals -----------------------------------------------------------------------------

    def _row(self, slot: int) -> int:
        """The row of a live slot (ValueError otherwise): what the per-face arrays are indexed by."""
        return self._slots.row(slot)

    def _layers(self) -> tuple:
        return (
            self._settings, self._env, self._blinks, self._gaze, self._head, self._speech, self._gestures,
            self._hearing,
        )  # fmt: skip

    def _derive(self, row: int) -> None:
        """Refresh the per-face arrays the step reads, after a control of `row` changed."""
        s = self._settings
        rows = slice(row, row + 1)
        self._region[row] = Settings.region_scale(s, self._mix.upper, rows)[0]
        self._k[row] = float(s.contrast_k(rows)[0])
        self._max_n[row] = int(s.max_emotions[row])
        self._contrast_rows = np.flatnonzero(self._k != 1.0)
        speed = float(s.speed(rows)[0])
        if speed != self._env.speed[row]:
            dynamics.set_speed(self._env, row, speed, float(self._t[row]))

    def _derive_all(self) -> None:
        self._region = self._settings.region_scale(self._mix.upper)
        self._k = self._settings.contrast_k()
        self._max_n = self._settings.max_emotions.astype(np.intp)
        self._contrast_rows = np.flatnonzero(self._k != 1.0)

    def _reset(self, row: int) -> None:
        for name, fill in _FILLS.items():
            getattr(self, name)[row] = fill
        self._mood[row] = (NEUTRAL, 0.0)
        for layer in self._layers():
            layer.reset(row)
        self._derive(row)

    def _move(self, src: int, dst: int) -> None:
        """Row src's face becomes row dst's, every per-face array included."""
        for name in (*_FILLS, *_DERIVED):
            a = getattr(self, name)
            a[dst] = a[src]
        for layer in self._layers():
            layer.move(src, dst)

    def _resize(self, n: int) -> None:
        """n rows per face array (n >= live faces): grown when full, shrunk when mostly free."""
        for name, fill in _FILLS.items():
            old = getattr(self, name)
            new = np.full((n, *old.shape[1:]), fill, dtype=old.dtype)
            new[: min(n, old.shape[0])] = old[:n]
            setattr(self, name, new)
        for layer in self._layers():
            layer.resize(n)
        self._derive_all()
        self._slots.resize(n)
