"""An avatar posed by a frame of channel values, in numpy: the geometry the offscreen renderer draws.

The frame (ARKit 52 + headYaw/Pitch/Roll) comes from the same engine the server runs (`emotion_frame`), is
calibrated for the avatar (its sidecar), drives the morph targets the avatar's names map to (the rule in
animation.avatar), and turns the head about its joint as the browser does (web/face.js).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animation import glb
from animation.arkit import ARKIT_52, CHANNELS, N_BLENDSHAPES, N_CHANNELS
from animation.avatar import DEFAULT_GLB, Calibration, bind_targets

# Engine time at which an emotion cued at t=0 with an endless hold is read: the onset springs have settled
# (~0.3 s to 95 %) and the slew limit has caught up. The blink-free frame of this window is taken.
APEX_WINDOW = (1.2, 2.4)
STEP = 1.0 / 30.0
# Channels the engine's idle life moves on its own (gaze and head), removed from stills.
IDLE = np.array([i for i, n in enumerate(CHANNELS) if n.startswith(("eyeLook", "head"))])


def parse_emotion(spec: str) -> tuple[str, float]:
    """'joy' -> ('joy', 1.0); 'sadness:0.6' -> ('sadness', 0.6). ValueError on an unknown name or range."""
    from animation.emotions import EMOTIONS

    name, _, level = spec.partition(":")
    name = name.strip().lower()
    if name not in EMOTIONS:
        raise ValueError(f"unknown emotion {name!r}; expected one of {', '.join(EMOTIONS)}")
    try:
        intensity = float(level) if level else 1.0
    except ValueError:
        raise ValueError(f"intensity must be a number in [0, 1], got {level!r}") from None
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"intensity must be in [0, 1], got {intensity}")
    return name, intensity


def emotion_frame(mix: dict[str, float], seed: int = 0) -> np.ndarray:
    """The face the server's engine shows for these emotions (name -> intensity, all cued together with an
    endless hold), at their apex: float32 [55].

    The engine's idle life is left out so a still is a clean front view: of the apex window, the frame with
    the least blink is taken, and the idle gaze and head sway of an identical bank that got no cue (same seed,
    same idle motion) are subtracted, leaving only the gaze and head pose the emotions themselves make.
    """
    from animation.engine import FaceBank

    bank, idle = FaceBank(seed=seed), FaceBank(seed=seed)
    slot, idle_slot = bank.add(0.0), idle.add(0.0)
    for name, intensity in mix.items():
        if intensity > 0:
            bank.cue(slot, name, intensity, 0.0, hold=math.inf)
    best, best_blink = None, math.inf
    for t in np.arange(0.0, APEX_WINDOW[1] + STEP / 2, STEP):
        row, idle_row = bank.step(float(t))[slot], idle.step(float(t))[idle_slot]
        blink = float(row[ARKIT_52.index("eyeBlinkLeft")] + row[ARKIT_52.index("eyeBlinkRight")])
        if t >= APEX_WINDOW[0] and blink <= best_blink:  # ties: the later frame, the more settled
            best, best_blink = row.copy(), blink
            best[IDLE] -= idle_row[IDLE]
    assert best is not None
    best[:N_BLENDSHAPES] = np.clip(best[:N_BLENDSHAPES], 0.0, 1.0)
    return best.astype(np.float32)


def head_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """3x3 rotation as web/face.js makes it: Euler order YXZ, +yaw to the subject's left (+y), +pitch nods
    down (+x), +roll toward the right shoulder (+z)."""
    cy, sy, cp, sp, cr, sr = (math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch),
                              math.cos(roll), math.sin(roll))  # fmt: skip
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return ry @ rx @ rz


@dataclass
class _Part:
    prim: glb.Primitive
    targets: np.ndarray  # float32 [k, n*3]
    drive: np.ndarray  # float32 [52, k]: blendshape weight -> morph weight
    offset: int  # first row of this part in the welded vertex list


class PosedAvatar:
    """A GLB and its calibration; `pose(frame)` gives every primitive's vertices and normals."""

    def __init__(self, path: Path | str = DEFAULT_GLB, calibration: Calibration | None = None) -> None:
        self.path = Path(path)
        self.scene = glb.load(self.path)
        self.calibration = calibration if calibration is not None else Calibration.load(self.path)
        self.parts: list[_Part] = []
        bound: set[int] = set()
        offset = 0
        for prim in self.scene.primitives:
            k = len(prim.targets)
            drive = np.zeros((N_BLENDSHAPES, k), np.float32)
            for channel, morphs in bind_targets(prim.target_names).items():
                drive[channel, morphs] = 1.0
                bound.add(channel)
            self.parts.append(_Part(prim, prim.targets.reshape(k, -1).astype(np.float32), drive, offset))
            offset += len(prim.positions)
        self.missing = tuple(n for i, n in enumerate(ARKIT_52) if i not in bound)
        lo, hi = self.scene.bounds()
        if self.scene.head_pivot is not None:
            self.pivot = self.scene.head_pivot
        else:  # no head joint: the whole model turns about a point low in it, as web/face.js does
            size = hi - lo
            centre = (lo + hi) / 2
            self.pivot = np.array([centre[0], lo[1] + 0.3 * size[1], centre[2] - 0.1 * size[2]])
            for prim in self.scene.primitives:
                prim.head_weight = np.ones(len(prim.positions))
        # Normals are recomputed per pose over the whole model, with coincident vertices of different
        # primitives welded (the lips' skin and the mouth's lining meet there), so no seams show.
        base = np.concatenate([p.positions for p in self.scene.primitives])
        _, self._weld = np.unique(np.round(base, 7), axis=0, return_inverse=True)
        self._weld = self._weld.reshape(-1)
        self._n_welded = int(self._weld.max()) + 1
        self._tris = np.concatenate([self._weld[p.prim.triangles + p.offset] for p in self.parts])

    def pose(self, frame: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(points, normals) per primitive for a frame of N_CHANNELS values (calibrated here)."""
        frame = np.asarray(frame, dtype=np.float32).reshape(-1)
        if len(frame) != N_CHANNELS:
            raise ValueError(f"a frame has {N_CHANNELS} channels, got {len(frame)}")
        frame = self.calibration.apply(frame)
        rot = head_rotation(*(float(v) for v in frame[N_BLENDSHAPES:N_CHANNELS]))
        points = []
        for part in self.parts:
            prim = part.prim
            pts = prim.positions.copy()
            if len(part.targets):
                pts += (frame[:N_BLENDSHAPES] @ part.drive @ part.targets).reshape(-1, 3)
            turned = (pts - self.pivot) @ rot.T + self.pivot
            pts += prim.head_weight[:, None] * (turned - pts)  # linear blend: head joint vs. the rest
            points.append(pts)
        normals = self._normals(np.concatenate(points))
        return [
            (pts, normals[p.offset : p.offset + len(pts)]) for p, pts in zip(self.parts, points, strict=True)
        ]

    def _normals(self, pts: np.ndarray) -> np.ndarray:
        welded = np.zeros((self._n_welded, 3))
        welded[self._weld] = pts  # welded copies sit at the same place, so any of them will do
        t = self._tris
        fn = np.cross(welded[t[:, 1]] - welded[t[:, 0]], welded[t[:, 2]] - welded[t[:, 0]])
        vn = np.empty_like(welded)
        for c in range(3):
            vn[:, c] = sum(np.bincount(t[:, k], fn[:, c], minlength=self._n_welded) for k in range(3))
        return (vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12))[self._weld]

    def face_box(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of the head (the vertices the head joint carries fully), for framing; the whole model
        when it has no head joint."""
        pts = np.concatenate([p.positions for p in self.scene.primitives])
        weight = np.concatenate([p.head_weight for p in self.scene.primitives])
        head = pts[weight >= 0.99] if self.scene.head_pivot is not None and np.any(weight >= 0.99) else pts
        return head.min(0), head.max(0)
