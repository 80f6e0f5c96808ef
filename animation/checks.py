"""Input validation shared by the bank's setters: clear ValueErrors, and nothing changes on a bad call."""

from __future__ import annotations

import math

import numpy as np

from animation.visemes import SIL, viseme_ids

# A single timeline longer than this is a mistake (an hour of speech at ~12 visemes/s).
MAX_KEYS = 50_000


def number(name: str, value: object, lo: float, hi: float) -> float:
    """A finite float in [lo, hi], else ValueError (bools and strings are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, not {type(value).__name__}")
    x = float(value)
    if not (math.isfinite(x) and lo <= x <= hi):
        raise ValueError(f"{name} must be finite and in [{lo}, {hi}], got {value!r}")
    return x


def time(t: object) -> float:
    return number("t", t, -math.inf, math.inf)


def hold(value: object, default: float) -> float:
    """A cue's hold: None for the default, else a number >= 0 (inf allowed: held until released)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError("hold must be a number or None")
    if math.isnan(value) or value < 0.0:
        raise ValueError(f"hold must be >= 0 (inf allowed), got {value!r}")
    return float(value)


def _floats(name: str, values: object) -> np.ndarray:
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        raise ValueError(f"{name} must be a sequence of numbers")
    if isinstance(values, np.ndarray) and values.dtype == bool:
        raise ValueError(f"{name} must be numbers, not booleans")
    if not isinstance(values, np.ndarray) and any(isinstance(v, bool | str) for v in values):  # type: ignore[attr-defined]
        raise ValueError(f"{name} must be numbers, not booleans or strings")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of numbers") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    return arr


def timeline(times: object, visemes: object, weights: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a viseme timeline: (times s, viseme ids, weights float32), or ValueError saying why."""
    ts = _floats("times", times)
    if not 1 <= ts.size <= MAX_KEYS:
        raise ValueError(f"a timeline needs 1 to {MAX_KEYS} keys, got {ts.size}")
    if not np.isfinite(ts).all() or ts[0] < 0.0:
        raise ValueError("times must be finite seconds from t0, starting at >= 0")
    if (ts[1:] <= ts[:-1]).any():
        raise ValueError("times must be strictly increasing")
    ids = viseme_ids(visemes)
    if ids.size != ts.size:
        raise ValueError(f"{ids.size} visemes for {ts.size} times")
    if ids[-1] != SIL:
        raise ValueError("a timeline must end with 'sil' (the mouth's way back to rest)")
    if weights is None:
        ws = np.ones(ts.size, np.float32)
    else:
        w = _floats("weights", weights)
        if w.size != ts.size:
            raise ValueError(f"{w.size} weights for {ts.size} times")
        if not np.all(np.isfinite(w) & (w >= 0.0) & (w <= 1.0)):
            raise ValueError("weights must be finite and in [0, 1]")
        ws = w.astype(np.float32)
    return ts, ids, ws
