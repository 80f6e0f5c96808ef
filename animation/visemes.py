"""The 15 Oculus visemes: names, ARKit mouth shapes, coarticulation dominance (data/visemes.toml).

Shapes are stored over SPEECH_CHANNELS only (ARKit's jaw and mouth block plus tongueOut), the channels
the speech layer may write; this module loads and checks the table, so a bad one fails at import.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from animation.arkit import INDEX, N_BLENDSHAPES
from animation.emotions import load_table

_TABLE = load_table("visemes.toml")

# ARKit's jaw + mouth block is contiguous (jawForward .. mouthUpperUpRight); tongueOut sits at the end.
MOUTH = slice(INDEX["jawForward"], INDEX["mouthUpperUpRight"] + 1)
SPEECH_CHANNELS: tuple[int, ...] = (*range(MOUTH.start, MOUTH.stop), INDEX["tongueOut"])
N_SPEECH = len(SPEECH_CHANNELS)
SPEECH_INDEX: dict[str, int] = {
    name: i for i, name in enumerate(n for n, c in INDEX.items() if c in SPEECH_CHANNELS)
}

VISEMES: tuple[str, ...] = tuple(str(v["name"]) for v in _TABLE["viseme"])
VISEME_INDEX: dict[str, int] = {name: i for i, name in enumerate(VISEMES)}
SIL = VISEME_INDEX["sil"]
assert VISEMES == (
    "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou",
), "visemes.toml must list the 15 Oculus visemes in their reference order"  # fmt: skip


def _load() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shapes = np.zeros((len(VISEMES), N_SPEECH), np.float32)
    dominance = np.zeros(len(VISEMES))
    closes = np.zeros(len(VISEMES), dtype=bool)
    for i, v in enumerate(_TABLE["viseme"]):
        for shape, w in v["shapes"].items():
            if shape not in SPEECH_INDEX:
                raise ValueError(f"visemes.toml: {v['name']} drives {shape!r}, not a jaw/mouth/tongue shape")
            if not 0.0 < float(w) <= 1.0:
                raise ValueError(f"visemes.toml: {v['name']} weight {w} for {shape} outside (0, 1]")
            shapes[i, SPEECH_INDEX[shape]] = w
        dominance[i] = float(v["dominance"])
        closes[i] = bool(v.get("closure", False))
    if np.any(dominance <= 0.0):
        raise ValueError("visemes.toml: dominance must be positive")
    if np.any(shapes[SIL]):
        raise ValueError("visemes.toml: sil is the rest shape (no weights)")
    for a in (shapes, dominance, closes):
        a.setflags(write=False)
    return shapes, dominance, closes


SHAPES: np.ndarray  # float32 [15, N_SPEECH]
DOMINANCE: np.ndarray  # float64 [15]
CLOSES: np.ndarray  # bool [15]: the lips must meet
SHAPES, DOMINANCE, CLOSES = _load()
SPEAKS: np.ndarray = np.arange(len(VISEMES)) != SIL  # counts as speech activity (everything but sil)

COARTICULATION: dict[str, Any] = dict(_TABLE["coarticulation"])
LAYERING: dict[str, Any] = dict(_TABLE["layering"])
for _name in (*LAYERING["keep"], *LAYERING["lip_parting"]):
    if _name not in SPEECH_INDEX:
        raise ValueError(f"visemes.toml: layering names {_name!r}, not a speech channel")
assert all(c < N_BLENDSHAPES for c in SPEECH_CHANNELS)


def viseme_ids(names: object) -> np.ndarray:
    """['sil', 'PP', ...] -> int array of viseme indices; ValueError naming the first unknown one."""
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise ValueError("visemes must be a sequence of viseme names")
    try:
        return np.array([VISEME_INDEX[n] for n in names], dtype=np.intp)  # type: ignore[union-attr]
    except (KeyError, TypeError):
        bad = next((n for n in names if not isinstance(n, str) or n not in VISEME_INDEX), None)  # type: ignore[union-attr]
        raise ValueError(f"unknown viseme {bad!r}; expected one of {', '.join(VISEMES)}") from None
