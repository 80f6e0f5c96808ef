"""The live controls of one face, as a table the server and the browser can list (sliders are built from it).

Modelled on NVIDIA Audio2Face's emotion controls (emotion strength, per-emotion gain, contrast, maximum
emotions, smoothing) plus Mien's own: a mood baseline lock and upper/lower face strength. Per-avatar
calibration (how far a given rig's shapes should go) belongs to the renderer, not to these frames.

`Control.check` is the one validation path: every setter in the bank goes through it, so the table's
ranges are the ranges the engine enforces.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np

from animation.rows import RowArrays


@dataclass(frozen=True)
class Control:
    name: str
    label: str
    minimum: float
    maximum: float
    default: float
    step: float
    description: str

    @property
    def integer(self) -> bool:
        """Step-1 controls take whole numbers only (max_emotions, the mood_lock switch)."""
        return self.step == 1.0

    def check(self, value: object) -> float:
        """A valid value for this control as a float, else ValueError naming the control and its range."""
        if isinstance(value, bool | np.bool_) and self.integer:
            value = int(value)  # True/False are fine for a 0/1 switch
        if isinstance(value, bool | np.bool_) or not isinstance(
            value, int | float | np.integer | np.floating
        ):
            raise ValueError(f"{self.name} must be a number, not {type(value).__name__}")
        x = float(value)
        if not (math.isfinite(x) and self.minimum <= x <= self.maximum):
            raise ValueError(
                f"{self.name} must be finite and in [{self.minimum}, {self.maximum}], got {value!r}"
            )
        if self.integer and x != round(x):
            raise ValueError(f"{self.name} must be a whole number, got {value!r}")
        return x

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


CONTROLS: tuple[Control, ...] = (
    Control(
        "expressiveness", "Expressiveness", 0.0, 2.0, 1.0, 0.05,
        "Strength of every emotion on the face: 0 keeps the face still, 1 shows cues as given, "
        "2 exaggerates them.",
    ),
    Control(
        "contrast", "Emotion contrast", 0.0, 2.0, 1.0, 0.05,
        "How much the strongest emotion dominates a blend: below 1 evens the mix out, above 1 lets the "
        "strongest emotion crowd out the others.",
    ),
    Control(
        "max_emotions", "Maximum emotions", 1.0, 10.0, 3.0, 1.0,
        "How many emotions may show at once; only the strongest ones do.",
    ),
    Control(
        "smoothing", "Smoothing", 0.0, 1.0, 0.5, 0.05,
        "Speed of expression changes: 0 is crisp and quick, 1 is slow and smooth.",
    ),
    Control(
        "upper_face", "Upper face", 0.0, 2.0, 1.0, 0.05,
        "Strength of expressions in the brows, eyelids and eye direction.",
    ),
    Control(
        "lower_face", "Lower face", 0.0, 2.0, 1.0, 0.05,
        "Strength of expressions in the mouth, cheeks, nose and jaw (speech is not affected).",
    ),
    Control(
        "mood_lock", "Mood lock", 0.0, 1.0, 0.0, 1.0,
        "When on, emotion cues are ignored and the face holds its mood.",
    ),
)  # fmt: skip

# The per-emotion gain (FaceBank.set_gain) has the same shape of range, one per emotion.
GAIN = Control(
    "gain", "Gain", 0.0, 2.0, 1.0, 0.05, "Strength of one emotion: 0 suppresses it, 1 as cued, 2 amplifies."
)

CONTROL_INDEX: dict[str, Control] = {c.name: c for c in CONTROLS}

# smoothing s scales every envelope spring's speed by SMOOTHING_BASE ** (1 - 2 s): x3 at 0 (onset in
# ~0.1 s), x1 at the default 0.5 (the tuned springs of dynamics.EnvelopeParams), x1/3 at 1 (~1 s onset).
SMOOTHING_BASE = 3.0
# contrast c becomes the curve constant k = CONTRAST_BASE ** (c - 1) of modulation.contrast: k 1/4 at 0
# (weaker emotions pulled toward the strongest), 1 at the default, 4 at 2 (weaker ones pushed down).
CONTRAST_BASE = 4.0


def lookup(name: object) -> Control:
    if not isinstance(name, str) or name not in CONTROL_INDEX:
        raise ValueError(f"unknown control {name!r}; expected one of {', '.join(CONTROL_INDEX)}")
    return CONTROL_INDEX[name]


@dataclass
class Settings(RowArrays):
    """Every face's control values (arrays [n_faces]), fresh rows at the table's defaults."""

    expressiveness: np.ndarray
    contrast: np.ndarray
    max_emotions: np.ndarray
    smoothing: np.ndarray
    upper_face: np.ndarray
    lower_face: np.ndarray
    mood_lock: np.ndarray

    FILL: ClassVar[dict[str, float]] = {c.name: c.default for c in CONTROLS}

    @classmethod
    def empty(cls, n: int) -> Settings:
        s = cls(*(np.zeros(0) for _ in CONTROLS))
        s.grow(n)
        return s

    def speed(self, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """Envelope spring speed factor per face, from smoothing."""
        return SMOOTHING_BASE ** (1.0 - 2.0 * self.smoothing[rows])

    def contrast_k(self, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        return CONTRAST_BASE ** (self.contrast[rows] - 1.0)

    def region_scale(self, upper: np.ndarray, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """float32 [faces, n_columns]: expressiveness x the upper- or lower-face strength of each column."""
        up = (self.expressiveness[rows] * self.upper_face[rows])[:, None]
        low = (self.expressiveness[rows] * self.lower_face[rows])[:, None]
        return np.where(upper[None, :], up, low).astype(np.float32)


assert tuple(f.name for f in fields(Settings)) == tuple(CONTROL_INDEX), "Settings must mirror CONTROLS"
