"""FaceBank end to end: known answers per emotion, properties, slots, validation, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from animation.arkit import HEAD_RANGE, INDEX, N_BLENDSHAPES, N_CHANNELS
from animation.controls import CONTROLS
from animation.dynamics import max_onset_step
from animation.emotions import EMOTIONS
from animation.engine import SLEW_PER_SECOND, FaceBank
from animation.facs import ANTAGONISTS, EMOTION_TO_CHANNELS, active_channels
from animation.states import STATES
from animation.visemes import SPEECH_CHANNELS, VISEMES
from tests.animation.helpers import EXPRESSION, HEAD, QUIET, run, settled_frame

BASIC = ("joy", "sadness", "anger", "fear", "surprise", "disgust", "contempt")


@pytest.mark.parametrize("emotion", BASIC)
def test_basic_emotion_drives_its_action_units_only(bank: FaceBank, emotion: str) -> None:
    slot = bank.add(0.0)
    bank.cue(slot, emotion, 1.0, 0.0)
    frame = settled_frame(bank, slot, 0.8)
    expected = EMOTION_TO_CHANNELS[EMOTIONS.index(emotion)]
    on = [INDEX[n] for n in active_channels(emotion)]
    # After the onset the prototype's shapes are at their full weight...
    np.testing.assert_allclose(frame[on], expected[on], atol=0.02)
    assert frame[on].min() > 0.1
    # ...every other expression channel is still exactly at rest...
    off = [c for c in EXPRESSION if c not in on]
    assert np.all(frame[off] == 0.0)
    # ...and of each antagonist pair (smile / frown, eyes up / down...) at most one side is on.
    assert not np.any((frame[ANTAGONISTS[:, 0]] > 0) & (frame[ANTAGONISTS[:, 1]] > 0))


@pytest.mark.parametrize(
    ("emotion", "shapes", "antagonists"),
    [
        ("joy", ("mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft"), ("mouthFrownLeft",)),
        ("sadness", ("browInnerUp", "mouthFrownLeft"), ("mouthSmileLeft", "browOuterUpLeft")),
        ("surprise", ("browInnerUp", "browOuterUpLeft", "eyeWideLeft", "jawOpen"), ("browDownLeft",)),
        ("fear", ("browInnerUp", "eyeWideLeft", "mouthStretchLeft", "jawOpen"), ("mouthSmileLeft",)),
        ("anger", ("browDownLeft", "browDownRight", "eyeSquintLeft", "mouthPressLeft"), ("browInnerUp",)),
        ("disgust", ("noseSneerLeft", "noseSneerRight", "mouthFrownLeft"), ("mouthSmileLeft",)),
        ("contempt", ("mouthSmileRight", "mouthDimpleRight"), ("mouthSmileLeft", "mouthFrownRight")),
    ],
)  # fmt: skip
def test_known_answers(
    bank: FaceBank, emotion: str, shapes: tuple[str, ...], antagonists: tuple[str, ...]
) -> None:
    slot = bank.add(0.0)
    bank.cue(slot, emotion, 1.0, 0.0)
    frame = settled_frame(bank, slot, 0.8)
    assert all(frame[INDEX[s]] > 0.2 for s in shapes), {s: float(frame[INDEX[s]]) for s in shapes}
    assert all(frame[INDEX[s]] == 0.0 for s in antagonists)


def test_joy_and_sadness_resolve_instead_of_mush(bank: FaceBank) -> None:
    slot = bank.add(0.0)
    bank.cue(slot, "joy", 1.0, 0.0, hold=math.inf)
    bank.cue(slot, "sadness", 1.0, 0.0, hold=math.inf)
    frame = settled_frame(bank, slot, 1.0)
    smile, frown = frame[INDEX["mouthSmileLeft"]], frame[INDEX["mouthFrownLeft"]]
    assert min(smile, frown) == 0.0 and max(smile, frown) > 0.1  # the corners go one way
    assert frame[INDEX["browInnerUp"]] > 0.5  # the sad brow is not part of the conflict


def test_onset_is_not_a_snap_and_decay_returns_to_neutral(bank: FaceBank) -> None:
    slot = bank.add(0.0)
    bank.step(0.0)
    bank.cue(slot, "joy", 1.0, 0.0, hold=2.0)
    times, frames = run(bank, 0.0, 10.0)
    smile = frames[:, slot, INDEX["mouthSmileLeft"]]
    peak = EMOTION_TO_CHANNELS[EMOTIONS.index("joy"), INDEX["mouthSmileLeft"]]
    assert smile[0] < 0.2 * peak  # first frame well below the target
    assert smile[times <= 2.0].max() == pytest.approx(peak, abs=1e-3)
    assert smile[np.searchsorted(times, 5.0)] < 0.01  # nearly gone 3 s after the hold
    assert np.all(frames[times >= 7.5][:, slot][:, EXPRESSION] == 0.0)  # and exactly neutral soon after


def test_micro_expression_flashes(bank: FaceBank) -> None:
    slot = bank.add(0.0)
    bank.step(0.0)
    bank.cue(slot, "surprise", 1.0, 0.0, hold=0.2)
    times, frames = run(bank, 0.0, 1.5, fps=60)
    brow = (
        frames[:, slot, INDEX["browOuterUpLeft"]]
        / EMOTION_TO_CHANNELS[EMOTIONS.index("surprise"), INDEX["browOuterUpLeft"]]
    )
    assert brow[times <= 0.15].max() > 0.6  # fast onset
    assert brow[times >= 0.8].max() < 0.05  # and gone within ~half a second after the hold
    normal = FaceBank(capacity=1, seed=1)
    s = normal.add(0.0)
    normal.cue(s, "surprise", 1.0, 0.0, hold=2.0)
    assert run(normal, 0.0, 2.5)[1][-1, s, INDEX["browOuterUpLeft"]] > 0.3  # a normal cue lingers


def test_gain_zero_removes_smile_smoothly(bank: FaceBank) -> None:
    slot = bank.add(0.0)
    bank.cue(slot, "joy", 1.0, 0.0, hold=math.inf)
    run(bank, 0.0, 1.5)
    bank.set_gain(slot, "joy", 0.0)
    _, frames = run(bank, 1.5, 1.5 + 5 / 30)
    smile = np.concatenate([[0.9], frames[:, slot, INDEX["mouthSmileLeft"]]])
    assert 0.0 < smile[1] < 0.9  # moving at once, but not a one-frame pop
    assert np.all(np.abs(np.diff(smile)) <= SLEW_PER_SECOND / 30 + 1e-6)
    assert smile[-1] == 0.0 and frames[-1, slot, INDEX["cheekSquintRight"]] == 0.0
    assert bank.emotion_levels(slot)["joy"] == 1.0  # the envelope itself is untouched


def test_gain_two_amplifies_and_saturates(bank: FaceBank) -> None:
    slot = bank.add(0.0)
    bank.cue(slot, "sadness", 0.5, 0.0, hold=math.inf)
    base = settled_frame(bank, slot, 1.5)
    bank.set_gain(slot, "sadness", 2.0)
    boosted = settled_frame(bank, slot, 1.8)
    frown = INDEX["mouthFrownLeft"]
    np.testing.assert_allclose(boosted[frown], 2 * base[frown], rtol=1e-5)
    bank.cue(slot, "sadness", 1.0, 1.9, hold=math.inf)
    assert np.all(settled_frame(bank, slot, 3.0)[:N_BLENDSHAPES] <= 1.0)
    assert settled_frame(bank, slot, 3.1)[INDEX["browInnerUp"]] == 1.0  # AU1 0.7 x 2 saturates at 1


def test_neutral_cue_and_clear_release_everything(bank: FaceBank) -> None:
    slot = bank.add(0.0)
    bank.cue(slot, "anger", 1.0, 0.0, hold=math.inf)
    bank.cue(slot, "fear", 0.5, 0.0, hold=math.inf)
    run(bank, 0.0, 1.0)
    bank.cue(slot, "neutral", 1.0, 1.0, hold=3.0)
    run(bank, 1.0, 8.0)
    levels = bank.emotion_levels(slot)
    assert levels["anger"] == 0.0 and levels["fear"] == 0.0
    bank.cue(slot, "joy", 1.0, 8.0, hold=math.inf)
    run(bank, 8.0, 9.0)
    bank.clear(slot, 9.0)
    assert bank.emotion_levels(slot)["joy"] == 1.0  # clear is smooth: nothing jumps at once
    run(bank, 9.0, 16.0)
    assert all(v == 0.0 for v in bank.emotion_levels(slot).values())


def test_two_faces_together_equal_each_alone() -> None:
    together = FaceBank(capacity=2, seed=1)
    a, b = together.add(0.0), together.add(0.0)
    alone_a, alone_b = FaceBank(capacity=1, seed=2), FaceBank(capacity=1, seed=3)
    sa, sb = alone_a.add(0.0), alone_b.add(0.0)
    for bank, s in ((together, a), (alone_a, sa)):
        bank.cue(s, "joy", 0.7, 0.1)
    for bank, s in ((together, b), (alone_b, sb)):
        bank.cue(s, "anger", 1.0, 0.3, hold=1.0)
        bank.set_gain(s, "anger", 1.5)
        bank.cue(s, "sadness", 0.4, 1.0)
        bank.visemes(s, 0.5, [0.0, 0.1, 0.2, 0.3], ["sil", "aa", "PP", "sil"])
    _, both = run(together, 0.0, 6.0)
    _, only_a = run(alone_a, 0.0, 6.0)
    _, only_b = run(alone_b, 0.0, 6.0)
    np.testing.assert_allclose(both[:, a, EXPRESSION], only_a[:, sa, EXPRESSION], atol=1e-6)
    np.testing.assert_allclose(both[:, b, EXPRESSION], only_b[:, sb, EXPRESSION], atol=1e-6)
    assert together.emotion_levels(b) == alone_b.emotion_levels(sb)


def test_slots_are_freed_reused_and_capacity_doubles() -> None:
    bank = FaceBank(capacity=2, seed=0)
    a, b = bank.add(0.0), bank.add(0.0)
    bank.cue(b, "joy", 1.0, 0.0, hold=math.inf)
    c = bank.add(0.0)  # third face: capacity doubles, b keeps its state
    assert bank.capacity == 4 and len({a, b, c}) == 3
    frames = run(bank, 0.0, 1.0)[1]
    assert frames.shape[1:] == (4, N_CHANNELS)
    assert frames[-1, b, INDEX["mouthSmileLeft"]] > 0.8
    bank.remove(b)
    assert bank.active_slots() == [a, c]
    assert np.all(bank.step(1.1)[b] == 0.0)  # a free slot's row is zeros
    with pytest.raises(ValueError):
        bank.remove(b)
    with pytest.raises(ValueError):
        bank.cue(b, "joy", 1.0, 1.1)
    d = bank.add(1.1)
    assert d == b  # reused
    assert bank.emotion_levels(d)["joy"] == 0.0  # and fresh
    assert np.all(bank.step(1.2)[d, EXPRESSION] == 0.0)
    for _ in range(5):
        bank.add(1.2)
    assert bank.capacity == 8


def twin_banks() -> tuple[FaceBank, FaceBank, int]:
    x, y = FaceBank(capacity=2, seed=9), FaceBank(capacity=2, seed=9)
    for bank in (x, y):
        s = bank.add(0.0)
        bank.cue(s, "joy", 0.6, 0.0)
        bank.set_gain(s, "fear", 1.3)
        bank.visemes(s, 0.2, [0.0, 0.1, 0.3], ["aa", "ou", "sil"])
        run(bank, 0.0, 0.5)
    return x, y, s


@pytest.mark.parametrize(
    "bad",
    [
        lambda b, s: b.cue(s, "happy", 1.0, 0.5),  # an alias, not an emotion
        lambda b, s: b.cue(s, "Joy", 1.0, 0.5),
        lambda b, s: b.cue(s, "joy", math.nan, 0.5),
        lambda b, s: b.cue(s, "joy", math.inf, 0.5),
        lambda b, s: b.cue(s, "joy", -0.1, 0.5),
        lambda b, s: b.cue(s, "joy", 1.01, 0.5),
        lambda b, s: b.cue(s, "joy", "1", 0.5),
        lambda b, s: b.cue(s, "joy", 1.0, math.nan),
        lambda b, s: b.cue(s, "joy", 1.0, 0.5, hold=-1.0),
        lambda b, s: b.cue(s, "joy", 1.0, 0.5, hold=math.nan),
        lambda b, s: b.cue(s + 1, "joy", 1.0, 0.5),  # free slot
        lambda b, s: b.cue(99, "joy", 1.0, 0.5),
        lambda b, s: b.set_gain(s, "joy", 2.01),
        lambda b, s: b.set_gain(s, "joy", -0.5),  # negative gain
        lambda b, s: b.set_gain(s, "joy", math.nan),
        lambda b, s: b.set_gain(s, "glee", 1.0),
        lambda b, s: b.set_expressiveness(s, 2.5),
        lambda b, s: b.set_expressiveness(s, math.inf),
        lambda b, s: b.set_control(s, "brightness", 1.0),
        lambda b, s: b.set_control(s, "contrast", math.nan),
        lambda b, s: b.set_control(s, "contrast", 2.5),
        lambda b, s: b.set_control(s, "max_emotions", 0),
        lambda b, s: b.set_control(s, "max_emotions", 2.5),
        lambda b, s: b.set_control(s, "smoothing", -0.1),
        lambda b, s: b.set_control(s, "mood_lock", 0.5),
        lambda b, s: b.set_control(s, "upper_face", "1"),
        lambda b, s: b.set_mood(s, "bliss", 0.5),
        lambda b, s: b.set_mood(s, "joy", math.nan),
        lambda b, s: b.set_mood(s, "joy", 1.5),
        lambda b, s: b.set_state(s, "sleeping"),
        lambda b, s: b.set_state(s, None),
        lambda b, s: b.visemes(s, 0.5, [0.0, 0.1], ["aa", "xx"]),  # unknown viseme
        lambda b, s: b.visemes(s, 0.5, [0.0, 0.1], ["aa", "PP"]),  # does not end in sil
        lambda b, s: b.visemes(s, 0.5, [0.1, 0.1], ["aa", "sil"]),  # not increasing
        lambda b, s: b.visemes(s, 0.5, [0.0, math.nan], ["aa", "sil"]),
        lambda b, s: b.visemes(s, 0.5, [-0.1, 0.1], ["aa", "sil"]),
        lambda b, s: b.visemes(s, 0.5, [0.0], ["aa", "sil"]),  # lengths differ
        lambda b, s: b.visemes(s, 0.5, [0.0, 0.1], ["aa", "sil"], weights=[1.0, 1.5]),
        lambda b, s: b.visemes(s, math.inf, [0.0, 0.1], ["aa", "sil"]),
        lambda b, s: b.visemes(s, 0.5, [], []),
        lambda b, s: b.visemes(s, 0.5, "0.0", "sil"),
        lambda b, s: b.clear_speech(s, math.nan),
        lambda b, s: b.clear(s, math.nan),
        lambda b, s: b.step(math.nan),
        lambda b, s: b.add(math.inf),
    ],
)
def test_invalid_input_raises_and_leaves_state_unchanged(bad) -> None:  # type: ignore[no-untyped-def]
    x, y, s = twin_banks()
    with pytest.raises(ValueError):
        bad(x, s)
    _, fx = run(x, 0.5, 3.0)
    _, fy = run(y, 0.5, 3.0)
    np.testing.assert_array_equal(fx, fy)
    assert x.capacity == y.capacity and x.active_slots() == y.active_slots()


def test_error_messages_are_clear(bank: FaceBank) -> None:
    s = bank.add(0.0)
    with pytest.raises(ValueError, match="unknown emotion 'glee'"):
        bank.cue(s, "glee", 1.0, 0.0)
    with pytest.raises(ValueError, match="intensity must be finite"):
        bank.cue(s, "joy", math.nan, 0.0)
    with pytest.raises(ValueError, match=r"gain must be finite and in \[0.0, 2.0\]"):
        bank.set_gain(s, "joy", -1.0)
    with pytest.raises(ValueError, match="unknown control 'x'"):
        bank.set_control(s, "x", 1.0)
    with pytest.raises(ValueError, match="unknown viseme 'zz'"):
        bank.visemes(s, 0.0, [0.0, 0.1], ["zz", "sil"])
    with pytest.raises(ValueError, match="unknown state 'asleep'"):
        bank.set_state(s, "asleep")


def test_settled_face_repeats_bitwise_between_idle_events(bank: FaceBank) -> None:
    a, b = bank.add(0.0), bank.add(0.0)
    bank.cue(a, "joy", 1.0, 0.0, hold=1.0)  # decays away
    bank.cue(b, "anger", 0.7, 0.0, hold=math.inf)  # held forever
    _, frames = run(bank, 0.0, 30.0)
    for slot in (a, b):
        rows = frames[300:, slot]  # from 10 s on: settled
        np.testing.assert_array_equal(rows[:, QUIET], np.broadcast_to(rows[0, QUIET], rows[:, QUIET].shape))
        # Gaze holds still during fixations: the eyes change in few frames (saccades), so the delta
        # encoder mostly sends nothing for them; blinks do happen meanwhile.
        eyes = rows[:, :N_BLENDSHAPES][
            :, [INDEX[n] for n in ("eyeLookUpLeft", "eyeLookOutLeft", "eyeLookInLeft")]
        ]
        changed = np.any(np.diff(eyes, axis=0) != 0.0, axis=1)
        assert 0.0 < changed.mean() < 0.25
        assert np.any(rows[:, INDEX["eyeBlinkLeft"]] > 0.5)
    assert np.all(frames[300:, a][:, EXPRESSION] == 0.0)


def test_time_never_runs_backwards(bank: FaceBank) -> None:
    slot = bank.add(0.0)
    bank.cue(slot, "surprise", 1.0, 0.0)
    run(bank, 0.0, 0.2)
    level = bank.emotion_levels(slot)["surprise"]
    before = bank.step(0.2)[slot]
    assert np.array_equal(bank.step(0.1)[slot][:N_BLENDSHAPES], before[:N_BLENDSHAPES])  # stale: holds
    assert bank.emotion_levels(slot)["surprise"] == level
    bank.cue(slot, "fear", 1.0, 0.0)  # a cue dated in the past starts now
    assert bank.emotion_levels(slot)["fear"] == 0.0
    frame = bank.step(1000.0)  # a long stall lands on the right (finite) state
    assert np.all(np.isfinite(frame)) and bank.emotion_levels(slot)["surprise"] == 0.0


def test_deterministic_for_a_seed_and_rng_injectable() -> None:
    def script(bank: FaceBank) -> np.ndarray:
        s = bank.add(0.0)
        bank.cue(s, "joy", 0.8, 0.3)
        bank.set_state(s, "speaking")
        bank.visemes(s, 0.5, [0.0, 0.1, 0.2, 0.4], ["E", "SS", "oh", "sil"])
        return run(bank, 0.0, 20.0)[1]

    a, b = script(FaceBank(capacity=1, seed=42)), script(FaceBank(capacity=1, seed=42))
    np.testing.assert_array_equal(a, b)
    c = script(FaceBank(capacity=1, rng=np.random.default_rng(42)))
    np.testing.assert_array_equal(a, c)
    d = script(FaceBank(capacity=1, seed=43))
    assert not np.array_equal(a, d)  # idle life differs...
    np.testing.assert_array_equal(a[:, 0, QUIET], d[:, 0, QUIET])  # ...the expression does not


HOLDS = st.sampled_from([None, 0.0, 0.2, 3.0, math.inf])
TIMELINE = st.lists(st.sampled_from(VISEMES), min_size=1, max_size=8)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("cue"), st.sampled_from(EMOTIONS), st.floats(0.0, 1.0), HOLDS),
        st.tuples(st.just("gain"), st.sampled_from(EMOTIONS), st.floats(0.0, 2.0)),
        st.tuples(st.just("control"), st.sampled_from(CONTROLS), st.floats(0.0, 1.0)),
        st.tuples(st.just("mood"), st.sampled_from(EMOTIONS), st.floats(0.0, 1.0)),
        st.tuples(st.just("state"), st.sampled_from(STATES)),
        st.tuples(st.just("talk"), st.booleans()),
        st.tuples(st.just("speak"), TIMELINE, st.floats(0.04, 0.2)),
        st.tuples(st.just("hush"),),
        st.tuples(st.just("clear"),),
        st.tuples(st.just("wait"), st.integers(1, 45)),
    ),
    max_size=25,
)  # fmt: skip


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops, st.integers(0, 2**32 - 1), st.sampled_from([1 / 30, 1 / 24, 1 / 60]))
def test_random_use_keeps_frames_valid_and_smooth(program: list[tuple], seed: int, dt: float) -> None:
    bank = FaceBank(capacity=2, seed=seed)
    faces = [bank.add(0.0), bank.add(0.0)]
    t, prev = 0.0, bank.step(0.0)
    for i, op in enumerate(program):
        s = faces[i % 2]
        match op:
            case ("cue", emo, x, hold):
                bank.cue(s, emo, x, t, hold=hold)
            case ("gain", emo, g):
                bank.set_gain(s, emo, g)
            case ("control", control, u):
                value = control.minimum + u * (control.maximum - control.minimum)
                bank.set_control(s, control.name, round(value) if control.step == 1 else value)
            case ("mood", emo, x):
                bank.set_mood(s, emo, x)
            case ("state", state):
                bank.set_state(s, state)
            case ("talk", on):
                bank.set_talking(s, on)
            case ("speak", names, spacing):
                bank.visemes(s, t, np.arange(len(names) + 1) * spacing, [*names, "sil"])
            case ("hush",):
                bank.clear_speech(s, t)
            case ("clear",):
                bank.clear(s, t)
            case ("wait", n):
                for _ in range(n):
                    t += dt
                    frame = bank.step(t)
                    assert frame.shape == (2, N_CHANNELS) and frame.dtype == np.float32
                    assert np.all(np.isfinite(frame))
                    assert np.all((frame[:, :N_BLENDSHAPES] >= 0.0) & (frame[:, :N_BLENDSHAPES] <= 1.0))
                    assert np.all(np.abs(frame[:, HEAD]) <= HEAD_RANGE)
                    # Emotion-only channels move at most the slew limit per frame, whatever the cues and
                    # control jumps; the mouth (visemes) and the head move boundedly; blinks and
                    # saccades are fast by nature.
                    assert np.abs(frame[:, QUIET] - prev[:, QUIET]).max() <= SLEW_PER_SECOND * dt + 1e-5
                    assert (
                        np.abs(frame[:, list(SPEECH_CHANNELS)] - prev[:, list(SPEECH_CHANNELS)]).max() <= 0.7
                    )
                    assert np.abs(frame[:, HEAD] - prev[:, HEAD]).max() < 0.01
                    prev = frame
        for s2 in faces:
            assert all(0.0 <= v <= 1.0 for v in bank.emotion_levels(s2).values())


@pytest.mark.parametrize("emotion", BASIC)
def test_single_cue_onset_is_smooth_at_unit_gain(emotion: str) -> None:
    # Without gain jumps, one emotion's channels move far slower than the slew cap: at most the
    # spring's onset speed (attack omega / e per second) times the channel's weight (<= 1).
    bank = FaceBank(capacity=1, seed=4)
    slot = bank.add(0.0)
    bank.cue(slot, emotion, 1.0, 0.5)
    _, frames = run(bank, 0.0, 8.0)
    steps = np.abs(np.diff(frames[:, slot, EXPRESSION], axis=0)).max()
    assert 0.05 < steps <= max_onset_step(1 / 30) + 1e-6
