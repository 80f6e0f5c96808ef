"""Head motion: small, slow, per-face sway; breathing on the pitch channel; state-dependent size."""

from __future__ import annotations

import numpy as np
import pytest

from animation import head
from animation import states as st
from animation.engine import FaceBank
from tests.animation.helpers import HEAD, run

P = head.DEFAULT_HEAD


def simulate(
    params: head.HeadParams, faces: int = 4, seconds: float = 60.0, scale: float = 1.0
) -> np.ndarray:
    h = head.Head.empty(faces, params)
    rng = np.random.default_rng(0)
    for row in range(faces):
        h.draw(row, rng, scale, params)
    dt, target = np.full(faces, 1 / 30), np.full(faces, scale)
    return np.stack([head.step_head(h, k / 30, dt, target, params) for k in range(int(seconds * 30))])


def test_sway_is_small_slow_and_distinct_per_face() -> None:
    pose = simulate(P)
    assert np.all(
        np.abs(pose).max(axis=(0, 1)) <= np.array(P.sway) + P.breath_amplitude * np.array([0, 1, 0]) + 1e-9
    )
    assert np.abs(pose).max() > 0.01  # alive: more than half a degree
    assert np.abs(np.diff(pose, axis=0)).max() < 0.002  # slow: < 0.12 degree per frame
    assert not np.allclose(pose[:, 0], pose[:, 1])  # faces do not sway in lockstep


def test_breathing_nods_the_pitch_at_a_resting_rate() -> None:
    pose = simulate(head.HeadParams(sway=(0.0, 0.0, 0.0)), faces=8, seconds=120.0)
    assert np.all(pose[..., [0, 2]] == 0.0)  # yaw and roll untouched
    pitch = pose[..., 1]
    assert np.abs(pitch).max() == pytest.approx(P.breath_amplitude, rel=0.01)
    crossings = np.sum(np.diff(np.sign(pitch), axis=0) > 0, axis=0)  # one upward crossing per breath
    assert np.all((crossings >= 12 * 2 - 1) & (crossings <= 18 * 2 + 1))  # 12-18 breaths a minute


def test_sway_size_follows_the_state_without_a_jump() -> None:
    bank = FaceBank(capacity=1, seed=1)
    s = bank.add(0.0)
    _, idle = run(bank, 0.0, 20.0)
    bank.set_state(s, "speaking")
    _, talk = run(bank, 20.0, 60.0)
    steps = np.abs(np.diff(np.concatenate([idle, talk])[:, s, HEAD], axis=0))
    assert steps.max() < 0.01
    assert bank._head.scale[s] == pytest.approx(st.HEAD_SCALE[st.SPEAKING])
    assert np.ptp(talk[:, s, 0 + 52]) > np.ptp(idle[:, s, 0 + 52]) * 0.8  # the head moves more
