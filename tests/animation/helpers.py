"""Helpers shared by the animation tests (a plain module: conftest.py is for fixtures only)."""

from __future__ import annotations

import numpy as np

from animation.arkit import INDEX, N_BLENDSHAPES
from animation.engine import FaceBank
from animation.mixer import GAZE_CHANNELS, IDLE_CHANNELS
from animation.visemes import SPEECH_CHANNELS

FPS = 30.0
# Channels idle life moves on its own: gaze (eyeLook*), blinks (eyeBlink, eyeWide during a blink).
IDLE = sorted(IDLE_CHANNELS)
EXPRESSION = [c for c in range(N_BLENDSHAPES) if c not in IDLE]  # what only emotions (and speech) move
QUIET = [c for c in EXPRESSION if c not in SPEECH_CHANNELS]  # what only emotions move
EYE_LOOK = list(GAZE_CHANNELS)
HEAD = slice(N_BLENDSHAPES, N_BLENDSHAPES + 3)


def run(bank: FaceBank, t_from: float, t_to: float, fps: float = FPS) -> tuple[np.ndarray, np.ndarray]:
    """Step the bank at fps over (t_from, t_to]; returns (times [n], frames [n, capacity, 55])."""
    n = round((t_to - t_from) * fps)
    times = t_from + np.arange(1, n + 1) / fps
    return times, np.stack([bank.step(float(t)) for t in times])


def settled_frame(bank: FaceBank, slot: int, t: float) -> np.ndarray:
    """Frame at the first time >= t (30 fps) at which the face is not blinking (eyeWide undisturbed)."""
    for k in range(90):
        frame = bank.step(t + k / FPS)[slot]
        if frame[INDEX["eyeBlinkLeft"]] == 0.0:
            return frame
    raise AssertionError("blinking for three seconds")


def aperture(frames: np.ndarray) -> np.ndarray:
    """How far the lips are apart: the jaw not cancelled by mouthClose, plus the lip-parting shapes."""
    from animation.arkit import INDEX

    jaw = frames[:, INDEX["jawOpen"]] - frames[:, INDEX["mouthClose"]]
    names = (
        "mouthLowerDownLeft",
        "mouthLowerDownRight",
        "mouthUpperUpLeft",
        "mouthUpperUpRight",
        "mouthFunnel",
    )
    return np.maximum(jaw, 0.0) + frames[:, [INDEX[n] for n in names]].mean(1)
