"""The controls table, its validation, and each control moving the face the way it should."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from animation.arkit import INDEX
from animation.controls import CONTROL_INDEX, CONTROLS, GAIN, Control, lookup
from animation.engine import FaceBank
from tests.animation.helpers import QUIET, run, settled_frame

BROW, OUTER, SMILE = INDEX["browInnerUp"], INDEX["browOuterUpLeft"], INDEX["mouthSmileLeft"]


def test_table_is_complete_and_human_readable() -> None:
    names = [c.name for c in CONTROLS]
    assert names == ["expressiveness", "contrast", "max_emotions", "smoothing", "upper_face", "lower_face",
                     "mood_lock"]  # fmt: skip
    for c in (*CONTROLS, GAIN):
        assert c.minimum <= c.default <= c.maximum and c.step > 0
        assert c.label[0].isupper() and len(c.description) > 20 and c.description.endswith(".")
        assert json.loads(json.dumps(c.as_dict()))["name"] == c.name  # the server sends it as JSON
    spans = {c.name: (c.minimum, c.maximum, c.default) for c in CONTROLS}
    assert spans["expressiveness"] == spans["contrast"] == spans["upper_face"] == (0.0, 2.0, 1.0)
    assert spans["max_emotions"][:2] == (1.0, 10.0) and CONTROL_INDEX["max_emotions"].integer
    assert spans["smoothing"][:2] == (0.0, 1.0) and spans["mood_lock"] == (0.0, 1.0, 0.0)
    assert (GAIN.minimum, GAIN.maximum, GAIN.default) == (0.0, 2.0, 1.0)


@pytest.mark.parametrize("value", [math.nan, math.inf, -0.01, 2.01, "1", None, [1.0]])
def test_check_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="expressiveness"):
        CONTROL_INDEX["expressiveness"].check(value)


def test_check_accepts_and_switches() -> None:
    lock = CONTROL_INDEX["mood_lock"]
    assert lock.check(True) == 1.0 and lock.check(0) == 0.0 and lock.check(np.int64(1)) == 1.0
    assert lock.check(np.bool_(True)) == 1.0
    with pytest.raises(ValueError, match="whole number"):
        CONTROL_INDEX["max_emotions"].check(2.5)
    assert CONTROL_INDEX["max_emotions"].check(4.0) == 4.0
    with pytest.raises(ValueError):
        CONTROL_INDEX["contrast"].check(True)  # a boolean is not a contrast
    with pytest.raises(ValueError, match="unknown control"):
        lookup("volume")
    assert isinstance(lookup("smoothing"), Control)


def test_controls_read_back_and_reset_with_the_slot(bank: FaceBank) -> None:
    s = bank.add(0.0)
    assert {c.name: bank.control(s, c.name) for c in CONTROLS} == {c.name: c.default for c in CONTROLS}
    bank.set_control(s, "contrast", 1.5)
    bank.set_expressiveness(s, 0.5)  # the old setter is the expressiveness control
    assert bank.control(s, "contrast") == 1.5 and bank.control(s, "expressiveness") == 0.5
    bank.remove(s)
    s = bank.add(1.0)
    assert bank.control(s, "contrast") == 1.0 and bank.control(s, "expressiveness") == 1.0


def face(**controls: float) -> tuple[FaceBank, int]:
    bank = FaceBank(capacity=1, seed=3)
    s = bank.add(0.0)
    for name, value in controls.items():
        bank.set_control(s, name, value)
    return bank, s


def blend(bank: FaceBank, s: int, cues: dict[str, float]) -> np.ndarray:
    for emotion, x in cues.items():
        bank.cue(s, emotion, x, 0.0, hold=math.inf)
    return settled_frame(bank, s, 2.0)


def test_contrast_sharpens_or_flattens_a_blend() -> None:
    cues = {"joy": 1.0, "surprise": 0.4}  # joy dominates; surprise's brows are its own
    brow = {c: blend(*face(contrast=c), cues)[OUTER] for c in (0.0, 1.0, 2.0)}
    assert brow[0.0] > brow[1.0] > brow[2.0] > 0.0  # weaker emotion pulled up / pushed down
    smile = {c: blend(*face(contrast=c), cues)[SMILE] for c in (0.0, 1.0, 2.0)}
    assert smile[0.0] == smile[1.0] == smile[2.0]  # the dominant emotion keeps its strength
    alone = blend(*face(contrast=2.0), {"surprise": 0.4})
    np.testing.assert_array_equal(alone, blend(*face(), {"surprise": 0.4}))  # one emotion: no effect


def test_max_emotions_shows_only_the_strongest() -> None:
    cues = {"joy": 0.9, "anger": 0.6, "surprise": 0.4}
    full = blend(*face(max_emotions=3), cues)
    one = blend(*face(max_emotions=1), cues)
    two = blend(*face(max_emotions=2), cues)
    assert one[SMILE] == full[SMILE] and one[OUTER] == 0.0 and one[INDEX["browDownLeft"]] == 0.0
    assert two[INDEX["browDownLeft"]] > 0.0 and two[OUTER] == 0.0  # anger in, surprise out
    assert full[OUTER] > 0.0


def test_smoothing_slows_transitions() -> None:
    level = {}
    for s in (0.0, 0.5, 1.0):
        bank, slot = face(smoothing=s)
        bank.cue(slot, "joy", 1.0, 0.0)
        _, frames = run(bank, 0.0, 0.1)
        level[s] = frames[-1, slot, SMILE]
    assert level[0.0] > level[0.5] > level[1.0] > 0.0


def test_smoothing_change_mid_flight_does_not_jump() -> None:
    bank, slot = face()
    bank.cue(slot, "joy", 1.0, 0.0)
    _, a = run(bank, 0.0, 0.1)
    bank.set_control(slot, "smoothing", 1.0)
    _, b = run(bank, 0.1, 0.3)
    smile = np.concatenate([a[:, slot, SMILE], b[:, slot, SMILE]])
    assert np.all(np.diff(smile) >= 0.0) and np.abs(np.diff(smile)).max() < 0.2


def test_upper_and_lower_face_strength() -> None:
    cues = {"surprise": 1.0, "joy": 0.5}
    base = blend(*face(), cues)
    no_upper = blend(*face(upper_face=0.0), cues)
    no_lower = blend(*face(lower_face=0.0), cues)
    assert no_upper[BROW] == 0.0 and no_upper[INDEX["eyeWideLeft"]] == 0.0
    assert no_upper[SMILE] == base[SMILE] and no_upper[INDEX["jawOpen"]] == base[INDEX["jawOpen"]]
    assert no_lower[SMILE] == 0.0 and no_lower[INDEX["jawOpen"]] == 0.0 and no_lower[BROW] == base[BROW]
    double = blend(*face(lower_face=2.0), {"joy": 0.3})
    single = blend(*face(), {"joy": 0.3})
    assert double[SMILE] == pytest.approx(2 * single[SMILE])


def test_mood_is_the_baseline_the_face_returns_to() -> None:
    bank, s = face()
    bank.set_mood(s, "joy", 0.3)
    assert bank.mood(s) == ("joy", 0.3)
    _, frames = run(bank, 0.0, 4.0)
    rest = frames[-1, s, SMILE]
    assert rest == pytest.approx(0.3 * 0.9, abs=1e-3)  # drifts to the mood...
    assert np.all(np.diff(frames[:, s, SMILE]) >= 0.0) and frames[:, s, SMILE].max() <= rest + 1e-6
    bank.cue(s, "anger", 1.0, 4.0, hold=1.0)
    bank.cue(s, "joy", 1.0, 4.0, hold=1.0)
    run(bank, 4.0, 12.0)
    assert bank.emotion_levels(s)["joy"] == pytest.approx(0.3) and bank.emotion_levels(s)["anger"] == 0.0
    bank.set_mood(s, "neutral", 1.0)
    run(bank, 12.0, 20.0)
    assert all(v == 0.0 for v in bank.emotion_levels(s).values())


def test_mood_lock_ignores_cues_and_holds_the_mood() -> None:
    bank, s = face()
    bank.set_mood(s, "sadness", 0.4)
    bank.cue(s, "joy", 1.0, 0.0, hold=math.inf)
    run(bank, 0.0, 1.0)
    bank.set_control(s, "mood_lock", 1)
    bank.cue(s, "anger", 1.0, 1.0, hold=math.inf)  # ignored
    _, frames = run(bank, 1.0, 9.0)
    levels = bank.emotion_levels(s)
    assert levels["joy"] == 0.0 and levels["anger"] == 0.0 and levels["sadness"] == pytest.approx(0.4)
    assert np.abs(np.diff(frames[:, s, QUIET], axis=0)).max() < 0.2  # released smoothly, no pop
    bank.set_control(s, "mood_lock", 0)
    bank.cue(s, "anger", 1.0, 9.0, hold=math.inf)
    run(bank, 9.0, 10.0)
    assert bank.emotion_levels(s)["anger"] > 0.9
