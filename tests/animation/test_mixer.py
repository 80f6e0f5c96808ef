"""Layer order and region masks: each classic layering conflict, handled."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from animation import mixer
from animation.arkit import INDEX, N_BLENDSHAPES, N_CHANNELS
from animation.emotions import EMOTION_INDEX, N_EMOTIONS
from animation.engine import FaceBank
from animation.visemes import N_SPEECH, SPEECH_CHANNELS, SPEECH_INDEX
from tests.animation.helpers import EYE_LOOK, HEAD, run

L, R = INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]
SMILE, JAW, CLOSE = INDEX["mouthSmileLeft"], INDEX["jawOpen"], INDEX["mouthClose"]
SENTENCE = (  # "hello people, how are you": a synthetic timeline with a bilabial and rounded vowels
    [0.0, 0.08, 0.16, 0.26, 0.36, 0.44, 0.52, 0.62, 0.72, 0.82, 0.95, 1.05, 1.2],
    ["sil", "E", "nn", "oh", "PP", "ih", "PP", "E", "sil", "aa", "RR", "ou", "sil"],
)


def frame_with(**values: float) -> np.ndarray:
    f = np.zeros((1, N_CHANNELS), np.float32)
    for name, v in values.items():
        f[0, INDEX[name]] = v
    return f


# -- unit level ------------------------------------------------------------------------------------


def test_masks_partition_the_face() -> None:
    speech, gaze, blink = set(SPEECH_CHANNELS), set(mixer.GAZE_CHANNELS), set(mixer.BLINK_CHANNELS)
    assert not (speech & gaze) and not (speech & blink) and not (gaze & blink)
    assert {INDEX["jawOpen"], INDEX["mouthClose"], INDEX["mouthFunnel"], INDEX["tongueOut"]} <= speech
    assert not any(
        INDEX[n] in speech for n in ("browInnerUp", "cheekSquintLeft", "noseSneerLeft", "eyeBlinkLeft")
    )
    # The smile, frown and dimple keep part of the emotion while speaking; everything else is owned.
    keep = {i for i in range(N_SPEECH) if mixer.OWN[i] < 1.0}
    kept = ("mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft")
    assert keep == {SPEECH_INDEX[n] for n in (*kept, "mouthDimpleRight")}


def test_silent_speech_leaves_the_emotion_bitwise() -> None:
    f = np.random.default_rng(0).random((3, N_CHANNELS), dtype=np.float32)
    before = f.copy()
    mixer.blend_speech(f, slice(None), np.zeros((3, N_SPEECH), np.float32), np.zeros((3, 2), np.float32))
    np.testing.assert_array_equal(f, before)


def test_full_speech_owns_the_mouth_but_keeps_the_smile() -> None:
    f = frame_with(mouthSmileLeft=0.9, jawOpen=0.7, mouthPucker=0.5, browInnerUp=0.6)
    shape = np.zeros((1, N_SPEECH), np.float32)
    shape[0, SPEECH_INDEX["jawOpen"]] = 0.3
    mixer.blend_speech(f, np.array([0]), shape, np.array([[1.0, 0.0]], np.float32))
    assert f[0, JAW] == np.float32(0.3)  # the viseme's jaw, not the emotion's
    assert f[0, INDEX["mouthPucker"]] == 0.0
    assert f[0, SMILE] == pytest.approx(0.9 * 0.8)  # the smile stays, mostly
    assert f[0, INDEX["browInnerUp"]] == np.float32(0.6)  # speech never touches the brows


def test_closure_closes_the_lips_whatever_the_jaw() -> None:
    f = frame_with(jawOpen=0.4)
    shape = np.zeros((1, N_SPEECH), np.float32)
    shape[0, [SPEECH_INDEX["jawOpen"], SPEECH_INDEX["mouthLowerDownLeft"], SPEECH_INDEX["mouthFunnel"]]] = 0.3
    mixer.blend_speech(f, np.array([0]), shape, np.array([[1.0, 1.0]], np.float32))
    assert f[0, CLOSE] == f[0, JAW] == np.float32(0.3)  # ARKit: mouthClose = jawOpen seals the lips
    assert f[0, INDEX["mouthLowerDownLeft"]] == 0.0 and f[0, INDEX["mouthFunnel"]] == 0.0


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.float32, (4, N_CHANNELS), elements=st.floats(0.0, 1.0, width=32)),
    arrays(np.float64, 4, elements=st.floats(0.0, 1.0)),
)
def test_blink_is_a_soft_union_never_an_overwrite(frame: np.ndarray, lid: np.ndarray) -> None:
    before = frame.copy()
    mixer.apply_blink(frame, np.arange(4), lid)
    for ch in (L, R):
        assert np.all(frame[:, ch] >= before[:, ch] - 1e-6)  # the expression's closure is kept
        assert np.all(frame[:, ch] >= lid.astype(np.float32) - 1e-6)  # and the blink shows
        assert np.all(frame[:, ch] <= 1.0)
    others = [c for c in range(N_CHANNELS) if c not in mixer.BLINK_CHANNELS]
    np.testing.assert_array_equal(frame[:, others], before[:, others])  # only the lids (and eyeWide) move


def test_gaze_owns_eye_look_from_a_direction() -> None:
    f = np.full((3, N_CHANNELS), 0.5, np.float32)
    mixer.apply_gaze(f, np.array([[0.0, 0.0], [mixer.RANGE_H / 2, 0.0], [0.0, -2 * mixer.RANGE_V]]))
    assert np.all(f[0, EYE_LOOK] == 0.0)  # straight at the viewer: every eyeLook at rest
    # To the subject's left: left eye out, right eye in, by half the range.
    assert f[1, INDEX["eyeLookOutLeft"]] == f[1, INDEX["eyeLookInRight"]] == np.float32(0.5)
    assert f[1, INDEX["eyeLookInLeft"]] == f[1, INDEX["eyeLookOutRight"]] == 0.0
    assert f[2, INDEX["eyeLookDownLeft"]] == f[2, INDEX["eyeLookDownRight"]] == 1.0  # clipped
    others = [c for c in range(N_CHANNELS) if c not in EYE_LOOK]
    assert np.all(f[:, others] == 0.5)


def test_eye_bias_reads_an_expressions_gaze() -> None:
    f = frame_with(eyeLookUpLeft=0.4, eyeLookUpRight=0.4, eyeLookOutLeft=0.2, eyeLookInRight=0.2)
    h, v = (f @ mixer.EYE_BIAS)[0]
    assert h == np.float32(0.2 * mixer.RANGE_H) and v == np.float32(0.4 * mixer.RANGE_V)
    back = np.zeros_like(f)
    mixer.apply_gaze(back, np.array([[h, v]]))
    np.testing.assert_allclose(back[0, EYE_LOOK], f[0, EYE_LOOK], atol=1e-6)  # round trip


# -- the classic conflicts, end to end -----------------------------------------------------------


def closed_eye_bank(closure: float, seed: int = 3) -> tuple[FaceBank, int]:
    """A bank whose 'thinking' expression shuts the eyes to `closure` (a stand-in for e.g. sleepy)."""
    matrix = np.zeros((N_EMOTIONS, N_BLENDSHAPES), np.float32)
    matrix[EMOTION_INDEX["thinking"], [L, R]] = closure
    bank = FaceBank(capacity=2, seed=seed, matrix=matrix)
    slot = bank.add(0.0)
    bank.cue(slot, "thinking", 1.0, 0.0, hold=math.inf)
    return bank, slot


def count_blinks(channel: np.ndarray) -> int:
    shut = channel > 0.9
    return int(np.sum(shut[1:] & ~shut[:-1]))


def test_blink_during_a_half_closed_expression_adds_to_it() -> None:
    bank, slot = closed_eye_bank(0.4)
    _, frames = run(bank, 0.0, 60.0)
    lids = frames[30:, slot, L]  # after the 1 s onset
    assert np.all(lids >= 0.4 - 1e-6)  # the expression's closure is never undone by a blink
    assert lids.max() > 0.95  # and blinks still close the eye fully
    assert 5 <= count_blinks(lids) <= 40  # at a plausible rate


def test_no_twitch_blink_over_nearly_closed_eyes() -> None:
    bank, slot = closed_eye_bank(0.8)
    _, frames = run(bank, 0.0, 60.0)
    assert np.all(frames[60:, slot, L] == np.float32(0.8))  # held exactly


def test_blink_over_a_squint_keeps_the_squint() -> None:
    bank = FaceBank(capacity=1, seed=11)
    slot = bank.add(0.0)
    bank.cue(slot, "anger", 1.0, 0.0, hold=math.inf)  # AU7 lid tightener: eyeSquint
    _, frames = run(bank, 0.0, 30.0)
    squint = frames[30:, slot, INDEX["eyeSquintLeft"]]
    assert np.all(squint == squint[0]) and squint[0] > 0.4  # blinks never touch the squint...
    assert frames[30:, slot, L].max() > 0.9  # ...while they still close the lid
    wide = frames[30:, slot, INDEX["eyeWideLeft"]]
    assert wide.min() < wide.max()  # eyeWide relaxes during blinks (anger glares with AU5)


def test_idle_motion_during_speech_leaves_the_mouth_to_speech() -> None:
    # Two faces speak the same timeline with different idle randomness: their mouths are identical,
    # while blinks, saccades and head motion go on independently during speech.
    bank = FaceBank(capacity=2, seed=5)
    a, b = bank.add(0.0), bank.add(0.0)
    bank.set_state(b, "listening")
    for s in (a, b):
        bank.set_state(s, "speaking")
        for k in range(6):
            bank.visemes(s, 0.5 + 1.3 * k, *SENTENCE)
    _, frames = run(bank, 0.0, 8.5)
    mouth = list(SPEECH_CHANNELS)
    np.testing.assert_array_equal(frames[:, a, mouth], frames[:, b, mouth])
    assert frames[:, a, JAW].max() > 0.3  # it does speak
    for s in (a, b):
        assert np.any(frames[:, s, L] > 0.5)  # blinks while speaking
        assert np.any(
            np.diff(frames[:, s, INDEX["eyeLookOutLeft"]] + frames[:, s, INDEX["eyeLookInLeft"]]) != 0
        )
        assert np.ptp(frames[:, s, HEAD], axis=0).max() > 0.002  # the head moves
    assert not np.array_equal(frames[:, a, EYE_LOOK], frames[:, b, EYE_LOOK])


def test_smile_held_while_speaking() -> None:
    smiling, plain = FaceBank(capacity=1, seed=2), FaceBank(capacity=1, seed=2)
    for bank in (smiling, plain):
        s = bank.add(0.0)
        bank.visemes(s, 1.0, *SENTENCE)
    smiling.cue(0, "joy", 1.0, 0.0, hold=math.inf)
    times, happy = run(smiling, 0.0, 3.0)
    _, neutral = run(plain, 0.0, 3.0)
    talking = (times > 1.1) & (times < 2.1)
    smile = happy[talking, 0, SMILE]
    assert smile.min() >= 0.8 * 0.9 - 1e-5  # the smile stays through every viseme
    # The jaw and lips are the visemes' (identical to a neutral face saying the same), while the smile's
    # cheeks keep the emotion (speech does not own them).
    for name in ("jawOpen", "mouthClose", "mouthPucker", "mouthFunnel", "mouthLowerDownLeft"):
        np.testing.assert_array_equal(happy[talking, 0, INDEX[name]], neutral[talking, 0, INDEX[name]])
    assert np.all(happy[talking, 0, INDEX["cheekSquintLeft"]] == np.float32(0.6))
    assert happy[times > 2.6, 0, SMILE].min() == np.float32(0.9)  # full smile back after speech


def test_speech_keeps_the_upper_face_of_an_emotion() -> None:
    bank = FaceBank(capacity=1, seed=4)
    s = bank.add(0.0)
    bank.cue(s, "surprise", 1.0, 0.0, hold=math.inf)
    bank.visemes(s, 1.0, *SENTENCE)
    times, frames = run(bank, 0.0, 3.0)
    brows = frames[:, 0, [INDEX["browInnerUp"], INDEX["browOuterUpLeft"]]]
    assert np.all(brows[times > 0.8] == brows[-1])  # brows hold through the speech
    jaw = frames[:, 0, JAW]
    assert jaw[(times > 0.8) & (times < 1.0)].min() > 0.25  # surprise's open jaw before speech...
    pp = (times > 1.38) & (times < 1.42)  # ...the visemes' jaw (lips closed at the PP) during...
    assert np.all(frames[pp, 0, CLOSE] == frames[pp, 0, JAW])
    assert jaw[times > 2.7].min() > 0.25  # ...and surprise's jaw again after


def test_gaze_keeps_an_expressions_eye_direction() -> None:
    thinking, plain = FaceBank(capacity=1, seed=8), FaceBank(capacity=1, seed=8)
    for bank in (thinking, plain):
        bank.add(0.0)
    thinking.cue(0, "thinking", 1.0, 0.0, hold=math.inf)
    _, a = run(thinking, 0.0, 10.0)
    _, b = run(plain, 0.0, 10.0)
    up = INDEX["eyeLookUpLeft"]
    # Same seed, same saccades: the thinking face looks the same way plus its upward bias.
    assert np.mean(a[60:, 0, up] - b[60:, 0, up] > 0.2) > 0.8
