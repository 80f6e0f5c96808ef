from __future__ import annotations

import numpy as np

from animation.kernels import clip, smoothstep


def test_clip_and_smoothstep() -> None:
    x = np.array([-1.0, 0.0, 0.25, 0.5, 1.0, 3.0])
    np.testing.assert_array_equal(clip(x, 0.0, 1.0), np.clip(x, 0.0, 1.0))
    s = smoothstep(x)
    assert s[0] == 0.0 and s[-1] == 1.0 and s[3] == 0.5 and s[2] == 0.15625
    assert np.all(np.diff(smoothstep(np.linspace(0, 1, 101))) >= 0.0)
