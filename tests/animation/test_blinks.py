"""Blinks: lid shape, timing statistics over ten simulated minutes, doubles and partial blinks."""

from __future__ import annotations

import numpy as np
import pytest

from animation import blinks
from animation.arkit import INDEX
from animation.engine import FaceBank

B = blinks.DEFAULT_BLINK
L, R = INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]


def shape(close: float, hold: float, open_: float, amp: float = 1.0) -> np.ndarray:
    return np.array([close, hold, open_, amp])


def test_lid_shape() -> None:
    tau = np.linspace(0.0, 0.6, 6001)
    c, h, o = 0.1, 0.2, 0.12
    lid = blinks.lid(tau, np.broadcast_to(shape(c, h, o), (tau.size, 4)))
    assert np.all(lid[tau >= c + h + o] == 0.0) and lid[0] == 0.0
    assert np.all((lid >= 0.0) & (lid <= 1.0))
    assert np.all(lid[(tau >= c) & (tau <= c + h)] == 1.0)
    down, up = tau < c, tau >= c + h
    assert np.all(np.diff(lid[down]) >= 0) and np.all(np.diff(lid[up]) <= 0)
    partial = blinks.lid(tau, np.broadcast_to(shape(c, h, o, 0.6), (tau.size, 4)))
    assert partial.max() == pytest.approx(0.6)
    assert B.close < B.open  # the lid falls faster than it rises (VanderWerf et al. 2003)


def test_draw_intervals_mean_matches_rates() -> None:
    rng = np.random.default_rng(0)
    for rate in (17.0, 26.0):
        x = blinks.draw_intervals(rng, np.full(200_000, rate))
        assert x.min() >= B.refractory > 2 * B.longest + B.double_gap_hi  # a pair never overlaps the next
        # Events include double blinks: blinks/min = (1 + p) * 60 / mean interval.
        assert (1 + B.double_prob) * 60.0 / x.mean() == pytest.approx(rate, rel=0.01)
    with pytest.raises(ValueError):
        blinks.draw_intervals(rng, np.array([80.0]))


def test_rate_change_retimes_the_pending_blink() -> None:
    b = blinks.Blinks.empty(1)
    b.next_at[0] = 10.0
    blinks.retime(b, 0, 4.0, 17.0, 26.0)
    # Waiting 6 s at rest becomes 6 x (17 / 26) s while talking: same phase, faster clock.
    assert b.next_at[0] == pytest.approx(4.0 + 6.0 * 17.0 / 26.0)
    blinks.retime(b, 0, 4.0, 26.0, 17.0)
    assert b.next_at[0] == pytest.approx(10.0)


def test_ten_simulated_minutes_of_blinks() -> None:
    """Rates ~17/min at rest and ~26/min talking, ~100 ms close, 100-300 ms closed, ~100 ms open,
    some double and some partial blinks: over ten simulated minutes of 60 faces, at 30 fps."""
    faces, minutes, fps = 60, 10.0, 30
    bank = FaceBank(capacity=faces, seed=7)
    slots = [bank.add(0.0) for _ in range(faces)]
    talking = np.array(slots) % 2 == 1
    for s in np.array(slots)[talking]:
        bank.set_talking(int(s), True)
    records: list[np.ndarray] = []  # (face, close, hold, open, amp, second) of every blink started
    lids = np.empty((int(minutes * 60 * fps), faces), np.float32)
    seen = bank._blinks.start.copy()
    for k in range(lids.shape[0]):
        lids[k] = bank.step((k + 1) / fps)[:, L]
        new = np.flatnonzero(bank._blinks.start != seen)
        if new.size:
            b = bank._blinks
            records.append(np.column_stack([new, b.shape[new], b.second[new]]))
            seen[new] = b.start[new]
    rec = np.concatenate(records)
    # Rates, counted on the output channel: rising crossings of 0.3 (partial blinks reach >= 0.55).
    shut = lids > 0.3
    count = np.sum(shut[1:] & ~shut[:-1], axis=0) + shut[0]
    for on, rate in ((False, 17.0), (True, 26.0)):
        per_minute = count[talking == on].sum() / (np.count_nonzero(talking == on) * minutes)
        assert per_minute == pytest.approx(rate, rel=0.06), (on, per_minute)
    # Phases of every blink drawn.
    close, hold, open_, amp, second = rec[:, 1], rec[:, 2], rec[:, 3], rec[:, 4], rec[:, 5]
    assert 0.08 <= close.mean() <= 0.12 and close.min() >= 0.08 and close.max() <= 0.12
    assert hold.min() >= 0.1 and hold.max() <= 0.3 and 0.12 < hold.mean() < 0.2
    assert 0.09 <= open_.mean() <= 0.14 and np.all(open_ > close)
    assert 0.04 < np.mean(second < blinks.NO_SECOND) < 0.12  # some double blinks
    partial = amp < 1.0
    assert 0.1 < partial.mean() < 0.2 and amp[partial].min() >= 0.55 and amp[partial].max() <= 0.85
    # On the output: exact zeros between blinks (nothing to send), fully shut and partial peaks both seen.
    assert np.mean(lids == 0.0) > 0.7
    assert np.any(lids == 1.0)


def test_both_lids_blink_together() -> None:
    bank = FaceBank(capacity=3, seed=1)
    for _ in range(3):
        bank.add(0.0)
    frames = np.stack([bank.step(k / 30) for k in range(1, 600)])
    np.testing.assert_array_equal(frames[:, :, L], frames[:, :, R])
    assert frames[:, :, L].max() > 0.5


def test_stalled_server_still_shows_the_blink() -> None:
    bank = FaceBank(capacity=1, seed=2)
    s = bank.add(0.0)
    due = float(bank._blinks.next_at[s])
    bank.step(due - 0.01)
    lid = bank.step(due + 2.0)[s, L]  # two seconds late: the blink starts mid-close instead of vanishing
    assert lid > 0.5
