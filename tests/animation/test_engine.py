from __future__ import annotations

import math

import numpy as np
import pytest
from tests.animation.helpers import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from animation import idle
from animation.arkit import HEAD_RANGE, INDEX, N_BLENDSHAPES, N_CHANNELS
from animation.dynamics import max_onset_step
from animation.emotions import EMOTIONS
from animation.engine import SLEW_PER_SECOND, FaceBank
from animation.facs import EMOTION_TO_CHANNELS, active_channels

BASIC = ("joy", "sadness", "anger", "fear", "surprise", "disgust", "contempt")
# Channels the idle layer may move: both blinks, eyeWide (relaxed during a blink). Head is separate.
IDLE = list(idle.BLINK_CHANNELS)
EMOTION_CHANNELS = [c for c in range(N_BLENDSHAPES) if c not in IDLE]


def settled_frame(bank: FaceBank, slot: int, t: float) -> np.ndarray:
    """Frame at the first time >= t at which the face is not blinking (eyeWide undisturbed)."""
    for k in range(60):
        frame = bank.step(t + k / 30)[slot]
        if frame[INDEX["eyeBlinkLeft"]] == 0.0:
            return frame
    raise AssertionError("blinking for two seconds")


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
    # ...and every other blendshape is still exactly at rest.
    off = [c for c in EMOTION_CHANNELS if c not in on]
    assert np.all(frame[off] == 0.0)


@pytest.mark.parametrize(
    ("emotion", "shapes"),
    [
        ("joy", ("mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft", "cheekSquintRight")),
        ("sadness", ("browInnerUp", "mouthFrownLeft", "mouthFrownRight")),
        ("surprise", ("browInnerUp", "browOuterUpLeft", "browOuterUpRight", "eyeWideLeft", "jawOpen")),
        ("fear", ("browInnerUp", "eyeWideLeft", "mouthStretchLeft", "jawOpen")),
        ("anger", ("browDownLeft", "browDownRight", "eyeSquintLeft", "mouthPressLeft")),
        ("disgust", ("noseSneerLeft", "noseSneerRight", "mouthFrownLeft")),
    ],
)
def test_named_shapes_rise(bank: FaceBank, emotion: str, shapes: tuple[str, ...]) -> None:
    slot = bank.add(0.0)
    bank.cue(slot, emotion, 1.0, 0.0)
    frame = settled_frame(bank, slot, 0.8)
    assert all(frame[INDEX[s]] > 0.2 for s in shapes), {s: float(frame[INDEX[s]]) for s in shapes}


def test_contempt_is_one_sided(bank: FaceBank) -> None:
    slot = bank.add(0.0)
    bank.cue(slot, "contempt", 1.0, 0.0)
    frame = settled_frame(bank, slot, 0.8)
    assert frame[INDEX["mouthSmileRight"]] > 0.3 and frame[INDEX["mouthSmileLeft"]] == 0.0
    assert frame[INDEX["mouthDimpleRight"]] > 0.3 and frame[INDEX["mouthDimpleLeft"]] == 0.0


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
    late = frames[times >= 7.5][:, slot, :][:, EMOTION_CHANNELS]
    assert np.all(late == 0.0)  # and exactly neutral soon after


def test_gain_zero_removes_smile_within_two_frames(bank: FaceBank) -> None:
    slot = bank.add(0.0)
    bank.cue(slot, "joy", 1.0, 0.0, hold=math.inf)
    run(bank, 0.0, 1.5)
    bank.set_gain(slot, "joy", 0.0)
    f1, f2 = bank.step(1.5 + 1 / 30)[slot], bank.step(1.5 + 2 / 30)[slot]
    assert 0.0 < f1[INDEX["mouthSmileLeft"]] < 0.9  # moving at once, but not a one-frame pop
    assert f2[INDEX["mouthSmileLeft"]] == 0.0 and f2[INDEX["cheekSquintRight"]] == 0.0
    assert bank.emotion_levels(slot)["joy"] == 1.0  # the envelope itself is untouched


def test_gain_two_amplifies_and_clips(bank: FaceBank) -> None:
    slot = bank.add(0.0)
    bank.cue(slot, "sadness", 0.5, 0.0, hold=math.inf)
    base = settled_frame(bank, slot, 1.5)
    bank.set_gain(slot, "sadness", 2.0)
    boosted = settled_frame(bank, slot, 1.6)
    frown = INDEX["mouthFrownLeft"]
    np.testing.assert_allclose(boosted[frown], 2 * base[frown], rtol=1e-5)
    bank.cue(slot, "sadness", 1.0, 1.7, hold=math.inf)
    assert np.all(settled_frame(bank, slot, 3.0)[:N_BLENDSHAPES] <= 1.0)
    assert settled_frame(bank, slot, 3.1)[INDEX["browInnerUp"]] == 1.0  # 0.7 x 2, clipped


def test_expressiveness_scales_everything(bank: FaceBank) -> None:
    a, b = bank.add(0.0), bank.add(0.0)
    for s in (a, b):
        bank.cue(s, "surprise", 1.0, 0.0, hold=math.inf)
    bank.set_expressiveness(b, 0.5)
    run(bank, 0.0, 1.0)
    fa, fb = bank.step(1.5), bank.step(1.5)
    np.testing.assert_allclose(fb[b, EMOTION_CHANNELS], 0.5 * fa[a, EMOTION_CHANNELS], atol=1e-6)
    bank.set_expressiveness(b, 0.0)
    run(bank, 1.5, 2.0)
    assert np.all(bank.step(2.1)[b, EMOTION_CHANNELS] == 0.0)


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
    for bank, s, (emo, x, t) in ((together, a, ("joy", 0.7, 0.1)), (alone_a, sa, ("joy", 0.7, 0.1))):
        bank.cue(s, emo, x, t)
    for bank, s in ((together, b), (alone_b, sb)):
        bank.cue(s, "anger", 1.0, 0.3, hold=1.0)
        bank.set_gain(s, "anger", 1.5)
        bank.cue(s, "sadness", 0.4, 1.0)
    _, both = run(together, 0.0, 6.0)
    _, only_a = run(alone_a, 0.0, 6.0)
    _, only_b = run(alone_b, 0.0, 6.0)
    np.testing.assert_array_equal(both[:, a, EMOTION_CHANNELS], only_a[:, sa, EMOTION_CHANNELS])
    np.testing.assert_array_equal(both[:, b, EMOTION_CHANNELS], only_b[:, sb, EMOTION_CHANNELS])
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
    assert np.all(bank.step(1.2)[d, EMOTION_CHANNELS] == 0.0)
    for _ in range(5):
        bank.add(1.2)
    assert bank.capacity == 8


def twin_banks() -> tuple[FaceBank, FaceBank, int]:
    x, y = FaceBank(capacity=2, seed=9), FaceBank(capacity=2, seed=9)
    for bank in (x, y):
        s = bank.add(0.0)
        bank.cue(s, "joy", 0.6, 0.0)
        bank.set_gain(s, "fear", 1.3)
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
        lambda b, s: b.set_gain(s, "joy", -0.5),
        lambda b, s: b.set_gain(s, "joy", math.nan),
        lambda b, s: b.set_gain(s, "glee", 1.0),
        lambda b, s: b.set_expressiveness(s, 2.5),
        lambda b, s: b.set_expressiveness(s, math.inf),
        lambda b, s: b.clear(s, math.nan),
        lambda b, s: b.step(math.nan),
        lambda b, s: b.add(math.inf),
    ],
)
def test_validation_raises_and_leaves_state_unchanged(bad) -> None:  # type: ignore[no-untyped-def]
    x, y, s = twin_banks()
    with pytest.raises(ValueError):
        bad(x, s)
    _, fx = run(x, 0.5, 4.0)
    _, fy = run(y, 0.5, 4.0)
    np.testing.assert_array_equal(fx, fy)
    assert x.capacity == y.capacity and x.active_slots() == y.active_slots()


def test_settled_face_repeats_bitwise(bank: FaceBank) -> None:
    a, b = bank.add(0.0), bank.add(0.0)
    bank.cue(a, "joy", 1.0, 0.0, hold=1.0)  # decays away
    bank.cue(b, "thinking", 0.7, 0.0, hold=math.inf)  # held forever
    _, frames = run(bank, 0.0, 30.0)
    for slot in (a, b):
        rows = frames[300:, slot, :N_BLENDSHAPES]  # from 10 s on: settled
        lid = rows[:, INDEX["eyeBlinkLeft"]]
        quiet = rows[lid == 0.0]
        assert len(quiet) > 0.8 * len(rows)
        assert np.all(quiet == quiet[0])  # bitwise constant between blinks: nothing to send
        assert np.any(lid > 0.0)  # (blinks do happen meanwhile)
    assert np.all(frames[300:, a, EMOTION_CHANNELS] == 0.0)


def test_time_never_runs_backwards(bank: FaceBank) -> None:
    slot = bank.add(0.0)
    bank.cue(slot, "surprise", 1.0, 0.0)
    run(bank, 0.0, 0.2)
    level = bank.emotion_levels(slot)["surprise"]
    bank.step(0.1)  # stale time: nothing moves
    assert bank.emotion_levels(slot)["surprise"] == level
    bank.cue(slot, "fear", 1.0, 0.0)  # a cue dated in the past starts now
    assert bank.emotion_levels(slot)["fear"] == 0.0
    frame = bank.step(1000.0)  # a long stall lands on the right (finite) state
    assert np.all(np.isfinite(frame)) and bank.emotion_levels(slot)["surprise"] == 0.0


HOLDS = st.sampled_from([None, 0.0, 0.3, 3.0, math.inf])
ops = st.lists(
    st.one_of(
        st.tuples(st.just("cue"), st.sampled_from(EMOTIONS), st.floats(0.0, 1.0), HOLDS),
        st.tuples(st.just("gain"), st.sampled_from(EMOTIONS), st.floats(0.0, 2.0)),
        st.tuples(st.just("expr"), st.floats(0.0, 2.0)),
        st.tuples(st.just("talk"), st.booleans()),
        st.tuples(st.just("clear")),
        st.tuples(st.just("wait"), st.integers(1, 45)),
    ),
    max_size=25,
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
            case ("expr", v):
                bank.set_expressiveness(s, v)
            case ("talk", on):
                bank.set_talking(s, on)
            case ("clear",):
                bank.clear(s, t)
            case ("wait", n):
                for _ in range(n):
                    t += dt
                    frame = bank.step(t)
                    assert frame.shape == (2, N_CHANNELS) and frame.dtype == np.float32
                    assert np.all(np.isfinite(frame))
                    assert np.all((frame[:, :N_BLENDSHAPES] >= 0.0) & (frame[:, :N_BLENDSHAPES] <= 1.0))
                    assert np.all(np.abs(frame[:, N_BLENDSHAPES:]) <= HEAD_RANGE)
                    # Emotion channels move at most the slew limit per frame, whatever the cues and
                    # gain jumps (0.5 of the range at 30 fps); blink channels are fast by nature.
                    step = np.abs(frame[:, EMOTION_CHANNELS] - prev[:, EMOTION_CHANNELS]).max()
                    assert step <= SLEW_PER_SECOND * dt + 1e-5
                    assert np.abs(frame[:, N_BLENDSHAPES:] - prev[:, N_BLENDSHAPES:]).max() < 0.01
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
    steps = np.abs(np.diff(frames[:, slot, EMOTION_CHANNELS], axis=0)).max()
    assert 0.05 < steps <= max_onset_step(1 / 30) + 1e-6
