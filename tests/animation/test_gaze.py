"""Gaze: fixations and saccades per conversation state, eye-head coordination, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from animation import gaze
from animation import states as st
from animation.engine import FaceBank

G = st.GAZE


def simulate(state: str, faces: int = 200, seconds: float = 60.0, seed: int = 0) -> np.ndarray:
    """Poses [frames, faces, 4] (eye h, eye v, head h, head v) of faces in one state, at 30 fps."""
    g = gaze.Gaze.empty(faces)
    rng = np.random.default_rng(seed)
    for row in range(faces):
        gaze.start(g, row, 0.0, rng)
    codes, active = np.full(faces, st.STATE_INDEX[state]), np.ones(faces, bool)
    return np.stack([gaze.step_gaze(g, k / 30, active, codes, rng) for k in range(1, int(seconds * 30) + 1)])


@pytest.fixture(scope="module")
def runs() -> dict[str, np.ndarray]:
    return {s: simulate(s) for s in st.STATES}


def on_viewer(pose: np.ndarray) -> np.ndarray:
    return (np.abs(pose[..., 0]) <= G["face_max"]) & (
        np.abs(pose[..., 1] - G["face_mean_v"]) <= G["face_max"]
    )


def shifts_per_minute(pose: np.ndarray, seconds: float = 60.0) -> float:
    moving = np.any(np.diff(pose[..., :2], axis=0) != 0.0, axis=2)
    starts = moving[1:] & ~moving[:-1]
    return float(starts.sum() / pose.shape[1] / (seconds / 60.0))


def test_time_on_the_viewer_follows_the_state(runs: dict[str, np.ndarray]) -> None:
    share = {s: float(on_viewer(p[300:]).mean()) for s, p in runs.items()}
    # Argyle & Cook 1976: listeners look at the speaker ~75 %, speakers at the listener ~40 %.
    assert 0.65 < share["listening"] < 0.9
    assert 0.3 < share["speaking"] < 0.55
    assert share["thinking"] < 0.25
    assert share["listening"] > share["idle"] > share["speaking"] > share["thinking"]


def test_thinking_looks_up_and_aside(runs: dict[str, np.ndarray]) -> None:
    pose = runs["thinking"][300:]
    away = ~on_viewer(pose)
    assert pose[..., 1][away].mean() > 6.0  # up
    assert np.abs(pose[..., 0][away]).mean() > 3.0  # and aside, both sides
    assert np.mean(pose[..., 0][away] > 0) == pytest.approx(0.5, abs=0.1)


def test_speaking_shifts_gaze_more_often_than_listening(runs: dict[str, np.ndarray]) -> None:
    rate = {s: shifts_per_minute(p) for s, p in runs.items()}
    assert rate["speaking"] > rate["listening"] * 1.05
    assert 20 < rate["listening"] < 70 and 20 < rate["speaking"] < 90


def test_fixations_hold_still_and_saccades_are_quick(runs: dict[str, np.ndarray]) -> None:
    eyes = runs["speaking"][..., :2]
    moving = np.any(np.diff(eyes, axis=0) != 0.0, axis=2)
    assert moving.mean() < 0.1  # the eyes are still in > 90 % of frames (nothing to send)
    # A saccade lasts 21 ms + 2.2 ms/deg (< 100 ms for these amplitudes): at most 4 frame steps of motion.
    run_lengths = []
    for f in range(0, eyes.shape[1], 20):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], moving[:, f].astype(int), [0]])))
        run_lengths += list(edges[1::2] - edges[::2])
    assert max(run_lengths) <= 4 and np.median(run_lengths) <= 2


def test_head_takes_a_slow_share_of_each_shift(runs: dict[str, np.ndarray]) -> None:
    pose = runs["thinking"]
    still = np.all(pose[-16:] == pose[-1], axis=(0, 2))  # faces whose last shift is over half a second old
    assert still.sum() > 50
    np.testing.assert_allclose(pose[-1, still, 2:], G["head_share"] * pose[-1, still, :2], atol=1e-9)
    head_steps = np.abs(np.diff(pose[..., 2:], axis=0)).max()
    eye_steps = np.abs(np.diff(pose[..., :2], axis=0)).max()
    assert head_steps < 0.3 * eye_steps  # the head moves over ~0.45 s, the eyes in a frame or two


def test_state_change_moves_the_eyes_soon() -> None:
    bank = FaceBank(capacity=1, seed=3)
    s = bank.add(0.0)
    bank.set_state(s, "listening")
    for k in range(1, 91):
        bank.step(k / 30)
    bank.set_state(s, "thinking")
    assert bank.state(s) == "thinking"
    assert bank._gaze.next_at[s] <= 3.0 + G["latency"][1]
    bank.set_talking(s, True)
    assert bank.state(s) == "speaking"
    bank.set_talking(s, False)
    assert bank.state(s) == "idle"
    bank.set_state(s, "listening")
    bank.set_talking(s, False)  # not speaking: left alone
    assert bank.state(s) == "listening"


def test_deterministic_for_a_seed() -> None:
    np.testing.assert_array_equal(simulate("speaking", 5, 5.0, 9), simulate("speaking", 5, 5.0, 9))
    assert not np.array_equal(simulate("speaking", 5, 5.0, 9), simulate("speaking", 5, 5.0, 10))
