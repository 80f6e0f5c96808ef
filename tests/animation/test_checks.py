from __future__ import annotations

import math

import numpy as np
import pytest

from animation import checks


def test_timeline_accepts_lists_and_arrays() -> None:
    ts, ids, ws = checks.timeline([0, 0.1, 0.25], ["aa", "PP", "sil"], None)
    assert ts.tolist() == [0.0, 0.1, 0.25] and ids.tolist() == [10, 1, 0] and ws.tolist() == [1.0, 1.0, 1.0]
    ts, _, ws = checks.timeline(np.array([0.0, 0.2]), ("ou", "sil"), np.array([0.5, 0.0]))
    assert ws.dtype == np.float32 and ws.tolist() == [0.5, 0.0]


@pytest.mark.parametrize(
    ("times", "names", "weights", "message"),
    [
        ([], [], None, "1 to"),
        ([0.0, 0.0], ["aa", "sil"], None, "strictly increasing"),
        ([0.0, math.inf], ["aa", "sil"], None, "finite"),
        ([-0.5, 0.1], ["aa", "sil"], None, ">= 0"),
        ([0.0, 0.1], ["aa", "pp"], None, "unknown viseme 'pp'"),
        ([0.0, 0.1], ["aa", "PP"], None, "end with 'sil'"),
        ([0.0, 0.1], ["sil"], None, "1 visemes for 2 times"),
        ([0.0, 0.1], ["aa", "sil"], [1.0], "1 weights"),
        ([0.0, 0.1], ["aa", "sil"], [1.0, -0.1], r"\[0, 1\]"),
        ([True, 0.1], ["aa", "sil"], None, "booleans"),
        ([[0.0, 0.1]], ["aa", "sil"], None, "one-dimensional"),
        ("0.1", ["sil"], None, "sequence of numbers"),
    ],
)
def test_timeline_rejects(times: object, names: object, weights: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        checks.timeline(times, names, weights)


def test_numbers_and_holds() -> None:
    assert checks.number("x", 1, 0.0, 2.0) == 1.0 and checks.time(np.float32(2.5)) == 2.5
    assert checks.hold(None, 2.5) == 2.5 and checks.hold(math.inf, 2.5) == math.inf
    for bad in (True, "1", math.nan):
        with pytest.raises(ValueError):
            checks.number("x", bad, 0.0, 2.0)
    with pytest.raises(ValueError):
        checks.hold(-1.0, 2.5)
