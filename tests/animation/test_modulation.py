"""Contrast and maximum emotions: what they keep, what they hide, and that nothing ever jumps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from animation.modulation import GATE_SOFTNESS, contrast_curve, modulate

E = 10


def apply(w: np.ndarray, max_n: int = 10, k: float = 1.0) -> np.ndarray:
    w = np.atleast_2d(np.asarray(w, np.float32)).copy()
    n = w.shape[0]
    rows = np.arange(n) if k != 1.0 else np.zeros(0, np.intp)
    modulate(w, np.full(n, max_n), np.full(n, k), rows)
    return w


def test_defaults_change_nothing() -> None:
    w = np.random.default_rng(0).random((50, E)).astype(np.float32)
    np.testing.assert_array_equal(apply(w), w)
    few = np.array([[0.0, 0.8, 0.05, 0.3, 0, 0, 0, 0, 0, 0]], np.float32)
    np.testing.assert_array_equal(apply(few, max_n=3), few)  # no more than allowed: untouched


def test_max_emotions_keeps_the_strongest() -> None:
    w = np.array([0.0, 0.9, 0.6, 0.35, 0.2, 0, 0, 0, 0, 0], np.float32)
    out = apply(w, max_n=2)[0]
    assert out[1] == np.float32(0.9) and out[2] == np.float32(0.6)  # clear leaders untouched
    assert out[3] == 0.0 and out[4] == 0.0
    near = apply(np.array([0.0, 0.9, 0.6, 0.58, 0, 0, 0, 0, 0, 0]), max_n=2)[0]
    assert 0.0 < near[2] < 0.6  # a near tie at the cut-off shows partly
    assert near[2] == pytest.approx(0.6 * (0.6 - 0.58) / GATE_SOFTNESS, rel=1e-4)


def test_contrast_curve() -> None:
    s = np.linspace(0.0, 1.0, 101)
    np.testing.assert_allclose(contrast_curve(s, 1.0), s)
    assert np.all(contrast_curve(s, 4.0) <= s) and np.all(contrast_curve(s, 0.25) >= s)
    assert contrast_curve(np.array([0.0, 1.0]), 4.0).tolist() == [0.0, 1.0]
    w = np.array([0.0, 0.8, 0.4, 0, 0, 0, 0, 0, 0, 0])
    sharp, flat = apply(w, k=4.0)[0], apply(w, k=0.25)[0]
    assert sharp[1] == flat[1] == np.float32(0.8)  # the strongest keeps its strength
    assert sharp[2] < 0.4 < flat[2] < 0.8


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.float32, E, elements=st.floats(0.0, 2.0, width=32)),
    arrays(np.float32, E, elements=st.floats(-0.0009765625, 0.0009765625, width=32)),
    st.integers(1, 10),
    st.sampled_from([0.25, 1.0, 4.0]),
)
def test_continuous_in_the_weights(w: np.ndarray, nudge: np.ndarray, max_n: int, k: float) -> None:
    a = apply(w, max_n, k)[0]
    b = apply(np.clip(w + nudge, 0.0, None), max_n, k)[0]
    assert np.all(np.isfinite(a)) and np.all(a >= 0.0) and np.all(a <= w.max() + 1e-6)
    assert np.count_nonzero(a) <= max(max_n, np.count_nonzero(w)) and np.count_nonzero(a) <= max_n
    # A nudge of 1e-3 moves the output by a bounded multiple of it (no rank-swap or cut-off pop): the
    # contrast curve's slope is at most k, the gate's 1 / softness.
    assert np.abs(a - b).max() <= 1e-3 * (2.0 * max(k, 1.0) / GATE_SOFTNESS + 8.0) + 1e-5
