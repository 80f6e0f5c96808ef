"""Head motion: small, slow, per-face sway; breathing on the pitch channel; state-dependent size."""

from __future__ import annotations

import math

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


def test_posture_follows_its_target_with_a_lag_and_a_speed_cap() -> None:
    params = head.HeadParams(sway=(0.0, 0.0, 0.0), breath_amplitude=0.0)
    h = head.Head.empty(3, params)
    target = np.array([[0.0, 0.1, 0.0], [0.2, -0.3, 0.15], [0.0, 0.0, 0.0]])
    dt = np.full(3, 1 / 30)
    pose = np.stack([head.step_head(h, k / 30, dt, np.ones(3), params, target) for k in range(120)])
    steps = np.abs(np.diff(np.concatenate([np.zeros((1, 3, 3)), pose]), axis=0))
    assert steps.max() <= params.posture_rate / 30 + 1e-12  # never faster than the cap
    np.testing.assert_allclose(pose[-1], target, atol=1e-3)  # and there within 4 s
    assert np.all(pose[:, 2] == 0.0)  # a face with no posture stays put
    # Small gaps close with the lag alone: the first step is dt / posture_time of the way, at most.
    assert 0.0 < pose[0, 0, 1] <= 0.1 * (1 / 30) / params.posture_time
    held = head.step_head(h, 4.0, dt, np.ones(3), params)  # no target: the posture is kept
    np.testing.assert_allclose(held, pose[-1])


def test_posture_is_reset_with_the_face() -> None:
    h = head.Head.empty(2)
    h.posture[1] = (0.1, 0.2, 0.3)
    h.reset(1)
    assert np.all(h.posture == 0.0)
    h.grow(4)
    assert h.posture.shape == (4, 3) and np.all(h.posture == 0.0)


def _posture(cues: dict[str, float], seconds: float = 4.0, **controls: float) -> np.ndarray:
    """Mean head pose (yaw, pitch, roll) over the last second of a face cued with `cues`, minus the same
    face (same seed: same sway and gaze) left uncued."""
    cued, plain = FaceBank(capacity=1, seed=5), FaceBank(capacity=1, seed=5)
    for bank in (cued, plain):
        bank.add(0.0)
        for name, value in controls.items():
            bank.set_control(0, name, value)
    for emotion, x in cues.items():
        cued.cue(0, emotion, x, 0.0, hold=math.inf)
    _, a = run(cued, 0.0, seconds)
    _, b = run(plain, 0.0, seconds)
    return (a[-30:, 0, HEAD] - b[-30:, 0, HEAD]).mean(axis=0)


def test_emotions_hold_their_head_posture() -> None:
    yaw, pitch, roll = _posture({"sadness": 1.0})
    assert pitch > 0.08 and abs(yaw) < 1e-6 and abs(roll) < 1e-6  # sadness hangs the head (+ nods down)
    assert _posture({"anger": 1.0})[1] > 0.04  # a glower, smaller
    assert _posture({"confusion": 1.0})[2] > 0.1  # a tilt toward the right shoulder
    yaw, pitch, roll = _posture({"thinking": 1.0})
    assert yaw > 0.04 and pitch < -0.03 and roll < -0.05  # turned toward the gaze, up, tilted
    assert np.all(np.abs(_posture({"joy": 1.0, "surprise": 1.0})) < 1e-6)  # no head codes: no posture
    # Half the cue, half the posture; expressiveness scales it like the face.
    np.testing.assert_allclose(_posture({"sadness": 0.5}), _posture({"sadness": 1.0}) / 2, atol=1e-4)
    assert np.all(_posture({"sadness": 1.0}, expressiveness=0.0) == 0.0)


def test_opposite_postures_cancel_instead_of_stacking() -> None:
    # thinking lifts the head (53), sadness lowers it (54): antagonists, so the pitch is their difference.
    both = _posture({"sadness": 1.0, "thinking": 1.0})
    alone = _posture({"sadness": 1.0})[1] + _posture({"thinking": 1.0})[1]
    assert both[1] == pytest.approx(alone, abs=1e-3)


def test_posture_returns_to_rest_after_the_emotion() -> None:
    bank, plain = FaceBank(capacity=1, seed=2), FaceBank(capacity=1, seed=2)
    bank.add(0.0), plain.add(0.0)
    bank.cue(0, "confusion", 1.0, 0.0, hold=1.0)
    _, a = run(bank, 0.0, 12.0)
    _, b = run(plain, 0.0, 12.0)
    roll = a[:, 0, 54] - b[:, 0, 54]
    assert roll.max() > 0.05
    assert abs(roll[-1]) < 1e-4
    assert np.abs(np.diff(a[:, 0, HEAD], axis=0)).max() < 0.01  # smooth on and off
