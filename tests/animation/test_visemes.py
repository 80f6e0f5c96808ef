"""The Oculus viseme table: complete, in order, and the shapes the speech layer relies on."""

from __future__ import annotations

import numpy as np
import pytest

from animation import visemes as v
from animation.arkit import INDEX


def shape(name: str) -> dict[str, float]:
    row = v.SHAPES[v.VISEME_INDEX[name]]
    return {n: float(row[i]) for n, i in v.SPEECH_INDEX.items() if row[i] > 0}


def test_fifteen_oculus_visemes_in_order() -> None:
    assert v.VISEMES == (
        "sil",
        "PP",
        "FF",
        "TH",
        "DD",
        "kk",
        "CH",
        "SS",
        "nn",
        "RR",
        "aa",
        "E",
        "ih",
        "oh",
        "ou",
    )
    assert v.SHAPES.shape == (15, v.N_SPEECH) and np.all((v.SHAPES >= 0.0) & (v.SHAPES <= 1.0))
    assert not v.SHAPES[v.SIL].any() and all(v.SHAPES[i].any() for i in range(1, 15))
    assert np.all(v.DOMINANCE > 0.0)


def test_speech_channels_are_the_jaw_mouth_and_tongue() -> None:
    names = set(v.SPEECH_INDEX)
    assert {"jawOpen", "jawForward", "mouthClose", "mouthPucker", "mouthSmileLeft", "mouthUpperUpRight",
            "tongueOut"} <= names  # fmt: skip
    assert not any(n.startswith(("eye", "brow", "cheek", "nose")) for n in names)
    assert [INDEX[n] for n in v.SPEECH_INDEX] == list(v.SPEECH_CHANNELS)


def test_shapes_the_coarticulation_relies_on() -> None:
    assert v.CLOSES[v.VISEME_INDEX["PP"]] and v.CLOSES.sum() == 1  # only the bilabials must close
    assert v.DOMINANCE[v.VISEME_INDEX["PP"]] == v.DOMINANCE.max()  # and neighbours cannot wash them out
    jaw = {n: shape(n).get("jawOpen", 0.0) for n in v.VISEMES}
    assert jaw["aa"] == max(jaw.values())  # the open vowel opens widest
    for rounded in ("oh", "ou"):
        assert shape(rounded)["mouthPucker"] > 0.2 and "mouthStretchLeft" not in shape(rounded)
    for spread in ("E", "ih"):
        assert shape(spread)["mouthStretchLeft"] > 0.3 and "mouthPucker" not in shape(spread)
    assert shape("FF")["mouthRollLower"] > 0.3 and shape("TH")["tongueOut"] > 0.2


def test_viseme_ids() -> None:
    np.testing.assert_array_equal(v.viseme_ids(["sil", "aa", "PP"]), [0, 10, 1])
    for bad in (["AA"], ["aa", 3], "aa", None):
        with pytest.raises(ValueError):
            v.viseme_ids(bad)
