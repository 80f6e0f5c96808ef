"""Speech: synthetic viseme timelines -> coarticulated mouth shapes (the voice issue feeds real ones)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from animation import speech
from animation.arkit import INDEX
from animation.engine import FaceBank
from animation.visemes import COARTICULATION, VISEME_INDEX, VISEMES

C = COARTICULATION
JAW, CLOSE, PUCKER, FUNNEL = (INDEX[n] for n in ("jawOpen", "mouthClose", "mouthPucker", "mouthFunnel"))
STRETCH, LOWER, UPPER = INDEX["mouthStretchLeft"], INDEX["mouthLowerDownLeft"], INDEX["mouthUpperUpLeft"]
MOUTH = [JAW, CLOSE, PUCKER, FUNNEL, STRETCH, LOWER, UPPER, INDEX["tongueOut"], INDEX["mouthRollLower"]]


def say(keys: list[tuple[float, str]], t0: float = 1.0, seconds: float = 3.0, fps: float = 100.0):  # type: ignore[no-untyped-def]
    """Speak a timeline (offsets, visemes) from t0 on a fresh neutral face; (times, frames [n, 55])."""
    bank = FaceBank(capacity=1, seed=0)
    s = bank.add(0.0)
    bank.visemes(s, t0, [k[0] for k in keys], [k[1] for k in keys])
    times = np.arange(1, int(seconds * fps) + 1) / fps
    return times, np.stack([bank.step(float(t))[s] for t in times])


def at(times: np.ndarray, frames: np.ndarray, t: float) -> np.ndarray:
    return frames[np.argmin(np.abs(times - t))]


def test_rest_before_and_after() -> None:
    times, frames = say([(0.0, "aa"), (0.2, "sil")])
    before, after = frames[times < 1.0 - C["lead"] - 0.01], frames[times > 1.2 + C["tail"] + 0.01]
    assert np.all(before[:, MOUTH] == 0.0) and np.all(after[:, MOUTH] == 0.0)
    assert at(times, frames, 1.1)[JAW] > 0.5  # the open vowel in between


def test_lips_shape_ahead_of_the_first_sound() -> None:
    times, frames = say([(0.0, "ou"), (0.3, "sil")])
    lead = (times > 1.0 - C["lead"]) & (times < 1.0)
    assert frames[lead, PUCKER].max() > 0.1  # anticipatory rounding before the vowel starts


def test_bilabials_close_the_lips_fully() -> None:
    keys = [(0.0, "aa"), (0.15, "PP"), (0.25, "aa"), (0.4, "sil")]  # "apa": the jaw wants to stay open
    times, frames = say(keys)
    mid = at(times, frames, 1.2)  # centre of the PP
    assert mid[CLOSE] == mid[JAW] and mid[JAW] > 0.0  # mouthClose = jawOpen: the lips meet
    assert mid[LOWER] == 0.0 and mid[UPPER] == 0.0 and mid[FUNNEL] == 0.0
    assert at(times, frames, 1.07)[JAW] > 0.45 and at(times, frames, 1.07)[CLOSE] == 0.0  # open on /a/


@pytest.mark.parametrize("dur", [0.05, 0.08, 0.15])
def test_short_bilabials_still_close(dur: float) -> None:
    keys = [(0.0, "E"), (0.1, "PP"), (0.1 + dur, "oh"), (0.3 + dur, "sil")]
    times, frames = say(keys)
    mid = at(times, frames, 1.1 + dur / 2)
    assert mid[CLOSE] == mid[JAW] and mid[LOWER] == 0.0


def test_rounded_and_spread_vowels_differ() -> None:
    times, frames = say([(0.0, "ou"), (0.25, "sil"), (0.45, "ih"), (0.7, "sil")])
    ou, ih = at(times, frames, 1.12), at(times, frames, 1.57)
    assert ou[PUCKER] > 0.5 and ou[STRETCH] == 0.0
    assert ih[STRETCH] > 0.3 and ih[PUCKER] == 0.0


def test_neighbours_blend() -> None:
    keys = [(0.0, "ou"), (0.1, "aa"), (0.16, "ou"), (0.3, "sil")]  # a short /a/ between rounded vowels
    times, frames = say(keys)
    alone = say([(0.0, "aa"), (0.3, "sil")])
    mid_a = at(times, frames, 1.13)
    assert mid_a[PUCKER] > 0.1  # carried over from its rounded neighbours
    assert mid_a[JAW] < at(*alone, 1.15)[JAW]  # and its jaw undershoots (no time to open fully)
    # A long segment reaches its own shape exactly (neighbours only reach into its edges).
    long = say([(0.0, "ou"), (0.1, "aa"), (0.6, "ou"), (0.8, "sil")])
    np.testing.assert_allclose(at(*long, 1.35)[[JAW, PUCKER, LOWER]], [0.6, 0.0, 0.2], atol=1e-6)


def test_transitions_are_smooth() -> None:
    rng = np.random.default_rng(1)
    names = [VISEMES[i] for i in rng.integers(1, len(VISEMES), 40)]
    offsets = np.concatenate([[0.0], np.cumsum(rng.uniform(0.06, 0.15, 40))])
    _, frames = say(list(zip(offsets, [*names, "sil"], strict=True)), seconds=6.0, fps=30.0)
    steps = np.abs(np.diff(frames[:, MOUTH], axis=0))
    assert steps.max() < 0.45  # the biggest per-frame move at 30 fps: no pops


def test_weights_scale_the_shapes() -> None:
    bank = FaceBank(capacity=2, seed=0)
    a, b = bank.add(0.0), bank.add(0.0)
    bank.visemes(a, 1.0, [0.0, 0.3], ["aa", "sil"])
    bank.visemes(b, 1.0, [0.0, 0.3], ["aa", "sil"], weights=[0.5, 1.0])
    f = [bank.step(t) for t in np.arange(1, 130) / 100][-1]
    assert f[b, JAW] == pytest.approx(0.5 * f[a, JAW])


def test_queued_sentence_plays_after_the_current_one() -> None:
    bank = FaceBank(capacity=1, seed=0)
    s = bank.add(0.0)
    bank.visemes(s, 1.0, [0.0, 0.3], ["aa", "sil"])
    bank.step(1.1)
    bank.visemes(s, 1.5, [0.0, 0.3], ["ou", "sil"])  # starts after the first one ends: both play
    times = np.arange(111, 200) / 100
    frames = np.stack([bank.step(float(t))[s] for t in times])
    assert at(times, frames, 1.15)[JAW] > 0.5 and at(times, frames, 1.65)[PUCKER] > 0.5


def test_interrupt_and_clear_ease_the_mouth() -> None:
    bank = FaceBank(capacity=1, seed=0)
    s = bank.add(0.0)
    bank.visemes(s, 0.0, [0.0, 2.0], ["aa", "sil"])
    times = np.arange(1, 301) / 100
    frames = []
    for t in times:
        if t == 0.5:
            bank.visemes(s, 0.5, [0.0, 0.5], ["ou", "sil"])  # interrupted by another sentence
        if t == 0.8:
            bank.clear_speech(s, 0.8)  # then stopped
        frames.append(bank.step(float(t))[s])
    f = np.stack(frames)
    assert np.abs(np.diff(f[:, MOUTH], axis=0)).max() < 0.2  # at 100 fps: cross-faded over ~8 steps, no snap
    assert at(times, f, 0.7)[PUCKER] > 0.5  # the new sentence took over
    assert np.all(f[times > 0.8 + max(C["tail"], C["release"]), :][:, MOUTH] == 0.0)  # and let go


def test_speech_state_is_per_row_and_resets() -> None:
    sp = speech.Speech.empty(2)
    speech.splice(sp, 1, 0.0, np.array([0.5, 0.7]), np.array([VISEME_INDEX["aa"], 0]), np.ones(2, np.float32))
    assert sp.length[0] == 1 and sp.length[1] == 4  # guard + lead-in + 2 keys
    assert speech.speaking(sp, 1, 0.6) and not speech.speaking(sp, 0, 0.6)
    sp.grow(4)
    assert sp.length[3] == 1 and sp.begin[3] == np.inf
    sp.reset(1)
    assert sp.length[1] == 1 and not speech.speaking(sp, 1, 0.6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(VISEMES), st.floats(0.02, 0.3)), min_size=1, max_size=30))
def test_any_timeline_gives_a_valid_mouth(keys: list[tuple[str, float]]) -> None:
    offsets = np.concatenate([[0.0], np.cumsum([d for _, d in keys])])
    _, frames = say(list(zip(offsets, [*[v for v, _ in keys], "sil"], strict=True)), seconds=2.0, fps=30.0)
    assert np.all(np.isfinite(frames)) and frames[:, :52].min() >= 0.0 and frames[:, :52].max() <= 1.0
    assert np.all(frames[:, CLOSE] <= frames[:, JAW] + 1e-6)  # lips never pushed through each other
