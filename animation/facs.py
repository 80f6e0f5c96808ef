"""FACS action units -> ARKit-52 blendshapes, and the mixing of several emotions in action-unit space.

data/facs.toml holds the AU -> shape weights, each AU's face region and the antagonist pairs; emotion
prototypes (AU intensities) come from data/emotions.toml via animation.emotions. Mixing, for many faces:

    weights [n, emotions] @ emotion_to_au  ->  AU intensities per side of the face  [n, 2 x AUs]
    -> antagonist AUs resolved (smile vs frown) -> saturate at 1 -> (region strength, by the caller)
    (the antagonists are folded into the matrix, so this is one matmul and one clip)
    -> @ au_to_channels -> the ARKit channels emotions can drive -> clip to [0, 1]

Everything here is a constant matrix or a pure array function, so mixing is two small matmuls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from animation.arkit import ARKIT_52, HEAD_CHANNELS, HEAD_RANGE, INDEX, N_BLENDSHAPES, N_CHANNELS
from animation.emotions import AU_PROTOTYPES, EMOTIONS, N_EMOTIONS, load_table, parse_au_key
from animation.kernels import clip

_TABLE = load_table("facs.toml")

# Fraction of a shape's weight a unilateral AU keeps on central shapes (jawOpen, browInnerUp...). Per-side
# mixing gives a central shape the mean of both sides, so this must be one half.
UNILATERAL_CENTRAL = float(_TABLE["unilateral_central"])
ANTAGONIST_SUPPRESSION = float(_TABLE["antagonist_suppression"])
assert UNILATERAL_CENTRAL == 0.5, "facs.toml: unilateral_central must be 0.5 (the mean of two sides)"


def _load_aus() -> tuple[dict[int, str], dict[int, str], dict[int, dict[str, float]], dict[int, np.ndarray]]:
    names: dict[int, str] = {}
    regions: dict[int, str] = {}
    shapes: dict[int, dict[str, float]] = {}
    heads: dict[int, np.ndarray] = {}
    for key, entry in _TABLE["au"].items():
        au = int(key)
        head = np.zeros(len(HEAD_CHANNELS), np.float32)
        for channel, rad in entry.get("head", {}).items():
            if channel not in HEAD_CHANNELS or not 0.0 < abs(float(rad)) <= HEAD_RANGE:
                raise ValueError(f"facs.toml: AU{au} head {channel!r} = {rad}: unknown or outside the range")
            head[HEAD_CHANNELS.index(channel)] = float(rad)
        for shape, w in entry.get("shapes", {}).items():
            if shape not in INDEX or INDEX[shape] >= N_BLENDSHAPES:
                raise ValueError(f"facs.toml: AU{au} drives unknown blendshape {shape!r}")
            if not 0.0 < float(w) <= 1.0:
                raise ValueError(f"facs.toml: AU{au} weight {w} for {shape} outside (0, 1]")
        if entry["region"] not in ("upper", "lower"):
            raise ValueError(f"facs.toml: AU{au} region must be 'upper' or 'lower'")
        names[au] = str(entry["name"])
        regions[au] = str(entry["region"])
        shapes[au] = {str(s): float(w) for s, w in entry.get("shapes", {}).items()}
        heads[au] = head
    return names, regions, shapes, heads


AU_NAMES: dict[int, str]
AU_REGION: dict[int, str]
_AU_SHAPES: dict[int, dict[str, float]]
_AU_HEAD: dict[int, np.ndarray]  # head (yaw, pitch, roll) radians at full intensity: FACS head codes 51-56
AU_NAMES, AU_REGION, _AU_SHAPES, _AU_HEAD = _load_aus()
AUS: tuple[int, ...] = tuple(sorted(AU_NAMES))
AU_ANTAGONISTS: tuple[tuple[int, int], ...] = tuple((int(a), int(b)) for a, b in _TABLE["au_antagonists"])
if any(a not in AU_NAMES or b not in AU_NAMES for a, b in AU_ANTAGONISTS):
    raise ValueError("facs.toml: au_antagonists name an AU the table lacks")


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


def au_head(au: int, side: str = "") -> np.ndarray:
    """Head (yaw, pitch, roll) radians (float32 [3]) of one AU at full intensity: non-zero only for the
    head codes. The head is central, so a unilateral use keeps `unilateral_central` of it."""
    au_weights(au, side)  # validates
    return _AU_HEAD[au] * np.float32(UNILATERAL_CENTRAL if side else 1.0)


def prototype_channels(prototype: dict[str, float]) -> np.ndarray:
    """AU prototype {'6': .6, 'R12': .4} -> float32 [52] blendshape weights, summed linearly and clipped.

    A reference for tables and tools; the engine mixes through `Mixing` (AU space, saturating per AU).
    """
    row = np.zeros(N_BLENDSHAPES, dtype=np.float32)
    for key, intensity in prototype.items():
        au, side = parse_au_key(key)
        row += np.float32(intensity) * au_weights(au, side)
    return np.clip(row, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class Mixing:
    """The constant tables of the emotion layer: emotions -> mixing columns -> ARKit channels.

    columns: labels of the mixing space ('12L', '12R', '4', ... for the FACS tables).
    emotion_to_au: float32 [n_emotions, n_columns].
    channels: the ARKit channel indices the layer can drive (others stay 0), ascending.
    au_to_channels: float32 [n_columns, len(channels)].
    upper: bool [n_columns], True for upper-face columns (the upper_face control scales them).
    antagonists: intp [n_pairs, 2] column pairs; suppression: how much each side loses of the other.
    au_to_head: float32 [n_columns, 3], radians: the head posture (yaw, pitch, roll) the columns ask
      for. Not part of the frame: the head layer follows it, slowly (animation.head.step_head).
    """

    columns: tuple[str, ...]
    emotion_to_au: np.ndarray
    channels: np.ndarray
    au_to_channels: np.ndarray
    upper: np.ndarray
    antagonists: np.ndarray
    au_to_head: np.ndarray
    suppression: float = ANTAGONIST_SUPPRESSION
    resolved: np.ndarray = field(init=False, repr=False)  # emotion_to_au with the antagonists folded in
    au_to_frame: np.ndarray = field(init=False, repr=False)  # au_to_channels spread over all 55 channels
    # Largest total weight any one channel gets from all columns: a change of d in every column moves
    # no channel by more than spread x d (the bank's slew limit works in column space with it).
    spread: float = field(init=False, repr=False)

    @classmethod
    def from_facs(cls) -> Mixing:
        """The FACS tables, with one column per AU a prototype uses.

        An AU some prototype uses on one side only (contempt's R12) gets a Left and a Right column, so
        each side saturates on its own; so does its antagonist. Every other AU is always bilateral and
        needs just one column (fewer columns: a cheaper matmul per step).
        """
        keys = [parse_au_key(k) for proto in AU_PROTOTYPES for k in proto]
        aus = sorted({au for au, _ in keys})  # an AU no prototype uses would always be 0: no column
        pairs_used = [(a, b) for a, b in AU_ANTAGONISTS if a in aus and b in aus]
        split = {au for au, side in keys if side}
        split |= {b for a, b in pairs_used if a in split} | {a for a, b in pairs_used if b in split}
        sides = [(au, side) for au in aus for side in (("L", "R") if au in split else ("",))]
        col = {key: i for i, key in enumerate(sides)}
        p = np.zeros((N_EMOTIONS, len(sides)), np.float32)
        for e, proto in enumerate(AU_PROTOTYPES):
            for key, intensity in proto.items():
                au, side = parse_au_key(key)
                for s in (side,) if side else (("L", "R") if au in split else ("",)):
                    p[e, col[au, s]] += intensity
        s_full = np.stack([au_weights(au, side) for au, side in sides])
        channels = np.flatnonzero(s_full.any(axis=0))
        upper = np.array([AU_REGION[au] == "upper" for au, _ in sides])
        sided = [(a, b, s) for a, b in pairs_used for s in (("L", "R") if a in split else ("",))]
        pairs = [[col[a, s], col[b, s]] for a, b, s in sided]
        labels = tuple(f"{au}{side}" for au, side in sides)
        head = np.stack([au_head(au, side) for au, side in sides])
        pairs_arr = np.array(pairs, np.intp).reshape(-1, 2)
        return cls(labels, p, channels, s_full[:, channels], upper, pairs_arr, head)

    @classmethod
    def from_channels(cls, matrix: np.ndarray) -> Mixing:
        """A custom emotion -> blendshape table [n_emotions, 52]: the mixing space is the blendshapes.

        Eyes and brows count as upper face; the shape-space antagonist pairs of facs.toml apply.
        """
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.shape != (N_EMOTIONS, N_BLENDSHAPES) or not np.all(np.isfinite(matrix)):
            raise ValueError(f"matrix must be finite with shape {(N_EMOTIONS, N_BLENDSHAPES)}")
        if np.any(matrix < 0.0):
            raise ValueError("matrix weights must be >= 0")
        channels = np.flatnonzero(matrix.any(axis=0) | np.isin(np.arange(N_BLENDSHAPES), ANTAGONISTS))
        upper = np.array([ARKIT_52[c].startswith(("eye", "brow")) for c in channels])
        pos = {c: i for i, c in enumerate(channels)}
        pairs = np.array([[pos[a], pos[b]] for a, b in ANTAGONISTS], np.intp).reshape(-1, 2)
        labels = tuple(ARKIT_52[c] for c in channels)
        eye = np.eye(channels.size, dtype=np.float32)
        head = np.zeros((channels.size, 3), np.float32)  # a blendshape table has no head posture
        return cls(labels, matrix[:, channels].copy(), channels, eye, upper, pairs, head)

    def __post_init__(self) -> None:
        # Antagonists folded into the matrix: before resolution an AU is linear in the weights (a = w P),
        # and resolution makes each side max(x - s y, 0), also linear before the max. So a column of
        # x - s y, clipped at 0 (the clip to [0, 1] that follows anyway), resolves a pair at no cost.
        p = self.emotion_to_au
        folded = p.copy()
        a, b = self.antagonists[:, 0], self.antagonists[:, 1]
        folded[:, a] = p[:, a] - self.suppression * p[:, b]
        folded[:, b] = p[:, b] - self.suppression * p[:, a]
        object.__setattr__(self, "resolved", folded)
        frame = np.zeros((len(self.columns), N_CHANNELS), np.float32)
        frame[:, self.channels] = self.au_to_channels
        object.__setattr__(self, "au_to_frame", frame)
        object.__setattr__(self, "spread", float(max(1.0, self.au_to_channels.sum(axis=0).max())))
        for arr in (p, folded, frame, self.channels, self.au_to_channels, self.upper, self.antagonists,
                    self.au_to_head):  # fmt: skip
            arr.setflags(write=False)


def resolve_antagonists(a: np.ndarray, pairs: np.ndarray, suppression: float) -> np.ndarray:
    """Let opposing columns cancel instead of stacking: each side loses `suppression` x the other.

    a: [..., n_columns], modified in place and returned. Both sides are computed from the inputs, so
    the result is symmetric and continuous (no winner-take-all flip).
    """
    if pairs.size == 0:
        return a
    x = a[..., pairs[:, 0]]
    y = a[..., pairs[:, 1]]
    a[..., pairs[:, 0]] = np.maximum(x - suppression * y, 0.0)
    a[..., pairs[:, 1]] = np.maximum(y - suppression * x, 0.0)
    return a


def au_activations(weights: np.ndarray, mixing: Mixing) -> np.ndarray:
    """Effective emotion strengths [n, n_emotions] -> AU intensities [n, n_columns] in [0, 1] (new array).

    Equivalent to summing the prototypes (w @ emotion_to_au), resolve_antagonists, then saturating each
    AU at 1 (two emotions sharing an AU give one full AU, not a doubled shape); done as one matmul and
    one clip with the folded matrix.
    """
    a = np.asarray(weights, dtype=np.float32) @ mixing.resolved
    return clip(a, 0.0, 1.0, out=a)


def to_channels(a: np.ndarray, mixing: Mixing) -> np.ndarray:
    """AU intensities (possibly scaled by region strength) -> float32 [n, len(mixing.channels)] in [0, 1]."""
    out = a @ mixing.au_to_channels
    return clip(out, 0.0, 1.0, out=out)


# [n_pairs, 2] blendshape indices that the AU antagonists keep apart (checks and custom tables).
ANTAGONISTS: np.ndarray = np.array([[INDEX[a], INDEX[b]] for a, b in _TABLE["antagonists"]], dtype=np.intp)
if ANTAGONISTS.size and np.any(ANTAGONISTS >= N_BLENDSHAPES):
    raise ValueError("facs.toml: antagonists must be blendshapes")

MIXING = Mixing.from_facs()


def mix(weights: np.ndarray, mixing: Mixing = MIXING) -> np.ndarray:
    """Blend emotions into blendshapes for many faces at once (no region scaling).

    weights: [n, n_emotions] effective emotion strengths (envelope x gain, may exceed 1). Returns float32
    [n, 52] in [0, 1]: summed in AU space, antagonists resolved, saturated per AU, mapped to ARKit.
    """
    out = np.zeros((len(weights), N_BLENDSHAPES), np.float32)
    out[:, mixing.channels] = to_channels(au_activations(weights, mixing), mixing)
    return out


# Emotion -> ARKit at full intensity, one row per emotion in EMOTIONS order (neutral is all zeros).
EMOTION_TO_CHANNELS: np.ndarray = mix(np.eye(N_EMOTIONS, dtype=np.float32))
EMOTION_TO_CHANNELS.setflags(write=False)


def active_channels(emotion: str, threshold: float = 0.0) -> tuple[str, ...]:
    """Names of the blendshapes an emotion's prototype drives above threshold (for tests and tools)."""
    row = EMOTION_TO_CHANNELS[EMOTIONS.index(emotion)]
    return tuple(ARKIT_52[i] for i in np.flatnonzero(row > threshold))
