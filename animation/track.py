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
from collections.abc import Iterator, Sequence
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
    """Writes a track as frames are shown, in bounded memory (`mien serve --record`: one per session).

    `add` copies the frame into a block of BLOCK rows; a full block is appended, raw, to a hidden file
    next to `path` (one write every ~8 s at 30 fps, no formatting: `add` runs on the server's event loop).
    `close` turns that file into the JSON track, CHUNK rows at a time, and renames it into place, so a
    reader never sees half a file. Times are taken relative to the first frame: a track starts at 0.
    """

    BLOCK = 256  # frames held in memory before they go to disk
    CHUNK = 256  # frames formatted per json.dumps at close (it holds the GIL: keep each call short)

    def __init__(self, path: Path | str, fps: float = 30.0, channels: Sequence[str] = CHANNELS) -> None:
        self.path = Path(path)
        self.fps = float(fps)
        self.channels = tuple(channels)
        _check(np.zeros(0), np.zeros((0, len(self.channels))), self.channels, self.fps)
        self._raw = self.path.with_name(f".{self.path.name}.frames.tmp")
        self._block = np.zeros(self.BLOCK, [("t", "<f8"), ("w", "<f4", (len(self.channels),))])
        self._times, self._rows = self._block["t"], self._block["w"]  # views: add writes through them
        self._buffered = 0
        self._count = 0
        self._t0 = 0.0
        self._last = -math.inf
        self._error: OSError | None = None  # a failed write, raised by close
        self.closed = False

    def __len__(self) -> int:
        return self._count

    @property
    def buffered(self) -> int:
        """Frames held in memory, not yet on disk (at most BLOCK)."""
        return self._buffered

    def add(self, t: float, frame: Sequence[float] | np.ndarray) -> None:
        """One frame at time t (seconds, any origin; not before the previous frame)."""
        if self.closed:
            raise ValueError("track writer is closed")
        row = np.asarray(frame, dtype=np.float32).reshape(-1)
        if len(row) != len(self.channels):
            raise ValueError(f"frame has {len(row)} values, expected {len(self.channels)}")
        t = float(t)
        if not (math.isfinite(t) and np.isfinite(row).all()):
            raise ValueError("times and weights must be finite")
        if not self._count:
            self._t0 = t
        rel = t - self._t0
        if rel < self._last:
            raise ValueError("frames must come in time order")
        i = self._buffered
        self._times[i], self._rows[i] = rel, row
        self._last, self._buffered, self._count = rel, i + 1, self._count + 1
        if self._buffered == self.BLOCK:
            self._flush()

    def close(self) -> Path | None:
        """Write the file (nothing when no frame came); later calls do nothing. OSError if a write failed."""
        if self.closed:
            return None
        self.closed = True
        if not self._count:
            return None
        try:
            self._flush()
            if self._error is not None:
                raise self._error
            return self._assemble()
        finally:
            self._raw.unlink(missing_ok=True)

    def _flush(self) -> None:
        if self._buffered and self._error is None:
            try:
                if self._count == self._buffered:  # the first block: start afresh (no leftover of a crash)
                    self._raw.parent.mkdir(parents=True, exist_ok=True)
                    self._raw.unlink(missing_ok=True)
                with self._raw.open("ab") as f:
                    f.write(self._block[: self._buffered].tobytes())
            except OSError as e:  # kept for close: add runs on the frame clock, which must not stop
                self._error = e
        self._buffered = 0

    def _chunks(self, name: str) -> Iterator[np.ndarray]:
        dtype = self._block.dtype
        with self._raw.open("rb") as f:
            while data := f.read(self.CHUNK * dtype.itemsize):
                yield np.frombuffer(data, dtype)[name]

    def _assemble(self) -> Path:
        """The raw frames -> the JSON track, byte for byte what save_track writes for them."""
        head = {"format": FORMAT, "version": VERSION, "fps": self.fps, "channels": list(self.channels)}
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            with tmp.open("w") as out:
                out.write(json.dumps(head, separators=(",", ":"))[:-1] + ',"times":[')
                for i, times in enumerate(self._chunks("t")):
                    rounded = [round(t, DECIMALS) for t in times.tolist()]
                    out.write(("," if i else "") + json.dumps(rounded, separators=(",", ":"))[1:-1])
                out.write('],"weights":[')
                for i, rows in enumerate(self._chunks("w")):
                    rounded = np.round(rows.astype(np.float64), DECIMALS).tolist()
                    out.write(("," if i else "") + json.dumps(rounded, separators=(",", ":"))[1:-1])
                out.write("]}")
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        return self.path

    def __enter__(self) -> TrackWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
