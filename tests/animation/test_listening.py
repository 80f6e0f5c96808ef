"""The listening face follows the user's loudness (animation/listening.py): brows up with their emphasis,
blinks held through it and brought to their pauses; in the listening state only, added to the expression."""

from __future__ import annotations

import numpy as np
import pytest

from animation import listening
from animation.arkit import INDEX
from animation.engine import FaceBank

FPS = 30
INNER, OUTER_L, OUTER_R = INDEX["browInnerUp"], INDEX["browOuterUpLeft"], INDEX["browOuterUpRight"]
BLINK_L, BROW_DOWN = INDEX["eyeBlinkLeft"], INDEX["browDownLeft"]
TABLE = listening.P["brows"]


def face(state: str, loudness: float | None, seed: int = 5, seconds: float = 1.0) -> np.ndarray:
    """One face in `state` hearing `loudness` from t = 0: its frames over `seconds`, [frames, 55]."""
    bank = FaceBank(seed=seed)
    slot = bank.add(0.0)
    bank.set_state(slot, state)
    bank.hear(slot, loudness)
    return np.array([bank.step(i / FPS)[slot] for i in range(1, round(seconds * FPS) + 1)])


def test_brows_rise_with_the_users_emphasis_while_listening() -> None:
    settled = {x: face("listening", x)[-1] for x in (None, -1.0, 0.0, 0.5, 1.0)}
    for x, frame in settled.items():
        lift = max(x or 0.0, 0.0)  # known answer: the table's brows times the emphasis, once followed
        assert frame[INNER] == pytest.approx(TABLE["browInnerUp"] * lift, abs=1e-4)
        assert frame[OUTER_L] == frame[OUTER_R] == pytest.approx(TABLE["browOuterUpLeft"] * lift, abs=1e-4)
    assert settled[None][INNER] == settled[0.0][INNER] == settled[-1.0][INNER] == 0.0
    assert settled[0.5][INNER] < settled[1.0][INNER]  # louder, higher
    rising = face("listening", 1.0, seconds=0.3)[:, INNER]
    assert np.all(np.diff(rising) >= 0) and 0 < rising[0] < rising[-1]  # followed, not jumped to
    assert np.abs(np.diff(rising)).max() < 0.1  # no pop on the wire


@pytest.mark.parametrize("state", ["idle", "thinking", "speaking"])
def test_only_a_listening_face_follows_the_user(state: str) -> None:
    heard, deaf = face(state, 1.0, seconds=3.0), face(state, None, seconds=3.0)
    assert np.array_equal(heard, deaf)  # not a channel, not a blink moved: bit for bit


def test_the_brows_add_to_the_expression_and_stay_in_range() -> None:
    def settled(emotion: str, loudness: float | None) -> np.ndarray:
        bank = FaceBank(seed=3)
        slot = bank.add(0.0)
        bank.set_state(slot, "listening")
        bank.cue(slot, emotion, 1.0, 0.0, hold=float("inf"))
        bank.hear(slot, loudness)
        return [bank.step(i / FPS)[slot] for i in range(1, 2 * FPS)][-1]

    for emotion in ("surprise", "anger", "sadness"):
        quiet, loud = settled(emotion, None), settled(emotion, 1.0)
        brows = [INNER, OUTER_L, OUTER_R]
        assert np.all(loud[brows] >= quiet[brows]) and np.all(loud[brows] <= 1.0), emotion
        assert loud[BROW_DOWN] == quiet[BROW_DOWN], emotion  # a frown keeps its frown
    assert settled("surprise", None)[INNER] > 0.5  # the expression's own raise is kept, not replaced


def blinks_per_face(loudness: list[float | None], seconds: float, seed: int = 11) -> np.ndarray:
    """Many faces at once, each listening to its own loudness: blink onsets per face."""
    bank = FaceBank(seed=seed)
    slots = [bank.add(0.0) for _ in loudness]
    for slot, x in zip(slots, loudness, strict=True):
        bank.set_state(slot, "listening")
        bank.hear(slot, x)
    lids = np.array([bank.step(i / FPS)[slots, BLINK_L] for i in range(1, round(seconds * FPS))])
    closing = (lids[1:] > 0.5) & (lids[:-1] <= 0.5)
    return closing.sum(axis=0)


def test_blinks_wait_through_emphasis_and_come_in_the_quiet() -> None:
    n = 120
    counts = blinks_per_face([1.0] * n + [None] * n + [-1.0] * n, seconds=40.0)
    emphatic, usual, quiet = counts[:n].mean(), counts[n : 2 * n].mean(), counts[2 * n :].mean()
    per_minute = usual * 60 / 40
    assert 12 < per_minute < 24  # the listening state's own rate (states.toml: 17), untouched
    assert emphatic < 0.75 * usual  # held while the user is emphatic (up to hold_max each)
    assert quiet > 1.3 * usual  # more often in the user's quiet (quiet_rate 1.6)


def test_a_pause_brings_a_blink() -> None:
    """The user is emphatic, then pauses: most faces blink within a moment of the pause (Nakano &
    Kitazawa 2010), far more than blink by chance in the same time."""
    n, pause_at = 200, 4.0
    bank = FaceBank(seed=21)
    slots = [bank.add(0.0) for _ in range(2 * n)]
    for slot in slots:
        bank.set_state(slot, "listening")
    for slot in slots[:n]:
        bank.hear(slot, 0.5)
    lids = []
    for i in range(1, round((pause_at + 1.0) * FPS)):
        t = i / FPS
        if t >= pause_at:
            for slot in slots[:n]:
                bank.hear(slot, -1.0)
        lids.append(bank.step(t)[slots, BLINK_L])
    lid = np.array(lids)
    after = lid[round(pause_at * FPS) - 1 :]  # the second after the pause began
    blinked = (after > 0.5).any(axis=0)
    paused, steady = blinked[:n].mean(), blinked[n:].mean()
    assert paused > 0.7 and steady < 0.45 and paused > steady + 0.35
