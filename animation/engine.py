"""FaceBank: the public API of the animated faces, one slot per session.

Every call names a slot and is validated (ValueError, and no change, on bad input); it writes into the
rows of animation.faces.Faces, whose one `step(t)` advances every face at once. Times are arguments
(seconds, one clock per bank): nothing here reads a clock or draws outside the bank's Generator.
"""

from __future__ import annotations

import numpy as np

from animation import blinks, checks, dynamics, gaze, gestures, speech
from animation import states as st
from animation.controls import CONTROL_INDEX, GAIN, lookup
from animation.emotions import EMOTION_INDEX, EMOTIONS, N_EMOTIONS, NEUTRAL
from animation.faces import SLEW_PER_SECOND, Faces

__all__ = ["MAX_EXPRESSIVENESS", "MAX_GAIN", "SLEW_PER_SECOND", "FaceBank"]

MAX_GAIN = GAIN.maximum
MAX_EXPRESSIVENESS = CONTROL_INDEX["expressiveness"].maximum


class FaceBank(Faces):
    """Many faces, animated together by `step`; slots are stable ids (each maps to the face's current row),
    the lowest free one reused after `remove`."""

    # -- emotions ------------------------------------------------------------------------------

    def cue(self, slot: int, emotion: str, intensity: float, t: float, hold: float | None = None) -> None:
        """Show `emotion` at `intensity` (0..1) from time t: rise, hold `hold` s (default ~2.5), decay.

        hold may be math.inf (held until `clear` or another cue); a hold under 0.5 s is a
        micro-expression (fast on, fast off). Cueing "neutral" releases every other emotion from t on.
        A t earlier than the face's last step is taken as that step's time. Ignored (after validation)
        while the face's mood lock is on.
        """
        row = self._row(slot)
        e = self._emotion(emotion)
        peak = checks.number("intensity", intensity, 0.0, 1.0)
        t = checks.time(t)
        held = checks.hold(hold, self._params.default_hold)
        if self._settings.mood_lock[row]:
            return
        now = float(self._t[row])
        t = max(t, now)
        if e == NEUTRAL:
            dynamics.release(self._env, row, t, np.arange(N_EMOTIONS) != NEUTRAL, now=now)
        dynamics.cue(self._env, row, e, peak, t, held, now=now, params=self._params)

    def clear(self, slot: int, t: float) -> None:
        """Every emotion decays to the mood baseline from time t (smoothly, from wherever it is)."""
        row = self._row(slot)
        now = float(self._t[row])
        dynamics.release(self._env, row, max(checks.time(t), now), now=now)

    def set_mood(self, slot: int, emotion: str, intensity: float) -> None:
        """The baseline the face decays back to after cues (default neutral 0); drifts in over ~1-2 s."""
        row = self._row(slot)
        e = self._emotion(emotion)
        x = checks.number("intensity", intensity, 0.0, 1.0)
        baseline = np.zeros(N_EMOTIONS)
        if e != NEUTRAL:
            baseline[e] = x
        self._mood[row] = (e, x)
        dynamics.set_baseline(self._env, row, baseline, float(self._t[row]), self._params)

    def mood(self, slot: int) -> tuple[str, float]:
        row = self._row(slot)
        return EMOTIONS[int(self._mood[row, 0])], float(self._mood[row, 1])

    def emotion_levels(self, slot: int) -> dict[str, float]:
        """Current envelope per emotion, 0..1, before gains and controls (debugging, tests)."""
        row = self._row(slot)
        return {name: float(self._env.level[row, i]) for i, name in enumerate(EMOTIONS)}

    # -- controls ------------------------------------------------------------------------------

    def set_gain(self, slot: int, emotion: str, gain: float) -> None:
        """Per-emotion output gain 0..2 (1 default), applied live from the next step."""
        row = self._row(slot)
        e = self._emotion(emotion)
        self._gain[row, e] = GAIN.check(gain)

    def set_control(self, slot: int, name: str, value: float) -> None:
        """Set one control of animation.controls.CONTROLS; ValueError (and no change) if invalid."""
        row = self._row(slot)
        control = lookup(name)
        x = control.check(value)
        if name == "mood_lock" and x and not self._settings.mood_lock[row]:
            now = float(self._t[row])
            dynamics.release(self._env, row, now, now=now)  # back to the mood, and hold it there
        getattr(self._settings, name)[row] = x
        self._derive(row)

    def set_expressiveness(self, slot: int, value: float) -> None:
        """Scale of the whole emotion layer, 0..2 (1 default): the `expressiveness` control."""
        self.set_control(slot, "expressiveness", value)

    def control(self, slot: int, name: str) -> float:
        row = self._row(slot)
        return float(getattr(self._settings, lookup(name).name)[row])

    # -- conversation state and speech ---------------------------------------------------------

    def set_state(self, slot: int, state: str) -> None:
        """idle / listening / thinking / speaking: drives gaze mode, blink rate and head motion."""
        row = self._row(slot)
        code = st.check_state(state)
        old = int(self._state[row])
        if code != old:
            now = float(self._t[row])
            blinks.retime(self._blinks, row, now, st.BLINK_RATE[old], st.BLINK_RATE[code])
            gaze.hurry(self._gaze, row, now, self._rng)
            self._state[row] = code

    def state(self, slot: int) -> str:
        return st.STATES[int(self._state[self._row(slot)])]

    def hear(self, slot: int, loudness: float | None) -> None:
        """The user's loudness while they speak, relative to their own usual level: -1 a pause, 0 usual, +1
        emphatic (server/hearing/loudness.py); None: they are not speaking. A listening face follows it
        (animation.listening: brows with the emphasis, blinks at the pauses); other states ignore it."""
        row = self._row(slot)
        level = 0.0 if loudness is None else checks.number("loudness", loudness, -1.0, 1.0)
        self._hearing.target[row] = level

    def set_talking(self, slot: int, talking: bool) -> None:
        """True: the speaking state. False: back to idle if speaking (other states are left alone)."""
        row = self._row(slot)
        if talking:
            self.set_state(slot, "speaking")
        elif self._state[row] == st.SPEAKING:
            self.set_state(slot, "idle")

    def visemes(
        self,
        slot: int,
        t0: float,
        times: object,
        visemes: object,
        weights: object | None = None,
    ) -> None:
        """Speak a timed sequence of Oculus visemes: visemes[i] starts at t0 + times[i] (seconds).

        times: strictly increasing offsets >= 0; visemes: names from animation.visemes.VISEMES, the
        last one "sil"; weights: optional per-viseme amplitude in [0, 1]. Keys of the current timeline
        before t0 + times[0] are kept (queue the next sentence), later ones are replaced.
        """
        row = self._row(slot)
        t0 = checks.time(t0)
        ts, ids, ws = checks.timeline(times, visemes, weights)
        speech.splice(self._speech, row, float(self._t[row]), t0 + ts, ids, ws)

    def clear_speech(self, slot: int, t: float) -> None:
        """Stop speaking from time t: the mouth eases back to the emotion's own shape."""
        row = self._row(slot)
        t = checks.time(t)
        speech.clear(self._speech, row, max(t, float(self._t[row])))

    # -- gestures ------------------------------------------------------------------------------

    def gesture(self, slot: int, name: str, t: float, intensity: float = 1.0) -> None:
        """Make gesture `name` (animation.gestures.GESTURES: nod, shake, tilt, wink, ...) from time t, its
        size scaled by intensity (0..1). A t earlier than the face's last step is taken as that step's."""
        row = self._row(slot)
        if not isinstance(name, str) or name not in gestures.GESTURE_INDEX:
            raise ValueError(f"unknown gesture {name!r}; expected one of {', '.join(gestures.GESTURES)}")
        level = checks.number("intensity", intensity, 0.0, 1.0)
        now = float(self._t[row])
        t = max(checks.time(t), now)
        gestures.schedule(self._gestures, row, gestures.GESTURE_INDEX[name], t, level, now)

    def clear_gestures(self, slot: int, t: float) -> None:
        """Drop the gestures due after time t (a cut reply's); one under way finishes smoothly."""
        row = self._row(slot)
        gestures.drop_pending(self._gestures, row, max(checks.time(t), float(self._t[row])))

    @staticmethod
    def _emotion(emotion: str) -> int:
        if not isinstance(emotion, str) or emotion not in EMOTION_INDEX:
            raise ValueError(f"unknown emotion {emotion!r}; expected one of {', '.join(EMOTIONS)}")
        return EMOTION_INDEX[emotion]
