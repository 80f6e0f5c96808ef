from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from animation import dynamics as d

P = d.DEFAULT_PARAMS
DT = 1.0 / 30.0


def one() -> d.Envelopes:
    return d.Envelopes.zeros(1, 1)


def trace(env: d.Envelopes, t0: float, t1: float, dt: float = DT) -> np.ndarray:
    """Levels of envelope [0, 0] stepped at dt over (t0, t1]."""
    out = []
    for k in range(1, round((t1 - t0) / dt) + 1):
        tk = t0 + k * dt
        d.advance(env, np.array([tk - dt]), tk)
        out.append(float(env.level[0, 0]))
    return np.array(out)


def test_spring_matches_its_ode() -> None:
    # x'' = -w^2 (x - target) - 2 w x' : check by finite differences of the closed form.
    x0, v0, target, w = np.array(0.2), np.array(1.5), np.array(0.8), np.array(7.0)
    h, t = 1e-4, 0.3
    xs = [d.spring(x0, v0, target, w, np.array(s))[0] for s in (t - h, t, t + h)]
    _, v = d.spring(x0, v0, target, w, np.array(t))
    acc = (xs[0] - 2 * xs[1] + xs[2]) / h**2
    assert acc == pytest.approx(-(w**2) * (xs[1] - target) - 2 * w * v, rel=1e-4)
    assert (xs[2] - xs[0]) / (2 * h) == pytest.approx(float(v), rel=1e-6)


def test_anchor_form_agrees_with_stepping_the_spring() -> None:
    env = one()
    d.cue(env, 0, 0, 0.8, 0.0, math.inf)
    levels = trace(env, 0.0, 0.5)
    x, v = np.array(0.0), np.array(0.0)
    for k, level in enumerate(levels, start=1):
        x, v = d.spring(x, v, np.array(0.8), np.array(P.attack_omega), np.array(DT))
        assert level == pytest.approx(float(x), abs=1e-6), k


def test_onset_is_eased_not_a_snap() -> None:
    env = one()
    d.cue(env, 0, 0, 1.0, 0.0, 2.5)
    levels = trace(env, 0.0, 0.5)
    assert levels[0] < 0.15  # first frame well below the target
    assert np.all(np.diff(levels) >= 0.0)  # rises monotonically, no overshoot
    assert levels[int(0.4 * 30) - 1] > 0.9  # onset done within ~0.4 s
    assert levels.max() <= 1.0


def test_hold_then_smooth_decay_to_exact_baseline() -> None:
    env = one()
    d.cue(env, 0, 0, 0.8, 0.0, 2.0)
    levels = trace(env, 0.0, 9.0)
    at = lambda s: levels[round(s * 30) - 1]  # noqa: E731
    assert at(1.9) == pytest.approx(0.8, abs=1e-3)  # held
    assert 0.3 < at(2.5) < 0.8  # decaying, not snapped
    assert at(4.0) < 0.05  # mostly gone two seconds after the hold
    assert np.all(levels[int(7.0 * 30) :] == 0.0)  # and exactly zero within ~5 s of the hold's end
    assert np.max(np.abs(np.diff(levels))) <= d.max_onset_step(DT)


def test_frame_rate_independence() -> None:
    # Closed form, re-anchored exactly at boundaries: 30 fps, 8 fps, 2 fps and one big step land on the
    # same level (before any snap), even though the hold ends between frames.
    results = []
    for dt in (1 / 30, 1 / 8, 0.5, 2.0):
        env = one()
        d.cue(env, 0, 0, 1.0, 0.0, 0.55)
        results.append(trace(env, 0.0, 2.0, dt)[-1])
    assert 0.05 < results[0] < 0.9
    for r in results[1:]:
        assert r == results[0]


def test_retarget_same_emotion_is_smooth() -> None:
    env = one()
    d.cue(env, 0, 0, 1.0, 0.0, 2.5)
    before = trace(env, 0.0, 0.2)
    d.cue(env, 0, 0, 0.3, 0.2, 2.5, now=0.2)
    after = trace(env, 0.2, 2.7)
    levels = np.concatenate([before, after])
    assert np.max(np.abs(np.diff(levels))) <= d.max_onset_step(DT)
    # The rise stops at the retarget (no coasting on the onset's momentum), then fades monotonically.
    assert int(np.argmax(levels)) == len(before) - 1
    assert np.all(np.diff(levels[len(before) - 1 :]) <= 0.0)
    assert after[-1] == pytest.approx(0.3, abs=0.01)
    d.cue(env, 0, 0, 0.9, 2.7, 2.5, now=2.7)  # and back up from a held level, at the onset pace
    assert trace(env, 2.7, 3.2)[-1] == pytest.approx(0.9, abs=1e-2)


def test_micro_expression_is_fast_on_and_fast_off() -> None:
    env = one()
    d.cue(env, 0, 0, 1.0, 0.0, 0.2)  # hold < micro_hold
    levels = trace(env, 0.0, 1.0, dt=0.01)
    t = np.arange(1, levels.size + 1) * 0.01
    assert levels[t <= 0.1 + 1e-9].max() > 0.75  # 80 % in 0.1 s
    assert levels.max() <= 1.0
    assert levels[t >= 0.6].max() < 0.05  # gone 0.4 s after the hold
    assert np.max(np.abs(np.diff(trace(one_cued(0.2), 0.0, 1.0)))) <= d.max_onset_step(DT, micro=True)


def one_cued(hold: float) -> d.Envelopes:
    env = one()
    d.cue(env, 0, 0, 1.0, 0.0, hold)
    return env


def test_cue_in_the_future_waits_for_its_start() -> None:
    env = one()
    d.cue(env, 0, 0, 1.0, 1.0, 1.0, now=0.0)
    levels = trace(env, 0.0, 1.5)
    assert np.all(levels[:30] == 0.0)
    assert levels[-1] > 0.9


def test_release_and_infinite_hold() -> None:
    env = one()
    d.cue(env, 0, 0, 0.6, 0.0, math.inf)
    assert trace(env, 0.0, 20.0)[-1] == np.float32(0.6)  # held (and snapped exactly)
    d.release(env, 0, 20.0)
    levels = trace(env, 20.0, 30.0)
    assert levels[0] < 0.6 and levels[-1] == 0.0


def test_baseline_is_the_mood_and_drifts_in() -> None:
    env = one()
    d.set_baseline(env, 0, np.array([0.4]), 0.0)
    levels = trace(env, 0.0, 6.0)
    assert levels[0] < 0.05 and levels[-1] == np.float32(0.4)  # a slow drift, not a flash
    assert np.all(np.diff(levels) >= 0.0)
    d.cue(env, 0, 0, 1.0, 6.0, 1.0, now=6.0)
    levels = trace(env, 6.0, 14.0)
    assert levels.max() > 0.95 and levels[-1] == np.float32(0.4)  # after the cue: back to the mood


def test_speed_scales_the_springs_without_a_jump() -> None:
    fast, slow = one(), one()
    d.set_speed(fast, 0, 2.0, 0.0)
    d.set_speed(slow, 0, 0.5, 0.0)
    for env in (fast, slow):
        d.cue(env, 0, 0, 1.0, 0.0, math.inf)
    assert trace(fast, 0.0, 0.1)[-1] > trace(slow, 0.0, 0.1)[-1]
    level = float(slow.level[0, 0])
    d.set_speed(slow, 0, 1.0, 0.1)
    assert abs(trace(slow, 0.1, 0.1 + DT)[0] - level) < d.max_onset_step(DT)


def test_rows_are_independent_and_grow_reset() -> None:
    env = d.Envelopes.zeros(2, 3)
    d.cue(env, 1, 2, 1.0, 0.0, 1.0)
    d.advance(env, np.zeros(2), 0.5)
    assert np.all(env.level[0] == 0.0) and env.level[1, 2] > 0.9 and env.level[1, 0] == 0.0
    env.grow(5)
    assert env.level.shape == (5, 3) and env.level[1, 2] > 0.9 and np.all(env.start[2:] == -np.inf)
    assert np.all(env.attack[2:] == P.attack_omega)
    env.reset(1)
    assert np.all(env.level[1] == 0.0) and np.all(env.hold_end[1] == -np.inf)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0.0, 4.0),  # cue time
            st.floats(0.0, 1.0),  # intensity
            st.sampled_from([0.0, 0.1, 0.5, 2.5, math.inf]),  # hold
            st.booleans(),  # release instead of cue
        ),
        max_size=8,
    )
)
def test_levels_stay_bounded_and_smooth(events: list[tuple[float, float, float, bool]]) -> None:
    env = one()
    events = sorted(events)
    prev, i, now = 0.0, 0, 0.0
    for k in range(1, 6 * 30 + 1):
        tk = k * DT
        while i < len(events) and events[i][0] <= tk:
            when, peak, hold, rel = events[i]
            when = max(when, now)
            if rel:
                d.release(env, 0, when, now=now)
            else:
                d.cue(env, 0, 0, peak, when, hold, now=now)
            i += 1
        d.advance(env, np.array([now]), tk)
        now = tk
        x = float(env.level[0, 0])
        assert 0.0 <= x <= 1.0 and math.isfinite(x)
        # Retargets mid-flight carry momentum; allow a quarter more than the fastest onset speed.
        assert abs(x - prev) <= 1.25 * d.max_onset_step(DT, micro=True)
        prev = x
