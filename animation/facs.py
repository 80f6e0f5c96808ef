"""FACS action units -> ARKit-52 blendshapes, and the mixing of several emotions into one face.

data/facs.toml holds the AU -> shape weights and the antagonist pairs; emotion prototypes (AU
intensities) come from data/emotions.toml via animation.emotions. Everything here is a constant
matrix or a pure array function, so mixing is one matmul for all faces at once.
"""

from __future__ import annotations

import numpy as np

from animation.arkit import ARKIT_52, INDEX, N_BLENDSHAPES
from animation.emotions import AU_PROTOTYPES, EMOTIONS, load_table, parse_au_key

_TABLE = load_table("facs.toml")

# Fraction of a shape's weight a unilateral AU keeps on central shapes (jawOpen, browInnerUp...).
UNILATERAL_CENTRAL = float(_TABLE["unilateral_central"])
ANTAGONIST_SUPPRESSION = float(_TABLE["antagonist_suppression"])


def _load_aus() -> tuple[dict[int, str], dict[int, dict[str, float]]]:
    names: dict[int, str] = {}
    shapes: dict[int, dict[str, float]] = {}
    for key, entry in _TABLE["au"].items():
        au = int(key)
        for shape, w in entry["shapes"].items():
            if shape not in INDEX or INDEX[shape] >= N_BLENDSHAPES:
                raise ValueError(f"facs.toml: AU{au} drives unknown blendshape {shape!r}")
            if not 0.0 < float(w) <= 1.0:
                raise ValueError(f"facs.toml: AU{au} weight {w} for {shape} outside (0, 1]")
        names[au] = str(entry["name"])
        shapes[au] = {str(s): float(w) for s, w in entry["shapes"].items()}
    return names, shapes


AU_NAMES: dict[int, str]
_AU_SHAPES: dict[int, dict[str, float]]
AU_NAMES, _AU_SHAPES = _load_aus()
AUS: tuple[int, ...] = tuple(sorted(AU_NAMES))


def _shape_side(shape: str) -> str:
    if shape.endswith("Left"):
        return "L"
    if shape.endswith("Right"):
        return "R"
    return ""


def au_weights(au: int, side: str = "") -> np.ndarray:
    """ARKit weights (float32 [52]) of one AU at full intensity; side 'L'/'R' makes it unilateral."""
    if au not in _AU_SHAPES:
        raise ValueError(f"AU{au} is not in facs.toml")
    if side not in ("", "L", "R"):
        raise ValueError(f"side must be '', 'L' or 'R', not {side!r}")
    row = np.zeros(N_BLENDSHAPES, dtype=np.float32)
    for shape, w in _AU_SHAPES[au].items():
        s = _shape_side(shape)
        if not side or s == side:
            row[INDEX[shape]] = w
        elif s == "":
            row[INDEX[shape]] = w * UNILATERAL_CENTRAL
        # else: the other side's shape, dropped for a unilateral AU.
    return row


def prototype_channels(prototype: dict[str, float]) -> np.ndarray:
    """AU prototype {'6': .6, 'R12': .4} -> float32 [52] blendshape weights, clipped to [0, 1]."""
    row = np.zeros(N_BLENDSHAPES, dtype=np.float32)
    for key, intensity in prototype.items():
        au, side = parse_au_key(key)
        row += np.float32(intensity) * au_weights(au, side)
    return np.clip(row, 0.0, 1.0)


# Emotion -> ARKit at full intensity, one row per emotion in EMOTIONS order (neutral is all zeros).
EMOTION_TO_CHANNELS: np.ndarray = np.stack([prototype_channels(p) for p in AU_PROTOTYPES]).astype(np.float32)
EMOTION_TO_CHANNELS.setflags(write=False)

# [n_pairs, 2] channel indices of shapes that oppose each other.
ANTAGONISTS: np.ndarray = np.array([[INDEX[a], INDEX[b]] for a, b in _TABLE["antagonists"]], dtype=np.intp)
if ANTAGONISTS.size and np.any(ANTAGONISTS >= N_BLENDSHAPES):
    raise ValueError("facs.toml: antagonists must be blendshapes")


def active_channels(emotion: str, threshold: float = 0.0) -> tuple[str, ...]:
    """Names of the blendshapes an emotion's prototype drives above threshold (for tests and tools)."""
    row = EMOTION_TO_CHANNELS[EMOTIONS.index(emotion)]
    return tuple(ARKIT_52[i] for i in np.flatnonzero(row > threshold))


def resolve_antagonists(channels: np.ndarray, suppression: float = ANTAGONIST_SUPPRESSION) -> np.ndarray:
    """Let opposing shapes cancel instead of stacking: each side loses `suppression` x the other.

    channels: [..., 52], modified in place and returned. Both sides are computed from the inputs,
    so the result is symmetric and continuous (no winner-take-all flip).
    """
    if ANTAGONISTS.size == 0:
        return channels
    a = channels[..., ANTAGONISTS[:, 0]]
    b = channels[..., ANTAGONISTS[:, 1]]
    channels[..., ANTAGONISTS[:, 0]] = np.maximum(a - suppression * b, 0.0)
    channels[..., ANTAGONISTS[:, 1]] = np.maximum(b - suppression * a, 0.0)
    return channels


def mix(weights: np.ndarray, matrix: np.ndarray = EMOTION_TO_CHANNELS) -> np.ndarray:
    """Blend emotions into blendshapes for many faces at once.

    weights: [n, n_emotions] effective emotion strengths (envelope x gain x expressiveness, may
    exceed 1). Returns float32 [n, 52] in [0, 1]: linear sum in shape space, antagonists resolved,
    then clipped (so gain 2 saturates a shape rather than overdriving the rig).
    """
    channels = np.asarray(weights, dtype=np.float32) @ matrix
    resolve_antagonists(channels)
    np.clip(channels, 0.0, 1.0, out=channels)
    return channels
