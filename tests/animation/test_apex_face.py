"""The apex poses on Mien's ICT head stay natural (issue 16): no seam opens, the skin folds no more than the
rig's own scanned shapes fold it, and the teeth stay behind the lips.

Geometry only (animation.pose, numpy): the poses are `mien render`'s (emotion_frame, the engine's apex).
"""

from __future__ import annotations

import numpy as np
import pytest

from animation.arkit import ARKIT_52, INDEX, N_CHANNELS
from animation.pose import PosedAvatar, emotion_frame
from tests.animation.test_apex import BASIC, BLENDS

# How deep a tooth vertex may sit inside the outer lip skin. The lips are 7-10 mm thick from the outer skin
# to the mouth lining; ICT's own smile scan (mouthSmileLeft and Right at 1) puts a tooth 1.9 mm in, joy
# 1.7 mm, the poses below at most 2.2 mm (sadness + anger), all out of sight at 1024 px. Teeth through the
# lips go much further: lips sucked over the teeth (mouthRollLower and Upper at 1) reach 9 mm.
TEETH_DEPTH_M = 0.003
SEAM_M = 1e-4  # coincident vertices of different primitives (lips' skin and mouth lining) stay together


@pytest.fixture(scope="module")
def avatar() -> PosedAvatar:
    return PosedAvatar()


def part(avatar: PosedAvatar, material: str) -> int:
    return next(i for i, p in enumerate(avatar.parts) if p.prim.material.name == material)


def teeth_depth(avatar: PosedAvatar, frame: np.ndarray) -> float:
    """Deepest a tooth vertex sits inside the outer skin (metres; <= 0 when none is). The soft tissue near
    the teeth is the skin and the mouth lining; a tooth whose nearest tissue vertex is skin and lies behind
    that vertex's outward normal is inside the lip."""
    skin, mouth, teeth = (part(avatar, m) for m in ("skin", "mouth", "teeth"))
    rest = avatar.pose(np.zeros(N_CHANNELS, np.float32))
    lo, hi = rest[teeth][0].min(0) - 0.01, rest[teeth][0].max(0) + 0.01
    near = [np.all((rest[i][0] > lo) & (rest[i][0] < hi), axis=1) for i in (skin, mouth)]
    posed = avatar.pose(frame)
    tissue = np.concatenate([posed[i][0][m] for i, m in zip((skin, mouth), near, strict=True)])
    normals = np.concatenate([posed[i][1][m] for i, m in zip((skin, mouth), near, strict=True)])
    is_skin = np.arange(len(tissue)) < near[0].sum()
    tooth = posed[teeth][0]
    d2 = (tooth**2).sum(1)[:, None] + (tissue**2).sum(1)[None, :] - 2.0 * tooth @ tissue.T
    j = d2.argmin(1)
    depth = -((tooth - tissue[j]) * normals[j]).sum(1)
    inside = depth[is_skin[j]]
    return float(inside.max()) if inside.size else 0.0


def seam_gap(avatar: PosedAvatar, frame: np.ndarray) -> float:
    """Largest distance between vertices that coincide at rest (one vertex's copies in different parts)."""
    rest = np.concatenate([p.prim.positions for p in avatar.parts])
    weld = np.unique(np.round(rest, 7), axis=0, return_inverse=True)[1].reshape(-1)
    pts = np.concatenate([p for p, _ in avatar.pose(frame)])
    first = np.zeros((int(weld.max()) + 1, 3))
    first[weld[::-1]] = pts[::-1]  # the first copy of each welded vertex
    return float(np.linalg.norm(pts - first[weld], axis=1).max())


def skin_folds(avatar: PosedAvatar, frame: np.ndarray) -> int:
    """Skin triangles turned over (their normal against the rest pose's)."""
    i = part(avatar, "skin")
    tris = avatar.parts[i].prim.triangles
    rest, posed = avatar.pose(np.zeros(N_CHANNELS, np.float32))[i][0], avatar.pose(frame)[i][0]

    def normal(p: np.ndarray) -> np.ndarray:
        return np.cross(p[tris[:, 1]] - p[tris[:, 0]], p[tris[:, 2]] - p[tris[:, 0]])

    return int(((normal(rest) * normal(posed)).sum(1) < 0).sum())


def shape(name: str) -> np.ndarray:
    frame = np.zeros(N_CHANNELS, np.float32)
    frame[INDEX[name]] = 1.0
    return frame


POSES = [{e: level} for e in BASIC for level in (0.5, 1.0)] + list(BLENDS)


@pytest.fixture(scope="module")
def scanned_folds(avatar: PosedAvatar) -> int:
    """Most skin triangles any one of ICT's shapes turns over at full weight (mouthClose excepted: it is a
    corrective that only closes the lips over an open jaw, meaningless alone)."""
    names = avatar.parts[part(avatar, "skin")].prim.target_names
    return max(skin_folds(avatar, shape(n)) for n in ARKIT_52 if n in names and n != "mouthClose")


def test_the_measures_see_what_they_should(avatar: PosedAvatar) -> None:
    rest = np.zeros(N_CHANNELS, np.float32)
    assert teeth_depth(avatar, rest) <= 0.0 and skin_folds(avatar, rest) == 0
    assert seam_gap(avatar, rest) < SEAM_M
    assert teeth_depth(avatar, shape("mouthRollLower") + shape("mouthRollUpper")) > 3 * TEETH_DEPTH_M


@pytest.mark.parametrize("mix", POSES, ids=lambda m: "+".join(f"{k}:{v}" for k, v in m.items()))
def test_apex_poses_stay_natural(avatar: PosedAvatar, scanned_folds: int, mix: dict[str, float]) -> None:
    frame = emotion_frame(mix)
    assert seam_gap(avatar, frame) < SEAM_M, "a seam between primitives opened"
    assert skin_folds(avatar, frame) <= scanned_folds
    assert teeth_depth(avatar, frame) <= TEETH_DEPTH_M, "teeth through the lips"


@pytest.mark.parametrize("names", [("browDownLeft",), ("browDownLeft", "browDownRight")], ids="+".join)
def test_the_brow_lowerer_folds_no_skin(avatar: PosedAvatar, names: tuple[str, ...]) -> None:
    """The bake's AU4 corrective on browDown (inner ends down and drawn together, models/bake_ict.py)
    compresses the skin between the brows without turning a triangle over or opening a seam, on one side or
    on both."""
    frame = sum((shape(n) for n in names), np.zeros(N_CHANNELS, np.float32))
    assert seam_gap(avatar, frame) < SEAM_M
    assert skin_folds(avatar, frame) == 0
