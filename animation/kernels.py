"""Small array helpers used in every step: clipping and smoothstep without Python-level overhead.

A step makes a few hundred numpy calls, so per-call overhead matters as much as the arithmetic. np.clip
goes through a Python wrapper (~1.5 us a call); the ufunc behind it does not. np.minimum/np.maximum are
also much slower than the clip ufunc on large float arrays in current numpy, so clipping uses clip.
"""

from __future__ import annotations

import numpy as np

try:  # the ufunc np.clip wraps (numpy >= 2); same semantics, no Python wrapper
    from numpy._core.umath import clip as _clip_ufunc
except ImportError:  # pragma: no cover - older or future numpy layouts
    _clip_ufunc = np.clip

clip = _clip_ufunc


def smoothstep(u: np.ndarray) -> np.ndarray:
    """3u^2 - 2u^3 of u clipped to [0, 1]: eases in and out, flat at both ends (new array)."""
    u = clip(u, 0.0, 1.0)
    s = u * u
    s *= 3.0 - 2.0 * u
    return s
