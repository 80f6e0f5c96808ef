"""Helpers shared by the animation tests (a plain module: conftest.py is for fixtures only)."""

from __future__ import annotations

import numpy as np

from animation.engine import FaceBank

FPS = 30.0


def run(bank: FaceBank, t_from: float, t_to: float, fps: float = FPS) -> tuple[np.ndarray, np.ndarray]:
    """Step the bank at fps over (t_from, t_to]; returns (times [n], frames [n, capacity, 55])."""
    n = round((t_to - t_from) * fps)
    times = t_from + np.arange(1, n + 1) / fps
    return times, np.stack([bank.step(float(t)) for t in times])
