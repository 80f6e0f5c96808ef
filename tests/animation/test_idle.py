from __future__ import annotations

import math

import numpy as np
import pytest
from tests.animation.helpers import run
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from animation import idle
from animation.arkit import INDEX, N_BLENDSHAPES
from animation.emotions import EMOTION_INDEX, N_EMOTIONS
from animation.engine import FaceBank

B = idle.DEFAULT_BLINK
L, R = INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]


def test_lid_shape() -> None:
    tau = np.linspace(-0.1, 0.5, 6001)
    lid = idle.lid(tau, np.ones_like(tau))
    assert np.all(lid[tau < 0] == 0.0) and np.all(lid[tau >= B.duration] == 0.0)
    assert np.all((lid >= 0.0) & (lid <= 1.0))
    closed = (tau >= B.close) & (tau < B.close + B.closed)
    assert np.all(lid[closed] == 1.0)
    down, up = tau < B.close, tau >= B.close + B.closed
    assert np.all(np.diff(lid[down]) >= 0) and np.all(np.diff(lid[up]) <= 0)
    assert B.close < B.open  # the lid falls faster than it rises (VanderWerf et al. 2003)
    assert 0.1 <= B.duration <= 0.4


def test_draw_intervals_mean_matches_rates() -> None:
    rng = np.random.default_rng(0)
    for talking, rate in ((False, 17.0), (True, 26.0)):
        x = idle.draw_intervals(rng, np.full(200_000, talking))
        assert x.min() >= B.refractory
        # Events include double blinks: blinks/min = (1 + p) * 60 / mean interval.
        assert (1 + B.double_prob) * 60.0 / x.mean() == pytest.approx(rate, rel=0.01)


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.float32, (4, N_BLENDSHAPES), elements=st.floats(0.0, 1.0, width=32)),
    arrays(np.float64, 4, elements=st.floats(0.0, 1.0)),
)
def test_blink_is_a_soft_union_never_an_overwrite(frame: np.ndarray, lid: np.ndarray) -> None:
    before = frame.copy()
    out = idle.apply_blink(frame, lid)
    for ch in (L, R):
        assert np.all(out[:, ch] >= before[:, ch] - 1e-6)  # expression closure kept
        assert np.all(out[:, ch] >= lid.astype(np.float32) - 1e-6)  # blink shows
        assert np.all(out[:, ch] <= 1.0)
    others = [c for c in range(N_BLENDSHAPES) if c not in idle.BLINK_CHANNELS]
    np.testing.assert_array_equal(out[:, others], before[:, others])  # only the eye channels move


def test_no_blink_leaves_frame_bitwise_unchanged() -> None:
    frame = np.random.default_rng(1).random((3, N_BLENDSHAPES), dtype=np.float32)
    before = frame.copy()
    idle.apply_blink(frame, np.zeros(3))
    np.testing.assert_array_equal(frame, before)


def count_blinks(channel: np.ndarray) -> np.ndarray:
    """Closures per face: upward crossings of 0.5 (channel is [frames, faces])."""
    shut = channel > 0.5
    return np.sum(shut[1:] & ~shut[:-1], axis=0) + shut[0]


@pytest.mark.parametrize(("talking", "rate"), [(False, 17.0), (True, 26.0)])
def test_blink_rate_statistics(talking: bool, rate: float) -> None:
    # 200 faces x 120 s = 400 face-minutes: ~6 800 (10 400) blinks expected. Intervals are a
    # refractory second plus a gamma(2) remainder, so counts vary less than Poisson: the sd of the
    # total is ~1 %. 5 % also absorbs the start-up transient (first blinks are drawn as a
    # uniform fraction of an interval) and still tells 17 from 26 (a 50 % difference) by far.
    faces, seconds = 200, 120.0
    bank = FaceBank(capacity=faces, seed=7)
    for _ in range(faces):
        s = bank.add(0.0)
        bank.set_talking(s, talking)
    left, right = [], []
    for k in range(1, int(seconds * 30) + 1):
        frame = bank.step(k / 30)
        left.append(frame[:, L])
        right.append(frame[:, R])
    lids = np.stack(left)
    per_minute = count_blinks(lids).sum() / (faces * seconds / 60.0)
    assert per_minute == pytest.approx(rate, rel=0.05)
    # Between blinks the lid is exactly open: most frames are exact zeros, and no closure run is
    # longer than a double blink (two blinks + the longest gap + one frame of sampling).
    assert np.mean(lids == 0.0) > 0.8
    assert np.array_equal(lids, np.stack(right))
    longest = 2 * B.duration * B.scale_hi + B.double_gap_hi + 1 / 30
    for f in range(0, faces, 37):
        on = np.concatenate([[0], (lids[:, f] > 0).astype(int), [0]])
        edges = np.flatnonzero(np.diff(on))
        runs = (edges[1::2] - edges[::2]) / 30.0
        assert runs.size and runs.max() <= longest


def closed_eye_bank(closure: float, seed: int = 3) -> tuple[FaceBank, int]:
    """A bank whose 'thinking' expression shuts the eyes to `closure` (a stand-in for e.g. sleepy)."""
    matrix = np.zeros((N_EMOTIONS, N_BLENDSHAPES), np.float32)
    matrix[EMOTION_INDEX["thinking"], [L, R]] = closure
    bank = FaceBank(capacity=2, seed=seed, matrix=matrix)
    slot = bank.add(0.0)
    bank.cue(slot, "thinking", 1.0, 0.0, hold=math.inf)
    return bank, slot


def test_blinks_layer_over_a_half_closed_expression() -> None:
    bank, slot = closed_eye_bank(0.4)
    _, frames = run(bank, 0.0, 60.0)
    lids = frames[30:, slot, L]  # after the 1 s onset
    assert np.all(lids >= 0.4 - 1e-6)  # the expression's closure is never undone by a blink
    assert lids.max() > 0.95  # and blinks still close the eye fully
    assert 5 <= count_blinks(lids[:, None])[0] <= 40  # they still happen, at a plausible rate


def test_blinks_suppressed_when_expression_nearly_shuts_the_eyes() -> None:
    bank, slot = closed_eye_bank(0.8)
    _, frames = run(bank, 0.0, 60.0)
    lids = frames[60:, slot, L]
    assert np.all(lids == np.float32(0.8))  # held exactly: no twitching blink on top


def test_sway_is_small_slow_and_distinct_per_face() -> None:
    bank = FaceBank(capacity=2, seed=5)
    a, b = bank.add(0.0), bank.add(0.0)
    _, frames = run(bank, 0.0, 60.0)
    head = frames[:, :, N_BLENDSHAPES:]
    assert np.abs(head).max() <= max(idle.DEFAULT_SWAY.amplitude) + 1e-6  # a few degrees at most
    assert np.abs(head).max() > 0.005  # but alive
    assert np.abs(np.diff(head, axis=0)).max() < 0.005  # slow: < 0.3 degrees per frame
    assert not np.allclose(head[:, a], head[:, b])  # faces do not sway in lockstep


def test_talking_retimes_the_pending_blink() -> None:
    blinks = idle.Blinks.empty(1)
    blinks.next_at[0] = 10.0
    idle.retime(blinks, 0, 4.0, talking=True)
    # Waiting 6 s at rest becomes 6 x (17 / 26) s while talking: same phase, faster clock.
    assert blinks.next_at[0] == pytest.approx(4.0 + 6.0 * 17.0 / 26.0)
    idle.retime(blinks, 0, 4.0, talking=False)
    assert blinks.next_at[0] == pytest.approx(10.0)
