"""Frame tracks: a recorded session's face as JSON, for `mien render --track` (and `mien serve --record`).

    {"format": "mien-track", "version": 1, "fps": 30.0,
     "channels": [the 55 channel names: ARKit_52, then headYaw, headPitch, headRoll],
     "times": [seconds, ...], "weights": [[55 floats], ...]}

One row of `weights` per entry of `times` (non-decreasing, seconds from the start of the track), in the order
of `channels`: blendshapes 0..1, head rotation in radians. Readers map by name, so a track with channels in
another order, or with fewer of them, still loads (missing channels read as 0). Values are the engine's
frames, before any avatar's calibration: a track plays on any avatar.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animation.arkit import CHANNELS

FORMAT = "mien-track"
VERSION = 1
DECIMALS = 4  # 1e-4 of a blendshape's range: finer than the wire's 8-bit frames, and keeps files small


@dataclass(frozen=True)
class Track:
    fps: float
    channels: tuple[str, ...]
    times: np.ndarray  # float64 [n]
    weights: np.ndarray  # float32 [n, len(channels)]

    def __len__(self) -> int:
        return len(self.times)

    @property
    def duration(self) -> float:
        return float(self.times[-1] - self.times[0]) if len(self.times) else 0.0

    def frames(self, channels: Sequence[str] = CHANNELS) -> np.ndarray:
        """float32 [n, len(channels)]: the weights in `channels`' order; channels the track lacks are 0."""
        out = np.zeros((len(self.times), len(channels)), np.float32)
        index = {name: i for i, name in enumerate(self.channels)}
        for j, name in enumerate(channels):
            if name in index:
                out[:, j] = self.weights[:, index[name]]
        return out

    def resample(self, fps: float, channels: Sequence[str] = CHANNELS) -> tuple[np.ndarray, np.ndarray]:
        """(times, frames) at a fixed rate from the first to the last time, each the latest row at or
        before that time (frames are held, as the browser holds a frame until the next one arrives)."""
        if not len(self.times):
            return np.zeros(0), np.zeros((0, len(channels)), np.float32)
        n = math.floor(self.duration * fps + 1e-9) + 1
        times = self.times[0] + np.arange(n) / fps
        rows = np.searchsorted(self.times, times + 1e-9, side="right") - 1
        return times, self.frames(channels)[np.clip(rows, 0, None)]


def _check(times: np.ndarray, weights: np.ndarray, channels: Sequence[str], fps: float) -> None:
    if not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if len(set(channels)) != len(channels) or not all(isinstance(c, str) for c in channels):
        raise ValueError("channels must be distinct names")
    if times.ndim != 1 or weights.shape != (len(times), len(channels)):
        raise ValueError(f"weights must be [{len(times)}, {len(channels)}], got {list(weights.shape)}")
    if not (np.all(np.isfinite(times)) and np.all(np.isfinite(weights))):
        raise ValueError("times and weights must be finite")
    if np.any(np.diff(times) < 0):
        raise ValueError("times must not decrease")


def to_json(track: Track) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "fps": float(track.fps),
        "channels": list(track.channels),
        "times": [round(float(t), DECIMALS) for t in track.times],
        "weights": np.round(track.weights.astype(np.float64), DECIMALS).tolist(),
    }


def from_json(data: object) -> Track:
    """A Track from parsed JSON; ValueError naming what is wrong."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f'not a Mien track: expected "format": "{FORMAT}"')
    if data.get("version") != VERSION:
        raise ValueError(f"unsupported track version {data.get('version')!r} (this Mien reads {VERSION})")
    try:
        channels = tuple(data["channels"])
        times = np.asarray(data["times"], dtype=np.float64).reshape(-1)
        weights = np.asarray(data["weights"], dtype=np.float32)
        fps = data["fps"]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"malformed track: {e}") from e
    if weights.size == 0:
        weights = weights.reshape(0, len(channels))
    _check(times, weights, channels, fps)
    return Track(float(fps), channels, times, weights)


def save_track(
    path: Path | str, times: Sequence[float] | np.ndarray, weights: Sequence[Sequence[float]] | np.ndarray,
    fps: float = 30.0, channels: Sequence[str] = CHANNELS,
) -> Path:  # fmt: skip
    """Write a track (atomically: a reader never sees half a file). Returns the path."""
    times_a = np.asarray(times, dtype=np.float64).reshape(-1)
    weights_a = np.asarray(weights, dtype=np.float32).reshape(len(times_a), len(channels))
    _check(times_a, weights_a, channels, fps)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(to_json(Track(float(fps), tuple(channels), times_a, weights_a)),
                              separators=(",", ":")))  # fmt: skip
    os.replace(tmp, path)
    return path


def load_track(path: Path | str) -> Track:
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON: {e}") from e
    try:
        return from_json(data)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e


class TrackWriter:
    """Collects frames as they are shown and writes the track on `close` (or leaving a `with` block).

    Times are taken relative to the first frame, so a session's track starts at 0.
    """

    def __init__(self, path: Path | str, fps: float = 30.0, channels: Sequence[str] = CHANNELS) -> None:
        self.path = Path(path)
        self.fps = float(fps)
        self.channels = tuple(channels)
        self._t0: float | None = None
        self._times: list[float] = []
        self._rows: list[np.ndarray] = []
        self.closed = False

    def __len__(self) -> int:
        return len(self._times)

    def add(self, t: float, frame: Sequence[float] | np.ndarray) -> None:
        """One frame at time t (seconds, any origin; not before the previous frame)."""
        if self.closed:
            raise ValueError("track writer is closed")
        row = np.asarray(frame, dtype=np.float32).reshape(-1)
        if len(row) != len(self.channels):
            raise ValueError(f"frame has {len(row)} values, expected {len(self.channels)}")
        if self._t0 is None:
            self._t0 = float(t)
        rel = float(t) - self._t0
        if self._times and rel < self._times[-1]:
            raise ValueError("frames must come in time order")
        self._times.append(rel)
        self._rows.append(row.copy())

    def close(self) -> Path | None:
        """Write the file (nothing when no frame came); later calls do nothing."""
        if self.closed:
            return None
        self.closed = True
        if not self._times:
            return None
        return save_track(self.path, self._times, np.stack(self._rows), self.fps, self.channels)

    def __enter__(self) -> TrackWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
